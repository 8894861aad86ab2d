"""The stage history (StageChange) as a chain: each entry is left exactly when the next one starts or
the deal closes, one entry per move, each under the process version in force, and concurrent moves
of one deal never both succeed."""

import threading
from datetime import timedelta

import pytest
from django.db import close_old_connections, connection, transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deals.models import Deal, DealStatus, StageChange
from deals.services import deal_create, deal_lose, deal_move, deal_win
from orgs.models import Role
from salesproc.lib.errors import InvalidInput, StaleVersion
from salesproc.models import ProcessVersion
from salesproc.services import process_import, stage_update
from tests.factories import AccountFactory, MembershipFactory, OrganizationFactory
from tests.fixtures import SIMPLE_PROCESS


def history(deal: Deal) -> list[StageChange]:
    return list(StageChange.objects.filter(deal=deal).order_by("entered_at", "id"))


def assert_chain_consistent(deal: Deal) -> list[StageChange]:
    """The invariants of one deal's history; returns the entries in order."""
    deal.refresh_from_db()
    entries = history(deal)
    assert entries, "every deal has at least its first entry"
    assert entries[0].from_stage_id is None
    for before, after in zip(entries, entries[1:], strict=False):
        assert before.left_at == after.entered_at
        assert after.from_stage_id == before.to_stage_id
        assert after.to_stage_id != before.to_stage_id
    last = entries[-1]
    assert last.to_stage_id == deal.stage_id
    assert last.entered_at == deal.stage_entered_at
    if deal.status == DealStatus.OPEN:
        assert last.left_at is None and deal.closed_at is None
    else:
        assert deal.closed_at is not None and last.left_at == deal.closed_at
    assert StageChange.objects.filter(deal=deal, left_at__isnull=True).count() == (
        1 if deal.status == DealStatus.OPEN else 0
    )
    return entries


def test_moves_back_moves_skips_and_a_win_keep_the_chain(rep, process, stages, account):
    t0 = timezone.now() - timedelta(days=40)
    deal = deal_create(by=rep, process=process, name="Chain", account=account, at=t0)
    path = [1, 0, 3, 2, 3]  # forward, back, skip two, back, forward
    for day, index in enumerate(path, start=1):
        before = StageChange.objects.filter(deal=deal).count()
        deal_move(
            deal=deal,
            to_stage=stages[index],
            by=rep,
            expected_version=deal.version,
            at=t0 + timedelta(days=day),
        )
        assert StageChange.objects.filter(deal=deal).count() == before + 1
    deal_win(deal=deal, by=rep, expected_version=deal.version, at=t0 + timedelta(days=10))

    entries = assert_chain_consistent(deal)

    assert [e.to_stage_id for e in entries] == [stages[i].id for i in [0, *path]]
    assert [e.entered_at for e in entries] == [t0 + timedelta(days=d) for d in range(len(path) + 1)]
    assert entries[-1].left_at == t0 + timedelta(days=10)
    assert deal.status == DealStatus.WON and deal.version == len(path) + 2


def test_a_loss_closes_the_last_entry_and_adds_none(rep, process, stages, account):
    t0 = timezone.now() - timedelta(days=5)
    deal = deal_create(by=rep, process=process, name="Lost one", account=account, at=t0)
    deal_move(deal=deal, to_stage=stages[2], by=rep, expected_version=deal.version, at=t0 + timedelta(days=1))

    deal_lose(
        deal=deal, by=rep, expected_version=deal.version, reason="Budget cut", at=t0 + timedelta(days=3)
    )

    entries = assert_chain_consistent(deal)
    assert len(entries) == 2
    assert entries[-1].left_at == deal.closed_at == t0 + timedelta(days=3)
    assert deal.status == DealStatus.LOST and deal.stage_id == stages[2].id


def test_a_closed_deal_cannot_move_and_its_chain_is_untouched(rep, process, stages, deal):
    deal_win(deal=deal, by=rep, expected_version=deal.version)
    before = [(e.id, e.left_at) for e in history(deal)]

    with pytest.raises(InvalidInput, match="already won"):
        deal_move(deal=deal, to_stage=stages[1], by=rep, expected_version=deal.version)
    with pytest.raises(InvalidInput, match="already won"):
        deal_lose(deal=deal, by=rep, expected_version=deal.version, reason="Changed our minds")

    assert [(e.id, e.left_at) for e in history(deal)] == before
    assert_chain_consistent(deal)


def test_each_entry_records_the_process_version_in_force(rep, process, stages, account):
    deal = deal_create(by=rep, process=process, name="Versions", account=account)
    v1 = process.current_version
    deal_move(deal=deal, to_stage=stages[1], by=rep, expected_version=deal.version)

    stage_update(stage=stages[2], by=None, probability=55)  # an ops edit between two moves
    process.refresh_from_db()
    v2 = process.current_version
    deal_move(deal=deal, to_stage=stages[2], by=rep, expected_version=deal.version)
    deal_move(deal=deal, to_stage=stages[0], by=rep, expected_version=deal.version)

    entries = assert_chain_consistent(deal)
    assert (v1.number, v2.number) == (1, 2)
    assert [e.process_version_id for e in entries] == [v1.id, v1.id, v2.id, v2.id]
    assert ProcessVersion.objects.get(pk=v2.pk).snapshot["stages"][2]["probability"] == 55


def test_an_edit_that_changes_nothing_keeps_the_version(rep, process, stages, account):
    deal = deal_create(by=rep, process=process, name="Same", account=account)

    stage_update(stage=stages[1], by=None, probability=stages[1].probability)
    deal_move(deal=deal, to_stage=stages[1], by=rep, expected_version=deal.version)

    assert ProcessVersion.objects.filter(process=process).count() == 1
    assert {e.process_version_id for e in history(deal)} == {process.current_version_id}


# Property: any sequence of moves, back-moves, skips, edits, wins and losses keeps the chain.

OPS = st.lists(
    st.one_of(
        st.tuples(st.just("move"), st.integers(min_value=0, max_value=3)),
        st.tuples(st.just("edit"), st.integers(min_value=0, max_value=100)),
        st.just(("win",)),
        st.just(("lose",)),
    ),
    max_size=12,
)


def _world():
    """Fresh, unique objects for one example (examples share the test's transaction)."""
    org = OrganizationFactory()
    rep = MembershipFactory(organization=org, role=Role.REP)
    process, _ = process_import(org=org, data=SIMPLE_PROCESS, by=None)
    account = AccountFactory(organization=org)
    return rep, process, list(process.stages.order_by("order")), account


@pytest.mark.django_db
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=OPS)
def test_any_sequence_of_moves_and_closes_keeps_the_chain(ops):
    with transaction.atomic():
        _check_sequence(ops)
        transaction.set_rollback(True)  # the next example starts from an empty database again


def _check_sequence(ops) -> None:
    rep, process, stages, account = _world()
    t0 = timezone.now() - timedelta(days=100)
    deal = deal_create(by=rep, process=process, name="Prop", account=account, at=t0)
    # The model: the stage path, the version each entry was made under, the deal's version.
    path = [stages[0].id]
    versions = [process.current_version_id]
    version = 1
    status = DealStatus.OPEN
    for i, op in enumerate(ops, start=1):
        at = t0 + timedelta(hours=i)
        count = StageChange.objects.filter(deal=deal).count()
        moved = False
        if op[0] == "edit":
            stage_update(stage=stages[1], by=None, probability=op[1])
            process.refresh_from_db()
        elif status != DealStatus.OPEN:
            with pytest.raises(InvalidInput):
                deal_move(deal=deal, to_stage=stages[0], by=rep, expected_version=version, at=at)
        elif op[0] == "move" and stages[op[1]].id == path[-1]:
            with pytest.raises(InvalidInput):
                deal_move(deal=deal, to_stage=stages[op[1]], by=rep, expected_version=version, at=at)
        elif op[0] == "move":
            deal_move(deal=deal, to_stage=stages[op[1]], by=rep, expected_version=version, at=at)
            path.append(stages[op[1]].id)
            versions.append(process.current_version_id)
            version, moved = version + 1, True
        elif op[0] == "win":
            deal_win(deal=deal, by=rep, expected_version=version, at=at)
            status, version = DealStatus.WON, version + 1
        else:
            deal_lose(deal=deal, by=rep, expected_version=version, reason="No budget", at=at)
            status, version = DealStatus.LOST, version + 1
        # Exactly one entry per successful move; closes, edits and refusals add none.
        assert StageChange.objects.filter(deal=deal).count() == count + moved
    entries = assert_chain_consistent(deal)
    assert [e.to_stage_id for e in entries] == path
    assert [e.process_version_id for e in entries] == versions
    assert (deal.version, deal.status) == (version, status)


# Concurrency: the optimistic lock under real parallel transactions


ACTIONS = {
    "move": lambda deal, rep, stages: deal_move(deal=deal, to_stage=stages[1], by=rep, expected_version=1),
    "win": lambda deal, rep, stages: deal_win(deal=deal, by=rep, expected_version=1),
    "lose": lambda deal, rep, stages: deal_lose(deal=deal, by=rep, expected_version=1, reason="Lost"),
}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("actions", [("move", "move"), ("move", "win"), ("win", "lose")])
def test_two_concurrent_writes_with_the_same_version_one_wins(actions, rep, process, stages, deal):
    barrier = threading.Barrier(2, timeout=10)
    results: list[object] = [None, None]

    def run(slot: int) -> None:
        try:
            mine = Deal.objects.get(pk=deal.pk)
            barrier.wait()
            ACTIONS[actions[slot]](mine, rep, stages)
            results[slot] = "done"
        except Exception as exc:  # noqa: BLE001 - recorded and asserted below
            results[slot] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(slot,)) for slot in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    close_old_connections()

    assert results.count("done") == 1, results
    winner = actions[results.index("done")]
    loser = next(r for r in results if r != "done")
    assert isinstance(loser, StaleVersion), repr(loser)
    assert loser.current_version == 2
    deal.refresh_from_db()
    assert deal.version == 2
    entries = assert_chain_consistent(deal)
    if winner == "move":
        assert (deal.status, [e.to_stage_id for e in entries]) == ("open", [stages[0].id, stages[1].id])
    else:
        assert (deal.status, [e.to_stage_id for e in entries]) == (
            "won" if winner == "win" else "lost",
            [stages[0].id],
        )


def test_an_entry_records_the_version_in_force_even_from_a_stale_process_object(
    rep, ops, process, stages, account
):
    from salesproc.services import stage_update

    stale = process  # loaded before the edit below; its current_version is the old one
    old_version = stale.current_version_id
    stage_update(stage=stages[0], by=ops, expected_days=5)

    deal = deal_create(by=rep, process=stale, name="After the edit", account=account)

    entry = StageChange.objects.get(deal=deal)
    assert stale.current_version_id == old_version
    assert entry.process_version_id != old_version
    assert entry.process_version.number == process.versions.order_by("-number").first().number
