"""The board's column totals (StageRollup) stay exact through every deal write, and can be rebuilt."""

from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from deals.demo import demo_seed
from deals.models import Deal, StageRollup
from deals.services import deal_create, deal_lose, deal_move, deal_update, deal_win
from deals.services.moves import deal_delete
from deals.services.rollups import rollup_drift, rollup_rebuild
from deals.tasks import reconcile_org_rollups, reconcile_rollups_all
from orgs.models import Organization, User
from salesproc.lib.errors import StaleVersion
from tests.factories import AccountFactory


def totals(org) -> dict[tuple[int, int, str], tuple[int, Decimal]]:
    """The non-empty rollup rows of `org`: (stage, owner, currency) → (deals, amount)."""
    return {
        (r.stage_id, r.owner_id, r.currency): (r.open_count, r.amount_sum)
        for r in StageRollup.objects.for_org(org)
        if r.open_count or r.amount_sum
    }


def test_a_new_deal_counts_in_its_first_stage(org, rep, process, stages, account):
    deal_create(by=rep, process=process, name="A", account=account, amount="1000")
    deal_create(by=rep, process=process, name="B", account=account, amount="250.50")

    assert totals(org) == {(stages[0].id, rep.user_id, "USD"): (2, Decimal("1250.50"))}
    assert rollup_drift(org=org) == []


def test_a_move_takes_the_deal_from_one_column_to_the_other(org, rep, stages, deal):
    deal_move(deal=deal, to_stage=stages[2], by=rep, expected_version=deal.version)

    assert totals(org) == {(stages[2].id, rep.user_id, "USD"): (1, Decimal("12000"))}
    assert rollup_drift(org=org) == []


def test_won_and_lost_deals_leave_the_board(org, rep, process, stages, account, deal):
    other = deal_create(by=rep, process=process, name="B", account=account, amount="500")
    kept = deal_create(by=rep, process=process, name="C", account=account, amount="70")

    deal_win(deal=deal, by=rep, expected_version=deal.version)
    deal_lose(deal=other, by=rep, expected_version=other.version, reason="Budget cut")

    assert totals(org) == {(stages[0].id, rep.user_id, "USD"): (1, Decimal("70"))}
    assert kept.status == "open"
    assert rollup_drift(org=org) == []


def test_an_amount_change_moves_the_sum_not_the_count(org, rep, stages, deal):
    deal_update(deal=deal, by=rep, expected_version=deal.version, amount="15000.25")

    assert totals(org) == {(stages[0].id, rep.user_id, "USD"): (1, Decimal("15000.25"))}
    assert rollup_drift(org=org) == []


def test_a_currency_change_moves_the_deal_between_currencies(org, rep, stages, deal):
    deal_update(deal=deal, by=rep, expected_version=deal.version, currency="eur")

    assert totals(org) == {(stages[0].id, rep.user_id, "EUR"): (1, Decimal("12000"))}
    assert rollup_drift(org=org) == []


def test_a_reassigned_deal_moves_to_its_new_owner(org, manager, rep, stages, deal):
    deal_update(deal=deal, by=manager, expected_version=deal.version, owner=manager.user_id, amount="9")

    assert totals(org) == {(stages[0].id, manager.user_id, "USD"): (1, Decimal("9"))}
    assert rollup_drift(org=org) == []


def test_an_edit_of_a_stale_version_changes_no_total(org, rep, stages, deal):
    deal_update(deal=deal, by=rep, expected_version=deal.version, name="Renamed")  # version 2 now

    with pytest.raises(StaleVersion):
        deal_update(deal=deal, by=rep, expected_version=1, amount="1")

    assert totals(org) == {(stages[0].id, rep.user_id, "USD"): (1, Decimal("12000"))}


def test_an_edit_of_other_fields_of_a_closed_deal_changes_no_total(org, rep, process, account, deal):
    deal_win(deal=deal, by=rep, expected_version=deal.version)

    deal_update(deal=deal, by=rep, expected_version=deal.version, amount="1", currency="EUR")

    assert totals(org) == {}
    assert rollup_drift(org=org) == []


def test_deleting_an_open_deal_takes_it_off_the_totals(org, rep, process, stages, account, deal):
    kept = deal_create(by=rep, process=process, name="Kept", account=account, amount="5")

    deal_delete(deal=deal)

    assert not Deal.objects.filter(pk=deal.pk).exists()
    assert totals(org) == {(stages[0].id, rep.user_id, "USD"): (1, Decimal("5"))}
    assert kept.pk


def test_each_organization_has_its_own_totals(org, deal, other_org_world):
    other = other_org_world["member"].organization

    assert sum(n for n, _ in totals(org).values()) == 1
    assert sum(n for n, _ in totals(other).values()) == 1


def test_rebuild_recomputes_rows_that_drifted(org, rep, manager, process, stages, deal):
    second = deal_create(by=manager, process=process, name="B", account=deal.account, amount="3")
    StageRollup.objects.filter(owner_id=rep.user_id).update(open_count=7, amount_sum=Decimal("1"))
    StageRollup.objects.filter(owner_id=manager.user_id).delete()
    # A row for deals that no longer exist (as if written behind the services' back).
    StageRollup.objects.create(
        organization=org, process=process, stage=stages[3], owner=rep.user, currency="GBP", open_count=2
    )

    drift = rollup_drift(org=org)
    fixed = rollup_rebuild(org=org)

    assert fixed == drift and len(drift) == 3
    assert totals(org) == {
        (stages[0].id, rep.user_id, "USD"): (1, Decimal("12000")),
        (stages[0].id, manager.user_id, "USD"): (1, Decimal("3")),
    }
    assert rollup_drift(org=org) == []
    assert second.pk


def test_rebuild_of_exact_rollups_writes_nothing(org, deal):
    before = list(StageRollup.objects.for_org(org).values())

    assert rollup_rebuild(org=org) == []
    assert list(StageRollup.objects.for_org(org).values()) == before


def test_reconcile_command_checks_then_repairs(org, rep, deal, capsys):
    StageRollup.objects.for_org(org).update(open_count=5)

    with pytest.raises(CommandError, match="1 rollup row disagreed"):
        call_command("reconcile_rollups", "--check", "--org", org.slug)
    assert StageRollup.objects.for_org(org).get().open_count == 5  # --check changes nothing

    call_command("reconcile_rollups", "--org", org.slug)

    assert StageRollup.objects.for_org(org).get().open_count == 1
    assert "1 rollup row corrected" in capsys.readouterr().out
    call_command("reconcile_rollups", "--check")


def test_reconcile_command_refuses_an_unknown_org(db):
    with pytest.raises(CommandError, match="No organization"):
        call_command("reconcile_rollups", "--org", "nope")


def test_the_demo_seeder_leaves_exact_rollups(db):
    report = demo_seed(deals=80, seed=3, slug="rollup-demo", name="Rollup demo")

    org = Organization.objects.get(slug="rollup-demo")
    assert sum(r.open_count for r in StageRollup.objects.for_org(org)) == report.open > 0
    assert rollup_drift(org=org) == []


def test_the_board_reads_its_column_totals_from_the_rollups(client, org, rep, stages, deal):
    # Proof that the header does not count deals: a drifted row shows (until reconciled).
    StageRollup.objects.for_org(org).update(open_count=41)
    client.force_login(rep.user)

    html = client.get(reverse("board", args=[deal.process_id])).content.decode()

    head = html[html.index(f'id="col-head-{stages[0].id}"') :][:600]
    assert "41 deals" in head
    rollup_rebuild(org=org)
    html = client.get(reverse("board", args=[deal.process_id])).content.decode()
    assert "1 deal<" in html[html.index(f'id="col-head-{stages[0].id}"') :][:600]


def test_a_board_of_many_owners_and_currencies_totals_the_filtered_owners(
    client, org, rep, other_rep, manager, process, stages
):
    account = AccountFactory(organization=org)
    deal_create(by=rep, process=process, name="Mine", account=account, amount="100")
    deal_create(by=rep, process=process, name="Mine too", account=account, amount="5", currency="EUR")
    deal_create(by=other_rep, process=process, name="Theirs", account=account, amount="7000")
    client.force_login(rep.user)

    mine = client.get(reverse("board", args=[process.id]) + "?owner=me").content.decode()
    everyone = client.get(reverse("board", args=[process.id])).content.decode()

    head = mine[mine.index(f'id="col-head-{stages[0].id}"') :][:600]
    assert "2 deals" in head and "mixed currencies" in head and "105" in head
    head = everyone[everyone.index(f'id="col-head-{stages[0].id}"') :][:600]
    assert "3 deals" in head and "7,105" in head


def test_the_nightly_task_repairs_drift_and_reports_it(
    org, rep, deal, caplog, django_capture_on_commit_callbacks
):
    StageRollup.objects.for_org(org).update(open_count=9)

    with django_capture_on_commit_callbacks(execute=True):
        assert reconcile_rollups_all() == 1
    assert StageRollup.objects.for_org(org).get().open_count == 1
    assert "Rollup drift in acme" in caplog.text
    assert reconcile_org_rollups(org.id) == 0


def test_the_admin_action_recomputes_the_selected_rows_organizations(client, org, deal):
    staff = User.objects.create_superuser("root@example.test", "pass-word-123")
    client.force_login(staff)
    row = StageRollup.objects.for_org(org).get()
    StageRollup.objects.filter(pk=row.pk).update(open_count=3)

    response = client.post(
        reverse("admin:deals_stagerollup_changelist"),
        {"action": "rebuild", "_selected_action": [row.pk]},
        follow=True,
    )

    assert "1 row corrected" in response.content.decode()
    assert StageRollup.objects.get(pk=row.pk).open_count == 1
