"""Win rate by scorecard band, by hand."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from deals.services import deal_create, deal_lose, deal_win
from iteration.stats import wilson_interval
from scorecards.analytics import win_rate_by_scorecard_band
from scorecards.services import AnswerInput, deal_scorecard_answers_set


def _closed_deal(rep, process, account, criteria, values, *, won: bool, name: str):
    deal = deal_create(by=rep, process=process, name=name, account=account)
    if values:
        answers = [AnswerInput(c, v) for c, v in zip(criteria, values, strict=False) if v is not None]
        deal_scorecard_answers_set(deal=deal, by=rep, answers=answers)
        deal.refresh_from_db()
    if won:
        return deal_win(deal=deal, by=rep, expected_version=deal.version)
    return deal_lose(deal=deal, by=rep, expected_version=deal.version, reason="Lost")


@pytest.fixture
def closed_deals(rep, process, account, criteria):
    """Closed deals by score (criteria weights 3, 2, 5; budget yes / no, pain 0–3, champion 0–5):
    - [0, 0, 0] → 0 lost and [0, 1, 1] → 16.67 won: band 0–40;
    - [0, 3, 2] → 40.00 lost (40 opens the next band) and [1, 0, 3] → 60.00 won twice: band 40–70;
    - [1, 3, 5] → 100 won three times and [1, 3, —] → 100 but incomplete, lost: band 70–101;
    - never scored: one won, two lost. An open deal with a score counts nowhere."""
    specs = [
        ([0, 0, 0], False),
        ([0, 1, 1], True),
        ([0, 3, 2], False),
        ([1, 0, 3], True),
        ([1, 0, 3], True),
        ([1, 3, 5], True),
        ([1, 3, 5], True),
        ([1, 3, 5], True),
        ([1, 3, None], False),
        (None, True),
        (None, False),
        (None, False),
    ]
    for i, (values, won) in enumerate(specs):
        _closed_deal(rep, process, account, criteria, values, won=won, name=f"Closed {i}")
    still_open = deal_create(by=rep, process=process, name="Open", account=account)
    deal_scorecard_answers_set(deal=still_open, by=rep, answers=[AnswerInput(c, 0) for c in criteria])


def _rates(won, lost):
    closed = won + lost
    interval = wilson_interval(won, closed)
    return {
        "won": won,
        "lost": lost,
        "closed": closed,
        "win_rate": won / closed if closed else None,
        "interval": list(interval) if interval else None,
    }


def test_win_rate_by_band_by_hand(process, closed_deals):
    rates = win_rate_by_scorecard_band(process)
    assert [(b["label"], b["won"], b["lost"]) for b in rates["bands"]] == [
        ("0–40", 1, 1),
        ("40–70", 2, 1),
        ("70–100", 3, 1),
    ]
    assert rates["bands"][1] == {"low": 40, "high": 70, "label": "40–70", **_rates(2, 1)}
    assert rates["bands"][1]["win_rate"] == pytest.approx(2 / 3)
    low, high = rates["bands"][1]["interval"]
    assert low == pytest.approx(0.2077, abs=1e-4) and high == pytest.approx(0.9385, abs=1e-4)
    assert rates["not_scored"] == _rates(1, 2)
    assert rates["incomplete"] == _rates(0, 1)


def test_complete_only_leaves_incomplete_scorecards_out_of_the_bands(process, closed_deals):
    rates = win_rate_by_scorecard_band(process, complete_only=True)
    assert [(b["won"], b["lost"]) for b in rates["bands"]] == [(1, 1), (2, 1), (3, 0)]
    assert rates["bands"][2]["interval"][1] == 1.0


def test_custom_bands_and_an_empty_band(process, closed_deals):
    rates = win_rate_by_scorecard_band(process, ((0, 50), (50, 100), (100, 101)))
    assert [(b["won"], b["lost"]) for b in rates["bands"]] == [(1, 2), (2, 0), (3, 1)]
    empty = win_rate_by_scorecard_band(process, ((20, 30),))["bands"][0]
    assert (empty["closed"], empty["win_rate"], empty["interval"]) == (0, None, None)


@pytest.mark.parametrize("bands", [(), ((40, 40),), ((-1, 10),), ((10, 5),), (("a", 10),)])
def test_bad_bands_are_refused(process, bands):
    with pytest.raises(ValueError):
        win_rate_by_scorecard_band(process, bands)


def test_win_rates_are_one_query(process, closed_deals):
    with CaptureQueriesContext(connection) as queries:
        win_rate_by_scorecard_band(process)
    assert len(queries.captured_queries) == 1


def test_another_process_deals_do_not_count(process, closed_deals, other_org_world):
    rates = win_rate_by_scorecard_band(other_org_world["process"])
    assert all(b["closed"] == 0 for b in rates["bands"]) and rates["not_scored"]["closed"] == 0
