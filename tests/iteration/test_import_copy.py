"""The history import's COPY in binary format (iteration.history_import_copy): PostgreSQL stores exactly
the values the files hold — texts with tabs, backslashes, line breaks and any Unicode, amounts at the
edges of the column, times before 2000 and with microseconds."""

import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection

from deals.models import Deal, StageChange
from iteration.history_import import history_import_run
from iteration.history_import_copy import SIGNATURE, TRAILER, int8, numeric, row_count, text, timestamptz

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

DEALS_HEADER = (
    "external_id,name,account,industry,owner_email,amount,currency,created_at,status,closed_at,"
    "lost_reason,competitors,objections"
)


def _copy_back(columns: str, rows: list[bytes]) -> list[tuple]:
    """The rows COPYed in binary into a temporary table, read back."""
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMPORARY TABLE copy_check (n integer, {columns})")
        raw = cursor.cursor
        data = b"".join((SIGNATURE, *rows, TRAILER))
        raw.copy_expert("COPY copy_check FROM STDIN WITH (FORMAT binary)", io.BytesIO(data))
        cursor.execute("SELECT * FROM copy_check ORDER BY n")
        found = cursor.fetchall()
        cursor.execute("DROP TABLE copy_check")
    return found


AMOUNTS = [
    "0", "0.00", "0.05", "0.5", "1", "7.10", "9999.99", "10000", "10000.01", "12000.50", "100000000",
    "123456789.12", "999999999999.99", "-12.30", "-10000",
]  # fmt: skip


def test_numbers_are_stored_as_sent():
    rows = [
        row_count(2) + b"\x00\x00\x00\x04" + i.to_bytes(4, "big") + numeric(Decimal(value))
        for i, value in enumerate(AMOUNTS)
    ]

    found = _copy_back("amount numeric(14, 2)", rows)

    assert [amount for _, amount in found] == [Decimal(value) for value in AMOUNTS]


def test_texts_times_and_missing_values_are_stored_as_sent():
    values = [
        ("tab\there, back\\slash \\N", datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), 1),
        ("line\nbreak\r\nand Ünïcødé ✓ 😀", datetime(2000, 1, 1, tzinfo=UTC), -(2**62)),
        ("", datetime(2024, 3, 1, 9, 30, 0, 250000, tzinfo=UTC), None),
        (None, None, 0),
    ]
    rows = [
        row_count(4) + b"\x00\x00\x00\x04" + i.to_bytes(4, "big") + text(t) + timestamptz(at) + int8(n)
        for i, (t, at, n) in enumerate(values)
    ]

    found = _copy_back("t text, at timestamptz, big bigint", rows)

    assert [row[1:] for row in found] == values


def test_an_import_stores_the_files_values_exactly(org, process, rep):
    names = dict(process.stages.values_list("name", "id"))
    deals = "\n".join(
        [
            DEALS_HEADER,
            # Quoted CSV values: a tab, a line break, a backslash, quotes and characters outside ASCII.
            'X-1,"Tab\there ""quoted"" \\N",Ünïcødé GmbH,"Line\nbreak",rep@acme.test,999999999999.99,'
            "usd,1999-12-31T23:59:59.999999Z,won,2000-01-01T00:00:00.000001+00:00,Prix trop élevé 😀,"
            "Nörthbeam,",
            "X-2,Zero,Acme,,rep@acme.test,,,2024-03-01T09:30:00.25+02:00,open,,,,",
            "X-3,Cents,Acme,,rep@acme.test,0.05,EUR,2024-03-01,lost,2024-03-02T00:00:00Z,,,",
        ]
    ).encode()
    history = "\n".join(
        [
            "external_id,stage,entered_at",
            "X-1,Qualify,1999-12-31T23:59:59.999999Z",
            "X-1,Discover,2000-01-01T00:00:00Z",
            "X-2,Qualify,2024-03-01T07:30:00.250000Z",
            "X-3,Qualify,2024-03-01T00:00:00Z",
            "X-3,Propose,2024-03-01T12:00:00.000007Z",
        ]
    ).encode()

    history_import_run(organization=org, process=process, deals_file=deals, history_file=history, by=None)

    x1, x2, x3 = (Deal.objects.get(organization=org, external_id=f"X-{i}") for i in (1, 2, 3))
    assert (x1.name, x1.account.name, x1.industry, x1.amount, x1.currency, x1.lost_reason) == (
        'Tab\there "quoted" \\N',
        "Ünïcødé GmbH",
        "Line\nbreak",
        Decimal("999999999999.99"),
        "USD",
        "Prix trop élevé 😀",
    )
    assert (x1.created_at, x1.closed_at, x1.status, x1.stage_id, x1.version) == (
        datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2000, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
        "won",
        names["Discover"],
        1,
    )
    assert (x1.expected_close, x1.budget, x1.lead_source, x1.description) == (None, None, "", "")
    assert list(x1.tags.values_list("kind", "value")) == [("competitor", "Nörthbeam")]
    assert (x2.amount, x2.currency, x2.closed_at, x2.created_at, x2.stage_entered_at) == (
        Decimal("0.00"),
        org.default_currency,
        None,
        datetime(2024, 3, 1, 7, 30, 0, 250000, tzinfo=UTC),
        datetime(2024, 3, 1, 7, 30, 0, 250000, tzinfo=UTC),
    )
    assert (x3.amount, x3.currency, x3.last_activity_at) == (
        Decimal("0.05"),
        "EUR",
        datetime(2024, 3, 2, tzinfo=UTC),
    )
    entries = list(
        StageChange.objects.filter(deal=x3)
        .order_by("entered_at")
        .values_list(
            "from_stage_id",
            "to_stage_id",
            "entered_at",
            "left_at",
            "by_id",
            "process_version_id",
            "override_reason",
            "overridden_criteria",
        )
    )
    version = process.current_version_id
    assert entries == [
        (
            None,
            names["Qualify"],
            datetime(2024, 3, 1, tzinfo=UTC),
            datetime(2024, 3, 1, 12, 0, 0, 7, tzinfo=UTC),
            None,
            version,
            "",
            [],
        ),
        (
            names["Qualify"],
            names["Propose"],
            datetime(2024, 3, 1, 12, 0, 0, 7, tzinfo=UTC),
            datetime(2024, 3, 2, tzinfo=UTC),
            None,
            version,
            "",
            [],
        ),
    ]
    assert StageChange.objects.get(deal=x1, to_stage_id=names["Qualify"]).entered_at == datetime(
        1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC
    )


def test_the_per_key_check_locks_the_existing_accounts_not_the_ones_the_import_creates(
    org, process, rep, account, monkeypatch
):
    from iteration import history_import_write
    from tests.iteration.test_history_import import run

    checked = {}
    check = history_import_write.ImportWriter._check_present

    def spy(cursor, model, ids):
        checked[model._meta.label] = ids
        return check(cursor, model, ids)

    monkeypatch.setattr(history_import_write.ImportWriter, "_check_present", staticmethod(spy))

    result = run(org, process)  # D-1 on the existing account, D-2 and D-3 on two new ones

    assert result["accounts_created"] == 2
    assert checked["deals.Account"] == [account.id]
    owners = set(Deal.objects.filter(organization=org).values_list("owner_id", flat=True))
    assert checked["orgs.User"] == sorted(owners)


def test_a_large_import_refreshes_the_statistics_of_every_table_it_wrote(
    org, process, rep, account, monkeypatch
):
    from iteration import history_import_write
    from tests.iteration.test_history_import import run

    # Three deals count as large here: the accounts and tags are analyzed while the history file is
    # read, the deals and stage entries at the end.
    monkeypatch.setattr(history_import_write, "ANALYZE_AFTER_ROWS", 2)

    run(org, process)

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, reltuples FROM pg_class WHERE relname IN "
            "('deals_deal', 'deals_stagechange', 'deals_dealtag', 'deals_account')"
        )
        estimated = dict(cursor.fetchall())
    assert estimated == {"deals_deal": 3, "deals_stagechange": 6, "deals_dealtag": 4, "deals_account": 3}
