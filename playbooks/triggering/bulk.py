"""One play, every open deal of its processes: set-based SQL, in chunks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction
from django.db.models import (
    DateTimeField,
    Exists,
    OuterRef,
    Value,
)
from django.db.models.functions import Greatest
from django.utils import timezone

from deals.models import Deal, DealStatus, DealStep, StepSource
from playbooks.conditions import to_q
from playbooks.models import DealPlay, Play, PlayStep
from playbooks.triggering.conditions import explain_many, play_condition, with_labels

# Deals per chunk of a bulk re-evaluation: one transaction, one lock set and one progress report each.
CHUNK_SIZE = 5000


@dataclass
class PlayReevaluation:
    """What one bulk re-evaluation of a play changed."""

    play_id: int
    candidates: int = 0  # deals whose attachment or plan had to be looked at
    attached: int = 0
    detached: int = 0
    steps_added: int = 0
    steps_removed: int = 0
    superseded: bool = False


def _token(play: Play) -> tuple:
    """What a run's decisions depend on; when it changes mid-run the run stops (a newer one is queued)."""
    return (play.version, play.active, play.condition, play.playbook.active, play.playbook.process_id)


def _open_scope(play: Play):
    deals = Deal.objects.filter(organization_id=play.organization_id, status=DealStatus.OPEN)
    if play.playbook.process_id is not None:
        deals = deals.filter(process_id=play.playbook.process_id)
    return deals


def _lock_deals(ids: list[int]) -> None:
    """Key-share locks on the chunk's deals, in id order: they conflict with the FOR UPDATE of
    `deal_plays_evaluate` (so a deal's evaluation waits for the chunk, then sees its result) but not
    with ordinary deal edits, which go on. SQLite serializes writers anyway."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id FROM {connection.ops.quote_name(Deal._meta.db_table)} WHERE id = ANY(%s) "
            "ORDER BY id FOR KEY SHARE",
            [ids],
        )


def _ids_sql(column: str, ids: list[int]) -> tuple[str, list]:
    if connection.vendor == "postgresql":
        return f"{column} = ANY(%s)", [ids]
    return f"{column} IN ({', '.join(['%s'] * len(ids))})", list(ids)


def _insert_missing_steps(play_id: int, deal_ids: list[int], now: datetime) -> int:
    """One INSERT … SELECT: the play's steps missing from the plans of `deal_ids`, each after the last
    step of its deal, in the play's step order. Same rows as `_add_missing_steps` per deal."""
    if not deal_ids:
        return 0
    qn = connection.ops.quote_name
    step_table, ps_table = qn(DealStep._meta.db_table), qn(PlayStep._meta.db_table)
    deal_table = qn(Deal._meta.db_table)
    order = qn("order")
    missing = (
        f"NOT EXISTS (SELECT 1 FROM {step_table} s WHERE s.deal_id = d.id AND s.play_step_id = {{ps}}.id)"
    )
    ids_sql, ids_params = _ids_sql("d.id", deal_ids)
    sql = f"""
        INSERT INTO {step_table}
            (organization_id, deal_id, title, description, source, stage_id, play_step_id, position, created_at)
        SELECT d.organization_id, d.id, ps.title, ps.description, %s, ps.stage_id, ps.id,
               COALESCE((SELECT MAX(s.position) FROM {step_table} s WHERE s.deal_id = d.id), -1) + 1
               + (SELECT COUNT(*) FROM {ps_table} p2
                  WHERE p2.play_id = ps.play_id
                    AND (p2.{order} < ps.{order} OR (p2.{order} = ps.{order} AND p2.id < ps.id))
                    AND {missing.format(ps="p2")}),
               %s
        FROM {deal_table} d JOIN {ps_table} ps ON ps.play_id = %s
        WHERE {ids_sql} AND {missing.format(ps="ps")}
        ON CONFLICT DO NOTHING
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [StepSource.PLAY.value, now, play_id, *ids_params])
        return max(cursor.rowcount, 0)


def play_reevaluate(
    *,
    play_id: int,
    progress: Callable[[int, int], None] | None = None,
    now: datetime | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> PlayReevaluation:
    """Bring one play's attachments in line with its condition across every open deal of its
    processes: the same state `deal_plays_evaluate` reaches deal by deal, in set-based SQL.

    One query with `to_q` finds the matching open deals, one the deals attached now, one the attached
    deals whose plan lacks some of the play's steps; only the deals where these differ are touched, in
    chunks of `chunk_size` (each its own transaction: the deals' key-share locks, the match re-checked
    under them, bulk inserts, one UPDATE to detach, one DELETE of open steps). `progress(done, total)`
    is called after each chunk. An inactive play (or playbook) matches nothing: every deal detaches.
    Stops, marked `superseded`, when the play changes under it."""
    now = now or timezone.now()
    result = PlayReevaluation(play_id=play_id)
    play = Play.objects.select_related("playbook").filter(pk=play_id).first()
    if play is None:
        return result
    token = _token(play)
    cond = None
    if play.active and play.playbook.active:
        cond = play_condition(play.id, play.version, play.condition)
        if cond is not None:
            [cond] = with_labels([cond], play.organization_id)
    deals = _open_scope(play)
    matching = set(deals.filter(to_q(cond, now=now)).values_list("id", flat=True)) if cond else set()
    attached_now = DealPlay.objects.filter(play_id=play_id, detached_at__isnull=True)
    attached = set(attached_now.values_list("deal_id", flat=True))
    step_ids = list(PlayStep.objects.filter(play_id=play_id).values_list("id", flat=True))
    lacking: set[int] = set()
    if step_ids and cond is not None:
        missing_step = PlayStep.objects.filter(play_id=play_id).exclude(
            Exists(
                DealStep.objects.filter(deal_id=OuterRef(OuterRef("deal_id")), play_step_id=OuterRef("pk"))
            )
        )
        lacking = set(attached_now.filter(Exists(missing_step)).values_list("deal_id", flat=True))
    candidates = sorted((matching ^ attached) | (lacking & matching))
    result.candidates = total = len(candidates)
    if progress:
        progress(0, total)
    for start in range(0, total, chunk_size):
        ids = candidates[start : start + chunk_size]
        with transaction.atomic():
            current = Play.objects.select_for_update(of=("self",)).select_related("playbook").get(pk=play_id)
            if _token(current) != token:
                result.superseded = True
                break
            _lock_deals(ids)
            # Re-checked under the locks: a deal edited since the first query counts as it is now.
            now_matching = (
                set(deals.filter(to_q(cond, now=now), id__in=ids).values_list("id", flat=True))
                if cond
                else set()
            )
            open_rows = dict(attached_now.filter(deal_id__in=ids).values_list("deal_id", "id"))
            new = sorted(now_matching - open_rows.keys())
            gone = sorted(d for d in open_rows if d not in now_matching)
            if new:
                whys = explain_many(cond, deals, new, now)
                DealPlay.objects.bulk_create(
                    [
                        DealPlay(
                            organization_id=play.organization_id,
                            deal_id=deal_id,
                            play_id=play_id,
                            attached_at=now,
                            why=whys[deal_id],
                        )
                        for deal_id in new
                        if deal_id in whys
                    ],
                    batch_size=1000,
                    ignore_conflicts=True,
                )
                result.attached += len(new)
            if gone:
                DealPlay.objects.filter(pk__in=[open_rows[d] for d in gone]).update(
                    detached_at=Greatest("attached_at", Value(now, output_field=DateTimeField()))
                )
                result.detached += len(gone)
                if step_ids:
                    removed, _ = DealStep.objects.filter(
                        deal_id__in=gone, play_step_id__in=step_ids, completed_at__isnull=True
                    ).delete()
                    result.steps_removed += removed
            if step_ids and now_matching:
                result.steps_added += _insert_missing_steps(play_id, sorted(now_matching), now)
        if progress:
            progress(min(start + chunk_size, total), total)
    return result
