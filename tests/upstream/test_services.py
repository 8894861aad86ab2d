"""Proposing a custom step, accepting it as a play or an exit criterion, dismissing it: roles, states,
duplicates, and nothing written on error."""

import pytest

from deals.models import DealStep
from deals.services import deal_create, step_add
from playbooks.models import DealPlay, Play, PlayStep
from playbooks.services import play_create
from salesproc.lib.errors import InvalidInput, NotAllowed
from salesproc.models import ExitCriterion, ProcessVersion
from salesproc.services import criterion_add
from tests.factories import MembershipFactory
from upstream.models import Promotion, PromotionStep
from upstream.services import promotion_accept, promotion_dismiss, promotion_propose_from_step

BAD_CONDITION = {"all": [{"field": "industry", "op": "gtt", "value": "x"}]}


# ---- proposing


def test_owner_proposes_a_custom_step_with_its_deal_facts(custom_step, rep, hc_deal):
    promotion, created = promotion_propose_from_step(step=custom_step, by=rep, target="play", note="Worked")

    assert created
    assert (promotion.origin, promotion.target, promotion.status) == ("step", "play", "proposed")
    assert (promotion.title, promotion.description) == ("Security review with IT", "Their CISO signs off")
    assert promotion.source_step == custom_step
    assert promotion.proposed_by == rep.user
    assert promotion.process_id == hc_deal.process_id
    assert promotion.stage_id == hc_deal.stage_id
    assert promotion.condition == {
        "all": [
            {"field": "industry", "op": "eq", "value": "Healthcare"},
            {"field": "competitors", "op": "in", "value": ["Globex"]},
            {"field": "stage", "op": "eq", "value": hc_deal.stage_id},
        ]
    }
    assert promotion.evidence["deal_facts"]["industry"] == "Healthcare"
    assert promotion.evidence["note"] == "Worked"
    assert list(PromotionStep.objects.filter(promotion=promotion).values_list("step_id", flat=True)) == [
        custom_step.id
    ]


def test_a_second_press_returns_the_open_proposal(custom_step, rep, manager, proposed):
    again, created = promotion_propose_from_step(step=custom_step, by=manager, target="criterion")

    assert not created
    assert again.pk == proposed.pk
    assert Promotion.objects.count() == 1
    assert PromotionStep.objects.count() == 1


def test_the_owners_manager_and_ops_may_propose(hc_deal, rep, manager, ops):
    for by in (manager, ops):
        step = step_add(deal=hc_deal, by=rep, title=f"Step for {by.role}")
        promotion, created = promotion_propose_from_step(step=step, by=by, target="criterion")
        assert created and promotion.target == "criterion" and promotion.stage_id == hc_deal.stage_id


def test_another_rep_cannot_propose(custom_step, other_rep):
    with pytest.raises(NotAllowed):
        promotion_propose_from_step(step=custom_step, by=other_rep)

    assert not Promotion.objects.exists()


def test_another_orgs_member_gets_not_found(custom_step, other_org_world):
    with pytest.raises(InvalidInput) as exc:
        promotion_propose_from_step(step=custom_step, by=other_org_world["member"])

    assert exc.value.errors == {"__all__": ["Not found."]}
    assert not Promotion.objects.exists()


def test_only_custom_steps_can_be_promoted(rep, process, stages, account):
    criterion_add(stage=stages[0], by=None, kind="step", label="Book the demo", importance="optional")
    deal = deal_create(by=rep, process=process, name="Gated", account=account)
    stage_step = DealStep.objects.get(deal=deal, source="stage")

    with pytest.raises(InvalidInput) as exc:
        promotion_propose_from_step(step=stage_step, by=rep)

    assert "step" in exc.value.errors
    assert not Promotion.objects.exists()


def test_an_unknown_target_is_refused(custom_step, rep):
    with pytest.raises(InvalidInput) as exc:
        promotion_propose_from_step(step=custom_step, by=rep, target="tweak")

    assert "target" in exc.value.errors
    assert not Promotion.objects.exists()


# ---- accepting as a play


def test_ops_accepts_a_play_which_attaches_to_matching_open_deals(
    proposed, ops, playbook, rep, process, account, hc_deal, django_capture_on_commit_callbacks
):
    twin = deal_create(
        by=rep,
        process=process,
        name="St. Luke's",
        account=account,
        industry="Healthcare",
        competitors=["Globex"],
    )
    other = deal_create(by=rep, process=process, name="Bank", account=account, industry="Banking")

    with django_capture_on_commit_callbacks(execute=True):
        accepted = promotion_accept(promotion=proposed, by=ops, playbook=playbook, title="Security review")

    play = Play.objects.get()
    assert (play.name, play.playbook, play.active) == ("Security review", playbook, True)
    assert play.condition == proposed.condition
    assert list(PlayStep.objects.filter(play=play).values_list("title", "description")) == [
        ("Security review", "Their CISO signs off")
    ]
    accepted.refresh_from_db()
    assert (accepted.status, accepted.play, accepted.playbook, accepted.decided_by) == (
        "accepted",
        play,
        playbook,
        ops.user,
    )
    assert accepted.decided_at is not None
    assert set(DealPlay.objects.filter(play=play).values_list("deal_id", flat=True)) == {hc_deal.id, twin.id}
    assert DealStep.objects.filter(deal=twin, source="play", title="Security review").exists()
    assert not DealStep.objects.filter(deal=other, source="play").exists()
    # Both ways: the play knows its promotion, the source step knows what it became.
    assert list(play.promotions.all()) == [accepted]
    assert accepted.source_step.promotion_links.get().promotion.play == play


def test_ops_edits_the_condition_when_accepting(proposed, ops, playbook):
    condition = {"field": "industry", "op": "in", "value": ["Healthcare", "Pharma"]}

    accepted = promotion_accept(promotion=proposed, by=ops, playbook=playbook, condition=condition)

    assert accepted.play.condition == condition
    assert accepted.condition == condition


def test_a_bad_condition_is_refused_with_the_languages_messages_and_nothing_written(proposed, ops, playbook):
    with pytest.raises(InvalidInput) as exc:
        promotion_accept(promotion=proposed, by=ops, playbook=playbook, condition=BAD_CONDITION)

    assert exc.value.errors == {"condition": ['all[0].op: unknown operator "gtt"']}
    assert not Play.objects.exists()
    proposed.refresh_from_db()
    assert proposed.status == "proposed" and proposed.play is None


def test_a_play_needs_a_playbook(proposed, ops):
    with pytest.raises(InvalidInput) as exc:
        promotion_accept(promotion=proposed, by=ops)

    assert "playbook" in exc.value.errors
    assert not Play.objects.exists()


def test_a_playbook_of_another_process_is_refused(proposed, ops, org):
    from playbooks.services import playbook_create
    from salesproc.services import process_create

    elsewhere = playbook_create(
        org=org, by=None, name="Renewals", process=process_create(org=org, by=None, name="R")
    )

    with pytest.raises(InvalidInput) as exc:
        promotion_accept(promotion=proposed, by=ops, playbook=elsewhere)

    assert "playbook" in exc.value.errors
    assert not Play.objects.exists()


def test_a_play_name_clash_is_an_error_on_the_title(proposed, ops, playbook):
    play_create(playbook=playbook, by=None, name="Security review with IT", condition=proposed.condition)

    with pytest.raises(InvalidInput) as exc:
        promotion_accept(promotion=proposed, by=ops, playbook=playbook)

    assert exc.value.errors == {
        "title": ['This playbook already has a play named "Security review with IT".']
    }
    assert Play.objects.count() == 1
    proposed.refresh_from_db()
    assert proposed.status == "proposed"


def test_a_rep_cannot_accept(proposed, rep, playbook):
    with pytest.raises(NotAllowed):
        promotion_accept(promotion=proposed, by=rep, playbook=playbook)

    assert not Play.objects.exists()
    proposed.refresh_from_db()
    assert proposed.status == "proposed"


def test_another_orgs_ops_gets_not_found(proposed, other_org, playbook):
    outsider = MembershipFactory(organization=other_org, role="ops")

    with pytest.raises(InvalidInput):
        promotion_accept(promotion=proposed, by=outsider, playbook=playbook)

    assert not Play.objects.exists()


def test_a_decided_promotion_cannot_be_accepted_again(proposed, ops, admin, playbook):
    promotion_accept(promotion=proposed, by=ops, playbook=playbook)

    with pytest.raises(InvalidInput) as exc:
        promotion_accept(promotion=proposed, by=admin, playbook=playbook, title="Another name")

    assert "already accepted by" in exc.value.errors["__all__"][0]
    assert Play.objects.count() == 1


# ---- accepting as an exit criterion


def test_ops_accepts_an_exit_criterion_with_a_new_process_version(proposed, ops, hc_deal, process, stages):
    versions = ProcessVersion.objects.filter(process=process).count()

    accepted = promotion_accept(promotion=proposed, by=ops, target="criterion", importance="mandatory")

    criterion = ExitCriterion.objects.get(label="Security review with IT")
    assert (criterion.stage, criterion.kind, criterion.importance) == (stages[0], "step", "mandatory")
    assert (accepted.status, accepted.target, accepted.criterion) == ("accepted", "criterion", criterion)
    version = ProcessVersion.objects.filter(process=process).order_by("-number").first()
    assert ProcessVersion.objects.filter(process=process).count() == versions + 1
    assert version.note == 'Promoted from deal "Mercy Hospital", step "Security review with IT"'
    assert list(criterion.promotions.all()) == [accepted]
    # The deal in that stage gets the criterion's step.
    assert DealStep.objects.filter(deal=hc_deal, criterion=criterion).exists()


def test_a_criterion_needs_a_stage_of_the_deals_process(custom_step, rep, ops, other_org_world):
    promotion, _ = promotion_propose_from_step(step=custom_step, by=rep, target="criterion")
    foreign_stage = other_org_world["process"].stages.first()

    with pytest.raises(InvalidInput) as exc:
        promotion_accept(promotion=promotion, by=ops, stage=foreign_stage.id)

    assert "stage" in exc.value.errors
    assert not ExitCriterion.objects.filter(label="Security review with IT").exists()


def test_an_unknown_importance_is_refused(proposed, ops):
    with pytest.raises(InvalidInput) as exc:
        promotion_accept(promotion=proposed, by=ops, target="criterion", importance="vital")

    assert "importance" in exc.value.errors
    assert not ExitCriterion.objects.filter(label="Security review with IT").exists()


# ---- dismissing


def test_ops_dismisses_with_a_reason_and_the_step_may_be_proposed_again(proposed, ops, custom_step, rep):
    dismissed = promotion_dismiss(promotion=proposed, by=ops, reason="Covered by the Security play")

    assert (dismissed.status, dismissed.dismiss_reason, dismissed.decided_by) == (
        "dismissed",
        "Covered by the Security play",
        ops.user,
    )
    again, created = promotion_propose_from_step(step=custom_step, by=rep)
    assert created and again.pk != proposed.pk


def test_a_dismissal_needs_a_reason(proposed, ops):
    with pytest.raises(InvalidInput) as exc:
        promotion_dismiss(promotion=proposed, by=ops, reason="  ")

    assert "reason" in exc.value.errors
    proposed.refresh_from_db()
    assert proposed.status == "proposed"


def test_a_rep_cannot_dismiss(proposed, rep):
    with pytest.raises(NotAllowed):
        promotion_dismiss(promotion=proposed, by=rep, reason="No")

    proposed.refresh_from_db()
    assert proposed.status == "proposed"


def test_a_dismissed_promotion_cannot_be_accepted(proposed, ops, playbook):
    promotion_dismiss(promotion=proposed, by=ops, reason="No")

    with pytest.raises(InvalidInput) as exc:
        promotion_accept(promotion=proposed, by=ops, playbook=playbook)

    assert "already dismissed" in exc.value.errors["__all__"][0]
    assert not Play.objects.exists()
