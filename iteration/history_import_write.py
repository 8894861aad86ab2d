"""The writes of a history import, inside the caller's transaction (iteration.history_import).

Set-based throughout, whatever the number of deals:
- owners, memberships and accounts: one lookup per chunk of names, one bulk insert for the new ones;
- existing deals of the process: one query for their fields, one for their tags, one for a fingerprint
  of each one's history (computed by PostgreSQL), so unchanged deals are skipped without a write;
- changed deals: one UPDATE … FROM a temporary table on PostgreSQL (bulk_update elsewhere), guarded
  by the version each deal had when it was read; their replaced tags and history: one DELETE each;
- new rows: COPY on PostgreSQL, the lines built by this thread while a second thread streams the
  previous batch into the database (bulk_create elsewhere). When the history file is grouped by deal,
  the new deals and their stage entries are copied while it is still being read (`complete`, called
  by iteration.history_import_files as each deal's rows end), so PostgreSQL stores them on one core
  while Python reads on the other; a deal whose rows turn out to go on further down the file is taken
  back (`reopened`) and written with the rest once the file is read.
"""

import hashlib
import io
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property

from django.apps import apps
from django.contrib.auth.hashers import make_password
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models.functions import Lower
from django.utils import timezone

from deals.models import Account, Deal, DealTag, StageChange, TagKind
from deals.services.rollups import rollup_rebuild
from iteration import history_import_copy as binary
from iteration.history_import_copy import COPY_BATCH, CopyStream
from iteration.history_import_files import DealRow, HistoryImportInvalid, Problem
from orgs.models import Membership, Organization, Role, User
from salesproc.lib.bulk_insert import bulk_insert, take_ids
from salesproc.models import Process

# Ids per `IN (…)` on SQLite, which allows 999 parameters a statement.
SQLITE_CHUNK = 900
# An import that writes this many rows refreshes the planner's statistics of the tables it wrote.
ANALYZE_AFTER_ROWS = 10_000

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
NULL = "\\N"
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})

# What an import sets on an existing deal, in the order of `_target`.
UPDATE_FIELDS = (
    "name", "account_id", "industry", "owner_id", "amount", "currency", "created_at", "status", "closed_at",
    "lost_reason", "stage_id", "stage_entered_at",
)  # fmt: skip
# The temporary table of UPDATE … FROM on PostgreSQL.
UPDATE_COLUMNS = {
    "id": "bigint", "version": "integer", "name": "text", "account_id": "bigint", "industry": "text",
    "owner_id": "bigint", "amount": "numeric", "currency": "text", "created_at": "timestamptz",
    "status": "text", "closed_at": "timestamptz", "lost_reason": "text", "stage_id": "bigint",
    "stage_entered_at": "timestamptz", "last_activity_at": "timestamptz",
}  # fmt: skip
# New deals, in the order of `ImportWriter.deal_copy_rows` (every column: COPY fills no defaults).
DEAL_COPY_COLUMNS = (
    "id", "organization_id", "external_id", "process_id", "name", "account_id", "industry", "owner_id",
    "amount", "currency", "created_at", "status", "closed_at", "lost_reason", "stage_id",
    "stage_entered_at", "last_activity_at", "updated_at", "version", "expected_close", "budget",
    "lead_source", "description",
)  # fmt: skip
STAGE_CHANGE_COLUMNS = (
    "organization_id", "deal_id", "from_stage_id", "to_stage_id", "entered_at", "left_at", "by_id",
    "process_version_id", "override_reason", "overridden_criteria",
)  # fmt: skip
TAG_COLUMNS = ("organization_id", "deal_id", "kind", "value")
ACCOUNT_COLUMNS = ("id", "organization_id", "name", "industry", "created_at")
# The foreign-key columns of the copied rows and what they refer to (see ImportWriter.copied_references);
# a test keeps this in step with the models and the COPY columns above.
COPY_REFERENCES = {
    "deals_deal": {
        "organization_id": "orgs.Organization",
        "process_id": "salesproc.Process",
        "account_id": "deals.Account",
        "owner_id": "orgs.User",
        "stage_id": "salesproc.Stage",
    },
    "deals_dealtag": {"organization_id": "orgs.Organization", "deal_id": "deals.Deal"},
    "deals_stagechange": {
        "organization_id": "orgs.Organization",
        "deal_id": "deals.Deal",
        "from_stage_id": "salesproc.Stage",
        "to_stage_id": "salesproc.Stage",
        "by_id": "orgs.User",
        "process_version_id": "salesproc.ProcessVersion",
    },
}


def chain(deal: DealRow) -> list[tuple[int | None, int, datetime, datetime | None]]:
    """The deal's entries as (from_stage_id, to_stage_id, entered_at, left_at): each entry left when
    the next began; the last is open, or left at closed_at for a closed deal."""
    entries = deal.entries
    out = []
    previous = None
    for i, (at, stage_id, _line) in enumerate(entries):
        left = entries[i + 1][0] if i + 1 < len(entries) else deal.closed_at
        out.append((previous, stage_id, at, left))
        previous = stage_id
    return out


def last_activity(deal: DealRow) -> datetime:
    """The last stage entry or the close, whichever is later."""
    last_at = deal.entries[-1][0]
    return max(last_at, deal.closed_at) if deal.closed_at is not None else last_at


def _micros(value: datetime | None) -> str:
    return "" if value is None else str((value - EPOCH) // MICROSECOND)


def fingerprint(entries: Iterable[tuple]) -> str:
    """A digest of a history: (from_stage_id, to_stage_id, entered_at, left_at) in order. The same
    text is built by `deal_fingerprint` from a deal of the files, and in SQL by
    `ImportWriter.stored_fingerprints` on PostgreSQL."""
    text = ",".join(f"{f or ''}>{t}@{_micros(e)}-{_micros(left)}" for f, t, e, left in entries)
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def deal_fingerprint(deal: DealRow) -> str:
    """`fingerprint(chain(deal))`, inlined: it runs for every deal of a re-import."""
    entries = deal.entries
    last = len(entries) - 1
    parts = []
    previous = ""
    for i, (at, stage_id, _line) in enumerate(entries):
        left = entries[i + 1][0] if i < last else deal.closed_at
        left_text = "" if left is None else (left - EPOCH) // MICROSECOND
        parts.append(f"{previous}>{stage_id}@{(at - EPOCH) // MICROSECOND}-{left_text}")
        previous = stage_id
    return hashlib.md5(",".join(parts).encode(), usedforsecurity=False).hexdigest()


# Tags as one text per deal: "kind:value" sorted, joined by the ASCII unit separator. PostgreSQL builds
# the same text with string_agg … ORDER BY kind, value COLLATE "C" (code-point order, as Python sorts).
TAG_SEPARATOR = "\x1f"


def _tag_text(pairs: Iterable[tuple[str, str]]) -> str:
    return TAG_SEPARATOR.join(sorted(f"{kind}:{value}" for kind, value in pairs))


def _tags(deal: DealRow) -> str:
    return _tag_text(
        [(TagKind.COMPETITOR.value, v) for v in deal.competitors]
        + [(TagKind.OBJECTION.value, v) for v in deal.objections]
    )


def _target(deal: DealRow) -> tuple:
    """The deal's values in UPDATE_FIELDS order, as the files say."""
    last_at, last_stage, _ = deal.entries[-1]
    return (
        deal.name,
        deal.account_id,
        deal.industry,
        deal.owner_id,
        deal.amount,
        deal.currency,
        deal.created_at,
        deal.status,
        deal.closed_at,
        deal.lost_reason,
        last_stage,
        last_at,
    )


def _chunks(items: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _text(value: str) -> str:
    """A string in COPY's text format."""
    return value.translate(_COPY_ESCAPES)


@dataclass
class _Existing:
    id: int
    version: int
    values: tuple
    last_activity_at: datetime


class ImportWriter:
    """The writes of one import, in two steps so the database can work while Python reads:
    `prepare` needs only the deals file (owners, accounts, the stored deals, the new deals' ids) and
    may go on on a second thread (`early`: the stored deals' tags and history, the new deals' tags)
    while the caller reads the history file; `finish_early_copy` waits for that thread; `run` writes
    the rest. The caller's transaction rolls everything back if the history file turns out wrong."""

    def __init__(
        self,
        org: Organization,
        process: Process,
        deals: dict[str, DealRow],
        deals_filename: str,
        timings: dict,
        fast_checks: bool = True,
    ):
        self.timings = timings
        self.org = org
        self.process = process
        self.deals = deals
        self.deals_filename = deals_filename
        self.now = timezone.now()
        self.postgres = connection.vendor == "postgresql"
        self.fast_checks = fast_checks
        self.bulk_checks: bool | None = None  # not asked yet
        self.references: dict | None = None
        self.chunk = 20_000 if self.postgres else SQLITE_CHUNK
        self.prepared = False
        self.new: list[DealRow] = []
        self.new_ids: dict[str, int] = {}
        self.early_copy: CopyStream | None = None
        self.early_stored: tuple[list, list] | None = None
        self.new_accounts: list[tuple] = []
        self.created_accounts: list[tuple] = []
        self.analyzed_early: set = set()
        self.tags_copied = False
        # New deals copied while the history file was read (HistoryStream): their number of stage
        # entries by external_id; those to take back; the rows waiting for a full batch.
        self.streaming = False
        self.streamed: dict[str, int] = {}
        self.taken_back: list[DealRow] = []
        self.pending_deals: list[bytes] = []
        self.pending_history: list[bytes] = []
        self.result = {
            "deals_created": 0,
            "deals_updated": 0,
            "deals_unchanged": 0,
            "history_rows": 0,
            "members_created": 0,
            "users_created": 0,
            "accounts_created": 0,
        }

    def prepare(self, deals: dict[str, DealRow] | None = None, *, early: bool = False) -> None:
        """Everything that needs only the deals file (`deals`, whose stage entries may still be
        missing): owners and accounts found or created, the stored deals read, ids taken for the new
        ones. With `early` (PostgreSQL), the stored deals' tags and history fingerprints are queried and
        the new deals' tags copied by a second thread while the caller goes on; the caller runs no
        query before `finish_early_copy`."""
        if deals is not None:
            self.deals = deals
        started = time.monotonic()
        owners = self.owners()
        accounts = self.accounts()
        for deal in self.deals.values():
            deal.owner_id = owners[deal.owner_email]
            deal.account_id = accounts[deal.account]
        self.existing = self.existing_deals()
        existing_ids = sorted(e.id for e in self.existing.values())
        self.new = [d for d in self.deals.values() if d.external_id not in self.existing]
        if self.postgres and self.new:
            ids = take_ids(Deal, len(self.new))
            self.new_ids = dict(zip((d.external_id for d in self.new), ids, strict=True))
        self.prepared = True
        self.timings["prepare"] = time.monotonic() - started
        if not (early and self.postgres and (self.new or existing_ids or self.new_accounts)):
            self.insert_accounts()
            self.stored_tags = self.stored_tags_text(existing_ids)
            self.stored_history = self.stored_fingerprints(existing_ids)
            return
        # The rest runs on a second thread while the caller reads the history file: the stored deals'
        # tags and history fingerprints (a re-import), the new accounts and the new deals' tags.
        if self.new or self.new_accounts:
            self._row_checks_replica()
        self.early_copy = CopyStream(backlog=0).start()
        self.stored_tags = self.stored_history = {}
        if existing_ids:
            self.early_stored = (
                self.early_copy.fetch(*self.stored_tags_sql(existing_ids)),
                self.early_copy.fetch(*self.stored_fingerprints_sql(existing_ids)),
            )
        self.insert_accounts(self.early_copy)
        if self.new:
            self.early_copy.copy(DealTag, TAG_COLUMNS, self.tag_lines(self.new, self.new_ids))
            self.tags_copied = True
            self.streaming = True
        # A large import's accounts and tags are complete now: their statistics are refreshed here
        # rather than after the deals (each new deal has at least one stage entry, so `analyze` would).
        if 2 * len(self.new) >= ANALYZE_AFTER_ROWS:
            self.analyzed_early = {Account, DealTag}
            tables = ", ".join(connection.ops.quote_name(m._meta.db_table) for m in self.analyzed_early)
            self.early_copy.execute(f"ANALYZE {tables}")

    @cached_property
    def encoder(self) -> "_Encoder":
        return _Encoder(self)

    # HistoryStream: new deals copied while the history file is read.

    def complete(self, deal: DealRow) -> None:
        deal_id = self.new_ids.get(deal.external_id)
        if deal_id is None:  # a stored deal: compared with the file, and written if changed, by `run`
            return
        encoder = self.encoder
        self.pending_deals.append(encoder.deal(deal, deal_id))
        history = encoder.history(deal, deal_id)
        self.streamed[deal.external_id] = len(history)
        self.pending_history.extend(history)
        if len(self.pending_history) >= COPY_BATCH:
            self._send_pending()

    def reopened(self, deal: DealRow) -> None:
        # The file is not grouped by deal: no more deals are taken before the whole file is read.
        self.streaming = False
        if self.streamed.pop(deal.external_id, None) is not None:
            self.taken_back.append(deal)

    def _send_pending(self) -> None:
        stream = self.early_copy
        if self.pending_deals:
            stream.copy_batch(Deal, DEAL_COPY_COLUMNS, self.pending_deals, binary=True)
        if self.pending_history:
            stream.copy_batch(StageChange, STAGE_CHANGE_COLUMNS, self.pending_history, binary=True)
        self.pending_deals, self.pending_history = [], []

    def finish_early_copy(self, *, failed: bool = False) -> None:
        """Wait for what `prepare` and `complete` sent; raise its error unless the caller is failing
        anyway."""
        stream = self.early_copy
        if stream is None:
            return
        if not failed:
            self._send_pending()
        self.early_copy = None
        self.streaming = False
        started = time.monotonic()
        stream.close(raise_error=not failed)
        self.timings["early_wait"] = time.monotonic() - started
        if failed:
            return
        if self.early_stored is not None:
            tags, history = self.early_stored
            self.stored_tags, self.stored_history = dict(tags), dict(history)
        self._row_checks_origin()

    def run(self) -> dict:
        if not self.prepared:
            self.prepare()
        existing, stored_tags, stored_history = self.existing, self.stored_tags, self.stored_history
        changed: list[tuple[DealRow, _Existing]] = []
        retag: list[DealRow] = []
        rewrite: list[DealRow] = []
        for deal in self.deals.values():
            current = existing.get(deal.external_id)
            if current is None:
                continue
            # An activity logged in the app since the last import keeps the deal's later
            # last_activity_at; the import never moves it back.
            fields_same = current.values == _target(deal) and current.last_activity_at >= last_activity(deal)
            tags_same = stored_tags.get(current.id, "") == _tags(deal)
            history_same = stored_history.get(current.id) == deal_fingerprint(deal)
            if fields_same and tags_same and history_same:
                self.result["deals_unchanged"] += 1
                continue
            changed.append((deal, current))
            if not tags_same:
                retag.append(deal)
            if not history_same:
                rewrite.append(deal)
        new = self.new
        deal_ids = {deal.external_id: current.id for deal, current in changed}
        self.update_deals(changed)
        self.delete_for_deals(DealTag, [deal_ids[d.external_id] for d in retag])
        self.delete_for_deals(StageChange, [deal_ids[d.external_id] for d in rewrite])
        deal_ids.update(self.new_ids)
        started = time.monotonic()
        self.take_back()
        self.insert(new, retag, rewrite, deal_ids)
        self.timings["copy"] = self.timings.get("copy", 0.0) + time.monotonic() - started
        self.result["deals_created"] = len(new)
        self.result["deals_updated"] = len(changed)
        if new or changed:
            self.check_constraints()
            started = time.monotonic()
            self.analyze()
            self.timings["analyze"] = time.monotonic() - started
            # The board's column totals: bulk writers rebuild them in their own transaction. Last, as
            # the rebuild locks the rollup table against every deal write until the commit.
            started = time.monotonic()
            rollup_rebuild(org=self.org)
            self.timings["rollups"] = time.monotonic() - started
        return self.result

    def check_constraints(self) -> None:
        """Have PostgreSQL check the deferred foreign keys of the rows written now rather than at the
        commit, so that nothing after this (the rollup rebuild's table lock above all) is held while
        they are checked. A key that no longer holds (an account or user deleted meanwhile) raises
        IntegrityError here.

        Row by row, PostgreSQL checks about one key every 3 µs: ~10 s for 100k deals and 500k entries.
        When the copied rows skipped those checks (_row_checks_off), each foreign key of each copied
        table is checked once per distinct referenced key instead — the same guarantee, including the
        FOR KEY SHARE lock that keeps a referenced row from being deleted before the commit."""
        if not self.postgres:
            return
        started = time.monotonic()
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
            for model, ids in (self.references or {}).items():
                self._check_present(cursor, model, sorted(ids))
        self.timings["checks"] = time.monotonic() - started

    @staticmethod
    def _check_present(cursor, model, ids: list[int]) -> None:
        """Every id exists, each locked FOR KEY SHARE (as PostgreSQL's own check locks it) so it cannot
        be deleted before this transaction ends; else IntegrityError."""
        table = connection.ops.quote_name(model._meta.db_table)
        cursor.execute(
            f"SELECT count(*) FROM (SELECT 1 FROM {table} WHERE id = ANY(%s) FOR KEY SHARE) AS present", [ids]
        )
        present = cursor.fetchone()[0]
        if present != len(ids):
            raise IntegrityError(
                f"{len(ids) - present} {model._meta.verbose_name} row(s) the imported rows refer to no "
                "longer exist"
            )

    # People and accounts

    def owners(self) -> dict[str, int]:
        """User id by owner email (lower case). New people become users without a usable password
        and inactive members (role rep) of the org: they own deals but cannot sign in. People who
        are already members keep their membership as it is."""
        emails = sorted({d.owner_email for d in self.deals.values()})
        users: dict[str, int] = {}
        for chunk in _chunks(emails, SQLITE_CHUNK):
            rows = (
                User.objects.annotate(email_lower=Lower("email"))
                .filter(email_lower__in=chunk)
                .order_by("id")
                .values_list("email_lower", "id")
            )
            for email, user_id in rows:
                users.setdefault(email, user_id)
        missing = [e for e in emails if e not in users]
        if missing:
            created = User.objects.bulk_create(
                [User(email=e, password=make_password(None), date_joined=self.now) for e in missing]
            )
            users.update({u.email: u.pk for u in created})
            self.result["users_created"] = len(created)
        user_ids = sorted(users.values())
        members: set[int] = set()
        for chunk in _chunks(user_ids, SQLITE_CHUNK):
            members.update(
                Membership.objects.filter(organization=self.org, user_id__in=chunk).values_list(
                    "user_id", flat=True
                )
            )
        new_members = [
            Membership(
                organization=self.org, user_id=uid, role=Role.REP, is_active=False, created_at=self.now
            )
            for uid in user_ids
            if uid not in members
        ]
        Membership.objects.bulk_create(new_members)
        self.result["members_created"] = len(new_members)
        return users

    def accounts(self) -> dict[str, int]:
        """Account id by name: the org's oldest account of exactly that name, or a new one with the
        industry of the first deal that names it. On PostgreSQL the new accounts get their ids now
        and are written by `insert_accounts`."""
        industries: dict[str, str] = {}
        for deal in self.deals.values():
            if not industries.get(deal.account):
                industries[deal.account] = deal.industry
        names = sorted(industries)
        found: dict[str, int] = {}
        for chunk in _chunks(names, self.chunk):
            rows = (
                Account.objects.for_org(self.org)
                .filter(name__in=chunk)
                .order_by("id")
                .values_list("name", "id")
            )
            for name, account_id in rows:
                found.setdefault(name, account_id)
        missing = [n for n in names if n not in found]
        rows = [(self.org.id, name, industries[name], self.now) for name in missing]
        if self.postgres:
            ids = take_ids(Account, len(missing)) if missing else []
            self.new_accounts = [(account_id, *row) for account_id, row in zip(ids, rows, strict=True)]
        else:
            ids = bulk_insert(Account, ACCOUNT_COLUMNS[1:], rows, returning_ids=True)
        found.update(zip(missing, ids, strict=True))
        self.result["accounts_created"] = len(missing)
        return found

    def insert_accounts(self, stream: CopyStream | None = None) -> None:
        """The new accounts `accounts` named (PostgreSQL), copied by `stream` or at once."""
        rows, self.new_accounts = self.new_accounts, []
        self.created_accounts += rows
        if not rows:
            return
        if stream is None:
            bulk_insert(Account, ACCOUNT_COLUMNS, rows)
            return
        now = self.now.isoformat()
        stream.copy(
            Account,
            (*ACCOUNT_COLUMNS, "website", "notes"),
            (
                f"{i}\t{org}\t{_text(name)}\t{_text(industry)}\t{now}\t\t\n"
                for i, org, name, industry, _ in rows
            ),
        )

    # Existing deals

    def existing_deals(self) -> dict[str, _Existing]:
        """The process's deals that carry an external_id (served by deal_external_id_unique_per_org)."""
        rows = (
            Deal.objects.for_org(self.org)
            .filter(process=self.process, external_id__isnull=False)
            .values_list("external_id", "id", "version", "last_activity_at", *UPDATE_FIELDS)
            .iterator(chunk_size=10_000)
        )
        return {
            row[0]: _Existing(id=row[1], version=row[2], last_activity_at=row[3], values=tuple(row[4:]))
            for row in rows
        }

    @staticmethod
    def stored_tags_sql(deal_ids: list[int]) -> tuple[str, list]:
        """The query of stored_tags_text on PostgreSQL: (deal_id, tag text) rows."""
        sql = f"""
            SELECT deal_id, string_agg(kind || ':' || value, %s ORDER BY kind, value COLLATE "C")
            FROM {connection.ops.quote_name(DealTag._meta.db_table)}
            WHERE deal_id = ANY(%s)
            GROUP BY deal_id
        """
        return sql, [TAG_SEPARATOR, deal_ids]

    @staticmethod
    def stored_fingerprints_sql(deal_ids: list[int]) -> tuple[str, list]:
        """The query of stored_fingerprints on PostgreSQL: (deal_id, fingerprint) rows."""

        def micros(column: str) -> str:
            return f"(extract(epoch from {column}) * 1000000)::bigint::text"

        sql = f"""
            SELECT deal_id, md5(string_agg(
                coalesce(from_stage_id::text, '') || '>' || to_stage_id::text
                || '@' || {micros("entered_at")} || '-' || coalesce({micros("left_at")}, ''),
                ',' ORDER BY entered_at, id))
            FROM {connection.ops.quote_name(StageChange._meta.db_table)}
            WHERE deal_id = ANY(%s)
            GROUP BY deal_id
        """
        return sql, [deal_ids]

    def stored_tags_text(self, deal_ids: list[int]) -> dict[int, str]:
        """`_tags` of each deal's stored tags (deals without tags are missing)."""
        if not deal_ids:
            return {}
        if self.postgres:
            with connection.cursor() as cursor:
                cursor.execute(*self.stored_tags_sql(deal_ids))
                return dict(cursor.fetchall())
        tags: dict[int, list] = {}
        for chunk in _chunks(deal_ids, self.chunk):
            rows = DealTag.objects.filter(deal_id__in=chunk).values_list("deal_id", "kind", "value")
            for deal_id, kind, value in rows:
                tags.setdefault(deal_id, []).append((kind, value))
        return {deal_id: _tag_text(pairs) for deal_id, pairs in tags.items()}

    def stored_fingerprints(self, deal_ids: list[int]) -> dict[int, str]:
        """`fingerprint` of each deal's stored history; on PostgreSQL computed by the database (one
        row per deal rather than one per entry, and no timestamps to convert)."""
        if not deal_ids:
            return {}
        if self.postgres:
            with connection.cursor() as cursor:
                cursor.execute(*self.stored_fingerprints_sql(deal_ids))
                return dict(cursor.fetchall())
        entries: dict[int, list] = {}
        for chunk in _chunks(deal_ids, self.chunk):
            rows = (
                StageChange.objects.filter(deal_id__in=chunk)
                .order_by("deal_id", "entered_at", "id")
                .values_list("deal_id", "from_stage_id", "to_stage_id", "entered_at", "left_at")
            )
            for deal_id, *entry in rows:
                entries.setdefault(deal_id, []).append(entry)
        return {deal_id: fingerprint(items) for deal_id, items in entries.items()}

    def update_deals(self, changed: list[tuple[DealRow, _Existing]]) -> None:
        """Each changed deal gets the files' values and a new version, guarded by the version read
        above: a deal edited meanwhile fails the whole import rather than being overwritten blind."""
        if not changed:
            return
        rows = [
            (current.id, current.version, *_target(deal), max(current.last_activity_at, last_activity(deal)))
            for deal, current in changed
        ]
        columns = tuple(UPDATE_COLUMNS)
        updated = (
            self._update_from_temp_table(columns, rows) if self.postgres else self._bulk_update(columns, rows)
        )
        if updated != len(rows):
            raise HistoryImportInvalid(
                [
                    Problem(
                        self.deals_filename,
                        1,
                        "",
                        f"{len(rows) - updated} of these deals were changed by someone else during the "
                        "import; nothing was imported. Import again.",
                    )
                ]
            )

    def _update_from_temp_table(self, columns: tuple[str, ...], rows: list[tuple]) -> int:
        table = "history_import_deal"
        assignments = ", ".join(f"{c} = t.{c}" for c in columns if c not in ("id", "version"))
        deal_table = connection.ops.quote_name(Deal._meta.db_table)
        with connection.cursor() as cursor:
            # An earlier import in the same (test) transaction may have left it.
            cursor.execute(f"DROP TABLE IF EXISTS pg_temp.{table}")
            cursor.execute(
                f"CREATE TEMPORARY TABLE {table} ({', '.join(f'{c} {UPDATE_COLUMNS[c]}' for c in columns)}) "
                "ON COMMIT DROP"
            )
            for chunk in _chunks(rows, COPY_BATCH):
                data = "".join("\t".join(_copy_value(v) for v in row) + "\n" for row in chunk)
                cursor.copy_expert(
                    f"COPY {table} ({', '.join(columns)}) FROM STDIN", io.StringIO(data), len(data) + 1
                )
            cursor.execute(
                f"UPDATE {deal_table} d SET {assignments}, version = d.version + 1, updated_at = %s "
                f"FROM {table} t WHERE d.id = t.id AND d.version = t.version",
                [self.now],
            )
            updated = cursor.rowcount
            cursor.execute(f"DROP TABLE {table}")
        return updated

    def _bulk_update(self, columns: tuple[str, ...], rows: list[tuple]) -> int:
        updated = 0
        for chunk in _chunks(rows, SQLITE_CHUNK):
            versions = dict(Deal.objects.filter(pk__in=[r[0] for r in chunk]).values_list("id", "version"))
            deals = []
            for row in chunk:
                if versions.get(row[0]) != row[1]:
                    continue
                values = dict(zip(columns, row, strict=True))
                values["version"] += 1
                deals.append(Deal(updated_at=self.now, **values))
            Deal.objects.bulk_update(deals, [*columns[1:], "updated_at"], batch_size=200)
            updated += len(deals)
        return updated

    def delete_for_deals(self, model, deal_ids: list[int]) -> None:
        """Delete the rows of `model` (tags or stage entries) of these deals, set-based."""
        if not deal_ids:
            return
        if self.postgres:
            with connection.cursor() as cursor:
                table = connection.ops.quote_name(model._meta.db_table)
                cursor.execute(f"DELETE FROM {table} WHERE deal_id = ANY(%s)", [deal_ids])
            return
        for chunk in _chunks(deal_ids, SQLITE_CHUNK):
            model.objects.filter(deal_id__in=chunk).delete()

    # New rows

    def take_back(self) -> None:
        """Delete the deals copied while the history file was read whose rows went on further down
        (`reopened`), with their stage entries: `insert` writes them again, complete. Their tags stay."""
        if not self.taken_back:
            return
        ids = [self.new_ids[d.external_id] for d in self.taken_back]
        self._row_checks_replica()
        self.delete_for_deals(StageChange, ids)
        with connection.cursor() as cursor:
            table = connection.ops.quote_name(Deal._meta.db_table)
            cursor.execute(f"DELETE FROM {table} WHERE id = ANY(%s)", [ids])
        self._row_checks_origin()

    def insert(
        self, new: list[DealRow], retag: list[DealRow], rewrite: list[DealRow], deal_ids: dict[str, int]
    ) -> None:
        """The new deals, and the tags and history of the new deals and of the changed ones that
        need them (`deal_ids` holds the ids of both; on SQLite the new ones are added here). The new
        deals' tags are left out when `prepare` copied them already, and so are the new deals that
        `complete` copied."""
        tagged = retag if self.tags_copied else [*new, *retag]
        histories = [*new, *rewrite]
        streamed = self.streamed
        copy_new = [d for d in new if d.external_id not in streamed] if streamed else new
        copy_histories = [*copy_new, *rewrite]
        if not self.postgres:
            ids = bulk_insert(
                Deal, DEAL_COPY_COLUMNS[1:18], [self.deal_row(d) for d in new], returning_ids=True
            )
            deal_ids.update(zip((d.external_id for d in new), ids, strict=True))
            bulk_insert(DealTag, TAG_COLUMNS, list(self.tag_rows(tagged, deal_ids)))
            history = [(*row[:8],) for row in self.history_rows(histories, deal_ids)]
            bulk_insert(StageChange, STAGE_CHANGE_COLUMNS[:8], history)
            self.result["history_rows"] = len(history)
            return
        self._row_checks_replica()
        with CopyStream() as stream:
            stream.copy(Deal, DEAL_COPY_COLUMNS, self.deal_copy_rows(copy_new, deal_ids), binary=True)
            stream.copy(DealTag, TAG_COLUMNS, self.tag_lines(tagged, deal_ids))
            self.result["history_rows"] = sum(streamed.values()) + stream.copy(
                StageChange,
                STAGE_CHANGE_COLUMNS,
                self.history_copy_rows(copy_histories, deal_ids),
                binary=True,
            )
        self._row_checks_origin()
        if self.bulk_checks:
            self.references = self.references_to_check(new, histories)

    def _row_checks_replica(self) -> None:
        """Per-row foreign-key checks off for the COPY that follows, when the database allows it
        (asked once per import: _row_checks_off)."""
        if self.bulk_checks is None:
            self.bulk_checks = self._row_checks_off() if self.fast_checks else False
        elif self.bulk_checks:
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL session_replication_role = replica")

    def _row_checks_origin(self) -> None:
        """Back to firing triggers: the UPDATEs and DELETEs between two copies, and everything after
        the import, are checked row by row as always."""
        if self.bulk_checks:
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL session_replication_role = origin")

    def copied_references(self, new: list[DealRow], histories: list[DealRow]) -> dict:
        """The keys the copied rows name, per referenced table (COPY_REFERENCES says which column
        names which). `deal_id` of tags and entries is left out: those deals were inserted or updated
        by this transaction, so they exist and no one else can delete them before it ends."""
        stages = {stage_id for d in new for _, stage_id, _ in d.entries[-1:]}
        stages |= {stage_id for d in histories for _, stage_id, _ in d.entries}
        refs = {
            "orgs.Organization": {self.org.id},
            "salesproc.Process": {self.process.id} if new else set(),
            "deals.Account": {d.account_id for d in new},
            "orgs.User": {d.owner_id for d in new},
            "salesproc.Stage": stages,
            "salesproc.ProcessVersion": {self.process.current_version_id} if histories else set(),
        }
        return {apps.get_model(label): ids for label, ids in refs.items()}

    def references_to_check(self, new: list[DealRow], histories: list[DealRow]) -> dict:
        """copied_references without the empty sets and NULLs, nor the accounts this transaction
        created (like the deals, they exist and no one else can delete them before it ends)."""
        refs = self.copied_references(new, histories)
        refs[Account] -= {row[0] for row in self.created_accounts}
        return {model: ids - {None} for model, ids in refs.items() if ids - {None}}

    def _row_checks_off(self) -> bool:
        """Stop PostgreSQL from queueing a foreign-key check per copied row (its RI triggers do not fire
        while `session_replication_role` is `replica`), for check_constraints to check them per
        referenced key instead. Needs a superuser, or `GRANT SET ON PARAMETER session_replication_role`
        (PostgreSQL 15+); without it (False) the rows are checked one by one, as always."""
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SET LOCAL session_replication_role = replica")
        except DatabaseError:
            return False
        return True

    def deal_row(self, deal: DealRow) -> tuple:
        """A new deal's values in DEAL_COPY_COLUMNS[1:18] order."""
        last_at, last_stage, _ = deal.entries[-1]
        return (
            self.org.id,
            deal.external_id,
            self.process.id,
            deal.name,
            deal.account_id,
            deal.industry,
            deal.owner_id,
            deal.amount,
            deal.currency,
            deal.created_at,
            deal.status,
            deal.closed_at,
            deal.lost_reason,
            last_stage,
            last_at,
            last_activity(deal),
            self.now,
        )

    def deal_copy_rows(self, deals: list[DealRow], deal_ids: dict[str, int]) -> Iterator[bytes]:
        """New deals as binary COPY rows (iteration.history_import_copy), DEAL_COPY_COLUMNS order."""
        encode = self.encoder.deal
        for deal in deals:
            yield encode(deal, deal_ids[deal.external_id])

    def tag_rows(self, deals: list[DealRow], deal_ids: dict[str, int]) -> Iterator[tuple]:
        org = self.org.id
        for deal in deals:
            deal_id = deal_ids[deal.external_id]
            for value in deal.competitors:
                yield (org, deal_id, TagKind.COMPETITOR.value, value)
            for value in deal.objections:
                yield (org, deal_id, TagKind.OBJECTION.value, value)

    def tag_lines(self, deals: list[DealRow], deal_ids: dict[str, int]) -> Iterator[str]:
        for org, deal_id, kind, value in self.tag_rows(deals, deal_ids):
            yield f"{org}\t{deal_id}\t{kind}\t{_text(value)}\n"

    def history_rows(self, deals: list[DealRow], deal_ids: dict[str, int]) -> Iterator[tuple]:
        """STAGE_CHANGE_COLUMNS values; the entries have no `by` (nobody in this app moved them)."""
        org, version = self.org.id, self.process.current_version_id
        for deal in deals:
            deal_id = deal_ids[deal.external_id]
            for from_id, to_id, entered, left in chain(deal):
                yield (org, deal_id, from_id, to_id, entered, left, None, version, "", [])

    def history_copy_rows(self, deals: list[DealRow], deal_ids: dict[str, int]) -> Iterator[bytes]:
        """Stage entries as binary COPY rows, STAGE_CHANGE_COLUMNS order (the values of history_rows)."""
        encode = self.encoder.history
        for deal in deals:
            yield from encode(deal, deal_ids[deal.external_id])

    def analyze(self) -> None:
        """Fresh planner statistics after a large import, so the next queries on these tables (the
        board, analytics, the next import) are not planned for the tables as they were before it."""
        written = self.result["deals_created"] + self.result["deals_updated"] + self.result["history_rows"]
        if self.postgres and written >= ANALYZE_AFTER_ROWS:
            # The accounts and tags analyzed while the history file was read are not again, unless
            # tags were written since (changed deals).
            done = self.analyzed_early - ({DealTag} if self.result["deals_updated"] else set())
            tables = [
                connection.ops.quote_name(m._meta.db_table)
                for m in (Deal, StageChange, DealTag, Account)
                if m not in done
            ]
            with connection.cursor() as cursor:
                cursor.execute(f"ANALYZE {', '.join(tables)}")


class _Encoder:
    """A new deal and its stage entries as binary COPY rows (iteration.history_import_copy), with the
    values every row of the import shares encoded once."""

    def __init__(self, writer: ImportWriter):
        int8, text = binary.int8, binary.text
        self.deal_start = binary.row_count(len(DEAL_COPY_COLUMNS))
        self.org, self.process = int8(writer.org.id), int8(writer.process.id)
        # updated_at now, version 1; expected_close and budget NULL; lead_source and description empty.
        self.deal_tail = (
            binary.timestamptz(writer.now) + binary.int4(1) + binary.NULL + binary.NULL + text("") + text("")
        )
        self.amounts: dict = {}
        self.entry_start = binary.row_count(len(STAGE_CHANGE_COLUMNS)) + self.org
        # by NULL, the process's current version, no override reason, no overridden criteria.
        self.entry_tail = (
            binary.NULL + int8(writer.process.current_version_id) + text("") + binary.jsonb("[]")
        )

    def deal(self, deal: DealRow, deal_id: int) -> bytes:
        """DEAL_COPY_COLUMNS order."""
        int8, text, timestamptz = binary.int8, binary.text, binary.timestamptz
        last_at, last_stage, _ = deal.entries[-1]
        amount = self.amounts.get(deal.amount)
        if amount is None:
            amount = self.amounts[deal.amount] = binary.numeric(deal.amount)
        return b"".join(
            (
                self.deal_start,
                int8(deal_id),
                self.org,
                text(deal.external_id),
                self.process,
                text(deal.name),
                int8(deal.account_id),
                text(deal.industry),
                int8(deal.owner_id),
                amount,
                text(deal.currency),
                timestamptz(deal.created_at),
                text(deal.status),
                timestamptz(deal.closed_at),
                text(deal.lost_reason),
                int8(last_stage),
                timestamptz(last_at),
                timestamptz(last_activity(deal)),
                self.deal_tail,
            )
        )

    def history(self, deal: DealRow, deal_id: int) -> list[bytes]:
        """STAGE_CHANGE_COLUMNS order, one row per entry (the values of ImportWriter.history_rows),
        built from constant pieces: each time is converted once, as an entry's start is also the
        previous entry's end."""
        micros, null, pair = binary.micros, binary.NULL, binary.pack8
        head = self.entry_start + binary.int8(deal_id)
        tail = self.entry_tail
        entries = deal.entries
        times = [pair(8, micros(at)) for at, _, _ in entries]
        times.append(null if deal.closed_at is None else pair(8, micros(deal.closed_at)))
        rows = []
        previous = null
        for i, (_, to_id, _) in enumerate(entries):
            stage = pair(8, to_id)
            rows.append(b"".join((head, previous, stage, times[i], times[i + 1], tail)))
            previous = stage
        return rows


def _copy_value(value) -> str:
    if value is None:
        return NULL
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)
