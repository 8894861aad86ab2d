"""History import (iteration.history_import): what a good pair of files writes, that importing them
again writes nothing, that a changed file updates its deals, and that every bad file is refused with
its file, line and column and nothing written. The same tests run on SQLite and PostgreSQL (where the
writes go through COPY, a temporary table and a fingerprint computed in SQL)."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from deals.models import Account, Deal, DealTag, StageChange, StageRollup
from iteration.history_import import (
    HistoryImportInvalid,
    history_import_execute,
    history_import_run,
    history_import_start,
    history_import_validate,
)
from iteration.models import HistoryImport, JobStatus, MetricSnapshot
from orgs.models import Membership, Role, User
from salesproc.lib.errors import NotAllowed
from salesproc.services import process_import
from tests.fixtures import SIMPLE_PROCESS

DEALS_HEADER = (
    "external_id,name,account,industry,owner_email,amount,currency,created_at,status,closed_at,"
    "lost_reason,competitors,objections"
)
HISTORY_HEADER = "external_id,stage,entered_at"
# Line 2: an open deal of an existing member, on an existing account, with tags.
# Line 3: a won deal of someone new, on a new account, closed at 11:00 UTC.
# Line 4: a lost deal of the same new person; no currency (the org's default), no amount (0).
DEALS = [
    "D-1,Globex rollout,Globex,Manufacturing,rep@acme.test,12000,USD,2024-01-02T09:00:00Z,open,,,"
    "Northbeam;Vendora,Price too high",
    "D-2,Initrode pilot,Initrode,Software,New.Owner@old-crm.test,5000.50,eur,2024-01-05,won,"
    "2024-03-01T12:00:00+01:00,,,",
    'D-3,"Umbrella, phase 2",Umbrella,,new.owner@old-crm.test,,,2024-02-01T10:00:00,lost,'
    "2024-02-20T10:00:00Z,No budget,Quantive,",
]
# Lines 2–3: D-1; 4–6: D-2 (in file order, not time order: the import sorts); 7: D-3.
HISTORY = [
    "D-1,Qualify,2024-01-02T09:00:00Z",
    "D-1,Discover,2024-01-10T09:00:00Z",
    "D-2,Propose,2024-02-10T00:00:00Z",
    "D-2,Qualify,2024-01-05T00:00:00Z",
    "D-2,Discover,2024-01-20T00:00:00Z",
    "D-3,Qualify,2024-02-01T10:00:00Z",
]


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def csv(header: str, lines: list[str]) -> bytes:
    return ("\n".join([header, *lines]) + "\n").encode()


def run(org, process, deals=None, history=None, **kwargs) -> dict:
    return history_import_run(
        organization=org,
        process=process,
        deals_file=csv(DEALS_HEADER, DEALS) if deals is None else deals,
        history_file=csv(HISTORY_HEADER, HISTORY) if history is None else history,
        by=kwargs.pop("by", None),
        **kwargs,
    )


def refused(org, process, deals=None, history=None) -> list[dict]:
    with pytest.raises(HistoryImportInvalid) as caught:
        run(org, process, deals, history)
    return caught.value.as_dicts()


def written() -> dict:
    """Row counts of everything an import may write."""
    return {
        model.__name__: model.objects.count()
        for model in (Deal, StageChange, DealTag, Account, Membership, User, StageRollup)
    }


@pytest.fixture
def world(org, process, rep, account):
    """The org with a process (Qualify, Discover, Propose, Negotiate), a rep and the account Globex."""
    return org, process


def stage_names(process) -> dict[int, str]:
    return dict(process.stages.values_list("id", "name"))


# A good import ----------------------------------------------------------------------------------


def test_a_first_import_creates_the_deals_with_their_history(world, rep, account):
    org, process = world

    result = run(org, process)

    assert result == {
        "deals_created": 3,
        "deals_updated": 0,
        "deals_unchanged": 0,
        "history_rows": 6,
        "members_created": 1,
        "users_created": 1,
        "accounts_created": 2,
    }
    names = stage_names(process)
    d1, d2, d3 = (Deal.objects.get(organization=org, external_id=f"D-{i}") for i in (1, 2, 3))
    assert (d1.name, d1.account_id, d1.owner_id, d1.amount, d1.currency) == (
        "Globex rollout",
        account.id,
        rep.user_id,
        Decimal("12000.00"),
        "USD",
    )
    assert (d1.status, d1.closed_at, names[d1.stage_id]) == ("open", None, "Discover")
    assert d1.stage_entered_at == d1.last_activity_at == utc("2024-01-10T09:00:00Z")
    assert d1.created_at == utc("2024-01-02T09:00:00Z")
    assert d1.process_id == process.id and d1.version == 1
    assert (d2.status, d2.currency, d2.amount) == ("won", "EUR", Decimal("5000.50"))
    assert d2.closed_at == d2.last_activity_at == utc("2024-03-01T11:00:00Z")
    assert names[d2.stage_id] == "Propose" and d2.stage_entered_at == utc("2024-02-10T00:00:00Z")
    assert d2.created_at == utc("2024-01-05T00:00:00Z")  # a date alone is 00:00 UTC
    assert (d3.name, d3.status, d3.lost_reason, d3.amount, d3.currency) == (
        "Umbrella, phase 2",
        "lost",
        "No budget",
        Decimal("0.00"),
        org.default_currency,
    )
    assert d3.created_at == utc("2024-02-01T10:00:00Z")  # no offset: UTC
    assert d2.account.name == "Initrode" and d2.account.industry == "Software"
    assert d2.owner_id == d3.owner_id
    assert set(DealTag.objects.filter(deal=d1).values_list("kind", "value")) == {
        ("competitor", "Northbeam"),
        ("competitor", "Vendora"),
        ("objection", "Price too high"),
    }
    assert list(DealTag.objects.filter(deal=d3).values_list("kind", "value")) == [("competitor", "Quantive")]


def test_entries_chain_left_at_from_stage_and_the_process_version(world):
    org, process = world
    process.refresh_from_db()

    run(org, process)

    names = stage_names(process)

    def history(external_id):
        return [
            (
                names.get(e.from_stage_id),
                names[e.to_stage_id],
                e.entered_at,
                e.left_at,
                e.process_version_id,
                e.by_id,
            )
            for e in StageChange.objects.filter(deal__external_id=external_id).order_by("entered_at")
        ]

    version = process.current_version_id
    assert version is not None
    assert history("D-1") == [
        (None, "Qualify", utc("2024-01-02T09:00:00Z"), utc("2024-01-10T09:00:00Z"), version, None),
        ("Qualify", "Discover", utc("2024-01-10T09:00:00Z"), None, version, None),
    ]
    # A closed deal's last entry left when it closed: no open entry.
    assert history("D-2") == [
        (None, "Qualify", utc("2024-01-05T00:00:00Z"), utc("2024-01-20T00:00:00Z"), version, None),
        ("Qualify", "Discover", utc("2024-01-20T00:00:00Z"), utc("2024-02-10T00:00:00Z"), version, None),
        ("Discover", "Propose", utc("2024-02-10T00:00:00Z"), utc("2024-03-01T11:00:00Z"), version, None),
    ]
    assert history("D-3") == [
        (None, "Qualify", utc("2024-02-01T10:00:00Z"), utc("2024-02-20T10:00:00Z"), version, None),
    ]


def test_unknown_owners_become_inactive_members_who_cannot_sign_in(world, rep):
    org, process = world

    run(org, process)

    user = User.objects.get(email="new.owner@old-crm.test")  # lower-cased
    assert not user.has_usable_password()
    member = Membership.objects.get(organization=org, user=user)
    assert (member.role, member.is_active) == (Role.REP, False)
    # An existing member keeps their role and access.
    rep.refresh_from_db()
    assert (rep.role, rep.is_active) == (Role.REP, True)


def test_an_owner_known_in_another_org_keeps_their_login_and_joins_inactive(world, other_org_world):
    org, process = world
    other_admin = other_org_world["member"]
    deals = csv(DEALS_HEADER, [DEALS[0].replace("rep@acme.test", other_admin.user.email.upper())])
    history = csv(HISTORY_HEADER, HISTORY[:2])

    result = run(org, process, deals, history)

    assert (result["users_created"], result["members_created"]) == (0, 1)
    member = Membership.objects.get(organization=org, user=other_admin.user)
    assert (member.role, member.is_active) == (Role.REP, False)
    assert User.objects.get(pk=other_admin.user_id).has_usable_password()


def test_the_board_totals_count_the_imported_open_deals(world, rep):
    org, process = world

    run(org, process)

    rollups = list(StageRollup.objects.filter(organization=org).values_list("stage__name", "open_count"))
    assert rollups == [("Discover", 1)]


# Idempotence ------------------------------------------------------------------------------------


def _state(org):
    deals = sorted(
        Deal.objects.filter(organization=org).values_list("id", "version", "updated_at", "last_activity_at")
    )
    entries = sorted(StageChange.objects.filter(organization=org).values_list("id", "deal_id", "left_at"))
    tags = sorted(DealTag.objects.filter(organization=org).values_list("id", "deal_id", "value"))
    return deals, entries, tags


def test_importing_the_same_files_again_writes_nothing(world):
    org, process = world
    run(org, process)
    before, counts = _state(org), written()

    with CaptureQueriesContext(connection) as queries:
        result = run(org, process)

    assert result["deals_unchanged"] == 3
    assert (result["deals_created"], result["deals_updated"], result["history_rows"]) == (0, 0, 0)
    assert (result["members_created"], result["accounts_created"], result["users_created"]) == (0, 0, 0)
    assert _state(org) == before and written() == counts
    writes = [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE", "COPY", "CREATE", "ANALYZE"))
    ]
    assert writes == []


def test_tags_with_accents_and_mixed_case_compare_equal_when_unchanged(world):
    org, process = world
    deals = [DEALS[0].replace("Northbeam;Vendora", "zeta;Äpfel;Alpha;ß-Werk;alpha"), *DEALS[1:]]
    run(org, process, deals=csv(DEALS_HEADER, deals))
    before = _state(org)

    result = run(org, process, deals=csv(DEALS_HEADER, deals))

    assert result["deals_unchanged"] == 3 and _state(org) == before
    d1 = Deal.objects.get(external_id="D-1")
    assert set(DealTag.objects.filter(deal=d1, kind="competitor").values_list("value", flat=True)) == {
        "zeta",
        "Äpfel",
        "Alpha",
        "ß-Werk",
    }


def test_times_in_another_offset_or_order_are_the_same_history(world):
    org, process = world
    run(org, process)
    before = _state(org)
    # The same instants written differently, the rows shuffled.
    history = [
        "D-2,Discover,2024-01-20T01:00:00+01:00",
        "D-1,Discover,2024-01-10 09:00:00",
        "D-3,Qualify,2024-02-01T10:00:00+00:00",
        "D-2,Propose,2024-02-10T00:00:00.000000Z",
        "D-1,Qualify,2024-01-02T04:00:00-05:00",
        "D-2,Qualify,2024-01-05",
    ]

    result = run(org, process, history=csv(HISTORY_HEADER, history))

    assert result["deals_unchanged"] == 3 and _state(org) == before


def test_a_changed_file_updates_its_deals_and_replaces_their_history(world):
    org, process = world
    run(org, process)
    d1, d2, d3 = (Deal.objects.get(organization=org, external_id=f"D-{i}") for i in (1, 2, 3))
    kept_d2 = list(StageChange.objects.filter(deal=d2).values_list("id", flat=True))
    kept_d3_tags = list(DealTag.objects.filter(deal=d3).values_list("id", flat=True))
    old_d1 = set(StageChange.objects.filter(deal=d1).values_list("id", flat=True))
    # D-1: a new amount, one competitor less, and a third stage; D-2 and D-3 as they were.
    deals = [DEALS[0].replace("12000", "15000").replace("Northbeam;Vendora", "Vendora"), DEALS[1], DEALS[2]]
    history = [*HISTORY[:2], "D-1,Propose,2024-02-01T09:00:00Z", *HISTORY[2:]]

    result = run(org, process, csv(DEALS_HEADER, deals), csv(HISTORY_HEADER, history))

    assert (result["deals_created"], result["deals_updated"], result["deals_unchanged"]) == (0, 1, 2)
    assert result["history_rows"] == 3
    d1.refresh_from_db()
    assert (d1.amount, d1.version, stage_names(process)[d1.stage_id]) == (Decimal("15000.00"), 2, "Propose")
    assert d1.stage_entered_at == d1.last_activity_at == utc("2024-02-01T09:00:00Z")
    entries = list(StageChange.objects.filter(deal=d1).order_by("entered_at"))
    assert [e.left_at for e in entries] == [utc("2024-01-10T09:00:00Z"), utc("2024-02-01T09:00:00Z"), None]
    assert not old_d1 & {e.id for e in entries}  # replaced, not appended to
    assert list(DealTag.objects.filter(deal=d1).values_list("value", flat=True)) == [
        "Vendora",
        "Price too high",
    ]
    # The unchanged deals were not touched.
    d2.refresh_from_db()
    assert d2.version == 1
    assert list(StageChange.objects.filter(deal=d2).values_list("id", flat=True)) == kept_d2
    assert list(DealTag.objects.filter(deal=d3).values_list("id", flat=True)) == kept_d3_tags


def test_closing_a_deal_in_the_file_closes_its_last_entry(world):
    org, process = world
    run(org, process)
    deals = [DEALS[0].replace(",open,,", ",won,2024-01-31T00:00:00Z,"), *DEALS[1:]]

    result = run(org, process, deals=csv(DEALS_HEADER, deals))

    assert result["deals_updated"] == 1
    d1 = Deal.objects.get(organization=org, external_id="D-1")
    assert (d1.status, d1.closed_at, d1.version) == ("won", utc("2024-01-31T00:00:00Z"), 2)
    assert not StageChange.objects.filter(deal=d1, left_at__isnull=True).exists()
    assert StageChange.objects.filter(deal=d1).order_by("entered_at").last().left_at == d1.closed_at
    assert not StageRollup.objects.filter(organization=org, open_count__gt=0).exists()


def test_activity_logged_since_the_import_keeps_the_deals_last_activity(world):
    org, process = world
    run(org, process)
    later = utc("2024-06-01T00:00:00Z")
    Deal.objects.filter(external_id="D-1").update(last_activity_at=later)

    result = run(org, process)

    assert result["deals_unchanged"] == 3
    assert Deal.objects.get(external_id="D-1").last_activity_at == later


def test_an_edit_in_the_app_is_overwritten_by_the_next_import(world):
    org, process = world
    run(org, process)
    Deal.objects.filter(external_id="D-2").update(name="Renamed in the app", version=5)

    result = run(org, process)

    assert result["deals_updated"] == 1
    assert Deal.objects.filter(external_id="D-2").values_list("name", "version").get() == (
        "Initrode pilot",
        6,
    )


def test_existing_accounts_are_found_by_name_and_new_ones_created_once(world, account):
    org, process = world
    deals = [DEALS[0], DEALS[1], DEALS[2].replace(",Umbrella,", ",Initrode,")]

    result = run(org, process, deals=csv(DEALS_HEADER, deals))

    assert result["accounts_created"] == 1
    assert Account.objects.filter(organization=org, name="Initrode").count() == 1
    assert Account.objects.filter(organization=org, name="Globex").get() == account


# Refused files: each problem named by file, line and column; nothing written -------------------


def deals_with(line: int, new: str) -> bytes:
    """The good deals file with data line `line` (2 = the first data row) replaced."""
    lines = list(DEALS)
    lines[line - 2] = new
    return csv(DEALS_HEADER, lines)


def history_with(*extra: str, without: tuple[int, ...] = ()) -> bytes:
    lines = [h for i, h in enumerate(HISTORY, start=2) if i not in without]
    return csv(HISTORY_HEADER, [*lines, *extra])


BAD_FILES = {
    "missing column": (
        csv(
            DEALS_HEADER.replace(",amount", ""),
            [d.replace(",12000", "").replace(",5000.50", "") for d in DEALS],
        ),
        None,
        ("deals.csv", 1, "amount", 'Missing column "amount"'),
    ),
    "unknown column": (
        csv(DEALS_HEADER + ",probability", [d + ",10" for d in DEALS]),
        None,
        ("deals.csv", 1, "probability", "Unknown column probability"),
    ),
    "columns separated by semicolons": (
        csv(DEALS_HEADER.replace(",", ";"), []),
        None,
        ("deals.csv", 1, "", "separated by ';'"),
    ),
    "a row with too few values": (
        deals_with(3, "D-2,Initrode pilot,Initrode"),
        None,
        ("deals.csv", 3, "", "This row has 3 values; the header has 13 columns."),
    ),
    "bad date": (
        deals_with(2, DEALS[0].replace("2024-01-02T09:00:00Z", "02/01/2024")),
        None,
        ("deals.csv", 2, "created_at", '"02/01/2024" is not an ISO 8601 time'),
    ),
    "impossible date": (
        None,
        history_with("D-3,Discover,2024-02-30T10:00:00Z"),
        ("history.csv", 8, "entered_at", '"2024-02-30T10:00:00Z" is not an ISO 8601 time'),
    ),
    "unknown stage": (
        None,
        history_with("D-3,Demo,2024-02-05T10:00:00Z"),
        (
            "history.csv",
            8,
            "stage",
            'Unknown stage "Demo"; the stages are: Qualify, Discover, Propose, Negotiate.',
        ),
    ),
    "duplicate deal row": (
        csv(DEALS_HEADER, [*DEALS, DEALS[1]]),
        None,
        ("deals.csv", 5, "external_id", 'Duplicate row: external_id "D-2" is already on line 3.'),
    ),
    "duplicate history row": (
        None,
        history_with(HISTORY[1]),
        (
            "history.csv",
            8,
            "entered_at",
            'Duplicate row: "D-1" at 2024-01-10T09:00:00+00:00 is also on line 3.',
        ),
    ),
    "two stages at the same time": (
        None,
        history_with("D-1,Propose,2024-01-10T09:00:00Z"),
        ("history.csv", 8, "entered_at", "Two stage entries at the same time"),
    ),
    "the same stage twice in a row": (
        None,
        history_with("D-1,Discover,2024-01-15T09:00:00Z"),
        ("history.csv", 8, "stage", '"D-1" enters the stage it is already in (line 3)'),
    ),
    "non-numeric amount": (
        deals_with(2, DEALS[0].replace(",12000,", ",12k,")),
        None,
        ("deals.csv", 2, "amount", '"12k" is not a number'),
    ),
    "negative amount": (
        deals_with(2, DEALS[0].replace(",12000,", ",-5,")),
        None,
        ("deals.csv", 2, "amount", '"-5" is negative'),
    ),
    "unknown status": (
        deals_with(2, DEALS[0].replace(",open,", ",pending,")),
        None,
        ("deals.csv", 2, "status", 'Unknown status "pending"; use open, won or lost.'),
    ),
    "closed deal without closed_at": (
        deals_with(3, DEALS[1].replace("2024-03-01T12:00:00+01:00", "")),
        None,
        ("deals.csv", 3, "closed_at", "Required: a won deal needs the time it closed."),
    ),
    "open deal with closed_at": (
        deals_with(2, DEALS[0].replace(",open,,", ",open,2024-02-01T00:00:00Z,")),
        None,
        ("deals.csv", 2, "closed_at", "An open deal has no closed_at"),
    ),
    "closed before its last stage entry": (
        deals_with(3, DEALS[1].replace("2024-03-01T12:00:00+01:00", "2024-02-01T00:00:00Z")),
        None,
        (
            "deals.csv",
            3,
            "closed_at",
            "closed_at is before the deal's last stage entry (2024-02-10T00:00:00+00:00, history.csv line 4).",
        ),
    ),
    "unknown currency": (
        deals_with(2, DEALS[0].replace(",USD,", ",US$,")),
        None,
        ("deals.csv", 2, "currency", '"US$" is not a three-letter currency code'),
    ),
    "bad owner email": (
        deals_with(2, DEALS[0].replace("rep@acme.test", "rep at acme")),
        None,
        ("deals.csv", 2, "owner_email", '"rep at acme" is not an email address.'),
    ),
    "missing name": (
        deals_with(2, DEALS[0].replace("Globex rollout", "")),
        None,
        ("deals.csv", 2, "name", "Required: the deal's name."),
    ),
    "empty deals file": (b"", None, ("deals.csv", 1, "", "The file is empty")),
    "empty history file": (None, b"  \n", ("history.csv", 1, "", "The file is empty")),
    "header only": (
        csv(DEALS_HEADER, []),
        None,
        ("history.csv", 2, "external_id", 'No deal with external_id "D-1" in deals.csv.'),
    ),
    "not UTF-8": (
        deals_with(4, DEALS[2].replace("Umbrella,,", "Umbrella,Société,")).replace(
            "Société".encode(), "Société".encode("latin-1")
        ),
        None,
        ("deals.csv", 4, "industry", "Not UTF-8 text (byte 0xe9)"),
    ),
    "a byte-order mark and nothing else": (
        b"\xef\xbb\xbf\r\n",
        None,
        ("deals.csv", 1, "", "The file is empty"),
    ),
    "UTF-16": (
        csv(DEALS_HEADER, DEALS).decode().encode("utf-16"),
        None,
        ("deals.csv", 1, "", "Not UTF-8 text (byte 0xff)"),
    ),
    "a NUL character": (
        None,
        history_with("D-3,Discover\x00,2024-02-05T10:00:00Z"),
        ("history.csv", 8, "", "The file contains a NUL character"),
    ),
    "history for a deal not in the deals file": (
        None,
        history_with("D-9,Qualify,2024-02-01T10:00:00Z"),
        ("history.csv", 8, "external_id", 'No deal with external_id "D-9" in deals.csv.'),
    ),
    "a deal with no history rows": (
        None,
        history_with(without=(7,)),
        ("deals.csv", 4, "external_id", 'No stage history: history.csv has no row for "D-3"'),
    ),
    "entered a stage before the deal was created": (
        None,
        history_with("D-3,Discover,2024-01-01T00:00:00Z", without=(7,)),
        ("history.csv", 7, "entered_at", '"D-3" enters its first stage before the deal was created'),
    ),
}


@pytest.mark.parametrize(("deals", "history", "expected"), BAD_FILES.values(), ids=BAD_FILES.keys())
def test_a_bad_file_is_refused_with_its_line_and_column_and_nothing_is_written(
    world, deals, history, expected
):
    org, process = world
    before = written()

    problems = refused(org, process, deals, history)

    file, line, column, message = expected
    matching = [p for p in problems if (p["file"], p["line"], p["column"]) == (file, line, column)]
    assert matching, problems
    assert message in matching[0]["message"], matching[0]["message"]
    assert written() == before


def test_a_deal_of_another_process_is_refused(world, rep):
    org, process = world
    other, _ = process_import(org=org, data={**SIMPLE_PROCESS, "name": "Expansion"}, by=None)
    run(org, other, csv(DEALS_HEADER, DEALS[:1]), csv(HISTORY_HEADER, HISTORY[:2]))
    before = written()

    problems = refused(org, process)

    assert problems == [
        {
            "file": "deals.csv",
            "line": 2,
            "column": "external_id",
            "message": '"D-1" is a deal of the process "Expansion"; import it there, or give it another external_id.',
        }
    ]
    assert written() == before


def test_every_problem_is_listed_in_line_order_up_to_100(world):
    org, process = world
    bad = [f"X-{i},Deal {i},Acme,,rep@acme.test,lots,USD,2024-01-01,open,,,," for i in range(150)]
    before = written()

    with pytest.raises(HistoryImportInvalid) as caught:
        run(org, process, csv(DEALS_HEADER, bad), csv(HISTORY_HEADER, []))

    problems = caught.value.as_dicts()
    assert len(problems) == 100 and caught.value.truncated
    assert [p["line"] for p in problems] == list(range(2, 102))
    assert {(p["column"], p["message"]) for p in problems} == {
        ("amount", '"lots" is not a number (use digits and a decimal point, e.g. 12000.50).')
    }
    assert written() == before


def test_several_problems_in_both_files_are_reported_together(world):
    org, process = world
    deals = deals_with(2, DEALS[0].replace(",12000,", ",abc,").replace(",open,", ",maybe,"))
    history = history_with("D-2,Nowhere,2024-01-25T00:00:00Z")

    problems = refused(org, process, deals, history)

    assert [(p["file"], p["line"], p["column"]) for p in problems] == [
        ("deals.csv", 2, "amount"),
        ("deals.csv", 2, "status"),
        ("history.csv", 8, "stage"),
    ]


def test_validate_checks_without_writing(world):
    org, process = world
    before = written()

    files = history_import_validate(
        organization=org,
        process=process,
        deals_file=csv(DEALS_HEADER, DEALS),
        history_file=csv(HISTORY_HEADER, HISTORY),
    )

    assert sorted(files.deals) == ["D-1", "D-2", "D-3"] and files.history_rows == 6
    assert written() == before


def test_reps_and_managers_may_not_import(world, rep, manager, ops, admin):
    org, process = world
    for member in (rep, manager):
        with pytest.raises(NotAllowed):
            run(org, process, by=member)
    assert run(org, process, by=ops)["deals_created"] == 3
    assert run(org, process, by=admin)["deals_unchanged"] == 3


# The job -----------------------------------------------------------------------------------------


def start(org, process, by, deals=None, history=None) -> HistoryImport:
    return history_import_start(
        organization=org,
        process=process,
        by=by,
        deals_file=csv(DEALS_HEADER, DEALS) if deals is None else deals,
        history_file=csv(HISTORY_HEADER, HISTORY) if history is None else history,
        deals_filename="deals.csv",
        history_filename="history.csv",
    )


def test_the_job_runs_after_commit_records_the_counts_and_drops_the_files(
    world, ops, django_capture_on_commit_callbacks
):
    org, process = world

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        job = start(org, process, ops)
        assert job.status == JobStatus.QUEUED and job.deals_data

    # The import's task, then the metrics refresh the finished import queues.
    assert [c.func.__self__.name for c in callbacks] == [
        "iteration.tasks_imports.run_history_import",
        "iteration.tasks_metrics.refresh_metrics",
    ]
    job.refresh_from_db()
    assert (job.status, job.progress, job.errors) == (JobStatus.SUCCEEDED, 100, [])
    assert job.result["deals_created"] == 3
    assert bytes(job.deals_data) == b"" and bytes(job.history_data) == b""
    assert job.started_at is not None and job.finished_at >= job.started_at
    assert Deal.objects.filter(organization=org).count() == 3
    assert MetricSnapshot.objects.get(process=process).overall["summary"]["deals"] == 3


def test_a_redelivered_job_does_nothing(world, ops, django_capture_on_commit_callbacks):
    org, process = world
    with django_capture_on_commit_callbacks(execute=True):
        job = start(org, process, ops)
    job.refresh_from_db()
    finished = job.finished_at
    before = written()

    assert history_import_execute(import_id=job.id) is None

    job.refresh_from_db()
    assert (job.status, job.finished_at) == (JobStatus.SUCCEEDED, finished)
    assert written() == before


def test_a_failed_job_keeps_the_problems_and_is_not_run_again(world, ops, django_capture_on_commit_callbacks):
    org, process = world
    before = written()

    with django_capture_on_commit_callbacks(execute=True):
        job = start(org, process, ops, history=history_with("D-3,Demo,2024-02-05T10:00:00Z"))

    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.phase == "Nothing imported"
    assert [(e["file"], e["line"], e["column"]) for e in job.errors] == [("history.csv", 8, "stage")]
    assert bytes(job.deals_data)  # kept, for whoever looks into it
    assert history_import_execute(import_id=job.id) is None
    assert written() == before


def test_an_import_abandoned_by_a_dead_worker_is_claimed_again(world, ops, settings):
    org, process = world
    job = start(org, process, ops)  # not run: no on-commit callbacks in this test
    HistoryImport.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING, started_at=datetime.now(UTC))
    assert history_import_execute(import_id=job.id) is None  # running elsewhere

    long_ago = datetime.now(UTC) - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 60)
    HistoryImport.objects.filter(pk=job.pk).update(started_at=long_ago)
    done = history_import_execute(import_id=job.id)

    assert done is not None and done.status == JobStatus.SUCCEEDED


def test_progress_is_reported_while_reading(world):
    org, process = world
    seen = []

    run(org, process, progress=lambda percent, phase: seen.append((percent, phase)))

    percents = [p for p, _ in seen]
    assert percents == sorted(percents) and percents[-1] == 80
    assert seen[-1][1] == "Writing 3 deals and 6 stage entries"


def test_only_ops_start_imports(world, rep):
    org, process = world
    with pytest.raises(NotAllowed):
        start(org, process, rep)
    assert not HistoryImport.objects.exists()


# The command -------------------------------------------------------------------------------------


def write_files(tmp_path, deals: bytes, history: bytes) -> tuple[str, str]:
    deals_path, history_path = tmp_path / "deals.csv", tmp_path / "history.csv"
    deals_path.write_bytes(deals)
    history_path.write_bytes(history)
    return str(deals_path), str(history_path)


def test_the_command_imports_and_prints_the_counts(world, tmp_path):
    org, process = world
    deals, history = write_files(tmp_path, csv(DEALS_HEADER, DEALS), csv(HISTORY_HEADER, HISTORY))
    out = StringIO()

    call_command("import_history", "--org", org.slug, "--process", process.name, deals, history, stdout=out)

    assert (
        'Imported into "New business": 3 deals created, 0 updated, 0 unchanged; 6 stage entries written.'
        in out.getvalue()
    )
    assert "New: 2 accounts, 1 inactive members (1 new users)." in out.getvalue()
    out = StringIO()
    call_command("import_history", "--org", org.slug, "--process", process.name, deals, history, stdout=out)
    assert "0 deals created, 0 updated, 3 unchanged; 0 stage entries written." in out.getvalue()


def test_the_command_prints_each_problem_as_file_line_column(world, tmp_path):
    org, process = world
    deals, history = write_files(
        tmp_path,
        deals_with(2, DEALS[0].replace(",12000,", ",12k,")),
        history_with("D-3,Demo,2024-02-05T10:00:00Z"),
    )
    err = StringIO()
    before = written()

    with pytest.raises(CommandError, match="2 problems: nothing was imported."):
        call_command(
            "import_history", "--org", org.slug, "--process", process.name, deals, history, stderr=err
        )

    assert err.getvalue().splitlines() == [
        f'{deals}:2:amount: "12k" is not a number (use digits and a decimal point, e.g. 12000.50).',
        f'{history}:8:stage: Unknown stage "Demo"; the stages are: Qualify, Discover, Propose, Negotiate.',
    ]
    assert written() == before


def test_the_command_names_an_unknown_process(world, tmp_path):
    org, _ = world
    deals, history = write_files(tmp_path, b"", b"")

    with pytest.raises(CommandError, match='no process named "Renewals". Its processes: New business.'):
        call_command("import_history", "--org", org.slug, "--process", "Renewals", deals, history)


# Foreign keys of the copied rows -------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.parametrize("per_key", [True, False], ids=["checked per key", "checked per row"])
def test_a_reference_that_no_longer_holds_refuses_the_whole_import(world, monkeypatch, per_key):
    from django.db import IntegrityError

    from iteration import history_import_write

    org, process = world
    before = written()
    # The accounts were looked up, then one vanished before the rows were written: the writer names an
    # account id that no longer exists.
    looked_up = history_import_write.ImportWriter.accounts
    monkeypatch.setattr(
        history_import_write.ImportWriter, "accounts", lambda self: dict.fromkeys(looked_up(self), 10**9)
    )
    if not per_key:
        monkeypatch.setattr(history_import_write.ImportWriter, "_row_checks_off", lambda self: False)

    with pytest.raises(IntegrityError):
        run(org, process)

    after = written()
    after.pop("Account")  # the lookup's own inserts roll back with the rest
    before.pop("Account")
    assert after == before and not Deal.objects.filter(organization=org).exists()


@pytest.mark.postgres
def test_copied_rows_are_checked_per_key_when_the_database_allows_it(world, monkeypatch):
    from iteration import history_import_write

    org, process = world
    taken = []
    original = history_import_write.ImportWriter._row_checks_off
    monkeypatch.setattr(
        history_import_write.ImportWriter,
        "_row_checks_off",
        lambda self: taken.append(original(self)) or taken[-1],
    )

    result = run(org, process)

    assert taken == [True] and result["deals_created"] == 3
    # The session is back to firing triggers after the copy: a bad key written now is refused.
    with connection.cursor() as cursor:
        cursor.execute("SHOW session_replication_role")
        assert cursor.fetchone()[0] == "origin"


def test_the_reference_map_covers_every_foreign_key_the_import_copies():
    from iteration.history_import_write import (
        COPY_REFERENCES,
        DEAL_COPY_COLUMNS,
        STAGE_CHANGE_COLUMNS,
        TAG_COLUMNS,
    )

    for model, columns in (
        (Deal, DEAL_COPY_COLUMNS),
        (DealTag, TAG_COLUMNS),
        (StageChange, STAGE_CHANGE_COLUMNS),
    ):
        foreign_keys = {
            f.column: f.related_model._meta.label
            for f in model._meta.concrete_fields
            if f.many_to_one and f.column in columns
        }
        assert COPY_REFERENCES[model._meta.db_table] == foreign_keys, model.__name__


def test_the_per_key_check_looks_at_every_table_the_copied_rows_refer_to(world):
    from django.apps import apps

    from iteration.history_import_write import COPY_REFERENCES, ImportWriter

    org, process = world
    checked = ImportWriter(org, process, {}, "deals.csv", {}).copied_references([], [])

    targets = {apps.get_model(t) for columns in COPY_REFERENCES.values() for t in columns.values()}
    # Deals are the import's own rows (see copied_references).
    assert set(checked) == targets - {Deal}
