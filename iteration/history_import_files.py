"""Reading and checking the two CSV files of a history import, with no database access.

The files are read row by row (csv.reader over the decoded text, never a dict per row) into one compact
`DealRow` per deal holding its stage entries; every problem is recorded with its file, line and column
(the header name) and reading stops after MAX_PROBLEMS. What needs the database (stage names aside,
which the caller passes in) is checked by iteration.history_import.

The rules, documented in docs/operations.md ("History import"):
- deals: `external_id,name,account,industry,owner_email,amount,currency,created_at,status,closed_at,
  lost_reason,competitors,objections`; history: `external_id,stage,entered_at`. Columns in any order,
  names case-insensitive; a missing or unknown column is an error. Blank lines are skipped.
- times are ISO 8601; a time without an offset is UTC; a date alone is 00:00 UTC.
- lists (competitors, objections) are separated by `;`.
- every deal needs at least one history row; its first entry may not be before its created_at, a
  closed deal's closed_at may not be before its last entry, and two consecutive entries may not be in
  the same stage (the deal never left it).

A history file grouped by deal (each deal's rows together, as exports usually are) can be written while
it is read: when a deal's rows end and its history is correct, `HistoryStream.complete` hands it to the
writer. Rows of a deal that come back later are not an error (the file is then simply not grouped):
`HistoryStream.reopened` tells the writer to take that deal back.
"""

import csv
import io
import operator
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Protocol

from salesproc.lib.errors import InvalidInput

DEAL_COLUMNS = (
    "external_id", "name", "account", "industry", "owner_email", "amount", "currency", "created_at",
    "status", "closed_at", "lost_reason", "competitors", "objections",
)  # fmt: skip
HISTORY_COLUMNS = ("external_id", "stage", "entered_at")
DEAL_STATUSES = ("open", "won", "lost")
MAX_PROBLEMS = 100
MAX_TAGS = 30
# How often (in rows) reading reports progress.
PROGRESS_EVERY = 20_000

# A pragmatic address check: something@something.tld, no spaces. Django's validator is stricter but
# costs ~5 µs a call; addresses repeat (a team has few owners), so the full check runs once per address
# in `_email_ok` below.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_TIME_EXAMPLE = "e.g. 2024-03-01T09:30:00Z or 2024-03-01"
_CENT = Decimal("0.01")
_AMOUNT_LIMIT = Decimal("1e12")


@dataclass(frozen=True, slots=True)
class Problem:
    """One reason the import is refused. `column` is the header name, or "" for the whole row or file."""

    file: str
    line: int
    column: str
    message: str

    def as_dict(self) -> dict:
        return {"file": self.file, "line": self.line, "column": self.column, "message": self.message}

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}" if self.column else f"{self.file}:{self.line}"
        return f"{where}: {self.message}"


class HistoryImportInvalid(InvalidInput):
    """The files were refused; nothing was written. `problems` lists each one with its file, line and
    column (at most MAX_PROBLEMS: `truncated` says more were found); `errors` has them as text lines,
    in the shape InvalidInput's other users expect."""

    def __init__(self, problems: Sequence[Problem], *, truncated: bool = False):
        self.problems = list(problems)
        self.truncated = truncated
        lines = [str(p) for p in self.problems]
        if truncated:
            lines.append(f"(stopped after the first {len(self.problems)} problems)")
        super().__init__({"__all__": lines})

    def as_dicts(self) -> list[dict]:
        return [p.as_dict() for p in self.problems]


class TooManyProblems(Exception):
    """Raised by Problems.add once the limit is passed: reading stops there."""


class Problems:
    """The problems found so far, at most `limit` of them (`truncated` says more were found)."""

    def __init__(self, limit: int = MAX_PROBLEMS):
        self.limit = limit
        self.items: list[Problem] = []
        self.truncated = False

    def add(self, file: str, line: int, column: str, message: str) -> None:
        if len(self.items) >= self.limit:
            self.truncated = True
            raise TooManyProblems
        self.items.append(Problem(file, line, column, message))

    def __bool__(self) -> bool:
        return bool(self.items)

    def sorted(self, file_order: list[str]) -> list[Problem]:
        rank = {name: i for i, name in enumerate(file_order)}
        return sorted(self.items, key=lambda p: (rank.get(p.file, len(rank)), p.line))


@dataclass(slots=True)
class DealRow:
    """One deal of the deals file, checked, with its stage entries from the history file:
    `entries` are (entered_at, stage_id, line), sorted by time once both files are read."""

    line: int
    external_id: str
    name: str
    account: str
    industry: str
    owner_email: str
    amount: Decimal
    currency: str
    created_at: datetime
    status: str
    closed_at: datetime | None
    lost_reason: str
    competitors: tuple[str, ...]
    objections: tuple[str, ...]
    entries: list[tuple[datetime, int, int]] = field(default_factory=list)
    # Filled by the write: the ids the owner's email and the account's name resolve to.
    owner_id: int = 0
    account_id: int = 0
    # Its history was checked (and found right) as soon as its rows ended; see HistoryStream.
    checked: bool = False


class HistoryStream(Protocol):
    """What reading the history file tells a writer that stores deals while the file is read."""

    # False once the writer wants no more deals, or once a deal was found wrong (the import will be
    # refused: nothing more is worth writing). Read before each `complete`.
    streaming: bool

    def complete(self, deal: DealRow) -> None:
        """The deal's rows have ended and its entries (sorted) passed every check."""

    def reopened(self, deal: DealRow) -> None:
        """More rows of a deal already given to `complete` came after other deals' rows."""


@dataclass
class ReadFiles:
    """The outcome of reading both files: the deals by external_id, in file order."""

    deals: dict[str, DealRow]
    history_rows: int


Progress = Callable[[float], None]


def read_import_files(
    *,
    deals_file: bytes,
    history_file: bytes,
    deals_filename: str,
    history_filename: str,
    stage_ids: dict[str, int],
    default_currency: str,
    problems: Problems,
    progress: Callable[[int, str], None] | None = None,
    deals_read: Callable[[dict[str, DealRow]], None] | None = None,
    stream: HistoryStream | None = None,
) -> ReadFiles:
    """Read and check both files. Problems go to `problems` (which raises TooManyProblems past its
    limit); the deals returned are only meaningful when no problem was found. `stage_ids` maps the
    process's stage names to ids. `progress(percent, phase)` is called now and then, 0 → 100.
    `deals_read(deals)` is called once the deals file is read without a problem, before the history
    file is (the deals have no stage entries yet; the same dict is returned, with them). `stream`, if
    given, hears of each deal whose rows have ended, while no problem has been found."""

    def report(start: int, span: int, phase: str) -> Progress | None:
        if progress is None:
            return None
        return lambda fraction: progress(start + int(span * fraction), phase)

    deals, seen_ids, deals_readable = _read_deals(
        deals_file,
        deals_filename,
        problems,
        default_currency=default_currency,
        progress=report(0, 45, "Reading the deals file"),
    )
    if deals_read is not None and deals_readable and not problems:
        deals_read(deals)
    history_rows = _read_history(
        history_file,
        history_filename,
        problems,
        deals=deals,
        known_ids=seen_ids if deals_readable else None,
        deals_filename=deals_filename,
        stage_ids=stage_ids,
        progress=report(45, 50, "Reading the history file"),
        stream=stream if deals_readable and not problems else None,
    )
    if deals_readable and history_rows is not None:
        _check_histories(deals, deals_filename, history_filename, problems)
    if progress is not None:
        progress(100, "Files checked")
    return ReadFiles(deals=deals, history_rows=history_rows or 0)


# CSV reading -------------------------------------------------------------------------------------


def _csv_rows(
    data: bytes,
    filename: str,
    columns: tuple[str, ...],
    problems: Problems,
    progress: Progress | None,
) -> Iterator[tuple[int, list[str]]] | None:
    """(line, values in `columns` order) for each data row of the file, or None when the file itself
    is unreadable (empty, not UTF-8, bad header); the reason is in `problems` then."""
    if not data.strip():
        problems.add(filename, 1, "", f"The file is empty: it needs a header line ({','.join(columns)}).")
        return None
    try:
        # utf-8-sig: the byte-order mark Excel writes is not an error.
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line, column = _where_in_bytes(data, exc.start)
        problems.add(
            filename,
            line,
            column,
            f"Not UTF-8 text (byte 0x{data[exc.start]:02x}); save the file as UTF-8 "
            '("CSV UTF-8" in Excel) and upload it again.',
        )
        return None
    if not text.strip():
        problems.add(filename, 1, "", f"The file is empty: it needs a header line ({','.join(columns)}).")
        return None
    nul = text.find("\x00")
    if nul >= 0:
        # PostgreSQL cannot store it, and no spreadsheet writes it: a binary file, or UTF-16.
        problems.add(
            filename,
            text.count("\n", 0, nul) + 1,
            "",
            "The file contains a NUL character: it is not a CSV text file (UTF-16? save it as UTF-8).",
        )
        return None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        problems.add(filename, reader.line_num or 1, "", f"Not a readable CSV header: {exc}.")
        return None
    index = _header_index(header or [], filename, columns, problems)
    if index is None:
        return None
    return _data_rows(reader, index, len(header), filename, problems, progress, text.count("\n") + 1)


def _data_rows(reader, index, width, filename, problems, progress, total_lines) -> Iterator:
    # The hot loop of reading (600k rows for 100k deals): one `for` over the reader, the values
    # picked with an itemgetter (a tuple, in `columns` order), progress every PROGRESS_EVERY rows.
    pick = operator.itemgetter(*index) if len(index) > 1 else (lambda row: (row[index[0]],))
    line_end = reader.line_num
    rows = 0
    try:
        for row in reader:
            line, line_end = line_end + 1, reader.line_num
            if len(row) != width:
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue  # a blank line
                problems.add(
                    filename, line, "", f"This row has {len(row)} values; the header has {width} columns."
                )
                continue
            rows += 1
            if progress is not None and rows % PROGRESS_EVERY == 0:
                progress(min(1.0, line_end / total_lines))
            yield line, pick(row)
    except csv.Error as exc:
        # The reader cannot go on after a broken quote: the rest of the file is one problem.
        problems.add(filename, line_end + 1, "", f"Not valid CSV from here on: {exc}.")


def _header_index(
    header: list[str], filename: str, columns: tuple[str, ...], problems: Problems
) -> list[int] | None:
    """Where each expected column is in the header, or None (with the problems recorded)."""
    names = [h.strip().lower() for h in header]
    found: dict[str, int] = {}
    ok = True
    if len(names) == 1 and ";" in names[0]:
        problems.add(
            filename,
            1,
            "",
            "The columns are separated by ';': save the file with ',' between columns "
            "(';' separates the entries of a list inside a value).",
        )
        return None
    for i, name in enumerate(names):
        if name in found:
            problems.add(filename, 1, name, f'Column "{name}" appears twice in the header.')
            ok = False
        elif name not in columns:
            label = name or f"(column {i + 1} has no name)"
            problems.add(filename, 1, name, f"Unknown column {label}; the columns are {','.join(columns)}.")
            ok = False
        else:
            found[name] = i
    for name in columns:
        if name not in found:
            problems.add(filename, 1, name, f'Missing column "{name}"; the columns are {",".join(columns)}.')
            ok = False
    return [found[name] for name in columns] if ok else None


def _where_in_bytes(data: bytes, offset: int) -> tuple[int, str]:
    """The line of a byte offset, and the header name of the CSV column it falls in (when known)."""
    line = data.count(b"\n", 0, offset) + 1
    start = data.rfind(b"\n", 0, offset) + 1
    prefix = data[start:offset].decode("utf-8", "replace")
    if line == 1:
        return line, ""
    try:
        position = max(len(next(csv.reader([prefix]), [])) - 1, 0)
        header = next(csv.reader([data[: data.find(b"\n")].decode("utf-8-sig", "replace")]))
    except csv.Error:
        return line, ""
    if 0 <= position < len(header):
        return line, header[position].strip().lower()
    return line, ""


# Values ------------------------------------------------------------------------------------------


def parse_time(text: str) -> datetime | None:
    """An ISO 8601 time as an aware UTC datetime (no offset means UTC), or None if unreadable."""
    try:
        value = datetime.fromisoformat(text)
        tz = value.tzinfo
        if tz is UTC:  # "Z" or "+00:00", the usual case: already what is wanted
            return value
        return value.replace(tzinfo=UTC) if tz is None else value.astimezone(UTC)
    except (ValueError, OverflowError):  # overflow: year 1 or 9999 shifted out of range by its offset
        return None


def _parse_list(text: str) -> tuple[list[str], str | None]:
    """A `;`-separated list: stripped, empty entries and case-insensitive repeats dropped."""
    if not text:
        return [], None
    out: list[str] = []
    seen: set[str] = set()
    for part in text.split(";"):
        value = part.strip()
        if not value:
            continue
        key = value.lower()
        if key in seen:
            continue
        if len(value) > 120:
            return [], f'"{value[:40]}…" is longer than 120 characters.'
        seen.add(key)
        out.append(value)
    if len(out) > MAX_TAGS:
        return [], f"At most {MAX_TAGS} entries (this row has {len(out)})."
    return out, None


def _parse_amount(text: str) -> tuple[Decimal | None, str | None]:
    if not text:
        return Decimal("0.00"), None
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None, f'"{text}" is not a number (use digits and a decimal point, e.g. 12000.50).'
    if not value.is_finite():
        return None, f'"{text}" is not a number (use digits and a decimal point, e.g. 12000.50).'
    if value < 0:
        return None, f'"{text}" is negative; amounts are 0 or more.'
    if value >= _AMOUNT_LIMIT:
        return None, f'"{text}" is too large.'
    rounded = value.quantize(_CENT)
    if rounded != value:
        return None, f'"{text}" has more than 2 decimal places.'
    return rounded, None


class _EmailCheck:
    """Owner addresses: the quick pattern, then Django's validator once per distinct address."""

    def __init__(self):
        self.cache: dict[str, bool] = {}

    def __call__(self, email: str) -> bool:
        ok = self.cache.get(email)
        if ok is None:
            from django.core.exceptions import ValidationError
            from django.core.validators import validate_email

            try:
                validate_email(email)
                ok = len(email) <= 254 and bool(_EMAIL.match(email))
            except ValidationError:
                ok = False
            self.cache[email] = ok
        return ok


# The deals file ----------------------------------------------------------------------------------


def _read_deals(
    data: bytes,
    filename: str,
    problems: Problems,
    *,
    default_currency: str,
    progress: Progress | None,
) -> tuple[dict[str, DealRow], set[str], bool]:
    """The valid deals by external_id; every external_id seen (valid row or not), so the history file
    is not blamed for a deal whose own row is wrong; and whether the file could be read at all."""
    deals: dict[str, DealRow] = {}
    seen: dict[str, int] = {}
    rows = _csv_rows(data, filename, DEAL_COLUMNS, problems, progress)
    if rows is None:
        return deals, set(), False
    email_ok = _EmailCheck()
    known_emails = email_ok.cache  # a team has few owners: most rows are a dictionary lookup
    add = problems.add
    for line, values in rows:
        (
            external_id,
            name,
            account,
            industry,
            owner_email,
            amount_text,
            currency,
            created_text,
            status,
            closed_text,
            lost_reason,
            competitors_text,
            objections_text,
        ) = map(str.strip, values)
        count = len(problems.items)
        if not external_id:
            add(filename, line, "external_id", "Required: the deal's id in the system it comes from.")
        elif len(external_id) > 100:
            add(filename, line, "external_id", "At most 100 characters.")
        elif external_id in seen:
            add(
                filename,
                line,
                "external_id",
                f'Duplicate row: external_id "{external_id}" is already on line {seen[external_id]}.',
            )
            continue
        else:
            seen[external_id] = line
        if not name:
            add(filename, line, "name", "Required: the deal's name.")
        elif len(name) > 200:
            add(filename, line, "name", "At most 200 characters.")
        if not account:
            add(filename, line, "account", "Required: the account (customer) name.")
        elif len(account) > 200:
            add(filename, line, "account", "At most 200 characters.")
        if len(industry) > 80:
            add(filename, line, "industry", "At most 80 characters.")
        owner_email = owner_email.lower()
        if not owner_email:
            add(filename, line, "owner_email", "Required: the email address of the deal's owner.")
        elif not (known_emails.get(owner_email) or email_ok(owner_email)):
            add(filename, line, "owner_email", f'"{owner_email}" is not an email address.')
        amount, message = _parse_amount(amount_text)
        if message:
            add(filename, line, "amount", message)
        currency = currency.upper() or default_currency
        if not _CURRENCY.match(currency):
            add(filename, line, "currency", f'"{currency}" is not a three-letter currency code (e.g. USD).')
        created_at = parse_time(created_text) if created_text else None
        if not created_text:
            add(filename, line, "created_at", f"Required: when the deal was created ({_TIME_EXAMPLE}).")
        elif created_at is None:
            add(filename, line, "created_at", f'"{created_text}" is not an ISO 8601 time ({_TIME_EXAMPLE}).')
        status = status.lower()
        closed_at = None
        if status not in DEAL_STATUSES:
            add(filename, line, "status", f'Unknown status "{status}"; use open, won or lost.')
        elif status == "open":
            if closed_text:
                add(
                    filename,
                    line,
                    "closed_at",
                    "An open deal has no closed_at: leave it empty, or set the status to won or lost.",
                )
        elif not closed_text:
            add(filename, line, "closed_at", f"Required: a {status} deal needs the time it closed.")
        else:
            closed_at = parse_time(closed_text)
            if closed_at is None:
                add(
                    filename, line, "closed_at", f'"{closed_text}" is not an ISO 8601 time ({_TIME_EXAMPLE}).'
                )
            elif created_at is not None and closed_at < created_at:
                add(filename, line, "closed_at", "closed_at is before created_at.")
        if len(lost_reason) > 300:
            add(filename, line, "lost_reason", "At most 300 characters.")
        competitors, message = _parse_list(competitors_text)
        if message:
            add(filename, line, "competitors", message)
        objections, message = _parse_list(objections_text)
        if message:
            add(filename, line, "objections", message)
        if len(problems.items) == count:
            # Positional (DealRow's field order): keyword arguments cost a quarter of a row's reading.
            deals[external_id] = DealRow(
                line, external_id, name, account, industry, owner_email, amount, currency, created_at,
                status, closed_at, lost_reason, tuple(competitors), tuple(objections), [],
            )  # fmt: skip
    return deals, set(seen), True


# The history file --------------------------------------------------------------------------------


def _read_history(
    data: bytes,
    filename: str,
    problems: Problems,
    *,
    deals: dict[str, DealRow],
    known_ids: set[str] | None,
    deals_filename: str,
    stage_ids: dict[str, int],
    progress: Progress | None,
    stream: HistoryStream | None = None,
) -> int | None:
    """Attach each history row to its deal; the number of rows, or None if the file is unreadable.
    `known_ids` is None when the deals file could not be read (then no row is blamed for its deal).
    With `stream`, each deal is checked when its rows end (the next row is another deal's) and, if
    right, handed to `stream.complete`; see HistoryStream."""
    rows = _csv_rows(data, filename, HISTORY_COLUMNS, problems, progress)
    if rows is None:
        return None

    def ended(deal: DealRow) -> None:
        if deal.checked:  # its rows went on after other deals': checked again once all are read
            deal.checked = False
            stream.reopened(deal)
        elif stream.streaming and not problems:
            if _check_deal(deal, deals_filename, filename, _ignore):
                deal.checked = True
                stream.complete(deal)
            else:  # its problems are recorded once the whole file is read
                stream.streaming = False

    current = None
    add = problems.add
    stage_list = ", ".join(stage_ids)
    if len(stage_list) > 300:
        stage_list = stage_list[:300] + "…"
    count = 0
    find_deal, find_stage = deals.get, stage_ids.get
    for line, (external_id, stage, entered_text) in rows:
        count += 1
        external_id = external_id.strip()
        deal = find_deal(external_id)
        stage = stage.strip()
        stage_id = find_stage(stage)
        entered_text = entered_text.strip()
        if deal is not None and stage_id is not None and entered_text:
            # The usual row: a known deal, a known stage and a readable time, so no problem to record.
            entered_at = parse_time(entered_text)
            if entered_at is not None:
                deal.entries.append((entered_at, stage_id, line))
                if deal is not current:
                    if current is not None and stream is not None:
                        ended(current)
                    current = deal
                continue
        if not external_id:
            add(filename, line, "external_id", "Required: the external_id of a deal in the deals file.")
        elif deal is None and known_ids is not None and external_id not in known_ids:
            add(
                filename,
                line,
                "external_id",
                f'No deal with external_id "{external_id}" in {deals_filename}.',
            )
        if stage_id is None:
            if stage:
                add(filename, line, "stage", f'Unknown stage "{stage}"; the stages are: {stage_list}.')
            else:
                add(filename, line, "stage", "Required: the stage the deal entered.")
        entered_at = parse_time(entered_text) if entered_text else None
        if not entered_text:
            add(filename, line, "entered_at", f"Required: when the deal entered the stage ({_TIME_EXAMPLE}).")
        elif entered_at is None:
            add(filename, line, "entered_at", f'"{entered_text}" is not an ISO 8601 time ({_TIME_EXAMPLE}).')
    if current is not None and stream is not None:
        ended(current)
    return count


def _ignore(*problem) -> None:
    """The `add` of a check whose outcome alone is wanted."""


def _check_histories(
    deals: dict[str, DealRow], deals_filename: str, history_filename: str, problems: Problems
) -> None:
    """Every deal not already checked while the history file was read (see _check_deal)."""
    add = problems.add
    for deal in deals.values():
        if not deal.checked:
            _check_deal(deal, deals_filename, history_filename, add)


def _check_deal(deal: DealRow, deals_filename: str, history_filename: str, add: Callable) -> bool:
    """At least one entry, no two at the same time, no repeated stage, inside the deal's life (not
    before created_at; a closed deal's closed_at not before its last entry). Sorts the entries; each
    problem goes to `add`; True when there was none."""
    entries = deal.entries
    if not entries:
        add(
            deals_filename,
            deal.line,
            "external_id",
            f'No stage history: {history_filename} has no row for "{deal.external_id}"; '
            "every deal needs at least one.",
        )
        return False
    ok = True
    entries.sort()
    first_at, _, first_line = entries[0]
    if first_at < deal.created_at:
        ok = False
        add(
            history_filename,
            first_line,
            "entered_at",
            f'"{deal.external_id}" enters its first stage before the deal was created '
            f"({deal.created_at.isoformat()}, {deals_filename} line {deal.line}).",
        )
    for (prev_at, prev_stage, prev_line), (at, stage, line) in zip(entries, entries[1:], strict=False):
        if at == prev_at:
            ok = False
            what = "Duplicate row" if stage == prev_stage else "Two stage entries at the same time"
            add(
                history_filename,
                max(line, prev_line),
                "entered_at",
                f'{what}: "{deal.external_id}" at {at.isoformat()} is also on line {min(line, prev_line)}.',
            )
        elif stage == prev_stage:
            ok = False
            add(
                history_filename,
                line,
                "stage",
                f'"{deal.external_id}" enters the stage it is already in (line {prev_line}); '
                "leave out the repeated row.",
            )
    last_at, _, last_line = entries[-1]
    if deal.closed_at is not None and deal.closed_at < last_at:
        ok = False
        add(
            deals_filename,
            deal.line,
            "closed_at",
            f"closed_at is before the deal's last stage entry ({last_at.isoformat()}, "
            f"{history_filename} line {last_line}).",
        )
    return ok
