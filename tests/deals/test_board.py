"""The pipeline board: columns, filters, keyset "load more", and moves from a card."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from deals.models import Deal, StageChange
from deals.services import activity_log, deal_create, deal_move, stakeholder_add
from salesproc.models import Process
from salesproc.services import criterion_add
from tests.factories import AccountFactory, ContactFactory

HTMX = {"HX-Request": "true"}


def make_deal(by, process, account, name, amount="1000", at=None, stage=None):
    deal = deal_create(by=by, process=process, name=name, account=account, amount=amount, at=at)
    if stage is not None and stage.id != deal.stage_id:
        deal_move(deal=deal, to_stage=stage, by=by, expected_version=deal.version, at=at)
    return deal


def board_url(process, **query):
    url = reverse("board", args=[process.id])
    if query:
        url += "?" + "&".join(f"{k}={v}" for k, v in query.items())
    return url


def card_ids(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'id="deal-card-(\d+)"', html)]


def move(client, deal, to_stage, *, version=None, **extra):
    data = {
        "to_stage": to_stage.id,
        "version": deal.version if version is None else version,
        "context": "board",
    }
    data.update(extra)
    return client.post(reverse("deal_move", args=[deal.id]), data, headers=HTMX)


def test_board_shows_a_column_per_stage_with_count_sum_and_cards(client, rep, process, stages, account):
    make_deal(rep, process, account, "Alpha", amount="12000")
    make_deal(rep, process, account, "Beta", amount="3000.50")
    make_deal(rep, process, account, "Gamma", amount="5000", stage=stages[2])
    client.force_login(rep.user)

    response = client.get(board_url(process))

    assert response.status_code == 200
    html = response.content.decode()
    for stage in stages:
        assert f'id="col-head-{stage.id}"' in html
    first = html[html.index(f'id="col-head-{stages[0].id}"') :]
    assert "2 deals" in first[:600] and "$15,000.50" in first[:600]
    third = html[html.index(f'id="col-head-{stages[2].id}"') :]
    assert "1 deal<" in third[:600] and "$5,000" in third[:600]
    assert "Alpha" in html and "Globex" in html and rep.user.display_name in html
    assert "0 days" in html


def test_days_in_stage_count_from_the_stage_entry(client, rep, process, account):
    make_deal(rep, process, account, "Old one", at=timezone.now() - timedelta(days=12, hours=1))
    client.force_login(rep.user)

    html = client.get(board_url(process)).content.decode()

    assert "12 days" in html


def test_pipeline_redirects_to_the_first_active_process_keeping_the_query(client, rep, process):
    client.force_login(rep.user)

    response = client.get(reverse("board_default") + "?owner=me")

    assert response.status_code == 302
    assert response["Location"] == board_url(process) + "?owner=me"


def test_pipeline_without_a_process_says_what_to_do(client, rep):
    client.force_login(rep.user)

    response = client.get(reverse("board_default"))

    assert response.status_code == 200
    assert "no sales process yet" in response.content.decode()


def test_mine_shows_only_my_deals(client, rep, other_rep, process, account):
    mine = make_deal(rep, process, account, "Mine")
    theirs = make_deal(other_rep, process, account, "Theirs")
    client.force_login(rep.user)

    ids = card_ids(client.get(board_url(process, owner="me")).content.decode())

    assert ids == [mine.id]
    assert theirs.id not in ids


def test_team_shows_the_managers_team(client, manager, rep, other_rep, process, account):
    of_rep = make_deal(rep, process, account, "Rep's")
    of_other = make_deal(other_rep, process, account, "Other rep's")
    client.force_login(manager.user)

    html = client.get(board_url(process, team=1)).content.decode()

    assert card_ids(html) == [of_rep.id]
    assert of_other.id not in card_ids(html)
    assert "1 deal<" in html


def test_owner_filter_shows_that_members_deals(client, rep, other_rep, process, account):
    make_deal(rep, process, account, "Mine")
    theirs = make_deal(other_rep, process, account, "Theirs")
    client.force_login(rep.user)

    html = client.get(board_url(process, owner=other_rep.user_id)).content.decode()

    assert card_ids(html) == [theirs.id]


def test_search_matches_deal_or_account_name(client, rep, process, org, account):
    by_name = make_deal(rep, process, account, "Turbine upgrade")
    by_account = make_deal(rep, process, AccountFactory(organization=org, name="Turbocorp"), "Pumps")
    make_deal(rep, process, account, "Unrelated")
    client.force_login(rep.user)

    html = client.get(board_url(process, q="turb")).content.decode()

    assert sorted(card_ids(html)) == sorted([by_name.id, by_account.id])
    assert "2 deals" in html


@pytest.mark.parametrize(
    "query", ["owner=abc", "owner=99999999999999999999999", "team=yes&owner=-3", "q=" + "x" * 500]
)
def test_unreadable_filters_are_ignored_not_errors(client, rep, process, account, query):
    make_deal(rep, process, account, "Alpha")
    client.force_login(rep.user)

    response = client.get(board_url(process) + "?" + query)

    assert response.status_code == 200


def test_load_more_returns_the_next_cards_of_the_column_without_duplicates(
    client, rep, process, stages, account
):
    start = timezone.now() - timedelta(days=30)
    deals = []
    for i in range(31):
        # Pairs share a stage entry time so the id must break the tie.
        deals.append(make_deal(rep, process, account, f"Deal {i:02}", at=start + timedelta(hours=i // 2)))
    client.force_login(rep.user)

    html = client.get(board_url(process)).content.decode()
    first_page = card_ids(html)
    more = re.search(rf'hx-get="([^"]*/stages/{stages[0].id}/cards/[^"]*)"', html)
    assert more, "the column offers Load more"
    response = client.get(more.group(1).replace("&amp;", "&"), headers=HTMX)
    second_page = card_ids(response.content.decode())

    assert len(first_page) == 25
    assert len(second_page) == 6
    assert not set(first_page) & set(second_page)
    assert first_page + second_page == [d.id for d in deals]
    assert "Load more" not in response.content.decode()


def test_load_more_keeps_the_filters(client, rep, other_rep, process, stages, account):
    start = timezone.now() - timedelta(days=30)
    mine = [make_deal(rep, process, account, f"Mine {i}", at=start + timedelta(minutes=i)) for i in range(27)]
    for i in range(5):
        make_deal(other_rep, process, account, f"Theirs {i}", at=start + timedelta(minutes=i, seconds=30))
    client.force_login(rep.user)

    html = client.get(board_url(process, owner="me")).content.decode()
    more = re.search(r'hx-get="([^"]*/cards/[^"]*)"', html).group(1).replace("&amp;", "&")
    second_page = card_ids(client.get(more, headers=HTMX).content.decode())

    assert card_ids(html) + second_page == [d.id for d in mine]


def test_load_more_with_a_broken_cursor_is_a_400(client, rep, process, stages):
    client.force_login(rep.user)
    url = reverse("board_column", args=[process.id, stages[0].id])

    for cursor in ["", "abc", "1_x", "99999999999999999999999999_1", "5_0"]:
        assert client.get(url + "?after=" + cursor, headers=HTMX).status_code == 400


def test_move_from_the_board_writes_a_stage_change_and_answers_with_the_card(
    client, rep, process, stages, deal
):
    client.force_login(rep.user)

    response = move(client, deal, stages[1])

    assert response.status_code == 200
    deal.refresh_from_db()
    assert deal.stage == stages[1]
    assert StageChange.objects.filter(deal=deal).count() == 2
    html = response.content.decode()
    assert f'id="deal-card-{deal.id}"' in html and f'data-stage-id="{stages[1].id}"' in html
    assert f'data-version="{deal.version}"' in html
    # Both columns' headers come back out of band with their new counts.
    assert f'id="col-head-{stages[0].id}" hx-swap-oob="true"' in html
    assert f'id="col-head-{stages[1].id}" hx-swap-oob="true"' in html


def test_refused_move_lists_the_unmet_criteria_on_the_card_and_writes_nothing(
    client, rep, ops, process, stages, deal
):
    criterion_add(stage=stages[0], by=ops, kind="step", label="Confirm budget", importance="mandatory")
    client.force_login(rep.user)

    response = move(client, deal, stages[1])

    assert response.status_code == 409
    html = response.content.decode()
    assert "Confirm budget" in html and "Complete the step in the plan" in html
    assert f'data-stage-id="{stages[0].id}"' in html
    assert "override_reason" not in html  # a rep gets no override form
    deal.refresh_from_db()
    assert deal.stage == stages[0] and deal.version == 1
    assert StageChange.objects.filter(deal=deal).count() == 1


def test_manager_overrides_a_mandatory_criterion_with_a_reason(client, manager, ops, process, stages, deal):
    criterion_add(stage=stages[0], by=ops, kind="step", label="Confirm budget", importance="mandatory")
    client.force_login(manager.user)

    refused = move(client, deal, stages[1])
    assert refused.status_code == 409
    assert 'name="override_reason"' in refused.content.decode()

    response = move(client, deal, stages[1], override_reason="Budget confirmed by phone")

    assert response.status_code == 200
    entry = StageChange.objects.get(deal=deal, to_stage=stages[1])
    assert entry.override_reason == "Budget confirmed by phone"
    assert [c["label"] for c in entry.overridden_criteria] == ["Confirm budget"]


def test_rep_cannot_override(client, rep, ops, process, stages, deal):
    criterion_add(stage=stages[0], by=ops, kind="step", label="Confirm budget", importance="mandatory")
    client.force_login(rep.user)

    response = move(client, deal, stages[1], override_reason="Trust me")

    assert response.status_code == 403
    assert "manager" in response.content.decode()
    assert StageChange.objects.filter(deal=deal).count() == 1


def test_stale_version_answers_with_the_message_and_writes_nothing(client, rep, process, stages, deal):
    client.force_login(rep.user)

    response = move(client, deal, stages[1], version=deal.version + 5)

    assert response.status_code == 409
    assert "changed by someone else" in response.content.decode()
    deal.refresh_from_db()
    assert deal.stage == stages[0]
    assert StageChange.objects.filter(deal=deal).count() == 1


def test_another_reps_card_is_read_only_and_its_move_is_refused(client, other_rep, process, stages, deal):
    client.force_login(other_rep.user)

    html = client.get(board_url(process)).content.decode()
    assert f'data-deal-id="{deal.id}"' in html and 'data-editable="0"' in html

    response = move(client, deal, stages[1])

    assert response.status_code == 403
    assert StageChange.objects.filter(deal=deal).count() == 1


@pytest.mark.parametrize("to_stage", ["", "abc", "-1", "99999999999999999999999"])
def test_move_to_an_unreadable_stage_is_a_field_message(client, rep, deal, to_stage):
    client.force_login(rep.user)

    response = client.post(
        reverse("deal_move", args=[deal.id]),
        {"to_stage": to_stage, "version": 1, "context": "board"},
        headers=HTMX,
    )

    assert response.status_code == 422
    assert StageChange.objects.filter(deal=deal).count() == 1


def test_move_to_a_stage_of_another_process_is_refused(client, rep, deal, other_org_world):
    client.force_login(rep.user)
    foreign_stage = other_org_world["process"].stages.order_by("order")[1]

    response = move(client, deal, foreign_stage)

    assert response.status_code == 422
    assert StageChange.objects.filter(deal=deal).count() == 1


def test_another_orgs_board_and_deals_are_404(client, rep, other_org_world):
    client.force_login(rep.user)
    other_process = other_org_world["process"]
    other_deal = other_org_world["deal"]

    assert client.get(board_url(other_process)).status_code == 404
    stage = other_process.stages.first()
    assert (
        client.get(reverse("board_column", args=[other_process.id, stage.id]) + "?after=1_1").status_code
        == 404
    )
    response = client.post(
        reverse("deal_move", args=[other_deal.id]), {"to_stage": stage.id, "version": 1}, headers=HTMX
    )
    assert response.status_code == 404
    assert Deal.objects.get(pk=other_deal.pk).version == 1


def test_move_is_post_only(client, rep, deal):
    client.force_login(rep.user)

    assert client.get(reverse("deal_move", args=[deal.id])).status_code == 405


def test_board_needs_login(client, process):
    response = client.get(board_url(process))

    assert response.status_code == 302


def test_a_column_of_mixed_currencies_says_so(client, rep, process, account):
    make_deal(rep, process, account, "Dollars", amount="1000")
    deal_create(by=rep, process=process, name="Euros", account=account, amount="2000", currency="EUR")
    client.force_login(rep.user)

    html = client.get(board_url(process)).content.decode()

    assert "3,000" in html and "mixed currencies" in html


def test_a_board_without_deals_says_what_to_do(client, rep, process):
    client.force_login(rep.user)

    html = client.get(board_url(process)).content.decode()

    assert 'data-testid="board-no-deals"' in html and reverse("deal_create") in html


def test_a_process_without_stages_has_an_empty_board(client, rep, org):
    empty = Process.objects.create(organization=org, name="Partners")
    client.force_login(rep.user)

    response = client.get(board_url(empty))

    assert response.status_code == 200
    assert "has no stages yet" in response.content.decode()


def test_a_search_matching_more_deals_than_it_totals_shows_lower_bounds(
    client, rep, process, stages, account, monkeypatch
):
    monkeypatch.setattr("deals.selectors.BOARD_SEARCH_CAP", 4)
    monkeypatch.setattr("deals.views.board.BOARD_SEARCH_CAP", 4)
    start = timezone.now() - timedelta(days=30)
    first = [
        make_deal(rep, process, account, f"Pump {i:02}", at=start + timedelta(hours=i)) for i in range(28)
    ]
    make_deal(rep, process, account, "Pump later", stage=stages[1])
    make_deal(rep, process, account, "Unrelated")
    client.force_login(rep.user)

    html = client.get(board_url(process, q="pump")).content.decode()

    assert "4+ open deals" in html
    head = html[html.index(f'id="col-head-{stages[0].id}"') :][:700]
    assert re.search(r"\d+\+ deals", head) and "Too many matches to total" in head
    # The cards do not depend on the totals: the first page of the column, in order, and a next page.
    assert card_ids(html)[:25] == [d.id for d in first[:25]]
    more = re.search(rf'hx-get="([^"]*/stages/{stages[0].id}/cards/[^"]*)"', html)
    second = card_ids(client.get(more.group(1).replace("&amp;", "&"), headers=HTMX).content.decode())
    assert second == [d.id for d in first[25:]]


def test_a_search_under_the_cap_totals_exactly(client, rep, process, stages, account):
    for i in range(3):
        make_deal(rep, process, account, f"Pump {i}", amount="100")
    make_deal(rep, process, account, "Pump far", amount="7", stage=stages[2])
    make_deal(rep, process, account, "Valve", amount="9999")
    client.force_login(rep.user)

    html = client.get(board_url(process, q="PUMP")).content.decode()

    assert "4 open deals" in html and "+ deal" not in html
    first = html[html.index(f'id="col-head-{stages[0].id}"') :][:600]
    assert "3 deals" in first and "$300" in first
    third = html[html.index(f'id="col-head-{stages[2].id}"') :][:600]
    assert "1 deal<" in third and "$7" in third


def test_card_text_is_escaped(client, rep, process, org):
    account = AccountFactory(organization=org, name="<i>Ünited</i>")
    make_deal(rep, process, account, '<b>"Bold" & Co — rollout</b>')
    client.force_login(rep.user)

    html = client.get(board_url(process)).content.decode()

    assert "<b>" not in html and "<i>" not in html
    # Outside ASCII as character references: the same text in the browser.
    assert "&lt;b&gt;&quot;Bold&quot; &amp; Co &#8212; rollout&lt;/b&gt;" in html
    assert "&lt;i&gt;&#220;nited&lt;/i&gt;" in html


def _flag(deal, level, rule, reason, *, snoozed_until=None):
    from iteration.models import StallFlag

    return StallFlag.objects.create(
        organization=deal.organization,
        deal=deal,
        stage=deal.stage,
        rule=rule,
        level=level,
        days=30,
        threshold=14,
        reason=reason,
        snoozed_until=snoozed_until,
    )


def _card_html(html: str, deal) -> str:
    start = html.index(f'id="deal-card-{deal.id}"')
    return html[start : html.index("</article>", start)]


def test_cards_show_the_worst_unsnoozed_stall_flag(client, rep, process, stages, account):
    flagged = make_deal(rep, process, account, "Flagged")
    snoozed = make_deal(rep, process, account, "Snoozed")
    calm = make_deal(rep, process, account, "Calm")
    _flag(flagged, "advice", "no_activity", "No activity for 15 days")
    _flag(flagged, "red_flag", "stalled", "In Qualify for 30 days <b>")
    _flag(
        snoozed,
        "warning",
        "no_activity",
        "No activity for 22 days",
        snoozed_until=timezone.localdate() + timedelta(days=3),
    )
    client.force_login(rep.user)

    html = client.get(board_url(process)).content.decode()

    card = _card_html(html, flagged)
    assert card.count('data-testid="stall-badge"') == 1
    assert 'data-level="red_flag"' in card and "text-bg-danger" in card
    assert "In Qualify for 30 days &lt;b&gt;" in card
    assert 'data-testid="stall-badge"' not in _card_html(html, snoozed)
    assert 'data-testid="stall-badge"' not in _card_html(html, calm)


# ---- stakeholder gaps: the filter and the cards' badges


def _person(deal, by, role="user", **fields):
    contact = ContactFactory(organization=deal.organization, account=deal.account)
    return stakeholder_add(deal=deal, by=by, contact=contact, role=role, **fields)


@pytest.fixture
def gap_deals(rep, other_rep, process, stages, account):
    """Deals with known gaps: `covered` has none (economic buyer and champion, no activity), the others
    lack one or more."""
    covered = make_deal(rep, process, account, "Covered")
    _person(covered, rep, "economic_buyer")
    _person(covered, rep, "champion")
    no_champion = make_deal(rep, process, account, "No champion", stage=stages[1])
    _person(no_champion, rep, "economic_buyer")
    bare = make_deal(rep, process, account, "Bare")
    theirs = make_deal(other_rep, process, account, "Theirs")
    _person(theirs, other_rep, "economic_buyer")
    threaded = make_deal(rep, process, account, "Threaded")
    _person(threaded, rep, "economic_buyer")
    talked = _person(threaded, rep, "champion", attitude="opponent", influence=5)
    activity_log(deal=threaded, by=rep, kind="call", subject="Call", stakeholder=talked)
    return {d.name: d for d in (covered, no_champion, bare, theirs, threaded)}


def _names(html: str) -> set[str]:
    return set(
        re.findall(r'class="fw-semibold text-decoration-none deal-card-name" href="[^"]*">([^<]*)</a>', html)
    )


def test_the_gap_filter_keeps_the_deals_with_that_gap(client, rep, process, gap_deals):
    client.force_login(rep.user)

    html = client.get(board_url(process, gap="no_champion")).content.decode()

    assert _names(html) == {"No champion", "Bare", "Theirs"}
    assert "3 open deals" in html
    assert '<option value="no_champion" selected>Gap: no champion</option>' in html


def test_the_gap_filter_combines_with_the_owner_filter(client, rep, process, gap_deals):
    client.force_login(rep.user)

    html = client.get(board_url(process, gap="no_champion", owner="me")).content.decode()

    assert _names(html) == {"No champion", "Bare"}


def test_any_gap_and_several_gaps(client, rep, process, gap_deals):
    client.force_login(rep.user)

    any_gap = client.get(board_url(process, gap="any")).content.decode()
    several = client.get(board_url(process, gap="single_threaded,no_economic_buyer")).content.decode()
    repeated = client.get(board_url(process) + "?gap=single_threaded&gap=no_economic_buyer").content.decode()

    assert _names(any_gap) == {"No champion", "Bare", "Theirs", "Threaded"}
    assert _names(several) == _names(repeated) == {"Bare", "Threaded"}
    assert "Gaps: no economic buyer or single-threaded</option>" in several


def test_the_columns_count_what_the_gap_filter_keeps(client, rep, process, stages, gap_deals):
    client.force_login(rep.user)

    html = client.get(board_url(process, gap="no_champion")).content.decode()

    counts = re.findall(r'data-testid="column-count">(\d+) deal', html)
    assert counts == ["2", "1", "0", "0"]  # Bare and Theirs in Qualify, "No champion" in Discover


def test_an_unknown_gap_is_ignored_and_said_so_keeping_the_other_filters(client, rep, process, gap_deals):
    client.force_login(rep.user)

    response = client.get(board_url(process, gap="no_budget", owner="me"))

    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="gap-filter-error"' in html
    assert "Unknown stakeholder gap &quot;no_budget&quot;" in html
    assert (
        "no_economic_buyer, no_champion, single_threaded, opponent_high_influence, procurement_in_decision"
        in html
    )
    assert _names(html) == {"Covered", "No champion", "Bare", "Threaded"}  # mine, every gap or none


def test_load_more_keeps_the_gap_filter(client, rep, process, stages, account):
    start = timezone.now() - timedelta(days=30)
    bare = [make_deal(rep, process, account, f"Bare {i}", at=start + timedelta(minutes=i)) for i in range(27)]
    for i in range(3):
        covered = make_deal(
            rep, process, account, f"Covered {i}", at=start + timedelta(minutes=i, seconds=30)
        )
        _person(covered, rep, "champion")
    client.force_login(rep.user)

    html = client.get(board_url(process, gap="no_champion")).content.decode()
    more = re.search(r'hx-get="([^"]*/cards/[^"]*)"', html).group(1).replace("&amp;", "&")
    assert "gap=no_champion" in more
    second_page = card_ids(client.get(more, headers=HTMX).content.decode())

    assert card_ids(html) + second_page == [d.id for d in bare]


def test_cards_show_their_stakeholder_gaps(client, rep, process, gap_deals):
    client.force_login(rep.user)

    html = client.get(board_url(process)).content.decode()

    def gaps(name):
        return re.findall(r'data-gap="([a-z_]+)"', _card_html(html, gap_deals[name]))

    assert gaps("Covered") == []
    assert gaps("No champion") == ["no_champion"]
    assert gaps("Bare") == ["no_economic_buyer", "no_champion"]
    assert gaps("Threaded") == ["single_threaded", "opponent_high_influence"]
    assert 'title="No champion on the deal. Find someone inside' in _card_html(html, gap_deals["Bare"])


def test_a_moved_card_shows_its_gaps_as_they_are_after_the_move(client, rep, process, stages, account):
    deal = make_deal(rep, process, account, "Buying", stage=stages[1])
    _person(deal, rep, "economic_buyer")
    _person(deal, rep, "champion")
    buyer = _person(deal, rep, "procurement")
    # Procurement joined while the deal was in a decision stage it left before.
    StageChange.objects.filter(deal=deal).update(entered_at=timezone.now() - timedelta(days=10))
    StageChange.objects.create(
        organization=deal.organization,
        deal=deal,
        from_stage=stages[1],
        to_stage=stages[2],
        entered_at=buyer.created_at - timedelta(hours=1),
        left_at=buyer.created_at + timedelta(hours=1),
    )
    deal.refresh_from_db()
    client.force_login(rep.user)

    response = move(client, deal, stages[3])

    assert response.status_code == 200
    assert re.findall(r'data-gap="([a-z_]+)"', response.content.decode()) == ["procurement_in_decision"]


@pytest.mark.parametrize("n", [3, 40])
def test_the_gap_filtered_board_query_count_does_not_grow_with_deals(
    client, django_assert_num_queries, rep, process, stages, account, n
):
    for i in range(n):
        deal = make_deal(rep, process, account, f"Deal {i}", stage=stages[i % len(stages)])
        if i % 3:
            _person(deal, rep, "champion")
        if i % 2:
            activity_log(deal=deal, by=rep, kind="call", subject="Call", stakeholder=_person(deal, rep))
    client.force_login(rep.user)

    # session, user with memberships + the org's people + stages with the filtered totals (the gap
    # conditions inside them) + the first cards of every column with their gaps + the notifications badge.
    with django_assert_num_queries(6):
        response = client.get(board_url(process, gap="any", owner="me"))

    assert response.status_code == 200
    assert len(card_ids(response.content.decode())) == n  # every deal lacks an economic buyer


def test_whose_deals_buttons_keep_the_search_and_the_gap(client, manager, process, gap_deals):
    client.force_login(manager.user)

    html = client.get(board_url(process, gap="no_champion", q="Bare")).content.decode()

    assert f'href="{board_url(process)}?q=Bare&amp;gap=no_champion">All</a>' in html
    assert 'href="?owner=me&amp;q=Bare&amp;gap=no_champion" data-testid="filter-mine"' in html
    assert 'href="?team=1&amp;q=Bare&amp;gap=no_champion" data-testid="filter-team"' in html
    plain = client.get(board_url(process)).content.decode()
    assert (
        f'href="{board_url(process)}">All</a>' in plain
        and 'href="?owner=me" data-testid="filter-mine"' in plain
    )
