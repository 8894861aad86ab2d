"""The scorecard page (ops), the deal page's Qualification section, and the board's scorecard filter."""

import re
from decimal import Decimal

import pytest
from django.urls import reverse

from deals.services import deal_create
from scorecards.models import DealScorecard, DealScorecardAnswer, Scorecard, ScorecardCriterion
from scorecards.services import AnswerInput, deal_scorecard_answer, deal_scorecard_answers_set

HTMX = {"HTTP_HX_REQUEST": "true"}


def _text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


# ---- the scorecard page


def test_the_process_editor_links_to_the_scorecard(client, ops, process):
    client.force_login(ops.user)
    response = client.get(reverse("process_detail", args=[process.id]))
    assert reverse("process_scorecard", args=[process.id]) in response.content.decode()


def test_ops_create_a_scorecard_then_add_a_criterion(client, ops, process):
    client.force_login(ops.user)
    page = client.get(reverse("process_scorecard", args=[process.id]))
    assert page.status_code == 200 and 'data-testid="scorecard-create"' in page.content.decode()

    created = client.post(
        reverse("scorecard_save", args=[process.id]),
        {"name": "Qualify", "threshold": "65", "active": "on"},
        **HTMX,
    )
    assert created.status_code == 200
    assert "Scorecard created" in created.content.decode()
    scorecard = Scorecard.objects.get(process=process)
    assert (scorecard.name, scorecard.threshold, scorecard.active) == ("Qualify", 65, True)

    added = client.post(
        reverse("scorecard_criterion_add", args=[process.id]),
        {
            "label": "Budget confirmed",
            "weight": "3",
            "scale": "yes_no",
            "max_points": "",
            "help_text": "Signed off",
        },
        **HTMX,
    )
    assert added.status_code == 200 and "Added “Budget confirmed”" in added.content.decode()
    assert list(ScorecardCriterion.objects.values_list("label", "weight", "scale", "max_points")) == [
        ("Budget confirmed", 3, "yes_no", 1)
    ]


@pytest.mark.parametrize("weight", ["0", "11", "text"])
def test_a_bad_weight_on_the_page_is_a_field_message_and_nothing_is_written(
    client, ops, process, scorecard, criteria, weight
):
    client.force_login(ops.user)
    pain = criteria[1]
    response = client.post(
        reverse("scorecard_criterion_update", args=[process.id, pain.id]),
        {"label": "Pain", "weight": weight, "scale": "points", "max_points": "3"},
        **HTMX,
    )
    assert response.status_code == 422
    assert 'data-testid="weight-error">A whole number from 1 to 10.' in response.content.decode()
    pain.refresh_from_db()
    assert pain.weight == 2
    added = client.post(
        reverse("scorecard_criterion_add", args=[process.id]),
        {"label": "Timeline", "weight": weight, "scale": "points", "max_points": "3"},
        **HTMX,
    )
    assert added.status_code == 422 and "A whole number from 1 to 10." in added.content.decode()
    assert not ScorecardCriterion.objects.filter(label="Timeline").exists()


def test_a_weight_edit_on_the_page_recomputes_the_deals(client, ops, rep, deal, process, criteria):
    deal_scorecard_answers_set(
        deal=deal, by=rep, answers=[AnswerInput(c, v) for c, v in zip(criteria, [1, 0, 3], strict=True)]
    )
    assert DealScorecard.objects.get().result == "go"  # 60.00 at 60
    client.force_login(ops.user)
    pain = criteria[1]
    response = client.post(
        reverse("scorecard_criterion_update", args=[process.id, pain.id]),
        {"label": "Pain", "weight": "4", "scale": "points", "max_points": "3"},
        **HTMX,
    )
    assert response.status_code == 200
    card = DealScorecard.objects.get()
    assert (card.score, card.result) == (Decimal("50.00"), "no_go")  # (3 + 0 + 3) / 12


def test_a_bad_threshold_on_the_page_is_a_field_message(client, ops, process, scorecard):
    client.force_login(ops.user)
    response = client.post(
        reverse("scorecard_save", args=[process.id]), {"name": "X", "threshold": "120"}, **HTMX
    )
    assert response.status_code == 422
    assert 'data-testid="threshold-error">A whole number from 0 to 100.' in response.content.decode()
    scorecard.refresh_from_db()
    assert (scorecard.name, scorecard.threshold) == ("MEDDIC lite", 60)


def test_criteria_move_and_are_removed(client, ops, process, criteria):
    budget, pain, champion = criteria
    client.force_login(ops.user)
    client.post(
        reverse("scorecard_criterion_move", args=[process.id, champion.id]), {"direction": "up"}, **HTMX
    )
    assert list(ScorecardCriterion.objects.order_by("order").values_list("label", flat=True)) == [
        "Budget confirmed",
        "Champion",
        "Pain",
    ]
    client.post(reverse("scorecard_criterion_delete", args=[process.id, pain.id]), **HTMX)
    assert not ScorecardCriterion.objects.filter(pk=pain.pk).exists()


def test_without_htmx_a_save_redirects_back(client, ops, process, scorecard):
    client.force_login(ops.user)
    response = client.post(
        reverse("scorecard_save", args=[process.id]), {"name": "Renamed", "threshold": "50"}
    )
    assert response.status_code == 302 and response["Location"] == reverse(
        "process_scorecard", args=[process.id]
    )


def test_the_page_shows_win_rates_by_band(client, ops, process, scorecard, criteria):
    client.force_login(ops.user)
    text = _text(client.get(reverse("process_scorecard", args=[process.id])))
    assert 'data-testid="scorecard-win-rates"' in text
    assert text.count('data-testid="win-rate-band"') == 4  # three bands and "not scored"


@pytest.mark.parametrize("role", ["rep", "manager"])
def test_reps_and_managers_cannot_open_or_post_the_scorecard_page(
    request, client, process, scorecard, criteria, role
):
    client.force_login(request.getfixturevalue(role).user)
    assert client.get(reverse("process_scorecard", args=[process.id])).status_code == 403
    response = client.post(reverse("scorecard_save", args=[process.id]), {"threshold": "5"})
    assert response.status_code == 403
    response = client.post(
        reverse("scorecard_criterion_update", args=[process.id, criteria[0].id]),
        {"label": "X", "weight": "9"},
    )
    assert response.status_code == 403
    scorecard.refresh_from_db()
    assert scorecard.threshold == 60 and ScorecardCriterion.objects.get(pk=criteria[0].pk).weight == 3


def test_another_orgs_scorecard_page_is_404(client, ops, other_org_world):
    client.force_login(ops.user)
    process = other_org_world["process"]
    assert client.get(reverse("process_scorecard", args=[process.id])).status_code == 404
    assert client.post(reverse("scorecard_save", args=[process.id]), {"threshold": "5"}).status_code == 404
    assert not Scorecard.objects.exists()


def test_a_criterion_of_another_process_is_404_on_this_processs_page(client, ops, org, process, criteria):
    from salesproc.services import process_import
    from tests.fixtures import SIMPLE_PROCESS

    other, _ = process_import(org=org, data={**SIMPLE_PROCESS, "name": "Renewals"}, by=None)
    client.force_login(ops.user)
    url = reverse("scorecard_criterion_delete", args=[other.id, criteria[0].id])
    assert client.post(url).status_code == 404
    assert ScorecardCriterion.objects.count() == 3


# ---- the deal page's section


def test_the_deal_page_shows_the_qualification_section(client, rep, deal, criteria):
    deal_scorecard_answer(deal=deal, criterion=criteria[0], value=1, note="CFO confirmed", by=rep)
    client.force_login(rep.user)
    text = _text(client.get(reverse("deal_detail", args=[deal.id])))
    assert 'data-testid="deal-scorecard"' in text
    assert text.count('data-testid="scorecard-criterion"') == 3
    assert 'data-testid="scorecard-result">Incomplete<' in text
    assert 'data-testid="scorecard-score">100<' in text
    assert 'style="left: 60%"' in text  # the threshold marker
    assert 'value="CFO confirmed"' in text  # the rep answers in place


def test_a_deal_without_a_scorecard_shows_ops_where_to_set_one_up_and_others_nothing(client, ops, rep, deal):
    client.force_login(rep.user)
    assert "deal-scorecard" not in client.get(reverse("deal_detail", args=[deal.id])).content.decode()
    client.force_login(ops.user)
    text = client.get(reverse("deal_detail", args=[deal.id])).content.decode()
    assert 'data-testid="deal-scorecard-setup"' in text
    assert reverse("process_scorecard", args=[deal.process_id]) in text


@pytest.mark.parametrize("role", ["rep", "manager"])
def test_the_rep_and_their_manager_answer_in_place(request, client, deal, criteria, role):
    client.force_login(request.getfixturevalue(role).user)
    budget, pain, champion = criteria
    url = lambda c: reverse("deal_scorecard_answer", args=[deal.id, c.id])  # noqa: E731
    client.post(url(budget), {"value": "1"}, **HTMX)
    client.post(url(pain), {"value": "0", "note": "No pain yet"}, **HTMX)
    response = client.post(url(champion), {"value": "3"}, **HTMX)
    assert response.status_code == 200
    text = _text(response).strip()
    assert text.startswith('<section class="card mb-3 deal-scorecard" id="deal-scorecard"')
    assert 'data-result="go"' in text and 'data-testid="scorecard-saved">Saved.' in text
    assert 'data-testid="scorecard-score">60<' in text
    assert DealScorecardAnswer.objects.get(criterion=pain).note == "No pain yet"


def test_clearing_an_answer_in_place(client, rep, deal, criteria):
    deal_scorecard_answer(deal=deal, criterion=criteria[0], value=1, by=rep)
    client.force_login(rep.user)
    response = client.post(
        reverse("deal_scorecard_answer", args=[deal.id, criteria[0].id]), {"value": "1", "clear": "1"}, **HTMX
    )
    assert response.status_code == 200 and "Answer cleared." in response.content.decode()
    assert not DealScorecard.objects.exists()


@pytest.mark.parametrize(("value", "message"), [("7", "A whole number from 0 to 3."), ("", "Pick an answer")])
def test_a_bad_answer_in_place_says_why_and_writes_nothing(client, rep, deal, criteria, value, message):
    client.force_login(rep.user)
    response = client.post(
        reverse("deal_scorecard_answer", args=[deal.id, criteria[1].id]),
        {"value": value, "note": "n"},
        **HTMX,
    )
    assert response.status_code == 422
    assert (
        message in response.content.decode() and 'data-testid="scorecard-error"' in response.content.decode()
    )
    assert not DealScorecardAnswer.objects.exists()


def test_another_rep_reads_the_section_but_cannot_answer(client, rep, other_rep, deal, criteria):
    deal_scorecard_answer(deal=deal, criterion=criteria[0], value=1, by=rep)
    client.force_login(other_rep.user)
    text = _text(client.get(reverse("deal_detail", args=[deal.id])))
    assert 'data-testid="scorecard-read-only"' in text and 'name="value"' not in text
    assert 'data-testid="scorecard-answer">Yes<' in text
    response = client.post(
        reverse("deal_scorecard_answer", args=[deal.id, criteria[0].id]), {"value": "0"}, **HTMX
    )
    assert response.status_code == 403
    assert DealScorecardAnswer.objects.get().value == 1


def test_the_section_refreshes_alone_for_htmx(client, rep, deal, criteria):
    client.force_login(rep.user)
    response = client.get(reverse("deal_scorecard", args=[deal.id]), **HTMX)
    assert response.status_code == 200 and response.content.decode().lstrip().startswith("<section")
    response = client.get(reverse("deal_scorecard", args=[deal.id]))
    assert response.status_code == 302


def test_another_orgs_deal_and_criterion_are_404(client, rep, deal, criteria, other_org_world):
    client.force_login(rep.user)
    foreign = other_org_world["deal"]
    assert client.get(reverse("deal_scorecard", args=[foreign.id]), **HTMX).status_code == 404
    assert (
        client.post(
            reverse("deal_scorecard_answer", args=[foreign.id, criteria[0].id]), {"value": "1"}
        ).status_code
        == 404
    )
    assert not DealScorecardAnswer.objects.exists()


# ---- the board's filter


@pytest.fixture
def scored_deals(rep, process, account, criteria, deal):
    """`deal` (Globex rollout) not scored; a go, a no-go and an incomplete one."""
    made = {}
    for name, values in (("Go deal", [1, 3, 5]), ("No-go deal", [0, 0, 0]), ("Half deal", [1, None, None])):
        d = deal_create(by=rep, process=process, name=name, account=account)
        answers = [AnswerInput(c, v) for c, v in zip(criteria, values, strict=True) if v is not None]
        deal_scorecard_answers_set(deal=d, by=rep, answers=answers)
        made[name] = d
    return made


def _card_names(response) -> list[str]:
    return sorted(
        re.findall(
            r'class="fw-semibold text-decoration-none deal-card-name" href="[^"]+">([^<]+)<',
            response.content.decode(),
        )
    )


@pytest.mark.parametrize(
    ("value", "names"),
    [
        ("go", ["Go deal"]),
        ("no_go", ["No-go deal"]),
        ("incomplete", ["Half deal"]),
        ("not_scored", ["Globex rollout"]),
        ("", ["Globex rollout", "Go deal", "Half deal", "No-go deal"]),
        ("bogus", ["Globex rollout", "Go deal", "Half deal", "No-go deal"]),
    ],
)
def test_the_board_filters_by_scorecard_result(client, rep, process, scored_deals, value, names):
    client.force_login(rep.user)
    response = client.get(reverse("board", args=[process.id]), {"scorecard": value})
    assert response.status_code == 200
    assert _card_names(response) == names
    text = _text(response)
    assert f'data-testid="board-total">{len(names)} open deal' in text
    assert 'data-testid="filter-scorecard"' in text


def test_the_scorecard_filter_combines_with_owner_and_search(
    client, rep, other_rep, process, account, criteria, scored_deals
):
    theirs = deal_create(by=other_rep, process=process, name="Go deal too", account=account)
    deal_scorecard_answers_set(
        deal=theirs, by=other_rep, answers=[AnswerInput(c, c.max_points) for c in criteria]
    )
    client.force_login(rep.user)
    response = client.get(reverse("board", args=[process.id]), {"scorecard": "go", "owner": "me", "q": "go"})
    assert _card_names(response) == ["Go deal"]
    response = client.get(reverse("board", args=[process.id]), {"scorecard": "go"})
    assert _card_names(response) == ["Go deal", "Go deal too"]


def test_the_board_offers_no_scorecard_filter_without_a_scorecard(client, rep, process, deal):
    client.force_login(rep.user)
    assert (
        'data-testid="filter-scorecard"'
        not in client.get(reverse("board", args=[process.id])).content.decode()
    )


def test_load_more_keeps_the_scorecard_filter(client, rep, process, stages, account, criteria):
    for i in range(27):
        d = deal_create(by=rep, process=process, name=f"Scored {i}", account=account)
        deal_scorecard_answer(deal=d, criterion=criteria[0], value=1, by=rep)
    deal_create(by=rep, process=process, name="Unscored", account=account)
    client.force_login(rep.user)
    board = client.get(reverse("board", args=[process.id]), {"scorecard": "incomplete"})
    assert "scorecard=incomplete" in board.content.decode()
    more = (
        re.search(r'hx-get="([^"]+)"', board.content.decode().split('id="more-')[1])
        .group(1)
        .replace("&amp;", "&")
    )
    page = client.get(more)
    assert page.status_code == 200
    assert len(_card_names(page)) == 2 and "Unscored" not in page.content.decode()
