"""A play's page: what the play says (for reps, who need the talk track), where it is attached now and
was before, and — for managers, ops and admins — whether it works (`play_effectiveness`).

Every member of the play's organization may read it; another organization's play is a 404. The two
lists of attachments are keyset pages (a play may be attached to many thousands of deals): the "more"
row of each fetches the next rows in place with htmx, or the page from that point without it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.db.models import Prefetch, Q, QuerySet
from django.shortcuts import render
from django.views.decorators.vary import vary_on_headers

from deals.views.common import HtmxHttpRequest, member_view, wrong_method
from iteration.compare import MIN_RESOLVED
from orgs.models import Membership, Organization
from playbooks.conditions import InvalidCondition, describe, parse
from playbooks.effectiveness import HELPS, HURTS, NO_EFFECT, play_effectiveness
from playbooks.models import DealPlay, Play, PlayQuestion, PlayStep
from playbooks.selectors import play_attachments
from salesproc.lib.scoping import get_for_org_or_404

TEMPLATE = "playbooks/play_detail.html"
ATTACHMENTS_PAGE = 50
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
# Bootstrap badge classes of the verdicts ("not enough data yet" is the default).
VERDICT_BADGES = {
    HELPS: "text-bg-success",
    HURTS: "text-bg-danger",
    NO_EFFECT: "text-bg-secondary",
}


# Keyset pages of attachments, newest first: the cursor is the last row's (attached_at, id), written
# as "<microseconds since the epoch>_<id>" so it survives a URL unchanged.


def _cursor(row: DealPlay) -> str:
    return f"{(row.attached_at - _EPOCH) // _MICROSECOND}_{row.id}"


def _parse_cursor(value: str | None) -> tuple[datetime, int] | None:
    """An unreadable cursor is the first page, not an error."""
    micros, _, pk = (value or "").partition("_")
    try:
        at = _EPOCH + int(micros) * _MICROSECOND
        pk_int = int(pk)
    except (ValueError, OverflowError):
        return None
    return (at, pk_int) if pk_int > 0 else None


def attachment_page(
    rows: QuerySet[DealPlay], cursor: tuple[datetime, int] | None, size: int = ATTACHMENTS_PAGE
) -> tuple[list[DealPlay], str | None]:
    """One page of `rows` (ordered newest first by `play_attachments`) after `cursor`, and the cursor
    of the next page or None. One query, no COUNT."""
    if cursor is not None:
        at, pk = cursor
        rows = rows.filter(Q(attached_at__lt=at) | Q(attached_at=at, id__lt=pk))
    page = list(rows[: size + 1])
    next_cursor = _cursor(page[size - 1]) if len(page) > size else None
    return page[:size], next_cursor


def condition_in_words(play: Play, org: Organization) -> str | None:
    """The play's condition as `describe` says it, stages and owners named (at most two queries); None
    when the stored condition no longer parses (the play then matches no deal)."""
    try:
        return describe(parse(play.condition, organization=org))
    except InvalidCondition:
        pass
    try:
        # A stage or owner it names is gone: still say the rest, with the missing ones numbered.
        return describe(parse(play.condition))
    except InvalidCondition:
        return None


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


def _side(side: dict) -> dict:
    ci = side["ci"]
    return {
        "n": side["n"],
        "successes": side["successes"],
        "rate": _percent(side["rate"]),
        "ci": f"{ci[0] * 100:.0f}–{ci[1] * 100:.0f}%" if ci else "",
        "small_sample": side["small_sample"],
    }


def _points(value: float) -> str:
    points = round(value * 100)
    return f"+{points}" if points > 0 else f"{points}".replace("-", "−")


def comparison_for_people(comparison: dict | None, *, label: str, counts: str) -> dict | None:
    """One comparison of `play_effectiveness` with its numbers formatted: rates and intervals as
    percentages, the difference in percentage points."""
    if comparison is None:
        return None
    diff, diff_ci = comparison["difference"], comparison["difference_ci"]
    return {
        "label": label,
        "counts": counts,
        "treated": _side(comparison["treated"]),
        "comparison": _side(comparison["comparison"]),
        "difference": "—" if diff is None else f"{_points(diff)} pts",
        "difference_ci": f"{_points(diff_ci[0])} to {_points(diff_ci[1])} pts" if diff_ci else "",
        "p_value": comparison["p_value"],
        "verdict": comparison["verdict"],
        "badge": VERDICT_BADGES.get(comparison["verdict"], "text-bg-warning"),
        "more_needed": comparison["more_needed"],
    }


def effectiveness_for_people(play: Play) -> dict:
    """`play_effectiveness` (four queries, three without a target stage), ready for the page."""
    data = play_effectiveness(play=play)
    target = data["target_stage"]
    conversion = comparison_for_people(
        data["stage_conversion"],
        label=f"Conversion of {target}" if target else "",
        counts="deals that left the stage (advanced or dropped)",
    )
    win_rate = comparison_for_people(data["win_rate"], label="Win rate", counts="closed deals")
    return {
        "verdict": data["verdict"],
        "badge": VERDICT_BADGES.get(data["verdict"], "text-bg-warning"),
        "comparisons": [c for c in (conversion, win_rate) if c is not None],
        "target_stage": target,
        "min_resolved": MIN_RESOLVED,
    }


def _play_for_page(org: Organization, play_id: int, *, content: bool) -> Play:
    plays = Play.objects.select_related("playbook__process", "target_stage")
    if content:
        plays = plays.prefetch_related(
            Prefetch("questions", queryset=PlayQuestion.objects.order_by("order", "id")),
            "resources",
            Prefetch("steps", queryset=PlayStep.objects.select_related("stage").order_by("order", "id")),
        )
    return get_for_org_or_404(plays, org, pk=play_id)


@member_view
@vary_on_headers("HX-Request")
def play_detail(request: HtmxHttpRequest, membership: Membership, play_id: int):
    """GET: the play page. With htmx and `attached_before` (or `history_before`): the next rows of that
    list only."""
    org = membership.organization
    more = None
    if request.htmx:
        more = next((k for k in ("attached_before", "history_before") if k in request.GET), None)
    play = _play_for_page(org, play_id, content=more is None)
    if refused := wrong_method(request):
        return refused

    if more == "attached_before":
        rows, cursor = attachment_page(play_attachments(play=play), _parse_cursor(request.GET.get(more)))
        return render(
            request, f"{TEMPLATE}#attached_rows", {"play": play, "attached": rows, "attached_next": cursor}
        )
    if more == "history_before":
        rows, cursor = attachment_page(
            play_attachments(play=play, attached=False), _parse_cursor(request.GET.get(more))
        )
        return render(
            request, f"{TEMPLATE}#history_rows", {"play": play, "history": rows, "history_next": cursor}
        )

    attached_from = _parse_cursor(request.GET.get("attached_before"))
    history_from = _parse_cursor(request.GET.get("history_before"))
    attached, attached_next = attachment_page(play_attachments(play=play), attached_from)
    history, history_next = attachment_page(play_attachments(play=play, attached=False), history_from)
    context = {
        "play": play,
        "condition_words": condition_in_words(play, org),
        "is_active": play.active and play.playbook.active,
        "attached": attached,
        "attached_next": attached_next,
        "attached_paged": attached_from is not None,
        "history": history,
        "history_next": history_next,
        "history_paged": history_from is not None,
        "effectiveness": effectiveness_for_people(play) if membership.sees_analytics else None,
    }
    return render(request, TEMPLATE, context)
