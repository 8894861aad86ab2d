"""Plays on the deal page in a real browser: a new champion attaches a play and the section refreshes
itself (the dealChanged event), the rep answers its question in place, and ticking its step in the plan
shows on the play."""

import pytest
from playwright.sync_api import expect

from playbooks.models import PlayAnswer
from tests.e2e.conftest import htmx_settled
from tests.e2e.test_rep_flow import sign_in
from tests.factories import PlaybookFactory, PlayFactory, PlayQuestionFactory, PlayStepFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_champion_brings_a_play_the_rep_answers_and_works(
    page, live_server, rep, org, process, deal, contact
):
    playbook = PlaybookFactory(organization=org, process=process, name="Enterprise")
    play = PlayFactory(
        playbook=playbook,
        name="Arm the champion",
        condition={"field": "stakeholder_roles", "op": "contains", "value": "champion"},
        talk_track="Ask **what success looks like** for them.",
    )
    PlayQuestionFactory(play=play, text="What would make them a hero?")
    PlayStepFactory(play=play, title="Send the champion kit")
    sign_in(page, live_server, rep)

    page.goto(f"/deals/{deal.id}/")
    plays = page.get_by_test_id("deal-plays")
    expect(plays).to_contain_text("No play applies to this deal yet.")

    page.locator("#deal-stakeholders").get_by_role("button", name="+ Add").click()
    form = page.get_by_test_id("stakeholder-form")
    expect(form).to_be_visible()
    htmx_settled(page)
    form.locator("select[name=contact]").select_option(label=f"{contact.name} (Globex)")
    form.locator("select[name=role]").select_option("champion")
    form.get_by_role("button", name="Add stakeholder").click()

    card = plays.get_by_test_id("deal-play")
    expect(card).to_contain_text("Arm the champion")
    expect(card.get_by_test_id("play-why")).to_have_text("Why: stakeholder roles contain Champion.")
    expect(card.locator("strong")).to_have_text("what success looks like")
    htmx_settled(page)

    card.get_by_label("What would make them a hero?").fill("A smooth audit")
    card.get_by_role("button", name="Save").click()
    expect(plays.get_by_test_id("answer-saved")).to_have_text("Saved.")
    assert PlayAnswer.objects.get(deal=deal).text == "A smooth audit"
    htmx_settled(page)

    page.get_by_label("Done: Send the champion kit").check()
    expect(plays.get_by_test_id("play-step")).to_contain_text("(done)")
