"""History import: a team's existing deals and their stage history, from two CSV files, into a process.

- `history_import_validate` reads and checks both files (iteration.history_import_files) and what
  they mean for the organization, writing nothing;
- `history_import_run` does the same inside one transaction, under a lock on the process, and writes
  everything in it: all or nothing. The database starts on what needs only the deals file (accounts,
  the new deals' tags, a re-import's stored fingerprints) while the history file is read;
- `history_import_start` keeps the uploaded files in a HistoryImport row and enqueues the job after
  commit; `history_import_execute` is the job (idempotent: a redelivered task does nothing new).

What is written, per deal (see docs/operations.md, "History import"): the deal found by
`(organization, external_id)` or created; its account found by name or created; its owner's user and
membership created when new (inactive, no usable password, role rep); one StageChange per history row
with `from_stage`, the process's current version and `left_at` chained (the next entry's time, or
closed_at for the last entry of a closed deal); `stage`, `stage_entered_at` and `last_activity_at`
from the last entry; DealTag rows for competitors and objections.

Idempotent by external_id: an existing deal is compared field by field, its tags as a set and its
history by a fingerprint of its entries, and only what differs is written (an unchanged deal keeps
its row, version and StageChange ids). The writes are set-based: iteration.history_import_write.
"""

import gc
import logging
import time
from collections.abc import Callable
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connection, connections, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from deals.models import Deal
from iteration.history_import_files import (
    HistoryImportInvalid,
    HistoryStream,
    Problem,
    Problems,
    ReadFiles,
    TooManyProblems,
    read_import_files,
)
from iteration.history_import_write import ImportWriter
from iteration.models import HistoryImport, JobStatus
from orgs.models import Membership, Organization
from salesproc.lib.errors import InvalidInput, NotAllowed
from salesproc.models import Process, Stage

__all__ = [
    "MAX_FILE_BYTES",
    "HistoryImportInvalid",
    "history_import_execute",
    "history_import_run",
    "history_import_start",
    "history_import_validate",
]

logger = logging.getLogger(__name__)

# Uploads larger than this are refused before they are stored (100k deals are about 15 MB).
MAX_FILE_BYTES = 100 * 1024 * 1024
# Reading is 0–80 % of the bar; the write is one transaction, invisible until it commits.
READ_SHARE = 80

ProgressCallback = Callable[[int, str], None]


def _require_importer(by: Membership | None, org: Organization) -> None:
    if by is not None and (by.organization_id != org.id or not by.can_edit_process):
        raise NotAllowed("Only ops and admins import history.")


def _stage_ids(process: Process) -> dict[str, int]:
    return dict(Stage.objects.filter(process=process).order_by("order").values_list("name", "id"))


def _read(
    *,
    organization: Organization,
    stage_ids: dict[str, int],
    deals_file: bytes,
    history_file: bytes,
    deals_filename: str,
    history_filename: str,
    progress: ProgressCallback | None,
    deals_read: Callable[[dict], None] | None = None,
    stream: HistoryStream | None = None,
) -> ReadFiles:
    """Both files read and checked, or HistoryImportInvalid. `deals_read(deals)` is called between
    the two files when the deals file had no problem."""
    problems = Problems()
    scaled = None
    if progress is not None:

        def scaled(percent: int, phase: str) -> None:
            progress(percent * READ_SHARE // 100, phase)

    try:
        files = read_import_files(
            deals_file=deals_file,
            history_file=history_file,
            deals_filename=deals_filename,
            history_filename=history_filename,
            stage_ids=stage_ids,
            default_currency=organization.default_currency,
            problems=problems,
            progress=scaled,
            deals_read=deals_read,
            stream=stream,
        )
    except TooManyProblems:
        files = None
    if problems:
        raise HistoryImportInvalid(
            problems.sorted([deals_filename, history_filename]), truncated=problems.truncated
        )
    return files


def _other_process_conflicts(
    organization: Organization, process: Process, deals: dict, deals_filename: str
) -> list[Problem]:
    """Deals of the file that exist in another process of the org: an import does not move them."""
    others = (
        Deal.objects.for_org(organization)
        .exclude(process=process)
        .filter(external_id__isnull=False)
        .values_list("external_id", "process__name")
        .iterator(chunk_size=10_000)
    )
    problems = []
    for external_id, process_name in others:
        deal = deals.get(external_id)
        if deal is not None:
            problems.append(
                Problem(
                    deals_filename,
                    deal.line,
                    "external_id",
                    f'"{external_id}" is a deal of the process "{process_name}"; import it there, '
                    "or give it another external_id.",
                )
            )
    problems.sort(key=lambda p: p.line)
    return problems


def history_import_validate(
    *,
    organization: Organization,
    process: Process,
    deals_file: bytes,
    history_file: bytes,
    deals_filename: str = "deals.csv",
    history_filename: str = "history.csv",
    progress: ProgressCallback | None = None,
) -> ReadFiles:
    """Check the files as `history_import_run` would, without writing anything. Returns what was
    read; raises HistoryImportInvalid listing every problem (up to 100)."""
    if process.organization_id != organization.id:
        raise InvalidInput({"process": ["Not found."]})
    files = _read(
        organization=organization,
        stage_ids=_stage_ids(process),
        deals_file=deals_file,
        history_file=history_file,
        deals_filename=deals_filename,
        history_filename=history_filename,
        progress=progress,
    )
    conflicts = _other_process_conflicts(organization, process, files.deals, deals_filename)
    if conflicts:
        raise HistoryImportInvalid(conflicts[:100], truncated=len(conflicts) > 100)
    return files


def history_import_run(
    *,
    organization: Organization,
    process: Process,
    deals_file: bytes,
    history_file: bytes,
    by: Membership | None,
    progress: ProgressCallback | None = None,
    deals_filename: str = "deals.csv",
    history_filename: str = "history.csv",
) -> dict:
    """Import the files into `process`, all or nothing; returns the counts
    (deals_created, deals_updated, deals_unchanged, history_rows, members_created, users_created,
    accounts_created).

    Raises HistoryImportInvalid (nothing written) for any problem in the files, NotAllowed when `by`
    is not ops or admin (None: a trusted caller such as the command or the job). Imports into one
    process are serialized by a lock on the process row, which also keeps its stages fixed meanwhile."""
    _require_importer(by, organization)
    if process.organization_id != organization.id:
        raise InvalidInput({"process": ["Not found."]})
    started = time.monotonic()
    timings: dict = {}
    with _no_cyclic_gc(), transaction.atomic():
        # Locked first: the files are read under the lock, so the stages cannot change meanwhile and
        # the database can start writing before the history file is read (see below).
        locked = Process.objects.select_for_update().get(pk=process.pk)
        writer = ImportWriter(organization, locked, {}, deals_filename, timings)
        conflicts: list[Problem] = []

        def deals_read(deals: dict) -> None:
            # The deals file is good: look up owners, accounts and stored deals now, and let the
            # database compute the stored deals' fingerprints and copy the new deals' tags, then each
            # new deal whose rows have ended (the writer is the reading's HistoryStream), while this
            # thread reads the history file. Should it be refused, the transaction rolls it all back.
            conflicts.extend(_other_process_conflicts(organization, locked, deals, deals_filename))
            if not conflicts:
                writer.prepare(deals, early=True)

        try:
            files = _read(
                organization=organization,
                stage_ids=_stage_ids(locked),
                deals_file=deals_file,
                history_file=history_file,
                deals_filename=deals_filename,
                history_filename=history_filename,
                progress=progress,
                deals_read=deals_read,
                stream=writer,
            )
        except BaseException:
            writer.finish_early_copy(failed=True)
            raise
        writer.finish_early_copy()
        if conflicts:
            raise HistoryImportInvalid(conflicts[:100], truncated=len(conflicts) > 100)
        if progress is not None:
            progress(
                READ_SHARE, f"Writing {len(files.deals):,} deals and {files.history_rows:,} stage entries"
            )
        read = time.monotonic()
        result = writer.run()
        written = time.monotonic()
    logger.info(
        "History import into process %s: %s; read %.1f s (of which owners, accounts and stored deals "
        "%.1f s, waiting for the tags copied meanwhile %.1f s), write %.1f s (new rows %.1f s, foreign "
        "key checks %.1f s, statistics %.1f s, board totals %.1f s), commit %.1f s",
        process.pk,
        result,
        read - started,
        timings.get("prepare", 0.0),
        timings.get("early_wait", 0.0),
        written - read,
        timings.get("copy", 0.0),
        timings.get("checks", 0.0),
        timings.get("analyze", 0.0),
        timings.get("rollups", 0.0),
        time.monotonic() - written,
    )
    return result


@contextmanager
def _no_cyclic_gc():
    """The import allocates millions of small objects and no reference cycles; Python's cyclic
    collector would scan the growing heap again and again (measured: 2 s of 4 to build the rows of
    500k stage entries)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# The job -----------------------------------------------------------------------------------------


@transaction.atomic
def history_import_start(
    *,
    organization: Organization,
    process: Process,
    by: Membership | None,
    deals_file: bytes,
    history_file: bytes,
    deals_filename: str = "deals.csv",
    history_filename: str = "history.csv",
) -> HistoryImport:
    """Keep the files in a queued HistoryImport and run it in the worker once this transaction
    commits. Only ops and admins start imports; the files are checked by the job, not here."""
    _require_importer(by, organization)
    if process.organization_id != organization.id:
        raise InvalidInput({"process": ["Not found."]})
    too_big = [
        name
        for name, data in ((deals_filename, deals_file), (history_filename, history_file))
        if len(data) > MAX_FILE_BYTES
    ]
    if too_big:
        raise InvalidInput(
            {"__all__": [f"{name} is larger than {MAX_FILE_BYTES // 2**20} MB." for name in too_big]}
        )
    job = HistoryImport.objects.create(
        organization=organization,
        process=process,
        created_by=by.user if by is not None else None,
        deals_filename=deals_filename[:255],
        history_filename=history_filename[:255],
        deals_data=deals_file,
        history_data=history_file,
        phase="Waiting for a worker",
    )
    from iteration.tasks_imports import run_history_import

    run_history_import.delay_on_commit(job.id)
    return job


def history_import_execute(*, import_id: int) -> HistoryImport | None:
    """Run a queued import: claim it (a conditional UPDATE), import, record the outcome. Returns None
    when there is nothing to do: the import is gone, finished, or running elsewhere. A running import
    whose start is older than the task time limit was abandoned by a dead worker (its transaction
    rolled back) and is claimed again."""
    now = timezone.now()
    abandoned = now - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT)
    claimed = (
        HistoryImport.objects.filter(pk=import_id)
        .filter(Q(status=JobStatus.QUEUED) | Q(status=JobStatus.RUNNING, started_at__lt=abandoned))
        .update(status=JobStatus.RUNNING, started_at=now, progress=0, phase="Starting", errors=[], result={})
    )
    if not claimed:
        return None
    job = HistoryImport.objects.select_related("organization", "process").get(pk=import_id)
    # The files as bytes, once: the row's copies are let go so the import does not hold both.
    deals_file, history_file = bytes(job.deals_data), bytes(job.history_data)
    job.deals_data = job.history_data = b""
    mine = HistoryImport.objects.filter(pk=import_id, status=JobStatus.RUNNING, started_at=now)
    progress = _ProgressReport(mine, import_id=import_id, started_at=now)
    outcome: dict = {"progress": 100}
    try:
        result = history_import_run(
            organization=job.organization,
            process=job.process,
            deals_file=deals_file,
            history_file=history_file,
            by=None,
            progress=progress,
            deals_filename=job.deals_filename,
            history_filename=job.history_filename,
        )
    except HistoryImportInvalid as exc:
        outcome.update(
            status=JobStatus.FAILED,
            phase="Nothing imported",
            errors=exc.as_dicts(),
            result={"errors_truncated": True} if exc.truncated else {},
        )
    except IntegrityError:
        logger.warning("History import %s conflicted with a concurrent write", import_id, exc_info=True)
        outcome.update(status=JobStatus.FAILED, phase="Nothing imported", errors=[_failure(_CONFLICT)])
    except Exception:
        logger.exception("History import %s failed", import_id)
        outcome.update(status=JobStatus.FAILED, phase="Nothing imported", errors=[_failure(_CRASH)])
    else:
        # The files are dropped once imported: they can be large, and the data now lives in the deals.
        outcome.update(
            status=JobStatus.SUCCEEDED, phase="Done", result=result, deals_data=b"", history_data=b""
        )
    finally:
        progress.close()
    del deals_file, history_file
    outcome["finished_at"] = timezone.now()
    mine.update(**outcome)
    if outcome["status"] == JobStatus.SUCCEEDED:
        # New history, new numbers: recompute the snapshot, and with it the suggestions.
        from iteration.snapshots import metric_run_request

        metric_run_request(process=job.process, by=None)
    return HistoryImport.objects.defer("deals_data", "history_data").get(pk=import_id)


class _ProgressReport:
    """The job's progress callback. The import reads its files inside its transaction, whose writes
    nobody sees before the commit and whose connection may be busy copying rows meanwhile (no query
    may run on it then): on PostgreSQL the progress goes through a connection of its own, committed at
    once, for the page to poll. Not when the job runs inside a caller's transaction (which may hold
    the job's row, and would hide the progress anyway): then only the outcome is written. On SQLite
    (development) the import's own connection writes it."""

    def __init__(self, mine: QuerySet, *, import_id: int, started_at):
        self.mine = mine
        self.key = (import_id, JobStatus.RUNNING, started_at)
        self.last = (-1, "")
        self.postgres = connection.vendor == "postgresql"
        self.side = (
            connections.create_connection(DEFAULT_DB_ALIAS)
            if self.postgres and not connection.in_atomic_block
            else None
        )

    def __call__(self, percent: int, phase: str) -> None:
        if (percent, phase) == self.last:
            return
        self.last = (percent, phase)
        if not self.postgres:
            self.mine.update(progress=min(percent, 99), phase=phase[:60])
        elif self.side is not None:
            table = self.side.ops.quote_name(HistoryImport._meta.db_table)
            with self.side.cursor() as cursor:  # autocommit: visible at once
                cursor.execute(
                    f"UPDATE {table} SET progress = %s, phase = %s "
                    "WHERE id = %s AND status = %s AND started_at = %s",
                    [min(percent, 99), phase[:60], *self.key],
                )

    def close(self) -> None:
        if self.side is not None:
            self.side.close()


_CONFLICT = (
    "Another import or edit wrote the same deals at the same time; nothing was imported. Import again."
)
_CRASH = "The import stopped on an unexpected error; nothing was imported. The error is in the worker's log."


def _failure(message: str) -> dict:
    return {"file": "", "line": 0, "column": "", "message": message}
