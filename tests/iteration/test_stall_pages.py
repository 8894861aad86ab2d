"""The stall pages: the stalled list (worst first, by role), snoozing in place, the deal page's flags
section and the board's badges, and the ops page of stall rules."""

import re
from datetime import timedelta

import pytest
from django.template import Context, Template
from django.urls import reverse
from django.utils import timezone

from deals.services import deal_create
from iteration.models import StallFlag, StallRule
from iteration.stalls import flags_by_deal, stall_flag_snooze, stall_flags_refresh

PROPOSE, NEGOTIATE = 2, 3
HTMX = {"HTTP_HX_REQUEST": "true"}
# session, user with memberships + one page of flags with deal, account, owner and stage (+ the team's
# memberships for a manager) + the unread notifications badge (strategy: one COUNT on every page).
LIST_QUERIES = 4
LIST_QUERIES_MANAGER = 5


def deal_in(member, process, account, stage, *, days, name):
    return deal_create(
        by=member,
        process=process,
        stage=stage,
        name=name,
        account=account,
        amount="1000",
        at=timezone.now() - timedelta(days=days),
    )


@pytest.fixture
def flagged_deals(org, rep, other_rep, process, stages, account):
    """Deals in Negotiate (no threshold: only the no-activity rule) so each has one flag:
    rep: 40 days (red flag), 25 (warning), 18 (advice), 35 (red flag); other_rep: 50 (red flag)."""
    deals = {
        "rep_red_40": deal_in(rep, process, account, stages[NEGOTIATE], days=40, name="Rep red 40"),
        "rep_warning": deal_in(rep, process, account, stages[NEGOTIATE], days=25, name="Rep warning"),
        "rep_advice": deal_in(rep, process, account, stages[NEGOTIATE], days=18, name="Rep advice"),
        "rep_red_35": deal_in(rep, process, account, stages[NEGOTIATE], days=35, name="Rep red 35"),
        "other_red": deal_in(other_rep, process, account, stages[NEGOTIATE], days=50, name="Other red"),
    }
    stall_flags_refresh(organization=org)
    assert StallFlag.objects.count() == 5
    return deals


def rows(response) -> list[str]:
    return re.findall(r'<a href="/deals/\d+/">([^<]+)</a>', response.content.decode())


def login(client, member):
    client.force_login(member.user)
    return client


# ---- the stalled list


def test_a_rep_sees_their_own_flags_worst_first(client, rep, flagged_deals):
    response = login(client, rep).get(reverse("stalled_list"))
    assert response.status_code == 200
    assert rows(response) == ["Rep red 40", "Rep red 35", "Rep warning", "Rep advice"]
    assert "Your deals" in response.content.decode()


def test_a_manager_sees_their_teams_flags(client, manager, flagged_deals):
    response = login(client, manager).get(reverse("stalled_list"))
    assert rows(response) == ["Rep red 40", "Rep red 35", "Rep warning", "Rep advice"]  # not other_rep's


@pytest.mark.parametrize("who", ["ops", "admin"])
def test_ops_and_admins_see_the_organization(client, request, who, flagged_deals):
    response = login(client, request.getfixturevalue(who)).get(reverse("stalled_list"))
    assert rows(response) == ["Other red", "Rep red 40", "Rep red 35", "Rep warning", "Rep advice"]


def test_only_the_deals_editors_get_a_snooze_form(client, ops, admin, flagged_deals):
    assert 'data-testid="snooze-form"' not in login(client, ops).get(reverse("stalled_list")).content.decode()
    assert (
        login(client, admin).get(reverse("stalled_list")).content.decode().count('data-testid="snooze-form"')
        == 5
    )


def test_the_list_filters_by_level_and_rule(client, rep, flagged_deals):
    login(client, rep)
    assert rows(client.get(reverse("stalled_list"), {"level": "red_flag"})) == ["Rep red 40", "Rep red 35"]
    assert rows(client.get(reverse("stalled_list"), {"rule": "stalled"})) == []
    filtered = client.get(reverse("stalled_list"), {"level": "warning", "rule": "no_activity"}, **HTMX)
    assert rows(filtered) == ["Rep warning"]
    assert "<html" not in filtered.content.decode()  # the list fragment only
    # Unreadable filters are ignored rather than refused.
    assert len(rows(client.get(reverse("stalled_list"), {"level": "nonsense"}))) == 4


def test_snoozed_flags_leave_the_list(client, rep, flagged_deals):
    flag = StallFlag.objects.get(deal=flagged_deals["rep_warning"])
    stall_flag_snooze(flag=flag, by=rep, until=timezone.localdate() + timedelta(days=2), reason="Later")
    assert "Rep warning" not in rows(login(client, rep).get(reverse("stalled_list")))


def test_an_empty_list_says_so(client, rep, org):
    response = login(client, rep).get(reverse("stalled_list"))
    assert 'data-testid="stall-empty"' in response.content.decode()


def test_the_list_pages_by_keyset(client, rep, flagged_deals, monkeypatch):
    monkeypatch.setattr("iteration.views.stalls.PAGE_SIZE", 3)
    login(client, rep)
    first = client.get(reverse("stalled_list"))
    assert rows(first) == ["Rep red 40", "Rep red 35", "Rep warning"]
    after = re.search(r'after=([\d.]+)"', first.content.decode()).group(1)
    more = client.get(reverse("stalled_list"), {"after": after}, **HTMX)
    assert rows(more) == ["Rep advice"]
    assert 'data-testid="stall-more"' not in more.content.decode()


@pytest.mark.parametrize("extra", [0, 6])
def test_the_list_query_count_does_not_grow_with_flags(
    client, rep, manager, org, process, stages, account, flagged_deals, django_assert_num_queries, extra
):
    for i in range(extra):
        deal_in(rep, process, account, stages[NEGOTIATE], days=20 + i, name=f"More {i}")
    stall_flags_refresh(organization=org)
    login(client, rep)
    with django_assert_num_queries(LIST_QUERIES):
        assert len(rows(client.get(reverse("stalled_list")))) == 4 + extra
    login(client, manager)
    with django_assert_num_queries(LIST_QUERIES_MANAGER):
        assert len(rows(client.get(reverse("stalled_list")))) == 4 + extra


# ---- snooze


def snooze_data(flag, *, until, reason="Customer on holiday", context="list"):
    return {
        f"snooze-{flag.id}-until": until.isoformat(),
        f"snooze-{flag.id}-reason": reason,
        "context": context,
    }


def test_a_rep_snoozes_a_flag_in_place(client, rep, flagged_deals):
    flag = StallFlag.objects.get(deal=flagged_deals["rep_warning"])
    until = timezone.localdate() + timedelta(days=7)
    response = login(client, rep).post(
        reverse("stall_flag_snooze", args=[flag.id]), snooze_data(flag, until=until), **HTMX
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert body.lstrip().startswith(f'<tr id="stall-flag-{flag.id}"')
    assert 'data-testid="snoozed"' in body and "Customer on holiday" in body
    flag.refresh_from_db()
    assert (flag.snoozed_until, flag.snooze_reason, flag.snoozed_by_id) == (
        until,
        "Customer on holiday",
        rep.user_id,
    )


def test_a_past_resume_date_is_refused_with_the_form_again(client, rep, flagged_deals):
    flag = StallFlag.objects.get(deal=flagged_deals["rep_warning"])
    response = login(client, rep).post(
        reverse("stall_flag_snooze", args=[flag.id]),
        snooze_data(flag, until=timezone.localdate() - timedelta(days=1)),
        **HTMX,
    )
    assert response.status_code == 422
    assert "The resume date must be in the future." in response.content.decode()
    flag.refresh_from_db()
    assert flag.snoozed_until is None


def test_a_rep_cannot_snooze_another_reps_flag(client, rep, flagged_deals):
    flag = StallFlag.objects.get(deal=flagged_deals["other_red"])
    response = login(client, rep).post(
        reverse("stall_flag_snooze", args=[flag.id]),
        snooze_data(flag, until=timezone.localdate() + timedelta(days=3)),
        **HTMX,
    )
    assert response.status_code == 403
    flag.refresh_from_db()
    assert flag.snoozed_until is None


def test_snooze_takes_post_only(client, rep, flagged_deals):
    flag = StallFlag.objects.get(deal=flagged_deals["rep_warning"])
    assert login(client, rep).get(reverse("stall_flag_snooze", args=[flag.id])).status_code == 405


def test_without_htmx_a_snooze_redirects_back(client, rep, flagged_deals):
    flag = StallFlag.objects.get(deal=flagged_deals["rep_warning"])
    data = snooze_data(flag, until=timezone.localdate() + timedelta(days=3), context="deal")
    response = login(client, rep).post(reverse("stall_flag_snooze", args=[flag.id]), data)
    assert response.status_code == 302 and response["Location"] == reverse("deal_detail", args=[flag.deal_id])


# ---- the deal page's section and the board's badges


def render(text: str, **context) -> str:
    return Template(text).render(Context(context))


def test_the_deal_flags_section_lists_flags_with_snooze_forms(rep, flagged_deals, django_assert_num_queries):
    deal = flagged_deals["rep_red_40"]
    with django_assert_num_queries(1):
        html = render("{% load stalls %}{% deal_stall_flags deal %}", deal=deal, membership=rep)
    assert 'id="deal-stall-flags"' in html
    assert "No activity or stage change for 40 days, past the 30-day red flag limit" in html
    assert f'action="/stalls/{StallFlag.objects.get(deal=deal).id}/snooze/"' in html
    assert 'name="context" value="deal"' in html


def test_the_deal_flags_section_has_no_form_for_readers(other_rep, flagged_deals):
    html = render(
        "{% load stalls %}{% deal_stall_flags deal %}", deal=flagged_deals["rep_red_40"], membership=other_rep
    )
    assert "40 days" in html and 'data-testid="snooze-form"' not in html


def test_a_snooze_from_the_deal_page_answers_with_its_flags_section(client, rep, flagged_deals):
    deal = flagged_deals["rep_red_40"]
    flag = StallFlag.objects.get(deal=deal)
    until = timezone.localdate() + timedelta(days=4)
    response = login(client, rep).post(
        reverse("stall_flag_snooze", args=[flag.id]), snooze_data(flag, until=until, context="deal"), **HTMX
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<section id="deal-stall-flags"')
    assert f"snoozed until {until:%b} {until.day}, {until.year}: Customer on holiday" in body


def test_badges_are_coloured_by_level_with_the_reason_as_title(org, flagged_deals):
    ids = [d.id for d in flagged_deals.values()]
    by_deal = flags_by_deal(org, ids)
    html = render(
        '{% load stalls %}{% for id in ids %}<div>{% include "iteration/stalls/_badges.html" with flags=by_deal|flags_for:id %}</div>{% endfor %}',
        ids=ids,
        by_deal=by_deal,
    )
    assert html.count("text-bg-danger") == 3
    assert html.count("text-bg-warning") == 1
    assert html.count("text-bg-info") == 1
    assert 'title="Warning: No activity or stage change for 25 days, past the 21-day warning limit"' in html
    assert (
        render(
            '{% load stalls %}{% include "iteration/stalls/_badges.html" with flags=d|flags_for:1 %}', d={}
        )
        == ""
    )


# ---- stall rules (ops)


def test_ops_see_every_stages_rules(client, ops, process, stages):
    response = login(client, ops).get(reverse("stall_rules"))
    assert response.status_code == 200
    body = response.content.decode()
    assert body.count('data-testid="stage-rules"') == 4
    assert "threshold: 21 days (expected days)" in body
    assert "threshold: none: no expected days and no deal has advanced yet" in body
    # The no-activity defaults are filled in; empty stalled levels show the threshold's multiples.
    assert f'name="{stages[PROPOSE].id}-no_activity-warning_days" value="21"' in body
    [stalled_warning] = re.findall(
        rf'<input[^>]*name="{stages[PROPOSE].id}-stalled-warning_days"[^>]*>', body
    )
    assert 'placeholder="31.5"' in stalled_warning and "value=" not in stalled_warning


@pytest.mark.parametrize("who", ["rep", "manager"])
def test_only_ops_and_admins_open_the_rules_page(client, request, who, process):
    assert login(client, request.getfixturevalue(who)).get(reverse("stall_rules")).status_code == 403


def rules_data(stage, **days):
    data = {}
    for kind in ("age", "stalled", "no_activity"):
        values = days.get(
            kind,
            {"enabled": True}
            | ({"advice": 14, "warning": 21, "red_flag": 30} if kind == "no_activity" else {}),
        )
        if values.get("enabled", True):
            data[f"{stage.id}-{kind}-enabled"] = "on"
        for level in ("advice", "warning", "red_flag"):
            data[f"{stage.id}-{kind}-{level}_days"] = values.get(level, "")
    return data


def test_ops_set_a_stages_rules(client, ops, stages):
    stage = stages[PROPOSE]
    data = rules_data(stage, age={"advice": 60, "warning": 90, "red_flag": 120}, stalled={"red_flag": 35})
    response = login(client, ops).post(reverse("stage_stall_rules", args=[stage.id]), data, **HTMX)
    assert response.status_code == 200
    assert 'data-testid="rules-saved"' in response.content.decode()
    assert set(StallRule.objects.values_list("kind", "advice_days", "warning_days", "red_flag_days")) == {
        ("age", 60, 90, 120),
        ("stalled", None, None, 35),
    }  # no_activity left at its defaults: no row


def test_rule_days_out_of_order_are_refused_in_place(client, ops, stages):
    stage = stages[PROPOSE]
    data = rules_data(stage, age={"advice": 60, "warning": 30})
    response = login(client, ops).post(reverse("stage_stall_rules", args=[stage.id]), data, **HTMX)
    assert response.status_code == 422
    assert "At least the advice days (60)" in response.content.decode()
    assert not StallRule.objects.exists()


def test_a_rep_cannot_set_rules(client, rep, stages):
    stage = stages[PROPOSE]
    response = login(client, rep).post(
        reverse("stage_stall_rules", args=[stage.id]), rules_data(stage, age={"advice": 5})
    )
    assert response.status_code == 403
    assert not StallRule.objects.exists()


def test_switching_a_rule_off(client, ops, org, rep, process, stages, account):
    stage = stages[NEGOTIATE]
    deal_in(rep, process, account, stage, days=40, name="Idle")
    data = rules_data(stage, no_activity={"enabled": False, "advice": 14, "warning": 21, "red_flag": 30})
    login(client, ops).post(reverse("stage_stall_rules", args=[stage.id]), data, **HTMX)
    stall_flags_refresh(organization=org)
    assert not StallFlag.objects.exists()


def test_every_rule_with_bad_days_shows_its_message(client, ops, stages):
    stage = stages[PROPOSE]
    data = rules_data(stage, age={"advice": 60, "warning": 30}, stalled={"advice": 0})
    response = login(client, ops).post(reverse("stage_stall_rules", args=[stage.id]), data, **HTMX)
    assert response.status_code == 422
    body = response.content.decode()
    assert "At least the advice days (60)" in body
    assert "Ensure this value is greater than or equal to 1." in body
    assert not StallRule.objects.exists()
