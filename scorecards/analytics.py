"""Does the scorecard predict? The win rate of closed deals by the score they had.

A deal's stored score is the one it closed with: answers are refused once a deal is won or lost
(scorecards.services), and only an edit of the scorecard's weights recomputes it."""

from collections.abc import Sequence

from django.db.models import Count, Q

from deals.models import Deal, DealStatus
from iteration.stats import wilson_interval
from salesproc.models import Process
from scorecards.models import ScorecardResult

DEFAULT_BANDS: tuple[tuple[int, int], ...] = ((0, 40), (40, 70), (70, 101))


def _check_bands(bands: Sequence[Sequence[int]]) -> list[tuple[int, int]]:
    out = []
    for band in bands:
        low, high = band
        if not (isinstance(low, int) and isinstance(high, int)) or not 0 <= low < high:
            raise ValueError(f"A band is [low, high) with 0 <= low < high, got {band!r}")
        out.append((low, high))
    if not out:
        raise ValueError("Give at least one band")
    return out


def _rates(won: int, lost: int) -> dict:
    closed = won + lost
    interval = wilson_interval(won, closed)
    return {
        "won": won,
        "lost": lost,
        "closed": closed,
        "win_rate": won / closed if closed else None,
        "interval": list(interval) if interval else None,
    }


def win_rate_by_scorecard_band(
    process: Process,
    bands: Sequence[Sequence[int]] = DEFAULT_BANDS,
    *,
    complete_only: bool = False,
) -> dict:
    """For each band [low, high) of scores, the process's closed deals with a score in it: won, lost,
    closed (the sample size), the win rate won / closed and its 95% Wilson interval (None when no deal
    closed in the band). Also the same for the closed deals never scored (to compare against) and for
    those closed with an incomplete scorecard (`incomplete`). By default a deal counts in its score's
    band whatever its result; with `complete_only` incomplete ones are left out of the bands.

    One query (conditional counts over the process's closed deals), whatever the number of deals.
    Bands may overlap or leave gaps; a deal counts in every band its score falls in."""
    checked = _check_bands(bands)
    closed = Deal.objects.filter(
        organization_id=process.organization_id,
        process=process,
        status__in=[DealStatus.WON, DealStatus.LOST],
    )
    won, lost = Q(status=DealStatus.WON), Q(status=DealStatus.LOST)
    scored = Q(scorecard__isnull=False)
    if complete_only:
        scored &= ~Q(scorecard__result=ScorecardResult.INCOMPLETE)
    counts = {}
    for i, (low, high) in enumerate(checked):
        in_band = scored & Q(scorecard__score__gte=low, scorecard__score__lt=high)
        counts[f"b{i}_won"] = Count("id", filter=in_band & won)
        counts[f"b{i}_lost"] = Count("id", filter=in_band & lost)
    counts["none_won"] = Count("id", filter=Q(scorecard__isnull=True) & won)
    counts["none_lost"] = Count("id", filter=Q(scorecard__isnull=True) & lost)
    counts["incomplete_won"] = Count("id", filter=Q(scorecard__result=ScorecardResult.INCOMPLETE) & won)
    counts["incomplete_lost"] = Count("id", filter=Q(scorecard__result=ScorecardResult.INCOMPLETE) & lost)
    totals = closed.aggregate(**counts)
    out_bands = []
    for i, (low, high) in enumerate(checked):
        label = f"{low}–{min(high, 100)}"
        out_bands.append(
            {"low": low, "high": high, "label": label, **_rates(totals[f"b{i}_won"], totals[f"b{i}_lost"])}
        )
    return {
        "process": process.pk,
        "complete_only": complete_only,
        "bands": out_bands,
        "not_scored": _rates(totals["none_won"], totals["none_lost"]),
        "incomplete": _rates(totals["incomplete_won"], totals["incomplete_lost"]),
    }
