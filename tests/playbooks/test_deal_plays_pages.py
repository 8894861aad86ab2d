"""The deal page's "Plays" section: what each attached play shows, answers saved in place (or refused
with the reason, writing nothing), the section's own refresh and the event that asks for it, tenancy,
escaping, and a query count that does not grow with the number of plays."""

import json
import re
from html import unescape

import pytest
from django.urls import reverse

from deals.models import DealStep
from deals.services import deal_create, deal_update, deal_win, step_add, step_set_done
from playbooks.models import DealPlay, PlayAnswer, PlayResource
from playbooks.triggering import deal_plays_evaluate
from tests.factories import PlaybookFactory, PlayFactory, PlayQuestionFactory, PlayStepFactory

HTMX = {"HX-Request": "true"}
HEALTHCARE_VS_GLOBEX = {
    "all": [
        {"field": "industry", "op": "eq", "value": "Healthcare"},
        {"field": "competitors", "op": "contains", "value": "Globex"},
    ]
}
# The deal page of a deal with plays (and no exit criteria): session, user with memberships + the deal
# + stages + exit criteria + plan + stakeholders + activities + tags + stall flags (as in
# tests/deals/test_query_counts.py) + the plays attached now with their questions, resources, steps and
# this deal's answers (five, the plan lines being the page's own) + the strategy section (the strategy
# and its comments) + the unread notifications badge of the top bar (strategy: one COUNT).
DEAL_PAGE_WITH_PLAYS_QUERIES = 18
# The section alone: session, user with memberships + the deal + the plays with their content and
# answers (five) + the deal's plan lines from plays.
SECTION_QUERIES = 9


@pytest.fixture
def playbook(org, process):
    return PlaybookFactory(organization=org, process=process, name="Enterprise")


def make_play(playbook, condition=None, *, questions=(), links=(), steps=(), **kwargs):
    play = PlayFactory(playbook=playbook, **({"condition": condition} if condition else {}), **kwargs)
    for i, text in enumerate(questions):
        PlayQuestionFactory(play=play, text=text, order=i)
    for i, (title, url) in enumerate(links):
        PlayResource.objects.create(organization=play.organization, play=play, title=title, url=url, order=i)
    for i, title in enumerate(steps):
        PlayStepFactory(play=play, title=title, order=i)
    return play


def attach(deal):
    deal_plays_evaluate(deal_id=deal.id)


def page(client, deal) -> str:
    response = client.get(reverse("deal_detail", args=[deal.id]))
    assert response.status_code == 200
    return response.content.decode()


def section(html: str) -> str:
    match = re.search(r'<section class="card mb-3" id="deal-plays".*?</section>', html, re.S)
    assert match, "no plays section"
    return match.group(0)


def answer_url(deal, question) -> str:
    return reverse("play_answer", args=[deal.id, question.id])


@pytest.fixture
def healthcare_deal(rep, process, account):
    return deal_create(
        by=rep,
        process=process,
        name="St. Mary's rollout",
        account=account,
        amount="50000",
        industry="Healthcare",
        competitors="Globex; Initrode",
    )


# ---------------------------------------------------------------------------------------------------
# What the section shows


def test_attached_plays_show_highest_priority_first_with_why_talk_track_questions_resources_steps(
    client, rep, playbook, healthcare_deal
):
    make_play(playbook, name="Low priority", priority=1)
    play = make_play(
        playbook,
        HEALTHCARE_VS_GLOBEX,
        name="Beat Globex in healthcare",
        priority=5,
        talk_track="**Open with** compliance.\n\n- HIPAA audit trail",
        questions=("Who runs compliance?",),
        links=(("Globex battle card", "https://example.test/globex"),),
        steps=("Send the HIPAA pack",),
    )
    case_study = PlayResource.objects.create(
        organization=play.organization, play=play, title="Case study", file="play_resources/2025/01/case.pdf"
    )
    attach(healthcare_deal)
    client.force_login(rep.user)

    plays = section(page(client, healthcare_deal))

    names = re.findall(r'data-testid="play-name">([^<]*)<', plays)
    assert names == ["Beat Globex in healthcare", "Low priority"]
    assert "Why:</span> industry is Healthcare and competitors contain Globex." in plays
    assert "<strong>Open with</strong> compliance." in plays and "<li>HIPAA audit trail</li>" in plays
    assert "Who runs compliance?" in plays
    assert re.search(r'<a href="https://example.test/globex" target="_blank" rel="noopener[^"]*">', plays)
    # Uploaded files are served to members only, never from a public media URL.
    file_url = reverse("api:play_resource_file", args=[case_study.id])
    assert f'<a href="{file_url}" title="Download">Case study</a>' in plays and "/media/" not in plays
    line = DealStep.objects.get(deal=healthcare_deal, play_step__play=play)
    assert f'<a href="#step-{line.id}" class="step-title">Send the HIPAA pack</a>' in plays
    assert "(to do)" in plays
    assert f'href="{reverse("play_detail", args=[play.id])}"' in plays


def test_a_step_done_in_the_plan_shows_done_on_the_play(client, rep, playbook, deal):
    make_play(playbook, steps=("Book the executive call",))
    attach(deal)
    line = DealStep.objects.get(deal=deal, source="play")
    step_set_done(step=line, by=rep, done=True)
    client.force_login(rep.user)

    plays = section(page(client, deal))

    assert 'class="plan-step done"' in plays and "(done)" in plays


def test_no_play_says_so_and_ops_get_a_link_to_the_playbooks(client, rep, ops, deal):
    client.force_login(rep.user)
    plays = section(page(client, deal))
    assert "No play applies to this deal yet." in plays
    assert 'data-testid="playbooks-link"' not in plays

    client.force_login(ops.user)
    plays = section(page(client, deal))
    assert "No play applies to this deal yet." in plays
    assert re.search(r'<a href="/playbooks/" data-testid="playbooks-link">', plays)


def test_a_closed_deal_has_no_plays(client, rep, playbook, deal):
    make_play(playbook, name="Big deal")
    attach(deal)
    deal_win(deal=deal, by=rep, expected_version=deal.version)
    attach(deal)
    client.force_login(rep.user)

    plays = section(page(client, deal))

    assert "Big deal" not in plays and "plays are for open deals" in plays


def test_names_and_answers_are_escaped_and_the_talk_track_is_sanitized(
    client, rep, playbook, process, account
):
    deal = deal_create(by=rep, process=process, name="D", account=account, industry="<b>Med</b>", amount="1")
    play = make_play(
        playbook,
        {"field": "industry", "op": "eq", "value": "<b>Med</b>"},
        name="<script>alert('play')</script>",
        talk_track="Hello <script>alert('tt')</script> [x](javascript:alert(1))",
        questions=("<img src=x onerror=alert(1)>?",),
        links=(("<i>card</i>", "https://example.test/card"),),
    )
    play.playbook.name = "<u>Book</u>"
    play.playbook.save()
    attach(deal)
    PlayAnswer.objects.create(
        organization=deal.organization, deal=deal, question=play.questions.get(), text="</textarea><b>x</b>"
    )
    client.force_login(rep.user)

    plays = section(page(client, deal))

    assert "<script>" not in plays and "<b>" not in plays and "<i>card" not in plays and "<u>" not in plays
    assert "javascript:" not in plays and "<img" not in plays and "</textarea><b>" not in plays
    assert "&lt;script&gt;alert(&#x27;play&#x27;)&lt;/script&gt;" in plays
    assert "industry is &lt;b&gt;Med&lt;/b&gt;" in plays
    assert "&lt;/textarea&gt;&lt;b&gt;x&lt;/b&gt;" in plays


# ---------------------------------------------------------------------------------------------------
# Answers


@pytest.fixture
def asked(playbook, deal):
    play = make_play(playbook, name="Discovery", questions=("Who signs?", "When do they budget?"))
    attach(deal)
    return play


def test_the_owner_saves_an_answer_and_gets_the_card_back_with_saved(client, rep, deal, asked):
    question = asked.questions.order_by("order").first()
    client.force_login(rep.user)

    response = client.post(answer_url(deal, question), {"text": "  The CFO  "}, headers=HTMX)

    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith(
        f'<article class="border rounded p-2 mb-2 play-card" id="play-{asked.id}"'
    )
    assert 'data-testid="answer-saved">Saved.' in html and ">The CFO</textarea>" in html
    answer = PlayAnswer.objects.get(deal=deal, question=question)
    assert (answer.text, answer.answered_by_id) == ("The CFO", rep.user_id)
    # An answer changes no play: nothing else on the page needs to refresh.
    assert "HX-Trigger" not in response.headers


def test_the_reps_manager_answers_too(client, manager, deal, asked):
    question = asked.questions.first()
    client.force_login(manager.user)

    response = client.post(answer_url(deal, question), {"text": "Q3"}, headers=HTMX)

    assert response.status_code == 200
    assert PlayAnswer.objects.get(deal=deal, question=question).text == "Q3"


def test_an_empty_answer_clears_it(client, rep, deal, asked):
    question = asked.questions.first()
    PlayAnswer.objects.create(organization=deal.organization, deal=deal, question=question, text="Old")
    client.force_login(rep.user)

    response = client.post(answer_url(deal, question), {"text": "   "}, headers=HTMX)

    assert response.status_code == 200 and "Answer cleared." in response.content.decode()
    assert not PlayAnswer.objects.filter(deal=deal).exists()


def test_without_htmx_an_answer_redirects_to_the_play_on_the_deal_page(client, rep, deal, asked):
    question = asked.questions.first()
    client.force_login(rep.user)

    response = client.post(answer_url(deal, question), {"text": "The CFO"})

    assert response.status_code == 302
    assert response.url == reverse("deal_detail", args=[deal.id]) + f"#play-{asked.id}"
    assert PlayAnswer.objects.filter(deal=deal, question=question).exists()


def test_another_rep_reads_the_answers_without_a_form(client, rep, other_rep, deal, asked):
    question = asked.questions.order_by("order").first()
    PlayAnswer.objects.create(organization=deal.organization, deal=deal, question=question, text="The CFO")
    client.force_login(other_rep.user)

    plays = section(page(client, deal))

    assert "Who signs?" in plays and 'data-testid="play-answer">The CFO' in plays
    assert "<textarea" not in plays and "play_answer" not in plays and "/answer/" not in plays


def test_another_reps_answer_is_refused_with_the_reason_and_writes_nothing(client, other_rep, deal, asked):
    question = asked.questions.first()
    client.force_login(other_rep.user)

    response = client.post(answer_url(deal, question), {"text": "Sneaky"}, headers=HTMX)

    assert response.status_code == 403
    html = unescape(response.content.decode())
    assert 'data-testid="answer-error">You can read this deal but not change it' in html
    assert f'id="play-{asked.id}"' in html
    assert not PlayAnswer.objects.exists()


def test_a_too_long_answer_is_a_field_message_and_writes_nothing(client, rep, deal, asked):
    question = asked.questions.first()
    client.force_login(rep.user)

    response = client.post(answer_url(deal, question), {"text": "x" * 5001}, headers=HTMX)

    assert response.status_code == 422
    html = response.content.decode()
    assert "is-invalid" in html and 'data-testid="answer-error">At most 5000 characters.' in html
    assert not PlayAnswer.objects.exists()


def test_a_question_of_a_play_not_attached_is_refused_and_the_section_redrawn(
    client, rep, playbook, deal, asked
):
    other = make_play(playbook, {"field": "industry", "op": "eq", "value": "Mining"}, questions=("Depth?",))
    attach(deal)
    client.force_login(rep.user)

    response = client.post(answer_url(deal, other.questions.get()), {"text": "Deep"}, headers=HTMX)

    assert response.status_code == 422
    assert response.headers["HX-Retarget"] == "#deal-plays"
    html = response.content.decode()
    assert 'data-testid="plays-message">This question belongs to a play that is not attached' in html
    assert "Discovery" in html
    assert not PlayAnswer.objects.exists()


def test_answering_by_get_is_not_allowed(client, rep, deal, asked):
    client.force_login(rep.user)
    response = client.get(answer_url(deal, asked.questions.first()))
    assert response.status_code == 405


def test_another_orgs_deal_or_question_is_404(client, rep, deal, asked, other_org_world):
    foreign_play = PlayFactory(playbook=PlaybookFactory(organization=other_org_world["deal"].organization))
    foreign_question = PlayQuestionFactory(play=foreign_play)
    foreign_deal = other_org_world["deal"]
    own_question = asked.questions.first()
    client.force_login(rep.user)

    for url in (
        answer_url(deal, foreign_question),
        answer_url(foreign_deal, own_question),
        reverse("deal_plays", args=[foreign_deal.id]),
    ):
        for method in (client.get, client.post):
            assert method(url, {"text": "x"}, headers=HTMX).status_code == 404, url
    assert not PlayAnswer.objects.exists()


# ---------------------------------------------------------------------------------------------------
# Refreshing the section


def test_the_section_alone_for_htmx_and_the_deal_page_otherwise(client, rep, deal, asked):
    client.force_login(rep.user)
    url = reverse("deal_plays", args=[deal.id])

    response = client.get(url, headers=HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<section class="card mb-3" id="deal-plays"')
    assert 'hx-trigger="dealChanged from:body"' in html and f'hx-get="{url}"' in html
    assert "Discovery" in html

    response = client.get(url)
    assert response.status_code == 302 and response.url.endswith(f"/deals/{deal.id}/#deal-plays")


def test_deal_page_writes_announce_deal_changed_unless_they_redraw_the_whole_body(
    client, rep, other_rep, stages, deal, contact
):
    client.force_login(rep.user)

    added = client.post(
        reverse("stakeholder_add", args=[deal.id]),
        {"contact": contact.id, "role": "champion", "influence": 3, "attitude": "neutral"},
        headers=HTMX,
    )
    assert added.status_code == 200 and "dealChanged" in json.loads(added.headers["HX-Trigger"])

    step = step_add(deal=deal, by=rep, title="Call the CFO")
    toggled = client.post(reverse("step_toggle", args=[deal.id, step.id]), {"done": "1"}, headers=HTMX)
    assert toggled.status_code == 200 and "dealChanged" in json.loads(toggled.headers["HX-Trigger"])

    deal.refresh_from_db()
    moved = client.post(
        reverse("deal_move", args=[deal.id]),
        {"to_stage": stages[1].id, "version": deal.version},
        headers=HTMX,
    )
    assert moved.status_code == 200 and "HX-Trigger" not in moved.headers
    assert 'id="deal-plays"' in moved.content.decode()

    client.force_login(other_rep.user)
    refused = client.post(reverse("step_add", args=[deal.id]), {"title": "x"}, headers=HTMX)
    assert refused.status_code == 403 and "HX-Trigger" not in refused.headers


@pytest.mark.django_db(transaction=True)
def test_a_new_champion_attaches_a_play_that_the_refreshed_section_shows(
    client, rep, playbook, deal, contact
):
    # Real commits: the plays are evaluated when the view's transaction commits, before it answers.
    make_play(
        playbook,
        {"field": "stakeholder_roles", "op": "contains", "value": "champion"},
        name="Arm the champion",
        steps=("Send the champion kit",),
    )
    client.force_login(rep.user)
    assert "Arm the champion" not in section(page(client, deal))

    response = client.post(
        reverse("stakeholder_add", args=[deal.id]),
        {"contact": contact.id, "role": "champion", "influence": 3, "attitude": "neutral"},
        headers=HTMX,
    )
    assert "dealChanged" in json.loads(response.headers["HX-Trigger"])
    # The play's steps joined the plan: it comes back too, out of band.
    plan = re.search(
        r'<section class="card mb-3" id="deal-plan" hx-swap-oob="true">.*?</section>',
        response.content.decode(),
        re.S,
    )
    assert plan and "Send the champion kit" in plan.group(0)

    refreshed = client.get(reverse("deal_plays", args=[deal.id]), headers=HTMX).content.decode()
    assert "Arm the champion" in refreshed
    assert "Why:</span> stakeholder roles contain Champion." in refreshed


def test_a_deal_edit_that_stops_a_play_matching_removes_it_from_the_page(
    client, rep, playbook, healthcare_deal, django_capture_on_commit_callbacks
):
    make_play(playbook, HEALTHCARE_VS_GLOBEX, name="Beat Globex")
    attach(healthcare_deal)
    client.force_login(rep.user)
    assert "Beat Globex" in section(page(client, healthcare_deal))

    with django_capture_on_commit_callbacks(execute=True):
        deal_update(
            deal=healthcare_deal, by=rep, expected_version=healthcare_deal.version, competitors="Initrode"
        )

    assert "Beat Globex" not in section(page(client, healthcare_deal))
    assert DealPlay.objects.get(deal=healthcare_deal).detached_at is not None


# ---------------------------------------------------------------------------------------------------
# Query counts


@pytest.mark.parametrize("n", [1, 10])
def test_deal_page_query_count_does_not_grow_with_plays(
    client, django_assert_num_queries, rep, org, playbook, deal, n
):
    for i in range(n):
        play = make_play(
            playbook,
            name=f"Play {i}",
            questions=(f"Q{i}a?", f"Q{i}b?"),
            links=((f"Card {i}", f"https://example.test/{i}"),),
            steps=(f"Step {i}a", f"Step {i}b"),
        )
        PlayAnswer.objects.create(organization=org, deal=deal, question=play.questions.first(), text="yes")
    attach(deal)
    client.force_login(rep.user)

    with django_assert_num_queries(DEAL_PAGE_WITH_PLAYS_QUERIES):
        response = client.get(reverse("deal_detail", args=[deal.id]))

    assert response.status_code == 200
    assert response.content.decode().count('data-testid="deal-play"') == n

    with django_assert_num_queries(SECTION_QUERIES):
        response = client.get(reverse("deal_plays", args=[deal.id]), headers=HTMX)
    assert response.content.decode().count('data-testid="play-step"') == 2 * n
