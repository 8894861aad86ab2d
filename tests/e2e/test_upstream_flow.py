"""Sending a deal's step upstream in a real browser: a rep promotes a custom step of their deal's plan as
a play; ops open the review page, edit the prefilled condition, accept it into a playbook, and find the
new play there; back on the deal, the step says which play it became."""

import pytest
from playwright.sync_api import expect

from deals.services import step_add
from playbooks.models import Play
from playbooks.services import playbook_create
from tests.e2e.test_rep_flow import sign_in
from upstream.models import Promotion

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_rep_promotes_a_step_ops_edit_the_condition_and_accept_it_as_a_play(
    page, live_server, rep, ops, org, process, deal
):
    deal.industry = "Healthcare"
    deal.save(update_fields=["industry"])
    step_add(deal=deal, by=rep, title="Security review with IT")
    playbook_create(org=org, by=None, name="Enterprise", process=process)

    sign_in(page, live_server, rep)
    page.goto(f"/deals/{deal.id}/")
    step = page.get_by_test_id("plan-step").filter(has_text="Security review with IT")
    step.get_by_test_id("promote-step").click()
    step.get_by_label("As a play").check()
    step.get_by_label("Note for the reviewer").fill("Their CISO would not sign without it")
    step.get_by_test_id("promote-submit").click()
    expect(step.get_by_test_id("step-promotion-state")).to_have_text("Proposed for review")
    promotion = Promotion.objects.get()
    assert (promotion.target, promotion.proposed_by) == ("play", rep.user)

    page.context.clear_cookies()
    sign_in(page, live_server, ops)
    page.get_by_role("link", name="Upstream").click()
    card = page.get_by_test_id("promotion").filter(has_text="Security review with IT")
    expect(card.get_by_test_id("promotion-condition")).to_contain_text(
        "industry is Healthcare and stage is Qualify"
    )
    expect(card.get_by_test_id("promotion-note")).to_contain_text("Their CISO would not sign without it")
    card.get_by_test_id("accept-open").click()
    form = card.get_by_test_id("accept-form")
    form.get_by_label("Title").fill("Security review")
    form.get_by_label("Playbook", exact=True).select_option(label="Enterprise · New business")
    form.get_by_test_id("accept-condition").fill('{"field": "industry", "op": "eq", "value": "Healthcare"}')
    form.get_by_test_id("accept-submit").click()
    result = page.get_by_test_id("promotion-result")
    expect(result).to_contain_text(
        "The play Security review in playbook Enterprise, when industry is Healthcare"
    )
    play = Play.objects.get()
    assert play.condition == {"field": "industry", "op": "eq", "value": "Healthcare"}

    page.goto("/playbooks/")
    page.get_by_role("link", name="Enterprise").click()
    expect(page.get_by_text("Security review", exact=True)).to_be_visible()
    page.goto(f"/plays/{play.id}/edit/")
    expect(page.get_by_test_id("play-promoted-from")).to_contain_text(
        f"deal {deal.name}’s step “Security review with IT”"
    )

    page.context.clear_cookies()
    sign_in(page, live_server, rep)
    page.goto(f"/deals/{deal.id}/")
    step = page.get_by_test_id("plan-step").filter(has_text="Security review with IT")
    expect(step.get_by_test_id("step-promotion-state")).to_have_text("Became play")
    expect(step.get_by_role("link", name="Security review")).to_have_attribute("href", f"/plays/{play.id}/")
