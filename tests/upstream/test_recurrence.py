"""The recurring-steps job: text grouping (no database), the run that writes recurrence promotions,
its evidence on a small set computed by hand, the command, the tasks and the query count."""

import io
import json
import threading
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from deals.models import DealStep
from deals.services import deal_create, deal_lose, deal_move, deal_win, step_add
from tests.factories import AccountFactory
from upstream.models import Promotion, PromotionStatus, PromotionStep, PromotionTarget
from upstream.recurrence import (
    MIN_DEALS,
    StepText,
    average_linkage,
    dot,
    find_groups,
    normalize,
    normalize_tokens,
    similar_pairs,
    similarity,
    vectorize,
)
from upstream.recurrence_run import LOCK_NAMESPACE, Action, recurring_steps_refresh
from upstream.tasks import find_recurring_steps_all, find_recurring_steps_org

IT_SECURITY = ["security review with IT", "IT security questionnaire", "Security questionnaire for IT team"]


# Normalising ------------------------------------------------------------------------------------------


def test_normalize_folds_accents_punctuation_stop_words_and_suffixes():
    assert normalize("Sécurité: review the IT-questionnaires!") == "securit review it questionnair"
    assert normalize("Scheduling the demos") == normalize("schedule a demo") == "schedul demo"
    assert normalize("Send pricing proposal") == normalize("send the price proposal")


def test_normalize_keeps_short_sales_words():
    assert normalize_tokens("Run a POC, then the ROI with IT and the MSA") == (
        "run",
        "poc",
        "roi",
        "it",
        "msa",
    )


def test_similarity_is_high_for_rewordings_and_low_for_other_steps():
    assert similarity("NDA signed", "Sign the NDA") == pytest.approx(1.0)
    assert similarity("security review", "legal review of MSA") < 0.45
    assert similarity("send pricing proposal", "send case study") < 0.45


# Grouping ---------------------------------------------------------------------------------------------


def _steps(titles_by_deal: list[list[str]]) -> list[StepText]:
    out, next_id = [], 1
    for deal_id, titles in enumerate(titles_by_deal, start=1):
        for title in titles:
            out.append(StepText(id=next_id, deal_id=deal_id, title=title))
            next_id += 1
    return out


def _groups_as_titles(steps: list[StepText], **kwargs) -> list[set[str]]:
    by_id = {s.id: s.title for s in steps}
    return [{by_id[i] for i in g.step_ids} for g in find_groups(steps, **kwargs)]


# A hand-built plan history: three themes written in different words on different deals, and steps
# that share a word or two with them without being the same step.
THEMES = {
    "it security": IT_SECURITY + ["Complete the IT security questionnaire"],
    "msa": ["Legal review of the MSA", "MSA redlines with legal", "Review MSA with legal"],
    "pricing": ["Send pricing proposal", "Send the price proposal", "Pricing proposal to the CFO"],
}
NEAR_MISSES = [
    "Schedule demo with the IT team",  # shares "IT team" with the security questionnaire
    "Security badge for the onsite visit",  # shares "security"
    "Send case study",  # shares "send"
    "Review the support SLA",  # shares "review"
    "Intro call with procurement",
    "Legal entity name for the invoice",  # shares "legal"
]


def _hand_built() -> list[StepText]:
    deals = [[titles[i % len(titles)] for titles in THEMES.values()] for i in range(4)]
    deals += [[title] for title in NEAR_MISSES]
    return _steps(deals)


def test_groups_rewordings_of_the_same_step_and_leaves_near_misses_apart():
    groups = _groups_as_titles(_hand_built())
    assert sorted(groups, key=sorted) == sorted(
        [set(THEMES["it security"]), set(THEMES["msa"]), set(THEMES["pricing"])], key=sorted
    )


def test_a_group_needs_min_deals_distinct_deals():
    assert MIN_DEALS == 3
    # Four steps, but on two deals: a habit of two reps' deals, not a pattern.
    two_deals = _steps([IT_SECURITY[:2], IT_SECURITY[1:]])
    assert find_groups(two_deals) == []
    three_deals = _steps([IT_SECURITY[:1], IT_SECURITY[1:2], IT_SECURITY[2:]])
    (group,) = find_groups(three_deals)
    assert group.deal_ids == [1, 2, 3]
    assert group.title == "IT security questionnaire"  # each written once: alphabetical
    assert set(group.key_terms()) == {"it", "security", "questionnair"}


def test_identical_normalized_texts_are_one_text():
    steps = _steps([["Sign the NDA"], ["NDA signed!"], ["sign NDA"]])
    (group,) = find_groups(steps)
    assert group.texts == ["nda sign", "sign nda"]
    assert group.titles == [("NDA signed!", 1), ("sign NDA", 1), ("Sign the NDA", 1)]


def test_average_linkage_does_not_chain_through_a_middle_item():
    # A~B and B~C are close, A and C unrelated: single linkage would make one group of three.
    pairs = {(0, 1): 0.9, (1, 2): 0.9}
    assert average_linkage(3, pairs, threshold=0.5) == [[0, 1], [2]]
    # With A~C close too, the three belong together.
    pairs[(0, 2)] = 0.6
    assert average_linkage(3, pairs, threshold=0.5) == [[0, 1, 2]]


def test_similar_pairs_finds_exactly_the_pairs_above_the_floor():
    texts = [normalize_tokens(t) for t in [*NEAR_MISSES, *sum(THEMES.values(), [])]]
    vectors = vectorize(texts)
    brute = {
        (i, j): dot(vectors[i], vectors[j])
        for i in range(len(vectors))
        for j in range(i + 1, len(vectors))
        if dot(vectors[i], vectors[j]) >= 0.3
    }
    found = similar_pairs(vectors, 0.3)
    assert found.keys() == brute.keys()
    assert all(found[k] == pytest.approx(min(brute[k], 1.0)) for k in brute)


def test_signature_does_not_depend_on_step_order():
    steps = _steps([[t] for t in IT_SECURITY])
    assert find_groups(steps)[0].signature() == find_groups(list(reversed(steps)))[0].signature()


# The run ----------------------------------------------------------------------------------------------


@pytest.fixture
def make_deal(rep, process):
    """make_deal(industry, competitors=(), status="open", stage=None, steps=()): a deal of `rep` with
    custom steps, moved to `stage` before the steps are written and closed after."""

    def make(industry="Healthcare", competitors=(), status="open", stage=None, steps=(), name="Deal"):
        account = AccountFactory(organization=rep.organization, industry=industry)
        deal = deal_create(
            by=rep,
            process=process,
            name=name,
            account=account,
            amount="1000",
            industry=industry,
            competitors=list(competitors),
        )
        if stage is not None:
            deal = deal_move(deal=deal, to_stage=stage, by=rep, expected_version=deal.version)
        for title in steps:
            step_add(deal=deal, by=rep, title=title)
        deal.refresh_from_db()
        if status == "won":
            deal_win(deal=deal, by=rep, expected_version=deal.version)
        elif status == "lost":
            deal_lose(deal=deal, by=rep, expected_version=deal.version, reason="Budget")
        return deal

    return make


@pytest.fixture
def it_group(make_deal, stages):
    """The hand-computed set: five Healthcare deals with the IT security step (four against Globex,
    one written in the second stage): 2 won, 1 lost, 2 open. Beside them, closed deals without it: four
    Healthcare (1 won, 3 lost), three Manufacturing (all won), and an open Healthcare one."""
    deals = [
        make_deal(competitors=["Globex"], status="won", steps=[IT_SECURITY[0], "Kickoff call with Bob"]),
        make_deal(competitors=["Globex"], status="won", steps=[IT_SECURITY[1]]),
        make_deal(competitors=["Globex"], status="lost", steps=[IT_SECURITY[2]]),
        make_deal(competitors=["Globex"], steps=[IT_SECURITY[0], IT_SECURITY[1]]),
        make_deal(stage=stages[1], steps=[IT_SECURITY[0]]),
    ]
    for status in ("won", "lost", "lost", "lost"):
        make_deal(status=status)
    for _ in range(3):
        make_deal(industry="Manufacturing", status="won")
    make_deal()
    return deals


def test_run_proposes_a_recurrence_promotion_linked_to_the_group(org, it_group):
    result = recurring_steps_refresh(organization=org)
    assert (result.created, result.updated, result.removed) == (1, 0, 0)
    promotion = Promotion.objects.get()
    assert promotion.organization_id == org.id
    assert (promotion.origin, promotion.status, promotion.target) == ("recurrence", "proposed", "play")
    assert promotion.title == "security review with IT"
    assert promotion.process_id == it_group[0].process_id
    assert len(promotion.signature) == 64
    step_ids = set(DealStep.objects.filter(title__in=IT_SECURITY).values_list("id", flat=True))
    assert set(promotion.step_links.values_list("step_id", flat=True)) == step_ids
    assert "also as “IT security questionnaire”" in promotion.description


def test_evidence_on_the_hand_computed_set(org, it_group, stages):
    recurring_steps_refresh(organization=org)
    e = Promotion.objects.get().evidence
    assert (e["deals"], e["steps"]) == (5, 6)
    assert e["titles"] == [
        "security review with IT",
        "IT security questionnaire",
        "Security questionnaire for IT team",
    ]
    assert e["outcomes"] == {"won": 2, "lost": 1, "open": 2}
    assert e["win_rate"] == 0.6667  # 2 / 3
    assert e["win_rate_ci"] == [0.2077, 0.9385]  # Wilson, 2 of 3
    # Every deal of the group is Healthcare: the baseline is the closed Healthcare deals without the
    # step (1 won, 3 lost), not the Manufacturing ones.
    assert e["baseline"] == {
        "label": "closed deals of the same process without the step, industry Healthcare",
        "deals": 4,
        "won": 1,
        "lost": 3,
        "win_rate": 0.25,
        "win_rate_ci": [0.0456, 0.6994],  # Wilson, 1 of 4
    }
    assert e["difference"] == 0.4167  # 2/3 − 1/4
    assert e["difference_ci"] == [-0.2257, 0.7568]  # Newcombe, from the two Wilson intervals
    assert e["p_value"] == 0.2703  # pooled z = 1.10
    assert e["small_sample"] is True
    facts = {(f["field"], f["value"]): f for f in e["shared_facts"]}
    assert set(facts) == {("industry", "Healthcare"), ("competitors", "Globex")}
    # Among the 7 closed deals without the step, 4 are Healthcare and none faces Globex.
    assert facts[("industry", "Healthcare")] | {} == {
        "field": "industry",
        "label": "Industry",
        "value": "Healthcare",
        "display": "Healthcare",
        "deals": 5,
        "share": 1.0,
        "baseline_share": 0.5714,
        "distinctive": True,
    }
    assert (facts[("competitors", "Globex")]["deals"], facts[("competitors", "Globex")]["share"]) == (4, 0.8)
    # Four deals wrote the step in the first stage, one in the second.
    assert e["stage"] == {"id": stages[0].id, "name": stages[0].name, "deals": 4, "share": 0.8}
    promotion = Promotion.objects.get()
    assert promotion.stage_id == stages[0].id
    assert promotion.condition == {
        "all": [
            {"field": "industry", "op": "eq", "value": "Healthcare"},
            {"field": "competitors", "op": "in", "value": ["Globex"]},
            {"field": "stage", "op": "eq", "value": stages[0].id},
        ]
    }


def test_a_step_every_deal_writes_in_one_stage_becomes_a_criterion(org, make_deal, stages):
    for status in ("won", "lost", "open"):
        make_deal(industry="Retail", status=status, steps=["Sign the NDA"])
    for status in ("won", "lost", "won"):
        make_deal(industry="Retail", status=status)
    recurring_steps_refresh(organization=org)
    promotion = Promotion.objects.get()
    # Retail is every deal's industry, with or without the step: nothing distinctive.
    assert promotion.evidence["shared_facts"][0]["distinctive"] is False
    assert (promotion.target, promotion.stage_id) == (PromotionTarget.CRITERION, stages[0].id)


def test_a_second_run_refreshes_the_same_promotion(org, it_group):
    recurring_steps_refresh(organization=org)
    before = Promotion.objects.get()
    links = set(PromotionStep.objects.values_list("id", "step_id"))
    result = recurring_steps_refresh(organization=org, now=timezone.now() + timedelta(hours=1))
    assert (result.created, result.updated, result.removed) == (0, 1, 0)
    after = Promotion.objects.get()
    assert (after.id, after.signature, after.created_at) == (before.id, before.signature, before.created_at)
    assert after.updated_at > before.updated_at
    assert set(PromotionStep.objects.values_list("id", "step_id")) == links


def test_signature_and_promotion_stay_when_a_new_matching_step_joins(org, it_group, make_deal):
    recurring_steps_refresh(organization=org)
    before = Promotion.objects.get()
    # A new wording whose words would shift the group's top terms ("review" catches up).
    new = make_deal(steps=["IT security review", "Security review for IT"])
    result = recurring_steps_refresh(organization=org)
    assert (result.created, result.updated) == (0, 1)
    after = Promotion.objects.get()
    assert (after.id, after.signature) == (before.id, before.signature)
    assert after.evidence["deals"] == 6
    assert set(DealStep.objects.filter(deal=new).values_list("id", flat=True)) <= set(
        after.step_links.values_list("step_id", flat=True)
    )


def test_steps_of_an_accepted_promotion_are_left_out_and_its_signature_not_proposed_again(
    org, it_group, make_deal
):
    recurring_steps_refresh(organization=org)
    promotion = Promotion.objects.get()
    Promotion.objects.filter(pk=promotion.pk).update(
        status=PromotionStatus.ACCEPTED, decided_at=timezone.now()
    )
    result = recurring_steps_refresh(organization=org)
    assert result.groups == [] and result.steps == 1  # only the unrelated kickoff call is read
    # Three more deals write it: the group is back, with the accepted signature: not proposed again.
    for _ in range(3):
        make_deal(steps=IT_SECURITY)
    result = recurring_steps_refresh(organization=org)
    assert [g.action for g in result.groups] == [Action.SKIP_ACCEPTED]
    assert result.groups[0].decided_promotion_id == promotion.id
    assert Promotion.objects.count() == 1


def test_a_dismissed_group_stays_quiet_for_90_days(org, it_group):
    recurring_steps_refresh(organization=org)
    promotion = Promotion.objects.get()
    Promotion.objects.filter(pk=promotion.pk).update(
        status=PromotionStatus.DISMISSED, decided_at=timezone.now() - timedelta(days=89), dismiss_reason="No"
    )
    result = recurring_steps_refresh(organization=org)
    assert [g.action for g in result.groups] == [Action.SKIP_DISMISSED]
    assert Promotion.objects.filter(status=PromotionStatus.PROPOSED).count() == 0
    Promotion.objects.filter(pk=promotion.pk).update(decided_at=timezone.now() - timedelta(days=91))
    result = recurring_steps_refresh(organization=org)
    assert [g.action for g in result.groups] == [Action.CREATE]
    fresh = Promotion.objects.get(status=PromotionStatus.PROPOSED)
    assert fresh.signature == promotion.signature and fresh.id != promotion.id


def test_new_groups_wait_beyond_the_open_proposals_limit(org, it_group, make_deal, monkeypatch):
    monkeypatch.setattr("upstream.recurrence_run.MAX_OPEN_PROPOSALS", 1)
    for _ in range(3):
        make_deal(steps=["Sign the NDA"])
    result = recurring_steps_refresh(organization=org)
    # The larger group (five deals) first; the NDA (three) waits.
    assert [(g.group.title, g.action) for g in result.groups] == [
        ("security review with IT", Action.CREATE),
        ("Sign the NDA", Action.SKIP_LIMIT),
    ]
    Promotion.objects.update(status=PromotionStatus.DISMISSED, decided_at=timezone.now(), dismiss_reason="No")
    result = recurring_steps_refresh(organization=org)
    assert [g.action for g in result.groups] == [Action.SKIP_DISMISSED, Action.CREATE]
    assert Promotion.objects.get(status=PromotionStatus.PROPOSED).title == "Sign the NDA"


def test_a_proposal_whose_group_fell_apart_is_removed(org, it_group):
    recurring_steps_refresh(organization=org)
    # Three of the five deals lose their step: two deals are no longer a group.
    DealStep.objects.filter(deal__in=it_group[:3], title__in=IT_SECURITY).delete()
    result = recurring_steps_refresh(organization=org)
    assert (result.created, result.updated, result.removed) == (0, 0, 1)
    assert not Promotion.objects.exists() and not PromotionStep.objects.exists()


def test_a_decided_promotion_is_never_removed(org, it_group):
    recurring_steps_refresh(organization=org)
    Promotion.objects.update(status=PromotionStatus.DISMISSED, decided_at=timezone.now(), dismiss_reason="No")
    DealStep.objects.filter(title__in=IT_SECURITY).delete()
    recurring_steps_refresh(organization=org)
    assert Promotion.objects.get().status == PromotionStatus.DISMISSED


def test_old_steps_and_other_sources_are_not_read(org, it_group):
    DealStep.objects.filter(title__in=IT_SECURITY).update(created_at=timezone.now() - timedelta(days=400))
    assert recurring_steps_refresh(organization=org).groups == []
    DealStep.objects.filter(title__in=IT_SECURITY).update(created_at=timezone.now(), source="play")
    assert recurring_steps_refresh(organization=org).groups == []


def test_another_organizations_steps_do_not_count(org, other_org_world, it_group):
    member, process = other_org_world["member"], other_org_world["process"]
    for n in range(3):
        account = AccountFactory(organization=member.organization)
        d = deal_create(by=member, process=process, name=f"Other {n}", account=account, amount="1")
        step_add(deal=d, by=member, title=IT_SECURITY[0])
    recurring_steps_refresh(organization=org)
    promotion = Promotion.objects.get()
    assert promotion.evidence["deals"] == 5
    assert not PromotionStep.objects.filter(step__deal__organization=member.organization).exists()


def test_dry_run_writes_nothing(org, it_group):
    result = recurring_steps_refresh(organization=org, dry_run=True)
    assert [g.action for g in result.groups] == [Action.CREATE] and result.created == 1
    assert not Promotion.objects.exists()


def test_one_run_reads_and_writes_a_fixed_number_of_queries(org, it_group, make_deal):
    with CaptureQueriesContext(connection) as first:
        recurring_steps_refresh(organization=org)
    # Twice the steps and deals, a second group: the same number of queries.
    for n in range(5):
        make_deal(status="won", steps=[IT_SECURITY[n % 3], "Send the MSA to legal"])
    Promotion.objects.all().delete()
    with CaptureQueriesContext(connection) as second:
        recurring_steps_refresh(organization=org)
    assert Promotion.objects.count() == 2
    assert len(second) == len(first)
    # Reads: steps, promotions, deals, tags, roles, stage entries, 3 population aggregates, stages;
    # writes: savepoint, insert promotions, insert links, release (+ the advisory lock and its release
    # on PostgreSQL).
    assert len(first) == (16 if connection.vendor == "postgresql" else 14)
    # A refresh that links new steps also reads the proposals' links and the proposals to update: one
    # new step or six, the same count.
    make_deal(status="lost", steps=[IT_SECURITY[0]])
    with CaptureQueriesContext(connection) as one_more:
        recurring_steps_refresh(organization=org)
    for n in range(3):
        make_deal(status="lost", steps=[IT_SECURITY[n], "Send the MSA to legal"])
    with CaptureQueriesContext(connection) as six_more:
        recurring_steps_refresh(organization=org)
    assert len(one_more) == len(six_more)


# The command and the tasks ----------------------------------------------------------------------------


def test_command_prints_the_groups_as_json(org, it_group):
    out = io.StringIO()
    call_command("find_recurring_steps", "--org", org.slug, "--format", "json", stdout=out)
    data = json.loads(out.getvalue())
    assert (data["organization"], data["dry_run"], data["created"]) == (org.slug, False, 1)
    (group,) = data["groups"]
    assert group["action"] == "create" and group["promotion_id"] == Promotion.objects.get().id
    assert group["title"] == "security review with IT"
    assert group["evidence"]["outcomes"] == {"won": 2, "lost": 1, "open": 2}
    assert group["target"] == "play"


def test_command_dry_run_table(org, it_group):
    out = io.StringIO()
    call_command("find_recurring_steps", "--org", org.slug, "--dry-run", stdout=out)
    text = out.getvalue()
    assert "1 proposals would be created" in text
    assert "security review with IT" in text and "67%" in text
    assert not Promotion.objects.exists()


def test_command_unknown_org(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="No organization"):
        call_command("find_recurring_steps", "--org", "nope")


def test_org_task_runs_the_job(org, it_group):
    assert find_recurring_steps_org(org.id) == {
        "skipped": False,
        "steps": 7,
        "groups": 1,
        "created": 1,
        "updated": 0,
        "removed": 0,
    }
    assert find_recurring_steps_org(org.id)["updated"] == 1
    assert find_recurring_steps_org(999_999) == {}


def test_nightly_task_fans_out_one_run_per_org(org, other_org, it_group, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert find_recurring_steps_all() == 2
    assert len(callbacks) == 2
    assert Promotion.objects.filter(organization=org).count() == 1


def test_beat_runs_the_nightly_task_daily(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["upstream-recurrence"]
    assert entry == {"task": "upstream.tasks.find_recurring_steps_all", "schedule": 60 * 60 * 24}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_run_skips_while_another_run_of_the_org_holds_the_lock(org, it_group):
    held, release = threading.Event(), threading.Event()

    def other_run():
        # Another session (its own connection), as a second worker would be.
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s, %s)", [LOCK_NAMESPACE, org.id])
            held.set()
            release.wait(10)
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [LOCK_NAMESPACE, org.id])
        connections["default"].close()

    thread = threading.Thread(target=other_run)
    thread.start()
    try:
        assert held.wait(10)
        assert recurring_steps_refresh(organization=org).skipped is True
        assert not Promotion.objects.exists()
    finally:
        release.set()
        thread.join()
    assert recurring_steps_refresh(organization=org).created == 1
