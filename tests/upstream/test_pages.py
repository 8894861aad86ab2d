"""The upstream pages: Promote on a deal's custom step, the review page /upstream/, a promotion's page,
and accepting or dismissing there. Roles, htmx answers, nothing written on error, query counts."""

import re

import pytest
from django.template.loader import render_to_string
from django.urls import reverse

from deals.selectors import deal_page, deals_for_page
from deals.services import step_add
from playbooks.models import Play
from upstream.models import Promotion
from upstream.services import promotion_accept, promotion_dismiss, promotion_propose_from_step

HTMX = {"HTTP_HX_REQUEST": "true"}
# session, user with memberships + the tabs' counts + a page of promotions + their steps (prefetch) +
# the stages their conditions name + the playbooks and the stages for the accept forms + the unread
# notifications badge of the top bar.
REVIEW_QUERIES = 9


def text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


# ---- Promote on the deal plan


def test_the_owner_promotes_a_step_and_the_slot_says_it_is_proposed(client, rep, hc_deal, custom_step):
    client.force_login(rep.user)

    response = client.post(
        reverse("step_promote", args=[hc_deal.id, custom_step.id]),
        {"target": "criterion", "note": "Their CISO insisted"},
        **HTMX,
    )

    assert response.status_code == 200
    page = text(response)
    assert f'id="step-promote-{custom_step.id}"' in page
    assert "Proposed for review" in page and "Sent to ops for review." in page
    assert 'data-testid="promote-step"' not in page
    promotion = Promotion.objects.get()
    assert (promotion.target, promotion.evidence["note"]) == ("criterion", "Their CISO insisted")


def test_without_htmx_promote_redirects_to_the_step(client, rep, hc_deal, custom_step):
    client.force_login(rep.user)

    response = client.post(reverse("step_promote", args=[hc_deal.id, custom_step.id]), {"target": "play"})

    assert response.status_code == 302
    assert response["Location"] == reverse("deal_detail", args=[hc_deal.id]) + f"#step-{custom_step.id}"
    assert Promotion.objects.count() == 1


def test_another_rep_is_refused_and_nothing_is_written(client, other_rep, hc_deal, custom_step):
    client.force_login(other_rep.user)

    response = client.post(
        reverse("step_promote", args=[hc_deal.id, custom_step.id]), {"target": "play"}, **HTMX
    )

    assert response.status_code == 403
    assert "only its editors can promote" in text(response)
    assert not Promotion.objects.exists()


def test_a_bad_target_re_renders_the_form_with_its_message(client, rep, hc_deal, custom_step):
    client.force_login(rep.user)

    response = client.post(
        reverse("step_promote", args=[hc_deal.id, custom_step.id]), {"target": "x"}, **HTMX
    )

    assert response.status_code == 422
    assert "Select a valid choice" in text(response)
    assert not Promotion.objects.exists()


def test_promote_takes_only_post(client, rep, hc_deal, custom_step):
    client.force_login(rep.user)

    assert client.get(reverse("step_promote", args=[hc_deal.id, custom_step.id])).status_code == 405


def _plan_slots(membership, deal, django_assert_num_queries, *, can_edit: bool, queries: int) -> str:
    page = deal_page(deal=deals_for_page(org=deal.organization).get(pk=deal.pk))
    context = {"page": page, "deal": page.deal, "membership": membership, "can_edit_fields": can_edit}
    with django_assert_num_queries(queries):
        return "".join(
            render_to_string("upstream/partials/step_promote.html", {**context, "step": step})
            for step in page.steps
        )


def test_the_plan_shows_each_steps_state_in_one_query(
    rep, ops, playbook, hc_deal, custom_step, django_assert_num_queries
):
    accepted, _ = promotion_propose_from_step(step=custom_step, by=rep)
    promotion_accept(promotion=accepted, by=ops, playbook=playbook, title="Security review")
    proposed_step = step_add(deal=hc_deal, by=rep, title="Pilot with two wards")
    promotion_propose_from_step(step=proposed_step, by=rep, target="criterion")
    dismissed_step = step_add(deal=hc_deal, by=rep, title="Lunch with the CFO")
    promotion_dismiss(
        promotion=promotion_propose_from_step(step=dismissed_step, by=rep)[0], by=ops, reason="Too specific"
    )
    step_add(deal=hc_deal, by=rep, title="Send the DPA")

    html = re.sub(r"\s+", " ", _plan_slots(rep, hc_deal, django_assert_num_queries, can_edit=True, queries=1))

    play = Play.objects.get()
    assert f'Became play</span> <a href="/plays/{play.id}/">Security review</a>' in html
    assert 'Proposed for review</span> <span class="text-body-secondary">as an exit criterion' in html
    assert "Not taken upstream: Too specific" in html
    # The dismissed step and the untouched one can be promoted; the others cannot.
    assert html.count('data-testid="promote-step"') == 2


def test_a_reader_sees_the_states_but_no_promote_control(
    rep, other_rep, hc_deal, custom_step, django_assert_num_queries
):
    promotion_propose_from_step(step=custom_step, by=rep)

    html = _plan_slots(other_rep, hc_deal, django_assert_num_queries, can_edit=False, queries=1)

    assert "Proposed for review" in html
    assert 'data-testid="promote-step"' not in html
    assert "/upstream/" not in html  # another rep cannot open someone else's proposal


def test_a_plan_without_custom_steps_costs_no_query(rep, hc_deal, django_assert_num_queries):
    assert _plan_slots(rep, hc_deal, django_assert_num_queries, can_edit=True, queries=0) == ""


# ---- the review page


def test_ops_review_proposed_promotions_with_their_origin_and_forms(
    client, ops, proposed, hc_deal, custom_step
):
    client.force_login(ops.user)

    response = client.get(reverse("upstream_review"))

    page = text(response)
    assert response.status_code == 200
    assert "Security review with IT" in page
    assert f'href="/deals/{hc_deal.id}/#step-{custom_step.id}">Mercy Hospital</a>' in page
    assert "industry is Healthcare and competitors contain any of Globex and stage is Qualify" in page
    assert "“Saved us a month”" in page
    assert 'data-testid="accept-form"' in page and 'data-testid="dismiss-submit"' in page
    assert 'href="/upstream/">Upstream</a>' in page  # the nav link


def test_the_tabs_filter_by_status_and_origin(client, ops, proposed):
    promotion_dismiss(promotion=proposed, by=ops, reason="Covered by the Security play")
    client.force_login(ops.user)

    proposed_tab = text(client.get(reverse("upstream_review")))
    dismissed_tab = text(client.get(reverse("upstream_review") + "?status=dismissed"))
    recurring_tab = text(client.get(reverse("upstream_review") + "?status=dismissed&origin=recurrence"))

    assert 'data-testid="promotions-empty"' in proposed_tab
    assert "Covered by the Security play" in dismissed_tab
    assert 'data-testid="promotions-empty"' in recurring_tab


def test_reps_see_their_own_proposals_read_only(client, rep, other_rep, proposed):
    client.force_login(rep.user)
    own = text(client.get(reverse("upstream_review")))
    client.force_login(other_rep.user)
    others = text(client.get(reverse("upstream_review")))

    assert "Security review with IT" in own and 'data-testid="accept-form"' not in own
    assert 'href="/upstream/">Upstream</a>' not in own  # no nav link for reps
    assert "Security review with IT" not in others
    assert client.get(reverse("promotion_detail", args=[proposed.id])).status_code == 404


def test_recurring_promotions_show_their_evidence(client, ops, org, process, hc_deal, custom_step):
    from upstream.models import PromotionStep

    promotion = Promotion.objects.create(
        organization=org,
        origin="recurrence",
        title="IT security questionnaire",
        process=process,
        signature="abc",
        evidence={
            "deals": 7,
            "steps": 8,
            "titles": ["IT security questionnaire", "security review with IT"],
            "outcomes": {"won": 4, "lost": 1, "open": 2},
            "win_rate": 0.8,
            "win_rate_ci": [0.38, 0.96],
            "baseline": {
                "label": "closed deals of the same process without the step",
                "deals": 40,
                "won": 14,
                "lost": 26,
                "win_rate": 0.35,
                "win_rate_ci": [0.22, 0.5],
            },
            "difference": 0.45,
            "difference_ci": [-0.05, 0.7],
            "p_value": 0.06,
            "small_sample": True,
            "shared_facts": [
                {"field": "industry", "label": "Industry", "value": "Healthcare", "deals": 6, "share": 0.86}
            ],
            "stage": {"id": hc_deal.stage_id, "name": "Qualify", "deals": 6},
        },
    )
    PromotionStep.objects.create(organization=org, promotion=promotion, step=custom_step)
    client.force_login(ops.user)

    page = text(client.get(reverse("upstream_review") + "?origin=recurrence"))

    assert "On <strong>7 deals</strong> (8 steps)" in page and "small sample" in page
    assert '80% <span class="text-body-secondary">38–96%</span>' in page
    assert '35% <span class="text-body-secondary">22–50%</span>' in page
    assert "+45 points" in page and "(−5 to +70)" in page and "p = 0.06" in page
    assert "Industry: Healthcare" in page and "86%" in page
    assert "Added mostly in stage <strong>Qualify</strong>" in page


@pytest.mark.parametrize("n", [2, 12])
def test_the_review_page_query_count_does_not_grow(
    client, ops, rep, hc_deal, playbook, n, django_assert_num_queries
):
    for i in range(n):
        promotion_propose_from_step(step=step_add(deal=hc_deal, by=rep, title=f"Step {i}"), by=rep)
    client.force_login(ops.user)
    client.get(reverse("upstream_review"))

    with django_assert_num_queries(REVIEW_QUERIES):
        response = client.get(reverse("upstream_review"))

    assert response.content.decode().count('data-testid="promotion"') == n


# ---- deciding on the page


def test_ops_accepts_on_the_page_with_an_edited_condition(client, ops, proposed, playbook):
    client.force_login(ops.user)
    prefix = f"p{proposed.id}"

    response = client.post(
        reverse("promotion_accept", args=[proposed.id]),
        {
            f"{prefix}-target": "play",
            f"{prefix}-title": "Security review",
            f"{prefix}-description": "",
            f"{prefix}-playbook": playbook.id,
            f"{prefix}-condition": '{"field": "industry", "op": "eq", "value": "Healthcare"}',
            f"{prefix}-importance": "optional",
        },
        **HTMX,
    )

    assert response.status_code == 200
    page = text(response)
    play = Play.objects.get()
    assert "Accepted: it became the play “Security review”." in page
    assert (
        f'<a href="/plays/{play.id}/">Security review</a> in playbook Enterprise, when industry is Healthcare'
        in page
    )
    assert play.condition == {"field": "industry", "op": "eq", "value": "Healthcare"}


def test_a_bad_condition_comes_back_on_its_field_and_nothing_is_written(client, ops, proposed, playbook):
    client.force_login(ops.user)
    prefix = f"p{proposed.id}"

    response = client.post(
        reverse("promotion_accept", args=[proposed.id]),
        {
            f"{prefix}-target": "play",
            f"{prefix}-title": "Security review",
            f"{prefix}-playbook": playbook.id,
            f"{prefix}-condition": '{"field": "industry", "op": "gtt", "value": "x"}',
        },
        **HTMX,
    )

    assert response.status_code == 422
    assert "op: unknown operator &quot;gtt&quot;" in text(response)
    assert "gtt" in text(response).split('data-testid="accept-condition">')[1][:200]  # the edit is kept
    assert not Play.objects.exists()
    proposed.refresh_from_db()
    assert proposed.status == "proposed"


def test_ops_accepts_an_exit_criterion_on_the_page(client, ops, proposed, stages):
    client.force_login(ops.user)
    prefix = f"p{proposed.id}"

    response = client.post(
        reverse("promotion_accept", args=[proposed.id]),
        {
            f"{prefix}-target": "criterion",
            f"{prefix}-title": "Security review",
            f"{prefix}-stage": stages[2].id,
            f"{prefix}-importance": "critical",
        },
        **HTMX,
    )

    assert response.status_code == 200
    assert "it became the exit criterion “Security review”" in text(response)
    proposed.refresh_from_db()
    assert (proposed.criterion.stage, proposed.criterion.importance) == (stages[2], "critical")


def test_a_rep_pressing_accept_is_refused(client, rep, proposed, playbook):
    client.force_login(rep.user)
    prefix = f"p{proposed.id}"

    response = client.post(
        reverse("promotion_accept", args=[proposed.id]),
        {f"{prefix}-target": "play", f"{prefix}-title": "X", f"{prefix}-playbook": playbook.id},
        **HTMX,
    )

    assert response.status_code == 403
    assert not Play.objects.exists()


def test_ops_dismisses_with_a_reason_on_the_page(client, ops, proposed):
    client.force_login(ops.user)
    url = reverse("promotion_dismiss", args=[proposed.id])

    missing = client.post(url, {f"d{proposed.id}-reason": ""}, **HTMX)
    done = client.post(url, {f"d{proposed.id}-reason": "Too specific to one account"}, **HTMX)

    assert missing.status_code == 422 and "This field is required." in text(missing)
    assert done.status_code == 200 and "Too specific to one account" in text(done)
    proposed.refresh_from_db()
    assert proposed.status == "dismissed"


def test_a_plain_post_redirects_to_the_promotions_page(client, ops, proposed):
    client.force_login(ops.user)

    response = client.post(reverse("promotion_dismiss", args=[proposed.id]), {f"d{proposed.id}-reason": "No"})

    assert response.status_code == 302 and response["Location"] == reverse(
        "promotion_detail", args=[proposed.id]
    )
    assert "Dismissed" in text(client.get(response["Location"]))


def test_a_stage_step_cannot_be_promoted_from_the_page(client, rep, process, stages, account):
    from deals.models import DealStep
    from deals.services import deal_create
    from salesproc.services import criterion_add

    criterion_add(stage=stages[0], by=None, kind="step", label="Book the demo", importance="optional")
    deal = deal_create(by=rep, process=process, name="Gated", account=account)
    stage_step = DealStep.objects.get(deal=deal, source="stage")
    client.force_login(rep.user)

    response = client.post(reverse("step_promote", args=[deal.id, stage_step.id]), {"target": "play"}, **HTMX)

    assert response.status_code == 422
    assert "Only custom steps can be promoted" in text(response)
    assert 'data-testid="promote-step"' not in text(response)
    assert not Promotion.objects.exists()
