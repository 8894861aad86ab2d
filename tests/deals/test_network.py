"""The stakeholder network: the gap rules on one deal and as set-based filters (they must agree), the
decision-team map, the API and the deal page."""

import random
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from deals.models import Activity, Deal, DealStakeholder, StageChange
from deals.network import (
    GAP_CODES,
    deal_gap_annotations,
    deal_gap_codes,
    deal_gap_codes_from,
    deal_gap_condition,
    deal_gaps,
    deal_gaps_condition,
    deals_with_gap,
    decision_map_svg,
    parse_gap_codes,
)
from deals.services import activity_log, deal_create, deal_move, stakeholder_add
from tests.factories import ContactFactory


def add(deal, rep, *, name=None, role="user", influence=3, attitude="neutral"):
    contact = ContactFactory(
        organization=deal.organization, account=deal.account, **({"name": name} if name else {})
    )
    return stakeholder_add(
        deal=deal, by=rep, contact=contact, role=role, influence=influence, attitude=attitude
    )


def codes(deal):
    deal = Deal.objects.select_related("stage").get(pk=deal.pk)
    stakeholders = DealStakeholder.objects.filter(deal=deal).select_related("contact")
    return {g["code"] for g in deal_gaps(deal, stakeholders)}


def move(deal, stage, rep, at=None):
    deal.refresh_from_db()
    return deal_move(deal=deal, to_stage=stage, by=rep, expected_version=deal.version, at=at)


# ---- each rule, one deal at a time


def test_no_economic_buyer_and_no_champion_on_a_deal_without_them(deal, rep):
    add(deal, rep, role="user")
    assert {"no_economic_buyer", "no_champion"} <= codes(deal)


def test_economic_buyer_and_champion_close_their_gaps(deal, rep):
    add(deal, rep, role="economic_buyer")
    add(deal, rep, role="champion")
    assert not {"no_economic_buyer", "no_champion"} & codes(deal)


def test_single_threaded_when_one_stakeholder_was_engaged_lately(deal, rep):
    one = add(deal, rep)
    other = add(deal, rep)
    activity_log(deal=deal, by=rep, kind="call", subject="Call", stakeholder=one)
    activity_log(deal=deal, by=rep, kind="call", subject="Again", stakeholder=one)
    # Long ago, and with nobody named: neither counts.
    activity_log(
        deal=deal,
        by=rep,
        kind="call",
        subject="Old",
        stakeholder=other,
        occurred_at=timezone.now() - timedelta(days=45),
    )
    activity_log(deal=deal, by=rep, kind="note", subject="Internal")
    assert "single_threaded" in codes(deal)


def test_not_single_threaded_with_two_engaged_or_none(deal, rep):
    one = add(deal, rep)
    other = add(deal, rep)
    assert "single_threaded" not in codes(deal)  # nobody engaged: idle, which the stall rules report
    activity_log(deal=deal, by=rep, kind="call", subject="Call", stakeholder=one)
    activity_log(deal=deal, by=rep, kind="meeting", subject="Meet", stakeholder=other)
    assert "single_threaded" not in codes(deal)


def test_single_threaded_from_the_page_activities_matches_the_query(deal, rep):
    one = add(deal, rep)
    activity_log(deal=deal, by=rep, kind="call", subject="Call", stakeholder=one)
    deal = Deal.objects.select_related("stage").get(pk=deal.pk)
    stakeholders = list(DealStakeholder.objects.filter(deal=deal))
    loaded = list(Activity.objects.filter(deal=deal).order_by("-occurred_at", "-id"))
    from_page = deal_gaps(deal, stakeholders, recent_activities=loaded, loaded_limit=50)
    assert [g["code"] for g in from_page] == [g["code"] for g in deal_gaps(deal, stakeholders)]
    assert "single_threaded" in {g["code"] for g in from_page}


def test_opponent_with_high_influence_is_a_gap_and_a_weak_one_is_not(deal, rep):
    add(deal, rep, attitude="opponent", influence=3)
    add(deal, rep, attitude="skeptic", influence=5)
    assert "opponent_high_influence" not in codes(deal)
    add(deal, rep, attitude="opponent", influence=4)
    assert "opponent_high_influence" in codes(deal)


def test_procurement_added_in_the_decision_phase_is_a_gap(deal, rep, stages):
    move(deal, stages[2], rep)  # Propose: decision phase
    add(deal, rep, role="procurement")
    assert "procurement_in_decision" in codes(deal)
    move(deal, stages[3], rep)  # still decision: joined during the phase
    assert "procurement_in_decision" in codes(deal)


def test_procurement_added_before_the_decision_phase_is_not_a_gap(deal, rep, stages):
    add(deal, rep, role="procurement")
    assert "procurement_in_decision" not in codes(deal)  # change phase now
    later = timezone.now() + timedelta(seconds=5)
    move(deal, stages[2], rep, at=later)
    assert "procurement_in_decision" not in codes(deal)


def test_procurement_added_in_decision_then_back_in_change_is_not_a_gap(deal, rep, stages):
    move(deal, stages[2], rep)
    add(deal, rep, role="procurement")
    move(deal, stages[1], rep, at=timezone.now() + timedelta(seconds=5))
    assert "procurement_in_decision" not in codes(deal)


def test_gaps_carry_a_message_and_what_to_do(deal, rep):
    gaps = deal_gaps(Deal.objects.select_related("stage").get(pk=deal.pk), [])
    assert [g["code"] for g in gaps] == ["no_economic_buyer", "no_champion"]
    assert all(g["message"] and g["action"] for g in gaps)


def test_an_unknown_gap_code_is_refused(deal):
    with pytest.raises(ValueError, match="no_such_gap"):
        deals_with_gap(Deal.objects.all(), "no_such_gap")


# ---- the set-based filters agree with the per-deal rules


def _varied_deals(org, rep, process, stages, account, seed):
    rng = random.Random(seed)
    now = timezone.now()
    deals = []
    for i in range(24):
        start = now - timedelta(days=rng.randint(5, 90))
        deal = deal_create(by=rep, process=process, name=f"Deal {i}", account=account, at=start)
        # A path through the stages, at increasing times in the past.
        at = start
        for stage in rng.sample(stages[1:], rng.randint(0, 3)):
            at += timedelta(hours=rng.randint(1, 48))
            if at >= now:
                break
            move(deal, stage, rep, at=at)
        people = []
        for _ in range(rng.randint(0, 4)):
            s = add(
                deal,
                rep,
                role=rng.choice(
                    ["economic_buyer", "champion", "user", "procurement", "influencer", "blocker"]
                ),
                influence=rng.randint(1, 5),
                attitude=rng.choice(["opponent", "skeptic", "neutral", "supporter", "advocate"]),
            )
            created = start + timedelta(hours=rng.randint(0, 24 * 10))
            DealStakeholder.objects.filter(pk=s.pk).update(created_at=min(created, now))
            people.append(s)
        for _ in range(rng.randint(0, 4)):
            activity_log(
                deal=deal,
                by=rep,
                kind="call",
                subject="Call",
                stakeholder=rng.choice(people + [None]) if people else None,
                occurred_at=now - timedelta(days=rng.randint(0, 60)),
            )
        deals.append(deal)
    return deals


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_set_based_gaps_agree_with_per_deal_gaps(org, rep, process, stages, account, other_org_world, seed):
    deals = _varied_deals(org, rep, process, stages, account, seed)
    since = timezone.now() - timedelta(days=30)
    per_deal = {}
    for deal in Deal.objects.for_org(org).select_related("stage"):
        stakeholders = DealStakeholder.objects.filter(deal=deal)
        per_deal[deal.id] = {g["code"] for g in deal_gaps(deal, stakeholders, activities_since=since)}
    assert set(per_deal) == {d.id for d in deals}
    seen = set()
    for code in GAP_CODES:
        expected = {deal_id for deal_id, found in per_deal.items() if code in found}
        got = set(
            deals_with_gap(Deal.objects.for_org(org), code, activities_since=since).values_list(
                "id", flat=True
            )
        )
        assert got == expected, code
        seen |= {code} if expected else set()
    # The data is varied enough to exercise most rules both ways.
    assert len(seen) >= 4


def test_set_based_gap_is_one_query(django_assert_num_queries, org, rep, process, stages, account):
    _varied_deals(org, rep, process, stages, account, seed=4)
    for code in GAP_CODES:
        with django_assert_num_queries(1):
            list(deals_with_gap(Deal.objects.for_org(org), code))


@pytest.mark.parametrize("seed", [5, 6])
def test_gap_columns_negations_and_any_of_agree_with_per_deal_gaps(org, rep, process, stages, account, seed):
    _varied_deals(org, rep, process, stages, account, seed)
    now = timezone.now()
    per_deal = {
        deal.id: set(deal_gap_codes(deal, DealStakeholder.objects.filter(deal=deal), now=now))
        for deal in Deal.objects.for_org(org).select_related("stage")
    }
    columns = Deal.objects.for_org(org).annotate(**deal_gap_annotations(now=now))
    for deal_id, bits in columns.values_list("id", "gap_bits"):
        assert set(deal_gap_codes_from(bits)) == per_deal[deal_id]
    for code in GAP_CODES:
        without = set(
            Deal.objects.for_org(org).exclude(deal_gap_condition(code, now=now)).values_list("id", flat=True)
        )
        assert without == {d for d, found in per_deal.items() if code not in found}, code
    # The filters, deal by deal: one gap, several (any of them), and inside a subquery (other aliases).
    deals = Deal.objects.for_org(org)
    for codes in [(c,) for c in GAP_CODES] + [("single_threaded", "opponent_high_influence"), GAP_CODES]:
        expected = {d for d, found in per_deal.items() if found & set(codes)}
        got = set(deals.filter(deal_gaps_condition(codes, now=now)).values_list("id", flat=True))
        assert got == expected, codes
        inner = Deal.objects.filter(deal_gaps_condition(codes, now=now)).values("id")
        assert set(deals.filter(pk__in=inner).values_list("id", flat=True)) == expected, codes
        without = set(deals.exclude(deal_gaps_condition(codes, now=now)).values_list("id", flat=True))
        assert without == set(per_deal) - expected, codes


def test_deal_gaps_reads_the_activities_of_the_30_days_before_now(deal, rep):
    one = add(deal, rep)
    talked = timezone.now() - timedelta(days=10)
    activity_log(deal=deal, by=rep, kind="call", subject="Call", stakeholder=one, occurred_at=talked)
    deal = Deal.objects.select_related("stage").get(pk=deal.pk)
    stakeholders = list(DealStakeholder.objects.filter(deal=deal))

    def single(now):
        return "single_threaded" in {g["code"] for g in deal_gaps(deal, stakeholders, now=now)}

    assert single(talked + timedelta(days=30))
    assert not single(talked + timedelta(days=30, microseconds=1))


def test_asking_for_some_gaps_works_out_only_those(deal, rep, django_assert_num_queries):
    add(deal, rep, role="procurement")
    deal = Deal.objects.select_related("stage").get(pk=deal.pk)
    stakeholders = list(DealStakeholder.objects.filter(deal=deal))
    with django_assert_num_queries(0):
        assert deal_gap_codes(deal, stakeholders, codes=["no_champion", "opponent_high_influence"]) == [
            "no_champion"
        ]
    with django_assert_num_queries(1):  # the engaged stakeholders
        assert deal_gap_codes(deal, stakeholders, codes=["single_threaded"]) == []


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ([], ()),
        ([""], ()),
        (["no_champion"], ("no_champion",)),
        (["single_threaded,no_economic_buyer"], ("no_economic_buyer", "single_threaded")),
        (["no_champion", " no_champion , single_threaded"], ("no_champion", "single_threaded")),
        (["any"], GAP_CODES),
        (["no_champion", "any"], GAP_CODES),
    ],
)
def test_gap_filters_read_codes_comma_lists_and_any(raw, expected):
    assert parse_gap_codes(raw) == expected


def test_an_unknown_gap_in_a_filter_names_it_and_the_valid_codes():
    with pytest.raises(ValueError) as exc:
        parse_gap_codes(["no_champion,no_budget", "Champion"])
    assert str(exc.value) == (
        'Unknown stakeholder gap "no_budget", "Champion": use one of no_economic_buyer, no_champion, '
        "single_threaded, opponent_high_influence, procurement_in_decision, or any for any of them."
    )


# ---- the decision-team map


def test_map_escapes_names_and_places_points(deal, rep):
    evil = add(
        deal, rep, name='<script>alert("x")</script>', role="champion", influence=5, attitude="advocate"
    )
    low = add(deal, rep, name="Low & Opposed", role="blocker", influence=1, attitude="opponent")
    svg = str(decision_map_svg(DealStakeholder.objects.filter(deal=deal).select_related("contact")))
    assert "<script>" not in svg
    assert "&lt;script&gt;" in svg
    assert "Low &amp; Opposed" in svg
    assert f'data-stakeholder="{evil.id}" data-influence="5" data-attitude="advocate"' in svg
    assert f'data-stakeholder="{low.id}" data-influence="1" data-attitude="opponent"' in svg

    def centre(s):
        group = re.search(rf'data-stakeholder="{s.id}".*?<circle cx="([\d.]+)" cy="([\d.]+)"', svg)
        return float(group.group(1)), float(group.group(2))

    (x_evil, y_evil), (x_low, y_low) = centre(evil), centre(low)
    assert x_evil > x_low  # advocate right of opponent
    assert y_evil < y_low  # high influence above low
    assert "Champion" in svg and "Blocker" in svg  # the legend


def test_stakeholders_sharing_a_cell_are_offset(deal, rep):
    people = [add(deal, rep, influence=4, attitude="supporter") for _ in range(4)]
    svg = str(decision_map_svg(DealStakeholder.objects.filter(deal=deal).select_related("contact")))
    points = {
        re.search(rf'data-stakeholder="{s.id}".*?<circle cx="([\d.]+)" cy="([\d.]+)"', svg).groups()
        for s in people
    }
    assert len(points) == 4
    ys = sorted(float(y) for _, y in points)
    assert all(b - a >= 14 for a, b in zip(ys, ys[1:], strict=False))


# ---- the API


def _api(membership):
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=membership.user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def test_api_stakeholder_map_shape(deal, rep):
    s = add(deal, rep, name="Ann Buyer", role="economic_buyer", influence=5, attitude="supporter")
    DealStakeholder.objects.filter(pk=s.pk).update(desired_results="Lower cost", wins="A promotion")
    response = _api(rep).get(f"/api/deals/{deal.id}/stakeholder-map/")
    assert response.status_code == 200
    body = response.json()
    assert body["stakeholders"] == [
        {
            "id": s.id,
            "name": "Ann Buyer",
            "role": "economic_buyer",
            "influence": 5,
            "attitude": "supporter",
            "desired_results": "Lower cost",
            "wins": "A promotion",
        }
    ]
    assert [g["code"] for g in body["gaps"]] == ["no_champion"]
    assert set(body["gaps"][0]) == {"code", "message", "action"}


def test_api_stakeholder_map_of_another_orgs_deal_is_404(rep, other_org_world):
    response = _api(rep).get(f"/api/deals/{other_org_world['deal'].id}/stakeholder-map/")
    assert response.status_code == 404


# ---- the deal page


def test_deal_page_shows_the_map_and_the_gaps(client, deal, rep):
    add(deal, rep, name="Olga Opponent", role="blocker", influence=5, attitude="opponent")
    client.force_login(rep.user)
    html = client.get(reverse("deal_detail", args=[deal.id])).content.decode()
    assert 'data-testid="decision-map"' in html
    assert 'data-testid="decision-map-table"' in html
    gaps = set(re.findall(r'data-testid="network-gap" data-gap="(\w+)"', html))
    assert gaps == {"no_economic_buyer", "no_champion", "opponent_high_influence"}
    assert "Olga Opponent" in html


def test_adding_a_stakeholder_refreshes_the_gaps(client, deal, rep, contact):
    client.force_login(rep.user)
    response = client.post(
        reverse("stakeholder_add", args=[deal.id]),
        {"contact": contact.id, "role": "champion", "influence": 4, "attitude": "advocate"},
        headers={"HX-Request": "true"},
    )
    html = response.content.decode()
    assert response.status_code == 200
    gaps = set(re.findall(r'data-testid="network-gap" data-gap="(\w+)"', html))
    assert gaps == {"no_economic_buyer"}
    assert 'data-testid="decision-map"' in html


def test_logging_an_activity_swaps_the_network_out_of_band(client, deal, rep):
    s = add(deal, rep)
    client.force_login(rep.user)
    response = client.post(
        reverse("activity_add", args=[deal.id]),
        {"kind": "call", "subject": "Hello", "stakeholder": s.id},
        headers={"HX-Request": "true"},
    )
    html = response.content.decode()
    assert re.search(r'id="deal-network"[^>]*hx-swap-oob="true"', html)
    assert 'data-gap="single_threaded"' in html
    assert StageChange.objects.filter(deal=deal).count() == 1
