"""The upstream pages: "Promote" on a custom step of the deal plan, and the review page `/upstream/`
where ops accept (a play or an exit criterion) or dismiss what reps and the nightly job proposed.

Who sees what: ops and admins see every promotion and decide; reps and managers see the promotions
they proposed, read-only (the review page lists them; the step on the deal plan links to them).
Objects named in a URL are looked up in the member's organization before the method or the role is
checked, so another organization's id is a 404 for everyone. Actions answer htmx with the fragment
they change (with field messages on failure); without htmx they redirect."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.vary import vary_on_headers

from deals.models import Deal, DealStep, StepSource
from deals.views.common import HtmxHttpRequest, deal_action, error_status, member_view, wrong_method
from orgs.models import Membership
from orgs.selectors import can_edit_deal
from salesproc.lib.errors import InvalidInput, ServiceError
from salesproc.lib.scoping import get_for_org_or_404
from upstream.forms import AcceptForm, DismissForm, PromoteForm
from upstream.models import Promotion, PromotionStatus
from upstream.selectors import (
    origin_choices,
    origin_filter,
    prepare_rows,
    promotion_queryset,
    review_choices,
    review_page,
    status_filter,
    step_promotion_states,
    visible_promotions,
)
from upstream.services import promotion_accept, promotion_dismiss, promotion_propose_from_step

REVIEW_TEMPLATE = "upstream/review.html"
STEP_TEMPLATE = "upstream/partials/step_promote_body.html"


# ---------------------------------------------------------------------------------------------------
# The deal plan's "Promote"


def step_promote_context(
    membership: Membership, deal: Deal, step: DealStep, state, *, can_edit_deal_plan: bool, **extra
) -> dict:
    """What the step's promote slot shows: its promotion state and, for those who may propose it, the
    form. No query: the state comes from `step_promotion_states` (one query per plan)."""
    promotion = state.promotion if state else None
    may_propose = step.source == StepSource.CUSTOM and (can_edit_deal_plan or membership.can_edit_process)
    return {
        "deal": deal,
        "step": step,
        "state": state,
        "promotion": promotion,
        "can_promote": may_propose and (state is None or state.may_propose_again),
        # The review page shows reviewers everything, and others what they proposed.
        "can_open": promotion is not None
        and (membership.can_edit_process or promotion.proposed_by_id == membership.user_id),
        "promote_form": extra.pop("promote_form", None) or PromoteForm(),
        **extra,
    }


def _get_step(membership: Membership, deal: Deal, step_id: int) -> DealStep:
    return get_for_org_or_404(DealStep.objects.filter(deal=deal), membership.organization, pk=step_id)


@deal_action(lookup=_get_step)
def step_promote_view(request: HtmxHttpRequest, membership: Membership, deal: Deal, step_id: int):
    """Propose a custom step as a play or as an exit criterion of the deal's stage (with a note)."""
    step = _get_step(membership, deal, step_id)
    step.deal = deal
    form = PromoteForm(request.POST)
    status, extra = 200, {}
    if form.is_valid():
        try:
            _, created = promotion_propose_from_step(
                step=step, by=membership, target=form.cleaned_data["target"], note=form.cleaned_data["note"]
            )
        except InvalidInput as exc:
            if set(exc.errors) - set(form.fields):
                # Not about the form (e.g. not a custom step): said in the slot.
                status, extra = error_status(exc), {"refusal": exc.message}
            else:
                form.add_service_errors(exc)
                status, extra = error_status(exc), {"promote_form": form, "form_open": True}
        except ServiceError as exc:
            status, extra = error_status(exc), {"refusal": exc.message}
        else:
            extra = {"confirmation": "Sent to ops for review." if created else "Already proposed for review."}
    else:
        status, extra = 422, {"promote_form": form, "form_open": True}
    if not request.htmx:
        if status < 400:
            messages.success(request, extra["confirmation"])
        else:
            messages.error(request, extra.get("refusal") or "The step could not be promoted: check the form.")
        return redirect(reverse("deal_detail", args=[deal.id]) + f"#step-{step.id}")
    state = step_promotion_states([step]).get(step.id)
    context = step_promote_context(
        membership, deal, step, state, can_edit_deal_plan=can_edit_deal(membership, deal), **extra
    )
    return render(request, STEP_TEMPLATE, context, status=status)


# ---------------------------------------------------------------------------------------------------
# The review page


def _with_forms(membership: Membership, promotions: list[Promotion], **forms) -> None:
    """Give each open promotion its accept and dismiss forms (reviewers only): prefilled, or the bound
    ones passed in `forms` (a failed submission, with its messages)."""
    if not membership.can_edit_process:
        return
    for p in promotions:
        if p.status == PromotionStatus.PROPOSED:
            p.accept_form = forms.get("accept_form") or AcceptForm.for_promotion(p)
            p.dismiss_form = forms.get("dismiss_form") or DismissForm(prefix=f"d{p.pk}")


@member_view
@vary_on_headers("HX-Request")
def review_view(request: HtmxHttpRequest, membership: Membership):
    """`/upstream/?status=proposed|accepted|dismissed&origin=step|recurrence&before=<id>`: one page of
    promotions, newest first. A fixed number of queries (tests/upstream/test_pages.py)."""
    if refused := wrong_method(request):
        return refused
    before = request.GET.get("before", "")
    page = review_page(
        membership=membership,
        status=status_filter(request.GET.get("status")),
        origin=origin_filter(request.GET.get("origin")),
        before=int(before) if before.isdigit() and len(before) < 19 else None,
    )
    _with_forms(membership, page.promotions)
    context = {
        "page": page,
        "can_review": membership.can_edit_process,
        "playbooks": page.playbooks,
        "stages": page.stages,
        "statuses": PromotionStatus.choices,
        "origins": origin_choices(),
    }
    return render(request, REVIEW_TEMPLATE, context)


def _get_promotion(membership: Membership, promotion_id: int, *, deciding: bool = False) -> Promotion:
    """A promotion the member may see, else a 404. To decide, any promotion of the org: a rep pressing
    Accept gets the service's refusal (403), not a 404."""
    qs = promotion_queryset(membership.organization) if deciding else visible_promotions(membership)
    promotion = qs.filter(pk=promotion_id).first()
    if promotion is None:
        raise Http404("No such promotion.")
    return promotion


def _card_context(membership: Membership, promotion: Promotion, **extra) -> dict:
    """One promotion's card: its condition in words, and for a reviewer of an open one the forms and
    their choices."""
    forms = {k: extra.pop(k) for k in ("accept_form", "dismiss_form") if k in extra}
    prepare_rows([promotion], membership.organization_id)
    _with_forms(membership, [promotion], **forms)
    context = {"p": promotion, "can_review": membership.can_edit_process, **extra}
    if hasattr(promotion, "accept_form"):
        context.update(review_choices(membership))
    return context


@member_view
def promotion_detail_view(request: HtmxHttpRequest, membership: Membership, promotion_id: int):
    """One promotion on a page of its own (the link from a step of a deal plan)."""
    promotion = _get_promotion(membership, promotion_id)
    if refused := wrong_method(request):
        return refused
    return render(request, "upstream/promotion_detail.html", _card_context(membership, promotion))


def _decision_view(request: HtmxHttpRequest, membership: Membership, promotion_id: int, decide):
    """POST an accept or dismiss: htmx gets the card back (with the confirmation, or the form with its
    messages); a plain form post is redirected to the promotion's page with a message."""
    promotion = _get_promotion(membership, promotion_id, deciding=True)
    if refused := wrong_method(request, ("POST",)):
        return refused
    done, status, extra = decide(promotion)
    if not request.htmx:
        if done:
            messages.success(request, done)
        else:
            messages.error(request, extra.get("refusal") or "Not saved: check the form.")
        return redirect(reverse("promotion_detail", args=[promotion.pk]))
    promotion = _get_promotion(membership, promotion.pk, deciding=True)
    context = _card_context(membership, promotion, confirmation=done, **extra)
    return render(request, f"{REVIEW_TEMPLATE}#promotion_card", context, status=status)


@member_view
def promotion_accept_view(request: HtmxHttpRequest, membership: Membership, promotion_id: int):
    """Accept with the reviewer's edits: a play in a playbook, or an exit criterion of a stage."""

    def decide(promotion: Promotion):
        form = AcceptForm(request.POST, prefix=f"p{promotion.pk}")
        if form.is_valid():
            try:
                accepted = promotion_accept(promotion=promotion, by=membership, **form.service_arguments())
            except InvalidInput as exc:
                form.add_service_errors(exc)
            except ServiceError as exc:
                return None, error_status(exc), {"refusal": exc.message}
            else:
                if accepted.play is not None:
                    return f"Accepted: it became the play “{accepted.play.name}”.", 200, {}
                return f"Accepted: it became the exit criterion “{accepted.criterion.label}”.", 200, {}
        return None, 422, {"accept_form": form, "accept_open": True}

    return _decision_view(request, membership, promotion_id, decide)


@member_view
def promotion_dismiss_view(request: HtmxHttpRequest, membership: Membership, promotion_id: int):
    """Dismiss with a reason."""

    def decide(promotion: Promotion):
        form = DismissForm(request.POST, prefix=f"d{promotion.pk}")
        if form.is_valid():
            try:
                promotion_dismiss(promotion=promotion, by=membership, reason=form.cleaned_data["reason"])
            except InvalidInput as exc:
                form.add_service_errors(exc)
            except ServiceError as exc:
                return None, error_status(exc), {"refusal": exc.message}
            else:
                return "Dismissed.", 200, {}
        return None, 422, {"dismiss_form": form, "dismiss_open": True}

    return _decision_view(request, membership, promotion_id, decide)
