"""Does the play work? For each play, the deals it was attached to against comparable deals it was not
attached to: the conversion of the stage the play targets, and the win rate, each with 95% intervals,
sample sizes and a verdict. Iteration's suggestion job reads this ("play X shows no effect after 200
deals — retire or rework it"; "play Y helps — consider making its steps part of the stage").

Definitions (the metrics engine's, iteration.metrics, wherever they overlap):

- The play's **processes**: its playbook's process, or every process of the organization when the
  playbook has none. Only deals of those processes, in the play's organization, count.
- A deal was **attached** to the play when it has at least one `DealPlay` for it, ever: attached now
  or detached since (a detached play was still worked on the deal).
- **Target-stage conversion** (only when `play.target_stage` is set). Cohort: the deals that entered
  the target stage, at their first entry into it, ordered by (entered_at, id) (the engine's definition,
  through iteration.trends.first_entries). **Treated**: cohort deals with a DealPlay for the play
  attached before that first entry left the stage (`attached_at < left_at`, or any DealPlay while
  `left_at` is null).
  **Comparison**: cohort deals never attached to the play. Deals attached only after leaving the stage
  are in neither side (counted in `excluded`). **advanced**: after the first entry the deal entered a
  stage of higher order, or it is won; **dropped**: not advanced, and lost; open deals that have not
  advanced are neither (not failures). Rate = advanced / (advanced + dropped); `n` is that denominator
  (the resolved deals), `successes` is advanced.
- **Win rate**. **Treated**: closed (won or lost) deals that were ever attached to the play.
  **Comparison**: closed deals never attached to it that were open while the play was active and
  entered at least one of the stages where treated deals got the play attached. Precisely:
  - the play's **active period** runs from the earliest `attached_at` of its DealPlays on deals of its
    processes to `now` when the play is active (or still attached to one of those deals), else to their
    latest `detached_at`; a deal was **open** in it when `created_at` < the period's end and
    `closed_at` > its start. A play never attached has no active period and so no comparison deals.
  - the **attach stages** are the `to_stage` of every StageChange of a treated deal whose
    [entered_at, left_at) contains the `attached_at` of one of that deal's DealPlays for the play
    (`left_at` null: open-ended); a comparison deal has a StageChange into one of them, at any time.
  Rate = won / (won + lost); `n` is won + lost, `successes` is won.
- Each of the two **comparisons**: per side `n`, `successes`, `rate` and its 95% Wilson interval `ci`,
  and `small_sample` (n < MIN_RESOLVED); the `difference` treated − comparison with its 95% Newcombe
  (hybrid score) interval `difference_ci`; the two-sided pooled z-test `p_value`; and a `verdict`:
  - "helps": both sides have at least MIN_RESOLVED deals in `n` and the interval's lower bound is > 0;
  - "hurts": both sides have at least MIN_RESOLVED and the upper bound is < 0;
  - "no measurable effect": both sides have at least EFFECT_MIN_DEALS and the interval includes 0;
  - "not enough data yet" otherwise, with `more_needed`: how many more deals in `n` both sides need
    together before a verdict can be expected. Each side is brought up to the sample that detects the
    observed difference at 80% power and 5% significance (Fleiss, as iteration.compare), at least
    MIN_RESOLVED and at most EFFECT_MIN_DEALS (where "no measurable effect" becomes possible); to
    EFFECT_MIN_DEALS when the difference is unknown or 0, or when both sides already reach that sample.
    `more_needed` is null for the other verdicts.
- The play's overall `verdict` is the target-stage conversion's when the play has a target stage (it is
  what the play is meant to move), else the win rate's.

This is an observational comparison: plays are attached by their conditions, so treated and comparison
deals may differ in ways the conditions select on. The comparison is narrowed to like deals (same
processes and stages, same time), not randomized; a verdict says the numbers differ, not why.

Queries: set-based, no query per deal. `play_effectiveness`: 4 (the play with its playbook and target
stage; the conversion; the attach stages; the win rate), 3 without a target stage.
`playbook_effectiveness`: 1 for the plays plus 3 per play (2 without a target stage), whatever the
number of deals.

Numbers: rates and differences are fractions rounded to 4 places; null where `n` is 0.
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import (
    Case,
    CharField,
    Count,
    DateTimeField,
    Exists,
    Max,
    Min,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from deals.models import Deal, DealStatus, StageChange
from iteration.compare import MIN_RESOLVED, NOT_ENOUGH, newcombe_interval
from iteration.metrics import CONFIDENCE
from iteration.stats import sample_size_for_difference, two_proportion_p_value, wilson_interval
from iteration.trends import first_entries
from playbooks.models import DealPlay, Play, Playbook

# Below this many deals on either side, an interval that includes 0 is not yet evidence of no effect.
EFFECT_MIN_DEALS = 100
HELPS, HURTS, NO_EFFECT = "helps", "hurts", "no measurable effect"
CLOSED = (DealStatus.WON, DealStatus.LOST)
# The side of the comparison a deal falls on (EXCLUDED: neither).
TREATED, COMPARISON, EXCLUDED = "treated", "comparison", "excluded"


def play_effectiveness(*, play: Play, now: datetime | None = None) -> dict:
    """How the deals `play` was attached to did against comparable deals it was not attached to: the
    target stage's conversion and the win rate (see the module docstring for the exact definitions).

    JSON-able: {"play", "play_id", "target_stage", "target_stage_id", "computed_at", "win_rate",
    "stage_conversion" (null without a target stage), "verdict"}. Scoped to the play's organization.
    Four queries (three without a target stage), whatever the number of deals. `now` (default: the
    current time) ends the active period of an active play."""
    play = Play.objects.select_related("playbook", "target_stage__process").get(
        pk=play.pk, organization_id=play.organization_id
    )
    return _effectiveness(play, now or timezone.now())


def playbook_effectiveness(*, playbook: Playbook, now: datetime | None = None) -> list[dict]:
    """`play_effectiveness` for every play of `playbook`, in the plays' order (active or not: an
    inactive play's history still answers whether it worked). One query for the plays plus three per
    play (two without a target stage), whatever the number of deals."""
    now = now or timezone.now()
    plays = Play.objects.filter(playbook_id=playbook.id, organization_id=playbook.organization_id)
    return [_effectiveness(play, now) for play in plays.select_related("playbook", "target_stage__process")]


def _effectiveness(play: Play, now: datetime) -> dict:
    target = play.target_stage
    conversion = _stage_conversion(play, target) if target is not None else None
    win_rate = _win_rate(play, now)
    return {
        "play": play.name,
        "play_id": play.id,
        "target_stage": target.name if target else None,
        "target_stage_id": target.id if target else None,
        "computed_at": now.isoformat(),
        "win_rate": win_rate,
        "stage_conversion": conversion,
        "verdict": (conversion or win_rate)["verdict"],
    }


def _attachments(play: Play):
    return DealPlay.objects.filter(play_id=play.id)


def _in_scope(play: Play, prefix: str = "") -> Q:
    """The deals of the play's processes, in its organization (`prefix` reaches Deal from the row)."""
    scope = Q(**{f"{prefix}organization_id": play.organization_id})
    if play.playbook.process_id is not None:
        scope &= Q(**{f"{prefix}process_id": play.playbook.process_id})
    return scope


def _stage_conversion(play: Play, target) -> dict:
    """One query: the target stage's first entries of in-scope deals, grouped by side."""
    attached_deals = _attachments(play).values("deal_id")
    # One CASE per entry: "ever attached" is an uncorrelated IN (the database reads the play's deals
    # once); only for attached deals does the correlated test of the attachment time run.
    side_of = Case(
        When(~Q(deal_id__in=attached_deals), then=Value(COMPARISON)),
        When(
            Q(left_at__isnull=True)
            | Exists(
                _attachments(play).filter(deal_id=OuterRef("deal_id"), attached_at__lt=OuterRef("left_at"))
            ),
            then=Value(TREATED),
        ),
        default=Value(EXCLUDED),
        output_field=CharField(),
    )
    rows = (
        first_entries(process=target.process)
        .filter(_in_scope(play, "deal__"), to_stage_id=target.id)
        .annotate(side=side_of)
        .values("side")
        .annotate(entered=Count("id"), advanced_n=Sum("advanced"), dropped_n=Sum("dropped"))
        .order_by()
    )
    counts = {row["side"]: row for row in rows}

    def side(name: str) -> dict:
        row = counts.get(name, {})
        entered, advanced, dropped = (int(row.get(k) or 0) for k in ("entered", "advanced_n", "dropped_n"))
        return {
            "entered": entered,
            "advanced": advanced,
            "dropped": dropped,
            "open": entered - advanced - dropped,
            **_proportion(advanced, advanced + dropped),
        }

    return {**_compare(side(TREATED), side(COMPARISON)), "excluded": side(EXCLUDED)["entered"]}


def _win_rate(play: Play, now: datetime) -> dict:
    """Two queries: the attach stages (a handful of ids), then the in-scope closed deals grouped by
    side and status. The comparison's conditions are uncorrelated subqueries (the active period's
    bounds; the deals that entered an attach stage), which the database evaluates once, not per deal."""
    attachments = _attachments(play)
    # An entry contains the attachment: entered_at ≤ attached_at < left_at (left_at null: open-ended).
    attached_during = attachments.filter(deal_id=OuterRef("deal_id"), attached_at__gte=OuterRef("entered_at"))
    attach_stages = list(
        StageChange.objects.filter(_in_scope(play, "deal__"), deal__status__in=CLOSED)
        .filter(deal_id__in=attachments.values("deal_id"))
        .filter(
            Exists(attached_during.filter(attached_at__lt=OuterRef("left_at")))
            | Q(Exists(attached_during), left_at__isnull=True)
        )
        .values_list("to_stage_id", flat=True)
        .order_by()
        .distinct()
    )
    # The active period is read from in-scope deals only, like everything else here.
    in_scope_attachments = attachments.filter(_in_scope(play, "deal__"))
    start = Subquery(
        in_scope_attachments.values("play_id").annotate(start=Min("attached_at")).values("start"),
        output_field=DateTimeField(),
    )
    if play.active:
        end = Value(now, output_field=DateTimeField())
    else:
        # An inactive play still attached somewhere (not detached on deactivation) runs until now.
        until = Coalesce("detached_at", Value(now, output_field=DateTimeField()))
        end = Subquery(in_scope_attachments.values("play_id").annotate(end=Max(until)).values("end"))
    entered_attach_stage = StageChange.objects.filter(to_stage_id__in=attach_stages).values("deal_id")
    side_of = Case(
        When(Q(pk__in=attachments.values("deal_id")), then=Value(TREATED)),
        When(
            Q(created_at__lt=end, closed_at__gt=start, pk__in=entered_attach_stage),
            then=Value(COMPARISON),
        ),
        default=Value(EXCLUDED),
        output_field=CharField(),
    )
    rows = (
        Deal.objects.filter(_in_scope(play), status__in=CLOSED)
        .annotate(side=side_of)
        .values("side", "status")
        .annotate(n=Count("id"))
        .order_by()
    )
    counts = {(row["side"], row["status"]): row["n"] for row in rows}

    def side(name: str) -> dict:
        won, lost = counts.get((name, DealStatus.WON), 0), counts.get((name, DealStatus.LOST), 0)
        return {"won": won, "lost": lost, **_proportion(won, won + lost)}

    return _compare(side(TREATED), side(COMPARISON))


# Statistics ----------------------------------------------------------------------------------------


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _proportion(successes: int, n: int) -> dict:
    ci = wilson_interval(successes, n, confidence=CONFIDENCE)
    return {
        "n": n,
        "successes": successes,
        "rate": _round(successes / n) if n else None,
        "ci": [_round(ci[0]), _round(ci[1])] if ci else None,
        "small_sample": n < MIN_RESOLVED,
    }


def _compare(treated: dict, comparison: dict) -> dict:
    """Treated against comparison: difference, interval, p-value, verdict (module docstring)."""
    ts, tn, cs, cn = treated["successes"], treated["n"], comparison["successes"], comparison["n"]
    # newcombe_interval(a, b) is the interval of p_b − p_a: a is the comparison, b the treated.
    interval = newcombe_interval(cs, cn, ts, tn)
    more_needed = None
    if interval is not None and min(tn, cn) >= MIN_RESOLVED and interval[0] > 0:
        verdict = HELPS
    elif interval is not None and min(tn, cn) >= MIN_RESOLVED and interval[1] < 0:
        verdict = HURTS
    elif interval is not None and min(tn, cn) >= EFFECT_MIN_DEALS:
        verdict = NO_EFFECT
    else:
        verdict = NOT_ENOUGH
        more_needed = _more_needed(ts, tn, cs, cn)
    return {
        "treated": treated,
        "comparison": comparison,
        "difference": _round(ts / tn - cs / cn) if tn and cn else None,
        "difference_ci": None if interval is None else [_round(interval[0]), _round(interval[1])],
        "p_value": _round(two_proportion_p_value(ts, tn, cs, cn)),
        "verdict": verdict,
        "more_needed": more_needed,
    }


def _more_needed(ts: int, tn: int, cs: int, cn: int) -> int:
    """More deals both sides need together before a verdict can be expected (module docstring)."""
    needed = sample_size_for_difference(ts / tn, cs / cn) if tn and cn else None
    target = EFFECT_MIN_DEALS if needed is None else min(EFFECT_MIN_DEALS, max(MIN_RESOLVED, needed))
    if tn >= target and cn >= target:
        # Enough to detect the observed difference, yet the interval is inconclusive: only the sample
        # where "no measurable effect" becomes possible is sure to settle it.
        target = EFFECT_MIN_DEALS
    return max(0, target - tn) + max(0, target - cn)
