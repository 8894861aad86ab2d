"""Stall pages: the stalled deals list (worst first, scoped by role), snoozing a flag, and the ops page
that sets each stage's stall rules.

Objects named in a URL are looked up in the member's organization before the method or the role is
checked, so another organization's id is a 404 for everyone. htmx requests get the fragments they
change; without htmx a write redirects back (on success) or renders the page with its messages."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.html import format_html
from django.views.decorators.vary import vary_on_headers

from deals.views.common import HtmxHttpRequest, error_status, member_view, wrong_method
from iteration.forms_stalls import SnoozeForm, StallFilterForm, StallRuleForm
from iteration.models import StallFlag
from iteration.stalls import (
    KINDS,
    deal_stall_flags,
    flags_page,
    stall_flag_snooze,
    stall_rule_set,
    stall_rules_for_org,
    stall_rules_for_stage,
    visible_flags,
)
from orgs.models import Membership, Role
from orgs.selectors import can_edit_deal
from salesproc.lib.errors import InvalidInput, NotAllowed
from salesproc.lib.scoping import get_for_org_or_404
from salesproc.models import Stage

TEMPLATE = "iteration/stalls/stalled.html"
DEAL_FLAGS_TEMPLATE = "iteration/stalls/_deal_flags.html"
RULES_TEMPLATE = "iteration/stalls/rules.html"
PAGE_SIZE = 50

SCOPE_LABELS = {
    Role.REP: "Your deals",
    Role.MANAGER: "Your team's deals",
    Role.OPS: "All deals of the organization",
    Role.ADMIN: "All deals of the organization",
}


# ---- the stalled list


def _mark_snoozable(membership: Membership, flags: list[StallFlag]) -> list[StallFlag]:
    # can_edit_deal reads the member's team once (cached on the membership): no query per row.
    for flag in flags:
        flag.can_snooze = can_edit_deal(membership, flag.deal)
    return flags


@vary_on_headers("HX-Request")
@member_view
def stalled_list(request: HtmxHttpRequest, membership: Membership):
    """The flagged deals the member sees, worst first (level, then days), filtered by ?level= and
    ?rule=; ?after= continues after a row (keyset). htmx gets the list (filters) or the next rows."""
    if refused := wrong_method(request):
        return refused
    form = StallFilterForm(request.GET)
    filters = form.filters()
    after = request.GET.get("after") or None
    flags, next_cursor = flags_page(visible_flags(membership=membership, **filters), after, PAGE_SIZE)
    context = {
        "filter_form": form,
        "filters": filters,
        "flags": _mark_snoozable(membership, flags),
        "next_cursor": next_cursor,
        "scope_label": SCOPE_LABELS[membership.role],
        "snooze_form": SnoozeForm(),
        "is_filtered": any(filters.values()),
    }
    if request.htmx:
        fragment = "more_rows" if after else "flag_list"
        return render(request, f"{TEMPLATE}#{fragment}", context)
    return render(request, TEMPLATE, context)


# ---- snooze


def _flag_queryset():
    return StallFlag.objects.select_related("deal", "deal__account", "deal__owner", "stage", "snoozed_by")


@member_view
def flag_snooze(request: HtmxHttpRequest, membership: Membership, flag_id: int):
    """Snooze one flag until a future date, with a reason (its deal's editors). `context=deal` answers
    with the deal page's flags section, else with the stalled list's row."""
    flag = get_for_org_or_404(_flag_queryset(), membership.organization, pk=flag_id)
    if refused := wrong_method(request, ("POST",)):
        return refused
    on_deal_page = request.POST.get("context") == "deal"
    form = SnoozeForm(request.POST, prefix=f"snooze-{flag.id}")
    if form.is_valid():
        try:
            stall_flag_snooze(
                flag=flag, by=membership, until=form.cleaned_data["until"], reason=form.cleaned_data["reason"]
            )
        except NotAllowed as exc:
            return _refusal(request, exc, on_deal_page=on_deal_page, flag=flag)
        except InvalidInput as exc:
            form.add_service_errors(exc)
    ok = not form.errors
    if not request.htmx:
        if ok:
            messages.success(request, f"Snoozed until {flag.snoozed_until:%b %-d, %Y}.")
        else:
            messages.error(request, " ".join(m for errors in form.errors.values() for m in errors))
        return redirect("deal_detail", flag.deal_id) if on_deal_page else redirect("stalled_list")
    status = 200 if ok else 422
    if on_deal_page:
        context = deal_flags_context(membership, flag.deal)
        if not ok:
            context.update(error_flag_id=flag.id, snooze_form=form)
        return render(request, DEAL_FLAGS_TEMPLATE, context, status=status)
    flag.can_snooze = True
    context = {"flag": flag, "snooze_form": form, "just_snoozed": ok, "form_open": not ok}
    return render(request, f"{TEMPLATE}#flag_row", context, status=status)


def _refusal(
    request: HtmxHttpRequest, exc: NotAllowed, *, on_deal_page: bool, flag: StallFlag
) -> HttpResponse:
    if not request.htmx:
        messages.error(request, exc.message)
        return redirect("deal_detail", flag.deal_id) if on_deal_page else redirect("stalled_list")
    return HttpResponse(
        format_html(
            '<div class="alert alert-danger py-2 mb-2" role="alert" data-testid="snooze-refused">{}</div>',
            exc.message,
        ),
        status=error_status(exc),
    )


def deal_flags_context(membership: Membership, deal) -> dict:
    """What templates/iteration/stalls/_deal_flags.html needs for one deal (one query)."""
    return {
        "deal": deal,
        "stall_flags": deal_stall_flags(deal),
        "can_snooze": can_edit_deal(membership, deal) and deal.is_open,
        "snooze_form": SnoozeForm(),
    }


# ---- the rules page (ops)


def _require_process_editor(membership: Membership) -> None:
    if not membership.can_edit_process:
        raise PermissionDenied("Only ops and admins edit the stall rules.")


def _rule_forms(rules: dict, data=None) -> list[StallRuleForm]:
    return [StallRuleForm(data, rule=rules[kind]) for kind in KINDS]


@member_view
def stall_rules(request: HtmxHttpRequest, membership: Membership):
    """Every stage's three rules with the days of each level, one form per stage (ops and admins)."""
    _require_process_editor(membership)
    if refused := wrong_method(request):
        return refused
    processes = [
        (process, [(stage, threshold, _rule_forms(rules)) for stage, threshold, rules in stages])
        for process, stages in stall_rules_for_org(organization=membership.organization)
    ]
    org = membership.organization
    return render(request, RULES_TEMPLATE, {"processes": processes, "idle_days": org.idle_days})


@member_view
def stage_stall_rules(request: HtmxHttpRequest, membership: Membership, stage_id: int):
    """Save one stage's three rules at once (all or nothing); answers with the stage's card."""
    stage = get_for_org_or_404(
        Stage.objects.select_related("process", "organization"), membership.organization, pk=stage_id
    )
    if refused := wrong_method(request, ("POST",)):
        return refused
    _require_process_editor(membership)
    threshold, rules = stall_rules_for_stage(stage=stage)
    forms = _rule_forms(rules, request.POST)
    saved = False
    status = 200
    # Validate every form (not just up to the first invalid one), so each shows its messages.
    valid = [f.is_valid() for f in forms]
    if all(valid):
        try:
            with transaction.atomic():
                for f in forms:
                    try:
                        stall_rule_set(stage=stage, by=membership, kind=f.rule.kind, **f.cleaned_data)
                    except InvalidInput as exc:
                        f.add_service_errors(exc)  # on the rule it is about; nothing is saved
                        raise
        except InvalidInput:
            status = 422
        else:
            saved = True
            threshold, rules = stall_rules_for_stage(stage=stage)
            forms = _rule_forms(rules)
    else:
        status = 422
    if not request.htmx:
        if saved:
            messages.success(request, f"Stall rules of {stage.name} saved.")
            return redirect("stall_rules")
        messages.error(request, f"The stall rules of {stage.name} were not saved: check the days.")
        return redirect("stall_rules")
    context = {
        "stage": stage,
        "threshold": threshold,
        "forms": forms,
        "saved": saved,
        "idle_days": membership.organization.idle_days,
    }
    return render(request, f"{RULES_TEMPLATE}#stage_rules", context, status=status)
