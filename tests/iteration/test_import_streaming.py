"""History import on PostgreSQL: the new deals of a history file grouped by deal are copied while the file
is still being read (ImportWriter.complete), a deal whose rows come back further down is taken back and
written whole (ImportWriter.reopened / take_back), and whatever was copied early is rolled back with the
rest when the files turn out wrong."""

from datetime import UTC, datetime, timedelta

import pytest

from deals.models import Deal, StageChange
from iteration import history_import_write
from iteration.history_import import HistoryImportInvalid
from iteration.history_import_write import ImportWriter
from salesproc.models import Stage
from tests.iteration.test_history_import import DEALS_HEADER, HISTORY_HEADER, csv, run, written

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

STAGES = ["Qualify", "Discover", "Propose", "Negotiate"]
START = datetime(2024, 1, 1, tzinfo=UTC)


def files(count: int, *, order: str = "deal") -> tuple[bytes, bytes, dict]:
    """`count` deals with one to four entries each (every third one won), and the history file grouped
    by deal (`order="deal"`) or sorted by time (`"time"`, each deal's rows spread over the file).
    Returns the two files and, per external id, the stages and times the deal should end up with."""
    deals, rows, expected = [], [], {}
    for i in range(count):
        external_id = f"S-{i:03d}"
        created = START + timedelta(hours=i)
        entries = [(created + timedelta(days=3 * n), STAGES[n]) for n in range(1 + i % 4)]
        won = i % 3 == 0
        closed = entries[-1][0] + timedelta(days=1) if won else None
        deals.append(
            f"{external_id},Deal {i},Account {i % 5},Software,rep@acme.test,{1000 + i},USD,"
            f"{created.isoformat()},{'won' if won else 'open'},{closed.isoformat() if closed else ''},,,"
        )
        rows.extend((at, f"{external_id},{stage},{at.isoformat()}") for at, stage in entries)
        expected[external_id] = (entries, closed)
    if order == "time":
        rows.sort()
    return csv(DEALS_HEADER, deals), csv(HISTORY_HEADER, [line for _, line in rows]), expected


def stored(org) -> dict:
    """Per external id: the deal's stage and stage_entered_at, and its entries as (stage, entered_at,
    left_at, from stage) in time order."""
    names = dict(Stage.objects.filter(process__organization=org).values_list("id", "name"))
    state = {}
    for deal in Deal.objects.filter(organization=org):
        entries = [
            (names[e.to_stage_id], e.entered_at, e.left_at, names.get(e.from_stage_id))
            for e in StageChange.objects.filter(deal=deal).order_by("entered_at")
        ]
        state[deal.external_id] = (names[deal.stage_id], deal.stage_entered_at, entries)
    return state


def chained(expected: dict) -> dict:
    """What `stored` should read for deals made by `files`."""
    state = {}
    for external_id, (entries, closed) in expected.items():
        times = [at for at, _ in entries]
        lefts = [*times[1:], closed]
        froms = [None, *(stage for _, stage in entries[:-1])]
        rows = [
            (stage, at, left, before) for (at, stage), left, before in zip(entries, lefts, froms, strict=True)
        ]
        state[external_id] = (entries[-1][1], entries[-1][0], rows)
    return state


@pytest.fixture
def spied(monkeypatch):
    """Counts of the deals copied while reading and of those taken back; small COPY batches, so that
    a few dozen deals are sent in several statements."""
    calls = {"complete": 0, "reopened": 0}
    complete, reopened = ImportWriter.complete, ImportWriter.reopened

    def counting_complete(self, deal):
        calls["complete"] += 1
        complete(self, deal)

    def counting_reopened(self, deal):
        calls["reopened"] += 1
        reopened(self, deal)

    monkeypatch.setattr(ImportWriter, "complete", counting_complete)
    monkeypatch.setattr(ImportWriter, "reopened", counting_reopened)
    monkeypatch.setattr(history_import_write, "COPY_BATCH", 7)
    return calls


def test_a_file_grouped_by_deal_is_copied_while_it_is_read(org, process, rep, spied):
    deals, history, expected = files(40)

    result = run(org, process, deals, history)

    assert (result["deals_created"], result["history_rows"]) == (40, 100)
    assert spied == {"complete": 40, "reopened": 0}
    assert stored(org) == chained(expected)


def test_a_file_sorted_by_time_takes_back_the_deals_whose_rows_come_back(org, process, rep, spied):
    deals, history, expected = files(40, order="time")

    result = run(org, process, deals, history)

    assert (result["deals_created"], result["history_rows"]) == (40, 100)
    # Some deals were copied before their later rows showed up, and were written again, whole.
    assert spied["complete"] > 0
    assert spied["reopened"] > 0
    assert stored(org) == chained(expected)
    assert StageChange.objects.filter(deal__organization=org).count() == 100


def test_a_deal_whose_rows_come_back_once_copying_stopped_is_still_taken_back(org, process, rep, spied):
    # S-000 and S-001 are copied as their rows end; S-000's rows come back (copying stops), S-002 is
    # read whole, then S-001's rows come back too.
    deals, _, expected = files(3)
    hour = timedelta(hours=1)
    lines = [
        f"S-000,Qualify,{START.isoformat()}",
        f"S-001,Qualify,{(START + hour).isoformat()}",
        f"S-000,Discover,{(START + timedelta(days=3)).isoformat()}",
        f"S-002,Qualify,{(START + 2 * hour).isoformat()}",
        f"S-002,Discover,{(START + 2 * hour + timedelta(days=3)).isoformat()}",
        f"S-002,Propose,{(START + 2 * hour + timedelta(days=6)).isoformat()}",
        f"S-001,Discover,{(START + hour + timedelta(days=3)).isoformat()}",
    ]
    # S-000 has a second entry in this file, and is left open (closed, it would close before it).
    expected["S-000"] = ([(START, "Qualify"), (START + timedelta(days=3), "Discover")], None)
    deals = deals.replace(f"won,{(START + timedelta(days=1)).isoformat()}".encode(), b"open,")

    result = run(org, process, deals, csv(HISTORY_HEADER, lines))

    assert (result["deals_created"], result["history_rows"]) == (3, 7)
    assert spied == {"complete": 2, "reopened": 2}
    assert stored(org) == chained(expected)


def test_a_problem_found_after_deals_were_copied_leaves_nothing_written(org, process, rep, spied):
    deals, history, _ = files(40)
    history += b"S-039,Closing,2024-06-01T00:00:00Z\n"
    before = written()

    with pytest.raises(HistoryImportInvalid) as caught:
        run(org, process, deals, history)

    assert spied["complete"] == 39  # the last deal's rows end with the bad row
    assert [(p["line"], p["column"]) for p in caught.value.as_dicts()] == [(102, "stage")]
    assert written() == before


def test_a_deal_with_a_problem_is_not_copied_and_its_problem_is_listed_once(org, process, rep, spied):
    deals, _, _ = files(3)
    lines = [
        f"S-000,Qualify,{START.isoformat()}",
        f"S-000,Qualify,{START.isoformat()}",  # a duplicate row
        f"S-001,Qualify,{(START + timedelta(hours=1)).isoformat()}",
        f"S-002,Qualify,{(START + timedelta(hours=2)).isoformat()}",
    ]
    before = written()

    with pytest.raises(HistoryImportInvalid) as caught:
        run(org, process, deals, csv(HISTORY_HEADER, lines))

    assert spied["complete"] == 0  # nothing more is copied once a deal is found wrong
    problems = caught.value.as_dicts()
    assert [(p["file"], p["line"], p["column"]) for p in problems] == [("history.csv", 3, "entered_at")]
    assert problems[0]["message"].startswith("Duplicate row")
    assert written() == before


def test_a_deal_taken_back_whose_rows_together_are_wrong_is_reported_once(org, process, rep, spied):
    deals, _, _ = files(2)
    deals = deals.replace(f"won,{(START + timedelta(days=1)).isoformat()}".encode(), b"open,")
    lines = [
        f"S-000,Qualify,{START.isoformat()}",
        f"S-001,Qualify,{(START + timedelta(hours=1)).isoformat()}",
        f"S-000,Qualify,{(START + timedelta(days=2)).isoformat()}",  # re-enters the stage it is in
    ]
    before = written()

    with pytest.raises(HistoryImportInvalid) as caught:
        run(org, process, deals, csv(HISTORY_HEADER, lines))

    assert spied == {"complete": 2, "reopened": 1}
    assert [(p["line"], p["column"]) for p in caught.value.as_dicts()] == [(4, "stage")]
    assert written() == before


def test_importing_a_grouped_file_again_copies_nothing_while_reading(org, process, rep, spied):
    deals, history, expected = files(20)
    run(org, process, deals, history)
    ids = dict(Deal.objects.filter(organization=org).values_list("external_id", "id"))
    spied["complete"] = 0

    result = run(org, process, deals, history)

    # Stored deals are compared with the file and written by the end of the import, never copied while
    # it is read: with no new deal, nothing is handed over.
    assert spied["complete"] == 0
    assert (result["deals_created"], result["deals_unchanged"], result["history_rows"]) == (0, 20, 0)
    assert dict(Deal.objects.filter(organization=org).values_list("external_id", "id")) == ids
    assert stored(org) == chained(expected)
