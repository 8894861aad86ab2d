"""The plays on a deal: the deal page's "Plays" section and the answers to the plays' questions.

The section is rendered inside the deal page (`deal_plays_for_page`, a fixed number of queries however
many plays are attached) and re-rendered on its own (`deal_plays_view`) when the deal page announces a
change with the `dealChanged` event (deals.views.deal_page.respond): a stakeholder's role or a step of
the plan can change which plays hold or how far their steps are. Answers save in place: the play's card
comes back with "Saved." or the reason it was not."""

from collections.abc import Iterable

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import reswap, retarget

from deals.models import Deal, DealStep, StepSource
from deals.views.common import HtmxHttpRequest, deal_action, error_status, get_deal, member_view, wrong_method
from orgs.models import Membership
from orgs.selectors import can_edit_deal
from playbooks.models import DealPlay, PlayQuestion
from playbooks.selectors import deal_plays_attached
from playbooks.services.answers import play_answer_set
from salesproc.lib.errors import InvalidInput, NotAllowed
from salesproc.lib.scoping import get_for_org_or_404

TEMPLATE = "playbooks/deal_plays.html"


def deal_plays_for_page(*, deal: Deal, steps: Iterable[DealStep] | None = None) -> list[DealPlay]:
    """The plays attached to the deal now (`deal_plays_attached`: highest priority first, with their
    questions and this deal's answers, resources and steps), each play step carrying `deal_step`: the
    line of the deal's plan it became (None when it is not in the plan, e.g. it was added while the play
    was attached and the deal has not been evaluated since). `steps` are the deal's plan lines when the
    caller has them (the deal page does); otherwise one more query reads them. At most six queries, the
    same for one play as for fifty; one when no play is attached."""
    rows = deal_plays_attached(deal=deal)
    if not rows:
        return rows
    if steps is None:
        steps = DealStep.objects.filter(
            deal_id=deal.pk, source=StepSource.PLAY, play_step__isnull=False
        ).select_related("stage")
    lines = {s.play_step_id: s for s in steps if s.play_step_id is not None}
    for row in rows:
        for step in row.play.steps.all():
            step.deal_step = lines.get(step.pk)
    return rows


def section_context(membership: Membership, deal: Deal, **extra) -> dict:
    """What the section and a play's card need besides the plays."""
    return {
        "deal": deal,
        # Closed deals have no plays; answers belong to open ones.
        "can_edit": deal.is_open and can_edit_deal(membership, deal),
        **extra,
    }


@member_view
@vary_on_headers("HX-Request")
def deal_plays_view(request: HtmxHttpRequest, membership: Membership, deal_id: int):
    """The section alone, for htmx (its `dealChanged` refresh); a browser is sent to the deal page."""
    deal = get_deal(membership, deal_id)
    if refused := wrong_method(request):
        return refused
    if not request.htmx:
        return redirect(reverse("deal_detail", args=[deal.id]) + "#deal-plays")
    context = section_context(membership, deal, deal_plays=deal_plays_for_page(deal=deal))
    return render(request, f"{TEMPLATE}#deal_plays", context)


def _get_question(membership: Membership, deal: Deal, question_id: int) -> PlayQuestion:
    return get_for_org_or_404(PlayQuestion.objects.all(), membership.organization, pk=question_id)


def _first_message(exc: InvalidInput) -> str:
    for key in ("text", "question", "__all__"):
        if exc.errors.get(key):
            return exc.errors[key][0]
    return exc.message


@deal_action(lookup=_get_question)
def play_answer_view(request: HtmxHttpRequest, membership: Membership, deal: Deal, question_id: int):
    """Answer (or clear, with empty text) one question of a play attached to the deal; answers with
    the play's card, saying "Saved." or why not (403 for a member who only reads the deal, 422 for bad
    input or a play that is no longer attached, which re-renders the whole section)."""
    question = _get_question(membership, deal, question_id)
    text = request.POST.get("text", "")
    extra: dict = {}
    status = 200
    try:
        answer = play_answer_set(deal=deal, question=question, text=text, by=membership)
    except (NotAllowed, InvalidInput) as exc:
        message = _first_message(exc) if isinstance(exc, InvalidInput) else exc.message
        status = error_status(exc)
        extra["answer_error"] = {"id": question.id, "message": message, "text": text}
        if not request.htmx:
            messages.error(request, f"Answer not saved: {message}")
    else:
        extra["answer_saved"] = {"id": question.id, "cleared": answer is None}
        if not request.htmx:
            messages.success(request, "Answer cleared." if answer is None else "Answer saved.")
    if not request.htmx:
        return redirect(reverse("deal_detail", args=[deal.id]) + f"#play-{question.play_id}")

    rows = deal_plays_for_page(deal=deal)
    context = section_context(membership, deal, **extra)
    card = next((row for row in rows if row.play_id == question.play_id), None)
    if card is None:
        # The play left the deal since the page was drawn: show the section as it is now, with why.
        context.update(deal_plays=rows, plays_message=extra.get("answer_error", {}).get("message"))
        response = render(request, f"{TEMPLATE}#deal_plays", context, status=status)
        return reswap(retarget(response, "#deal-plays"), "outerHTML")
    return render(request, f"{TEMPLATE}#play_card", {**context, "dp": card}, status=status)
