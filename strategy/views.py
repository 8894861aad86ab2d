"""The deal page's strategy section and the notifications page.

The section (the strategy, its history and the comments) is rendered inside the deal page by the
`deal_strategy_section` tag and answers its own htmx requests in place: a save comes back as the
panel with "Saved." or, when someone saved in between, with both texts and a version to overwrite on
purpose; a comment comes back as the comment list with whom it notified. Without htmx every action
redirects back to the page with a message."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.vary import vary_on_headers

from deals.models import Deal
from deals.views.common import HtmxHttpRequest, concat, get_deal, member_view, wrong_method
from orgs.models import Membership
from salesproc.lib.errors import InvalidInput, NotAllowed
from salesproc.lib.scoping import get_for_org_or_404
from strategy.forms import CommentForm, StrategyForm
from strategy.models import STRATEGY_FIELDS, DealStrategy
from strategy.selectors import (
    can_edit_strategy,
    deal_strategy,
    member_notifications,
    notifications_page,
    section_comments,
    strategy_merge,
    strategy_section,
)
from strategy.services import (
    StaleStrategy,
    comment_add,
    notification_mark_read,
    notifications_mark_all_read,
    strategy_update,
)

TEMPLATE = "strategy/deal_strategy.html"
NOTIFICATIONS_TEMPLATE = "strategy/notifications.html"
BADGE_TEMPLATE = "strategy/partials/notifications_badge.html"


def _form_rows(form: StrategyForm, strategy: DealStrategy, conflicting: list[str]) -> list[tuple]:
    """Each text field of the form with, for a field in conflict, the text saved meanwhile (None
    otherwise)."""
    return [
        (field, getattr(strategy, field.name) if field.name in conflicting else None)
        for field in form.text_fields()
    ]


def section_context(membership: Membership, deal: Deal, **extra) -> dict:
    """Everything the section and its fragments need; `extra` carries bound forms and messages."""
    section = strategy_section(membership=membership, deal=deal)
    strategy = section.strategy
    form = extra.pop("strategy_form", None) or StrategyForm.for_strategy(strategy)
    merge = extra.get("merge")
    if merge is not None or not form.is_bound:
        # After a conflict the form names the version now saved: saving again keeps what it holds.
        form_version = strategy.version
    else:
        form_version = form.data.get("version", strategy.version)
    return {
        "deal": deal,
        "membership": membership,
        "strategy": strategy,
        "revisions": section.revisions,
        "comments": section.comments,
        "can_edit_strategy": section.can_edit,
        "strategy_form": form,
        "strategy_form_rows": _form_rows(form, strategy, merge.conflicting if merge else []),
        "form_version": form_version,
        "comment_form": extra.pop("comment_form", None) or CommentForm(),
        **extra,
    }


def comments_context(membership: Membership, deal: Deal, **extra) -> dict:
    """What the comments fragment alone needs (one query for the comments)."""
    return {
        "deal": deal,
        "membership": membership,
        "comments": section_comments(deal),
        "can_edit_strategy": can_edit_strategy(membership, deal),
        "comment_form": extra.pop("comment_form", None) or CommentForm(),
        **extra,
    }


def _back_to_deal(deal: Deal, anchor: str = "deal-strategy") -> HttpResponse:
    return redirect(reverse("deal_detail", args=[deal.id]) + f"#{anchor}")


@member_view
@vary_on_headers("HX-Request")
def strategy_view(request: HtmxHttpRequest, membership: Membership, deal_id: int):
    """GET: the section alone (htmx; a browser is sent to the deal page). POST: save the strategy."""
    deal = get_deal(membership, deal_id)
    if refused := wrong_method(request, ("GET", "HEAD", "POST")):
        return refused
    if request.method == "POST":
        return _strategy_save(request, membership, deal)
    if not request.htmx:
        return _back_to_deal(deal)
    return render(request, f"{TEMPLATE}#strategy_section", section_context(membership, deal))


def _strategy_save(request: HtmxHttpRequest, membership: Membership, deal: Deal) -> HttpResponse:
    form = StrategyForm(request.POST)
    extra: dict = {"strategy_form": form, "form_open": True}
    status = 422
    if form.is_valid():
        expected = form.cleaned_data["version"]
        # Only the fields the browser sent: a form without one leaves its text alone.
        fields = {name: form.cleaned_data[name] for name in STRATEGY_FIELDS if name in request.POST}
        try:
            strategy = strategy_update(deal=deal, by=membership, expected_version=expected, **fields)
        except StaleStrategy as exc:
            # Someone saved since: the form comes back with the two merged, field by field.
            merge = strategy_merge(deal_strategy(deal), base_version=expected, mine=fields)
            extra.update(
                conflict=exc,
                merge=merge,
                strategy_form=StrategyForm({**merge.texts, "version": exc.current_version}),
            )
            status = 409
        except NotAllowed as exc:
            extra = {"strategy_message": exc.message}
            status = 403
        except InvalidInput as exc:
            form.add_service_errors(exc)
        else:
            changed = strategy.version != expected
            extra = {"strategy_saved": "Saved." if changed else "Nothing changed: the strategy is as it was."}
            status = 200
    if not request.htmx:
        if status == 200:
            messages.success(request, extra["strategy_saved"])
        else:
            messages.error(request, extra.get("strategy_message") or _first_message(form, extra))
        return _back_to_deal(deal)
    return render(
        request, f"{TEMPLATE}#strategy_panel", section_context(membership, deal, **extra), status=status
    )


def _first_message(form, extra: dict) -> str:
    if extra.get("conflict") is not None:
        return extra["conflict"].message
    for errors in form.errors.values():
        if errors:
            return errors[0]
    return "The strategy was not saved."


@member_view
@vary_on_headers("HX-Request")
def strategy_comments(request: HtmxHttpRequest, membership: Membership, deal_id: int):
    """GET: the comments alone (htmx). POST: add a comment; @mentions notify their members."""
    deal = get_deal(membership, deal_id)
    if refused := wrong_method(request, ("GET", "HEAD", "POST")):
        return refused
    if request.method != "POST":
        if not request.htmx:
            return _back_to_deal(deal, "strategy-comments")
        return render(request, f"{TEMPLATE}#strategy_comments", comments_context(membership, deal))
    form = CommentForm(request.POST)
    extra: dict = {"comment_form": form}
    status = 422
    if form.is_valid():
        try:
            posted = comment_add(deal=deal, by=membership, body=form.cleaned_data["body"])
        except NotAllowed as exc:
            extra["comment_message"] = exc.message
            status = 403
        except InvalidInput as exc:
            form.add_service_errors(exc)
        else:
            extra = {"comment_posted": posted}
            status = 200
    if not request.htmx:
        if status == 200:
            messages.success(request, "Comment posted.")
        else:
            messages.error(request, extra.get("comment_message") or _first_message(form, extra))
        return _back_to_deal(deal, "strategy-comments")
    return render(
        request, f"{TEMPLATE}#strategy_comments", comments_context(membership, deal, **extra), status=status
    )


# ---- notifications


@member_view
def notification_list(request: HtmxHttpRequest, membership: Membership):
    """The member's notifications in this organization, unread first."""
    if refused := wrong_method(request):
        return refused
    return render(request, NOTIFICATIONS_TEMPLATE, {"notifications": notifications_page(membership)})


def _with_badge(request, response: HttpResponse, membership: Membership) -> HttpResponse:
    """The response plus the top bar's badge, swapped out of band (one COUNT)."""
    badge = render(request, BADGE_TEMPLATE, {"membership": membership, "oob": True})
    return concat(response, badge, status=response.status_code)


@member_view
def notification_read(request: HtmxHttpRequest, membership: Membership, notification_id: int):
    """Mark one notification read; with `next` (the notification's link), go there."""
    # Another member's notification is as unknown as another organization's.
    notification = get_for_org_or_404(
        member_notifications(membership), membership.organization, pk=notification_id
    )
    if refused := wrong_method(request, ("POST",)):
        return refused
    notification_mark_read(notification=notification, by=membership)
    next_url = request.POST.get("next", "")
    if next_url and url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(next_url)
    if not request.htmx:
        return redirect("notification_list")
    row = render(request, f"{NOTIFICATIONS_TEMPLATE}#notification_row", {"notification": notification})
    return _with_badge(request, row, membership)


@member_view
def notifications_read_all(request: HtmxHttpRequest, membership: Membership):
    """Mark every unread notification read."""
    if refused := wrong_method(request, ("POST",)):
        return refused
    count = notifications_mark_all_read(by=membership)
    message = "Nothing to mark: everything was read." if not count else f"Marked {count} as read."
    if not request.htmx:
        messages.success(request, message)
        return redirect("notification_list")
    context = {"notifications": notifications_page(membership), "notifications_message": message}
    listing = render(request, f"{NOTIFICATIONS_TEMPLATE}#notification_list", context)
    return _with_badge(request, listing, membership)


@member_view
def team_page(request, membership: Membership):
    """The manager's team (managers and admins): each member's open deals, stalls, plan progress and
    last coaching comment; `?sort=` name, deals, pipeline, stalls (default), plan or coached."""
    from strategy.team import SORTS, team_overview

    refused = wrong_method(request)
    if refused:
        return refused
    if not membership.is_manager:
        raise PermissionDenied("The team page is for managers and admins.")
    sort = request.GET.get("sort", "stalls")
    if sort not in SORTS:
        sort = "stalls"
    rows = team_overview(manager=membership, sort=sort)
    return render(request, "strategy/team.html", {"rows": rows, "sort": sort, "sorts": list(SORTS)})
