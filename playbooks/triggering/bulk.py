"""One play, every open deal of its processes: set-based SQL, in chunks."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.db import DatabaseError, connection, transaction
from django.db.models import (
    Count,
    DateTimeField,
    Q,
    Value,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Greatest
from django.utils import timezone

from deals.models import Deal, DealStatus, DealStep, StepSource
from orgs.models import Organization
from playbooks.conditions import to_q
from playbooks.models import DealPlay, Play, PlayStep
from playbooks.triggering.conditions import Explainer, play_condition, with_labels
from salesproc.models import Stage

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


def _row_checks_off(play: Play) -> bool:
    """Let the chunk's inserts skip PostgreSQL's per-row foreign-key checks, which would otherwise
    queue one check per key of every new attachment and plan line (half the time of a large run, all
    at commit). Safe because every row they reference is locked here as those checks would lock it:
    the deals (key-share, `_lock_deals`), the play (FOR UPDATE), and below its organization, steps and
    the steps' stages. Needs a superuser, or `GRANT SET ON PARAMETER session_replication_role`
    (PostgreSQL 15+); without it (False) the rows are checked one by one, as always. The caller sets
    the role back to `origin` after its inserts."""
    if connection.vendor != "postgresql":
        return False
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL session_replication_role = replica")
    except DatabaseError:
        return False
    qn = connection.ops.quote_name
    steps = qn(PlayStep._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id FROM {qn(Organization._meta.db_table)} WHERE id = %s FOR KEY SHARE",
            [play.organization_id],
        )
        cursor.execute(f"SELECT id FROM {steps} WHERE play_id = %s ORDER BY id FOR KEY SHARE", [play.pk])
        cursor.execute(
            f"SELECT id FROM {qn(Stage._meta.db_table)} WHERE id IN (SELECT stage_id FROM {steps} WHERE play_id = %s)"
            " ORDER BY id FOR KEY SHARE",
            [play.pk],
        )
    return True


def _in(column: str, ids: list[int]) -> Q:
    """`column IN ids`; on PostgreSQL as one array parameter rather than thousands (cheaper to build
    and to plan)."""
    if connection.vendor == "postgresql":
        return Q(**{f"{column}__in": RawSQL("SELECT unnest(%s::bigint[])", [ids])})
    return Q(**{f"{column}__in": ids})


def _ids_sql(column: str, ids: list[int]) -> tuple[str, list]:
    if connection.vendor == "postgresql":
        return f"{column} = ANY(%s)", [ids]
    return f"{column} IN ({', '.join(['%s'] * len(ids))})", list(ids)


def _insert_missing_steps(play_id: int, deal_ids: list[int], now: datetime) -> int:
    """One INSERT … SELECT: the play's steps missing from the plans of `deal_ids`, each deal's after the
    last step of its plan, in the play's step order: the rows `deal_plays_evaluate` adds deal by deal
    (a deal that already had some of the steps keeps a gap in its positions where they would go).

    Steps already in a plan are left out by ON CONFLICT on deal_step_once_per_play_step rather than by
    a NOT EXISTS: the conflict check always probes that index, where a NOT EXISTS leaves the planner a
    choice that stale statistics (right after a large run) can turn into a scan per row."""
    if not deal_ids:
        return 0
    qn = connection.ops.quote_name
    step_table, ps_table = qn(DealStep._meta.db_table), qn(PlayStep._meta.db_table)
    deal_table, order = qn(Deal._meta.db_table), qn("order")
    deals_sql, deals_params = _ids_sql("d.id", deal_ids)
    tops_sql, tops_params = _ids_sql("s.deal_id", deal_ids)
    # `WHERE 1 = 1` before ON CONFLICT: SQLite cannot otherwise tell the upsert's ON from a join's.
    sql = f"""
        INSERT INTO {step_table}
            (organization_id, deal_id, title, description, source, stage_id, play_step_id, position, created_at)
        SELECT c.organization_id, c.deal_id, c.title, c.description, %s, c.stage_id, c.step_id,
               COALESCE(tops.top, -1) + ROW_NUMBER() OVER (PARTITION BY c.deal_id ORDER BY c.step_order, c.step_id),
               %s
        FROM (
            SELECT d.organization_id, d.id AS deal_id, ps.id AS step_id, ps.{order} AS step_order,
                   ps.title, ps.description, ps.stage_id
            FROM {deal_table} d JOIN {ps_table} ps ON ps.play_id = %s
            WHERE {deals_sql}
        ) c
        LEFT JOIN (
            SELECT s.deal_id, MAX(s.position) AS top FROM {step_table} s WHERE {tops_sql} GROUP BY s.deal_id
        ) tops ON tops.deal_id = c.deal_id
        WHERE 1 = 1
        ON CONFLICT DO NOTHING
    """
    params = [StepSource.PLAY.value, connection.ops.adapt_datetimefield_value(now), play_id]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *deals_params, *tops_params])
        return max(cursor.rowcount, 0)


def _insert_deal_plays(play: Play, whys: dict[int, list[str]], now: datetime) -> int:
    """The new attachments, one INSERT … SELECT per distinct `why` (one in all unless the condition has
    an `any`): no model instance per row. A deal a concurrent evaluation attached first is skipped."""
    groups: dict[str, list[int]] = {}
    for deal_id, why in whys.items():
        groups.setdefault(json.dumps(why), []).append(deal_id)
    qn = connection.ops.quote_name
    why_sql = "CAST(%s AS jsonb)" if connection.vendor == "postgresql" else "%s"
    inserted = 0
    with connection.cursor() as cursor:
        for why, deal_ids in groups.items():
            ids_sql, ids_params = _ids_sql("d.id", deal_ids)
            cursor.execute(
                f"""
                INSERT INTO {qn(DealPlay._meta.db_table)} (organization_id, deal_id, play_id, attached_at, why)
                SELECT d.organization_id, d.id, %s, %s, {why_sql}
                FROM {qn(Deal._meta.db_table)} d WHERE {ids_sql}
                ON CONFLICT DO NOTHING
                """,
                [play.pk, connection.ops.adapt_datetimefield_value(now), why, *ids_params],
            )
            inserted += max(cursor.rowcount, 0)
    return inserted


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
        cond = play_condition(play)
        if cond is not None:
            [cond] = with_labels([cond], play.organization_id)
    deals = _open_scope(play)
    explainer = Explainer(cond, now) if cond is not None else None
    matching = set(deals.filter(to_q(cond, now=now)).values_list("id", flat=True)) if cond else set()
    attached_now = DealPlay.objects.filter(play_id=play_id, detached_at__isnull=True).order_by()
    attached = set(attached_now.values_list("deal_id", flat=True))
    step_ids = list(PlayStep.objects.filter(play_id=play_id).values_list("id", flat=True))
    lacking: set[int] = set()
    if step_ids and cond is not None and attached:
        # Attached deals whose plan lacks some of the play's steps: those not among the deals that have
        # them all. An aggregate, not a correlated NOT EXISTS per deal and step (see above).
        complete = (
            DealStep.objects.filter(play_step_id__in=step_ids)
            .order_by()
            .values("deal_id")
            .annotate(n=Count("id"))
            .filter(n=len(step_ids))
            .values_list("deal_id", flat=True)
        )
        lacking = attached - set(complete)
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
            truths = explainer.matching(deals.filter(_in("id", ids))) if explainer else {}
            now_matching = set(truths)
            open_rows = dict(attached_now.filter(_in("deal_id", ids)).values_list("deal_id", "id"))
            new = sorted(now_matching - open_rows.keys())
            gone = sorted(d for d in open_rows if d not in now_matching)
            inserting = bool(new) or bool(step_ids and now_matching)
            checks_off = inserting and _row_checks_off(play)
            if new:
                whys = {deal_id: explainer.why(truths[deal_id]) for deal_id in new}
                result.attached += _insert_deal_plays(play, whys, now)
            if gone:
                DealPlay.objects.filter(_in("id", [open_rows[d] for d in gone])).update(
                    detached_at=Greatest("attached_at", Value(now, output_field=DateTimeField()))
                )
                result.detached += len(gone)
                if step_ids:
                    removed, _ = DealStep.objects.filter(
                        _in("deal_id", gone), play_step_id__in=step_ids, completed_at__isnull=True
                    ).delete()
                    result.steps_removed += removed
            if step_ids and now_matching:
                result.steps_added += _insert_missing_steps(play_id, sorted(now_matching), now)
            if checks_off:
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL session_replication_role = origin")
        if progress:
            progress(min(start + chunk_size, total), total)
    return result
