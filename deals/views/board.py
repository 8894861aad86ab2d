"""The pipeline board: a column per stage of one process, cards for open deals, drag or pick to move."""

from dataclasses import dataclass
from urllib.parse import urlencode

from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString
from django.views.decorators.http import require_GET

from deals.forms import GAP_FILTER_CHOICES, SCORECARD_FILTERS, BoardFilterForm, MoveForm, gap_query_value
from deals.models import Deal
from deals.network import GAP_LABELS
from deals.selectors import (
    BOARD_SEARCH_CAP,
    BoardCard,
    BoardFilters,
    active_processes,
    board_column_page,
    board_cursor,
    board_first_cards,
    board_search_capped,
    board_stages,
    days_in_stage,
    deal_card_badges,
    parse_board_cursor,
)
from deals.services import deal_move as deal_move_service
from deals.views.board_cards import Card, CardRenderer
from deals.views.common import (
    HtmxHttpRequest,
    concat,
    error_status,
    first_error,
    get_deal,
    member_view,
    wrong_method,
)
from orgs.models import Membership
from orgs.selectors import can_edit_deal, org_people
from salesproc.lib.errors import CriteriaUnmet, ServiceError, StaleVersion
from salesproc.lib.scoping import get_for_org_or_404
from salesproc.models import Process, Stage


@dataclass
class Column:
    stage: Stage
    cards: list[Card]
    next_cursor: str | None
    cards_html: SafeString


def _cards(deals: list[BoardCard], stage: Stage, membership: Membership) -> list[Card]:
    now = timezone.now()
    out = []
    for deal in deals:
        days = days_in_stage(deal, now)
        out.append(
            Card(
                deal=deal,
                stage=stage,
                days=days,
                editable=can_edit_deal(membership, deal),
                over_expected=bool(stage.expected_days and days > stage.expected_days),
                cursor=board_cursor(deal),
            )
        )
    return out


def _filter_query(form: BoardFilterForm) -> str:
    """The board's filters as a query string, to carry on links (load more, process switcher)."""
    form.is_valid()
    data = form.cleaned_data
    pairs = [(k, data[k]) for k in ("owner", "q", "scorecard") if data.get(k)]
    if data.get("team"):
        pairs.append(("team", "1"))
    if data.get("gap"):
        pairs.append(("gap", gap_query_value(data["gap"])))
    return urlencode(pairs)


@member_view
@require_GET
def board_default(request: HtmxHttpRequest, membership: Membership):
    """/pipeline/ → the board of the first active process, keeping the query string (?owner=me…)."""
    processes = active_processes(org=membership.organization)
    if not processes:
        return render(request, "deals/board.html", {"process": None, "columns": [], "processes": []})
    url = reverse("board", args=[processes[0].id])
    query = request.META.get("QUERY_STRING", "")
    return redirect(f"{url}?{query}" if query else url)


@member_view
def board(request: HtmxHttpRequest, membership: Membership, process_id: int):
    """The board. Query count is fixed whatever the number of deals: the org's people (the owner
    filter, and a manager's team), the stages with their counts and sums (which also lists the
    processes to switch to), and the first page of every column."""
    org = membership.organization
    members = org_people(membership)
    form = BoardFilterForm(request.GET)
    filters = form.to_filters(membership)
    all_stages = board_stages(org=org, process_id=process_id, filters=filters, with_other_processes=True)
    stages = [s for s in all_stages if s.process_id == process_id]
    # A process with no stages yet is absent from the stage query: look it up (or 404) by itself.
    process = stages[0].process if stages else get_for_org_or_404(Process, org, pk=process_id)
    if refused := wrong_method(request):
        return refused
    processes: list[Process] = []
    for stage in all_stages:
        if not processes or processes[-1].id != stage.process_id:
            processes.append(stage.process)
    capped = board_search_capped(stages)
    first_cards = board_first_cards(org=org, process_id=process.id, stages=stages, filters=filters)
    renderer = CardRenderer(stages)
    columns = []
    for stage in stages:
        deals, more = first_cards.get(stage.id, ([], False))
        cards = _cards(deals, stage, membership)
        next_cursor = cards[-1].cursor if more else None
        columns.append(Column(stage, cards, next_cursor, cards_html=renderer.render_all(cards)))
    context = {
        "process": process,
        "processes": processes,
        "columns": columns,
        "stages": stages,
        "members": members,
        "filter_form": form,
        "filter_query": _filter_query(form),
        "filtered": filters != BoardFilters(),
        # A search that matched more deals than it totals says "1,000+".
        "total_count": BOARD_SEARCH_CAP if capped else sum(s.open_count for s in stages),
        "total_is_lower_bound": capped,
        "search_cap": BOARD_SEARCH_CAP,
        "scorecard_filters": SCORECARD_FILTERS,
        "gap_filters": GAP_FILTER_CHOICES,
        "gap_value": gap_query_value(filters.gaps) if filters.gaps else "",
        # Several gaps named in the link (?gap=a,b): the select shows them as one option.
        "gap_several": " or ".join(GAP_LABELS[c] for c in filters.gaps) if 1 < len(filters.gaps) < 5 else "",
        "gap_error": form.gap_error,
        # What the All / Mine / My team buttons keep: the search and the gap.
        "whose_keep": urlencode(
            [("q", filters.q)] * bool(filters.q)
            + [("gap", gap_query_value(filters.gaps))] * bool(filters.gaps)
        ),
    }
    return render(request, "deals/board.html", context)


@member_view
def board_column(request: HtmxHttpRequest, membership: Membership, process_id: int, stage_id: int):
    """ "Load more" for one column: the next page after ?after=<cursor>, and a new button (or none)."""
    org = membership.organization
    # The process's stages (for the cards' "Move to"), among which the column's: one query for both.
    stages = list(Stage.objects.for_org(org).filter(process_id=process_id).order_by("order"))
    stage = next((s for s in stages if s.id == stage_id), None)
    if stage is None:
        raise Http404("No such stage.")
    if refused := wrong_method(request):
        return refused
    after = parse_board_cursor(request.GET.get("after", ""))
    if after is None:
        return HttpResponse("That page link is broken: reload the board.", status=400)
    form = BoardFilterForm(request.GET)
    filters = form.to_filters(membership)
    deals, more = board_column_page(
        org=org, process_id=process_id, stage_id=stage.id, filters=filters, after=after
    )
    cards = _cards(deals, stage, membership)
    context = {
        "stage": stage,
        "cards_html": CardRenderer(stages).render_all(cards),
        "next_cursor": cards[-1].cursor if more and cards else None,
        "process_id": process_id,
        "filter_query": _filter_query(form),
    }
    return render(request, "deals/board.html#cards_page", context)


def move_on_board(request: HtmxHttpRequest, membership: Membership, deal: Deal) -> HttpResponse:
    """A move from a board card: answers with the card (moved, or back in its column with why not)
    and the two columns' headers recomputed under the board's filters."""
    org = membership.organization
    form = MoveForm(request.POST)
    filters = BoardFilterForm(request.POST).to_filters(membership)
    from_stage_id = deal.stage_id
    context: dict = {}
    status = 200
    if not form.is_valid():
        context["message"] = first_error(form)
        status = 422
    else:
        to_stage = (
            Stage.objects.for_org(org)
            .filter(process_id=deal.process_id, pk=form.cleaned_data["to_stage"])
            .first()
        )
        if to_stage is None:
            context["message"] = "That stage is not in this deal's process."
            status = 422
        else:
            try:
                deal_move_service(
                    deal=deal,
                    to_stage=to_stage,
                    by=membership,
                    expected_version=form.cleaned_data["version"],
                    override_reason=form.cleaned_data["override_reason"] or None,
                )
                context["moved_to"] = to_stage
            except CriteriaUnmet as exc:
                context.update(
                    unmet=exc.unmet,
                    unmet_critical=any(c["importance"] == "critical" for c in exc.unmet),
                    can_override=exc.can_override,
                    to_stage=to_stage,
                )
                status = error_status(exc)
            except StaleVersion as exc:
                # Show the deal as it is now: its current stage and version.
                deal = get_deal(membership, deal.id)
                context["message"] = exc.message
                status = error_status(exc)
            except ServiceError as exc:
                context["message"] = exc.message
                status = error_status(exc)
    stages = board_stages(org=org, process_id=deal.process_id, filters=filters)
    by_id = {s.id: s for s in stages}
    stage = by_id.get(deal.stage_id, deal.stage)
    stall, gaps = deal_card_badges(deal.id)
    card = _cards([BoardCard.of(deal, stall, gaps)], stage, membership)[0]
    feedback = render_to_string("deals/board.html#card_feedback", {**context, "deal": deal}, request)
    card_response = HttpResponse(
        CardRenderer(stages).render(
            card, feedback=feedback, has_feedback=bool(context.get("unmet") or context.get("message"))
        )
    )
    headers = [
        render(request, "deals/board.html#column_header", {"stage": by_id[sid], "oob": True})
        for sid in dict.fromkeys([from_stage_id, deal.stage_id])
        if sid in by_id
    ]
    return concat(card_response, *headers, status=status)
