"""The strategy's saves: who may write it, the revisions that keep every edit, and the version lock."""

import threading

import pytest
from django.db import close_old_connections, connection

from deals.models import DealStep
from deals.services import step_add
from salesproc.lib.errors import InvalidInput, NotAllowed, StaleVersion
from strategy.models import STRATEGY_TEXT_MAX, DealStrategy, StrategyRevision
from strategy.selectors import deal_strategy
from strategy.services import StaleStrategy, strategy_update


def test_a_deal_without_a_strategy_reads_as_blank_at_version_0(deal):
    strategy = deal_strategy(deal)

    assert strategy.pk is None and strategy.version == 0
    assert (strategy.situation, strategy.risks) == ("", "")


def test_the_first_save_writes_version_1_and_a_revision(deal, rep):
    strategy = strategy_update(
        deal=deal, by=rep, expected_version=0, situation="  Quotes take 3 weeks ", risks="Budget freeze"
    )

    stored = DealStrategy.objects.get(deal=deal)
    assert stored.pk == strategy.pk and stored.version == 1
    assert (stored.situation, stored.risks, stored.next_moves) == ("Quotes take 3 weeks", "Budget freeze", "")
    assert stored.updated_by == rep.user and stored.organization_id == deal.organization_id
    [revision] = StrategyRevision.objects.filter(strategy=stored)
    assert (revision.version, revision.by, revision.organization_id) == (1, rep.user, deal.organization_id)
    assert revision.changes == [
        {"field": "situation", "before": "", "after": "Quotes take 3 weeks"},
        {"field": "risks", "before": "", "after": "Budget freeze"},
    ]


def test_each_save_records_who_changed_which_fields_before_and_after(deal, rep, manager):
    strategy_update(deal=deal, by=rep, expected_version=0, risks="Budget freeze", next_moves="Call the CFO")
    strategy = strategy_update(
        deal=deal, by=manager, expected_version=1, risks="Budget freeze until Q3", next_moves="Call the CFO"
    )

    assert strategy.version == 2 and strategy.updated_by_id == manager.user_id
    latest, first = StrategyRevision.objects.filter(strategy=strategy).order_by("-version")
    assert (latest.version, latest.by, first.by) == (2, manager.user, rep.user)
    # Only what changed: the next moves were sent unchanged.
    assert latest.changes == [
        {"field": "risks", "before": "Budget freeze", "after": "Budget freeze until Q3"}
    ]
    assert latest.field_labels == ["Risks"]


def test_fields_left_out_keep_their_text(deal, rep):
    strategy_update(deal=deal, by=rep, expected_version=0, situation="Slow quotes", risks="Budget")
    strategy_update(deal=deal, by=rep, expected_version=1, risks="")

    stored = DealStrategy.objects.get(deal=deal)
    assert (stored.situation, stored.risks, stored.version) == ("Slow quotes", "", 2)


def test_a_save_that_changes_nothing_writes_nothing(deal, rep):
    strategy_update(deal=deal, by=rep, expected_version=0, risks="Budget")

    strategy = strategy_update(deal=deal, by=rep, expected_version=1, risks="Budget ", situation="")

    assert strategy.version == 1
    assert DealStrategy.objects.get(deal=deal).version == 1
    assert StrategyRevision.objects.count() == 1


def test_a_stale_version_is_refused_and_nothing_is_written(deal, rep, manager):
    strategy_update(deal=deal, by=rep, expected_version=0, risks="Budget")
    strategy_update(deal=deal, by=manager, expected_version=1, risks="Budget freeze")

    with pytest.raises(StaleStrategy) as caught:
        strategy_update(deal=deal, by=rep, expected_version=1, risks="Mine", situation="Mine too")

    assert isinstance(caught.value, StaleVersion)  # the API and pages answer 409
    assert caught.value.current_version == 2
    stored = DealStrategy.objects.get(deal=deal)
    assert (stored.version, stored.risks, stored.situation) == (2, "Budget freeze", "")
    assert StrategyRevision.objects.count() == 2


def test_a_first_save_racing_another_is_stale(deal, rep, manager):
    strategy_update(deal=deal, by=manager, expected_version=0, risks="Manager first")

    with pytest.raises(StaleStrategy) as caught:
        strategy_update(deal=deal, by=rep, expected_version=0, risks="Rep second")

    assert caught.value.current_version == 1
    assert DealStrategy.objects.get(deal=deal).risks == "Manager first"


@pytest.mark.parametrize("role", ["rep", "manager", "admin"])
def test_the_rep_their_manager_and_admins_write_the_strategy(request, deal, role):
    by = request.getfixturevalue(role)

    strategy = strategy_update(deal=deal, by=by, expected_version=0, next_moves=f"{role} moves")

    assert strategy.version == 1 and strategy.next_moves == f"{role} moves"


@pytest.mark.parametrize("role", ["other_rep", "ops", "other_manager"])
def test_other_members_read_only_and_nothing_is_written(request, deal, role):
    by = request.getfixturevalue(role)

    with pytest.raises(NotAllowed):
        strategy_update(deal=deal, by=by, expected_version=0, risks="Not mine")

    assert not DealStrategy.objects.exists() and not StrategyRevision.objects.exists()


def test_the_rep_and_their_manager_edit_the_plan_and_another_rep_does_not(deal, rep, manager, other_rep):
    step_add(deal=deal, by=rep, title="Map the buying committee")
    step_add(deal=deal, by=manager, title="Executive sponsor call")

    with pytest.raises(NotAllowed):
        step_add(deal=deal, by=other_rep, title="Not mine")

    titles = set(DealStep.objects.filter(deal=deal, source="custom").values_list("title", flat=True))
    assert titles == {"Map the buying committee", "Executive sponsor call"}


def test_an_admin_of_another_org_cannot_write(deal, other_org_world):
    with pytest.raises(NotAllowed):
        strategy_update(deal=deal, by=other_org_world["member"], expected_version=0, risks="x")

    assert not DealStrategy.objects.exists()


@pytest.mark.parametrize(
    "fields, version, field",
    [
        ({"risks": "x" * (STRATEGY_TEXT_MAX + 1)}, 0, "risks"),
        ({"budget": "1000"}, 0, "budget"),
        ({"risks": "x"}, -1, "version"),
        ({"risks": "x"}, "1", "version"),
    ],
)
def test_bad_input_is_refused_with_the_field_named(deal, rep, fields, version, field):
    with pytest.raises(InvalidInput) as caught:
        strategy_update(deal=deal, by=rep, expected_version=version, **fields)

    assert field in caught.value.errors
    assert not DealStrategy.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("expected_version", [0, 1])
def test_two_concurrent_saves_of_the_same_version_one_wins(deal, rep, manager, expected_version):
    """First saves race on the one-per-deal key, later ones on the row lock: either way one save
    lands, the other is stale, and the history has exactly one revision for the version."""
    if expected_version:
        strategy_update(deal=deal, by=rep, expected_version=0, risks="Start")
    barrier = threading.Barrier(2, timeout=10)
    results: list[object] = [None, None]

    def run(slot: int, by) -> None:
        try:
            barrier.wait()
            strategy_update(deal=deal, by=by, expected_version=expected_version, risks=f"Save {slot}")
            results[slot] = "done"
        except Exception as exc:  # noqa: BLE001 - recorded and asserted below
            results[slot] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(slot, by)) for slot, by in enumerate((rep, manager))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    close_old_connections()

    assert results.count("done") == 1, results
    loser = next(r for r in results if r != "done")
    assert isinstance(loser, StaleStrategy), repr(loser)
    assert loser.current_version == expected_version + 1
    stored = DealStrategy.objects.get(deal=deal)
    assert stored.version == expected_version + 1
    assert stored.risks == f"Save {results.index('done')}"
    assert StrategyRevision.objects.filter(version=expected_version + 1).count() == 1
