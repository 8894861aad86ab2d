"""Reads behind the rep-facing deal pages: the pipeline board, the deal list and the deal page.

Every function here runs a fixed number of queries, whatever the number of deals, steps, stakeholders or
activities: the pages' query counts are pinned in tests/deals/test_query_counts.py."""

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import NamedTuple

from django.db import connection
from django.db.models import (
    Case,
    CharField,
    Count,
    F,
    FilteredRelation,
    Max,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    TextField,
    Value,
    When,
    Window,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce, Concat, RowNumber
from django.utils import timezone

from deals.criteria import CriterionStatus, stage_criteria_status
from deals.models import (
    Account,
    Activity,
    Contact,
    CriterionAnswer,
    Deal,
    DealStakeholder,
    DealStatus,
    DealStep,
    DealTag,
    TagKind,
)
from deals.network import deal_gap_annotations, deal_gap_codes_from, deal_gaps_condition
from iteration.models import StallFlag
from iteration.stalls.flags import with_level_rank
from orgs.models import Membership, Organization, user_display_name
from salesproc.lib.expressions import InSubquery
from salesproc.models import CriterionKind, ExitCriterion, Process, Stage
from scorecards.selectors import deal_scorecard_filter

BOARD_PAGE_SIZE = 25
DEAL_LIST_PAGE_SIZE = 50
DEAL_PAGE_ACTIVITIES = 50
CHOICE_LIMIT = 100

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class BoardFilters:
    """Which open deals the board shows: `owner_ids` None means everyone's; `q` searches deal and
    account names; `scorecard` keeps one qualification result (scorecards.selectors); `gaps` keeps the
    deals with at least one of these stakeholder gaps (deals.network)."""

    owner_ids: frozenset[int] | None = None
    q: str = ""
    scorecard: str = ""
    gaps: tuple[str, ...] = ()


def _owner_filter(filters: BoardFilters, prefix: str = "") -> Q:
    if filters.owner_ids is None:
        return Q()
    return Q(**{f"{prefix}owner_id__in": sorted(filters.owner_ids)})


def deal_search(org: Organization, q: str, *, find_all: bool = False) -> Q:
    """Deals whose name or account's name contains `q` (any case): the board's, the deal list's and
    the API's search. The account match is a subquery, not a join, so deal queries stay on deal rows.

    Two forms for PostgreSQL's planner. By default `account_id IN (subquery)`: checked row by row
    against a hash of the matching accounts, the cheapest when the query walks an index in order and
    stops at a LIMIT (a list page, a column's next cards). With `find_all`, for a query that reads
    every match (the board's search totals), `account_id = ANY(ARRAY(subquery))`: then both halves
    are index conditions (the trigram indexes on UPPER(name), migration deals 0006, and the account
    foreign key), combined in one bitmap, and the search reads the matching rows, not the table."""
    if not q:
        return Q()
    matching_accounts = Account.objects.for_org(org).filter(name__icontains=q).values("id")
    if find_all:
        return Q(name__icontains=q) | Q(InSubquery(F("account_id"), matching_accounts))
    return Q(name__icontains=q) | Q(account_id__in=matching_accounts)


def board_deals(
    *, org: Organization, process_id: int, filters: BoardFilters, find_all: bool = False
) -> QuerySet[Deal]:
    """Open deals of one process in `org` that match the board's filters (no ordering, no joins);
    `find_all` as in deal_search."""
    return (
        Deal.objects.for_org(org)
        .filter(process_id=process_id, status=DealStatus.OPEN)
        .filter(_owner_filter(filters), deal_search(org, filters.q, find_all=find_all))
        .filter(deal_scorecard_filter(filters.scorecard))
        .filter(deal_gaps_condition(filters.gaps))
    )


def board_stages(
    *,
    org: Organization,
    process_id: int,
    filters: BoardFilters,
    with_other_processes: bool = False,
) -> list[Stage]:
    """Stages of the process in order, each annotated with its open deals under `filters`:
    `open_count`, `amount_sum`, `currency` (the one currency of those deals, or "" when they mix),
    `count_is_lower_bound`, and `first_card_ids` (see below). One query, whatever the number of deals.

    Without a search the numbers come from the StageRollup rows of the process (of the filtered
    owners): exact, a few rows per stage. A search (or a scorecard or gap filter: the rollups know
    neither results nor stakeholders) cannot use them: it reads at most
    BOARD_SEARCH_CAP + 1 matching open deals; when more match, each column's count is how many of those
    were in it (`count_is_lower_bound`, shown as "N+") and its sum is unknown (None). When they all
    fit, on PostgreSQL the same pass also picks each column's first cards (`first_card_ids`, a list;
    None otherwise), so the cards need no second search.

    With `with_other_processes`, the stages of the org's other active processes come along (with zero
    counts): the same query then also feeds the board's process switcher."""
    where = Q(process_id=process_id)
    if with_other_processes:
        where |= Q(process__is_active=True)
    qs = (
        Stage.objects.for_org(org)
        .filter(where)
        .filter(process__organization=org)
        # The scorecard too (a join, not a query): the board offers its filter when there is one.
        .select_related("process", "process__scorecard")
        .order_by("process__name", "process_id", "order")
    )
    if filters.q or filters.scorecard or filters.gaps:
        return _with_search_totals(qs, org=org, process_id=process_id, filters=filters)
    # The rollup rows of this process, and of the filtered owners, joined in the ON clause.
    counted = FilteredRelation(
        "rollups",
        condition=Q(rollups__process_id=process_id) & _owner_filter(filters, prefix="rollups__"),
    )
    holding = Q(counted__open_count__gt=0)
    rows = list(
        qs.annotate(counted=counted).annotate(
            open_count=Coalesce(Sum("counted__open_count"), 0),
            amount_sum=Sum("counted__amount_sum"),
            currency_min=Min("counted__currency", filter=holding),
            currency_max=Max("counted__currency", filter=holding),
        )
    )
    for stage in rows:
        stage.amount_sum = stage.amount_sum or Decimal("0")
        stage.currency = stage.currency_min if stage.currency_min == stage.currency_max else ""
        stage.count_is_lower_bound = False
        stage.first_card_ids = None
    return rows


# How many matching open deals a board search reads, at most, to total its columns.
BOARD_SEARCH_CAP = 1000

# {stage_id: [count, sum, min currency, max currency(, first ids)], ...} over the first CAP + 1
# matches, as JSON text. PostgreSQL also lists each column's first ids in card order.
_SEARCH_TOTALS_SQL = {
    "postgresql": (
        "(SELECT json_object_agg(t.stage_id, json_build_array(t.n, t.total, t.c0, t.c1, t.first_ids))::text "
        "FROM (SELECT m.stage_id, COUNT(*) AS n, SUM(m.amount) AS total, MIN(m.currency) AS c0, "
        "MAX(m.currency) AS c1, (ARRAY_AGG(m.id ORDER BY m.stage_entered_at, m.id))[1:{take}] AS first_ids "
        "FROM ({matches}) m GROUP BY m.stage_id) t)"
    ),
    "sqlite": (
        "(SELECT json_group_object(t.stage_id, json_array(t.n, t.total, t.c0, t.c1)) "
        "FROM (SELECT m.stage_id, COUNT(*) AS n, SUM(m.amount) AS total, MIN(m.currency) AS c0, "
        "MAX(m.currency) AS c1 FROM ({matches}) m GROUP BY m.stage_id) t)"
    ),
}


def _with_search_totals(qs, *, org: Organization, process_id: int, filters: BoardFilters) -> list[Stage]:
    # The totals are one uncorrelated subquery in the stage query: run once, not once per stage (every
    # row carries the same JSON text, parsed once here), and one pass over the matching deals, which
    # the trigram indexes find.
    matches = (
        board_deals(org=org, process_id=process_id, filters=filters, find_all=True)
        .order_by()  # any CAP + 1 of them: no sort
        .values("id", "stage_id", "stage_entered_at", "amount", "currency")[: BOARD_SEARCH_CAP + 1]
    )
    matches_sql, params = matches.query.sql_with_params()
    totals_sql = (
        _SEARCH_TOTALS_SQL[connection.vendor]
        .replace("{take}", str(BOARD_PAGE_SIZE + 1))
        .replace("{matches}", matches_sql)  # not str.format: the SQL may hold braces
    )
    rows = list(qs.annotate(search_totals=RawSQL(totals_sql, params, output_field=TextField())))
    raw = rows[0].search_totals if rows else None
    totals = {int(k): v for k, v in json.loads(raw or "{}", parse_float=Decimal).items()}
    capped = sum(column[0] for column in totals.values()) > BOARD_SEARCH_CAP
    picks_cards = connection.vendor == "postgresql" and not capped
    for stage in rows:
        column = totals.get(stage.id) if stage.process_id == process_id else None
        n, total, c0, c1, *first_ids = column or (0, 0, "", "", [])
        stage.open_count = n
        stage.count_is_lower_bound = capped
        stage.amount_sum = None if capped else Decimal(total or 0).quantize(Decimal("0.01"))
        stage.currency = c0 if c0 == c1 else ""
        stage.first_card_ids = (first_ids[0] or []) if picks_cards else None
    return rows


def board_search_capped(stages: list[Stage]) -> bool:
    """Whether the board's search matched more deals than it totals (see board_stages)."""
    return any(s.count_is_lower_bound for s in stages)


class BoardCard(NamedTuple):
    """What a board card shows of a deal, as plain values: 175 cards read as Deal objects with their
    account and owner cost about 10 ms more than these."""

    id: int
    organization_id: int
    owner_id: int
    name: str
    stage_id: int
    version: int
    amount: Decimal
    currency: str
    stage_entered_at: datetime
    last_activity_at: datetime
    account_name: str
    owner_name: str
    # The worst unsnoozed stall flag as "level|rule|reason", or None.
    stall: str | None = None
    # The deal's stakeholder gaps (codes, in GAP_CODES order).
    gaps: tuple[str, ...] = ()

    @classmethod
    def of(cls, deal: Deal, stall: str | None = None, gaps: tuple[str, ...] = ()) -> "BoardCard":
        """The card of a deal loaded with its account and owner (after a move)."""
        return cls(
            *(getattr(deal, name) for name in cls._fields[:10]),
            account_name=deal.account.name,
            owner_name=deal.owner.display_name,
            stall=stall,
            gaps=gaps,
        )


# The columns a BoardCard is read from, in its order (the owner's name from the two after the account),
# then its stakeholder gaps as bits (deals.network.deal_gap_annotations).
_CARD_COLUMNS = (
    *BoardCard._fields[:10],
    "account_name",
    "owner__full_name",
    "owner__email",
    "stall",
    "gap_bits",
)


def _worst_stall_flags(deal_ref) -> QuerySet[StallFlag]:
    today = timezone.localdate()
    return (
        with_level_rank(StallFlag.objects.filter(deal_id=deal_ref))
        .filter(Q(snoozed_until__isnull=True) | Q(snoozed_until__lte=today))
        .order_by("-level_rank", "-days", "rule")
        .annotate(packed=Concat("level", Value("|"), "rule", Value("|"), "reason", output_field=CharField()))
        .values_list("packed", flat=True)
    )


def worst_stall_flag() -> Subquery:
    """The deal's worst unsnoozed stall flag packed as "level|rule|reason" (a subquery on the unique
    (deal, rule) index, so the board's card query stays one query)."""
    return Subquery(_worst_stall_flags(OuterRef("pk"))[:1])


def deal_card_badges(deal_id: int) -> tuple[str | None, tuple[str, ...]]:
    """One deal's board badges after a move: its worst unsnoozed stall flag (packed as on the board)
    and its stakeholder gaps. One query."""
    row = (
        Deal.objects.filter(pk=deal_id)
        .annotate(stall=worst_stall_flag(), **deal_gap_annotations())
        .values_list("stall", "gap_bits")
        .first()
    )
    return (row[0], deal_gap_codes_from(row[1])) if row else (None, ())


def _board_cards(qs: QuerySet[Deal]) -> list[BoardCard]:
    # The account's name by its primary key, row by row, rather than a join: for a few hundred cards
    # picked by id, PostgreSQL would hash-join the whole account table (4 ms at 16k accounts).
    account_name = Subquery(Account.objects.filter(pk=OuterRef("account_id")).order_by().values("name"))
    # The stakeholder gaps too, as subqueries of the same query: the badges cost no query per card.
    rows = qs.annotate(account_name=account_name, stall=worst_stall_flag(), **deal_gap_annotations())
    return [
        BoardCard(
            *row[:11],
            owner_name=user_display_name(row[11], row[12]),
            stall=row[13],
            gaps=deal_gap_codes_from(row[14]),
        )
        for row in rows.values_list(*_CARD_COLUMNS)
    ]


def board_first_cards(
    *,
    org: Organization,
    process_id: int,
    stages: list[Stage],
    filters: BoardFilters,
    per_column: int = BOARD_PAGE_SIZE,
) -> dict[int, tuple[list[BoardCard], bool]]:
    """The first `per_column` cards of EVERY column (ordered by stage_entered_at, id) of the `stages`
    (from board_stages), in one query. Returns {stage_id: ([card, ...], whether more follow)}.

    When board_stages already picked the cards (a search that matched few deals, on PostgreSQL), they
    are read by id. Otherwise, on PostgreSQL, each column is its own bounded range of the
    `deal_board_keyset` index (a LATERAL subquery per stage): about 26 index entries per column
    whatever the number of deals (1 ms at 100k open deals, where a ROW_NUMBER() window over the whole
    process took 270 ms). Elsewhere (SQLite) the deals are ranked within their stage with
    ROW_NUMBER()."""
    if not stages:
        return {}
    take = per_column + 1  # one more than shown: whether the column has a next page
    if all(s.first_card_ids is not None for s in stages):
        first_ids = [deal_id for s in stages for deal_id in s.first_card_ids]
    else:
        deals = board_deals(org=org, process_id=process_id, filters=filters)
        if connection.vendor == "postgresql":
            # For each column, its first `take` deals: one LATERAL subquery per stage id, each a
            # bounded range of the keyset index (compiled once, where a UNION of seven copies cost
            # 3 ms of ORM and planning time).
            firsts = (
                deals.filter(stage_id=RawSQL("board_columns.stage_id", ()))
                .order_by("stage_entered_at", "id")
                .values("id")[:take]
            )
            firsts_sql, params = firsts.query.sql_with_params()
            first_ids = RawSQL(
                "SELECT firsts.id FROM unnest(%s::bigint[]) AS board_columns(stage_id) "
                f"CROSS JOIN LATERAL ({firsts_sql}) AS firsts",
                ([s.id for s in stages], *params),
            )
        else:
            first_ids = (
                deals.filter(stage_id__in=[s.id for s in stages])
                .annotate(
                    column_rank=Window(
                        RowNumber(),
                        partition_by=[F("stage_id")],
                        order_by=[F("stage_entered_at").asc(), F("id").asc()],
                    )
                )
                .filter(column_rank__lte=take)
                .values("id")
            )
    cards = _board_cards(
        Deal.objects.for_org(org).filter(pk__in=first_ids).order_by("stage_id", "stage_entered_at", "id")
    )
    columns: dict[int, list[BoardCard]] = {}
    for card in cards:
        columns.setdefault(card.stage_id, []).append(card)
    return {stage_id: (cards[:per_column], len(cards) > per_column) for stage_id, cards in columns.items()}


def board_cursor(deal: Deal | BoardCard) -> str:
    """The keyset cursor after `deal` in its column: microseconds since the epoch and the id."""
    micros = (deal.stage_entered_at - _EPOCH) // timedelta(microseconds=1)
    return f"{micros}_{deal.id}"


def parse_board_cursor(raw: str) -> tuple[datetime, int] | None:
    """The (stage_entered_at, id) a cursor names, or None when it is not one of ours."""
    micros, sep, deal_id = (raw or "").partition("_")
    if not sep:
        return None
    try:
        micros_n, deal_id_n = int(micros), int(deal_id)
        at = _EPOCH + timedelta(microseconds=micros_n)
    except (ValueError, OverflowError):
        return None
    if deal_id_n < 1:
        return None
    return at, deal_id_n


def board_column_page(
    *,
    org: Organization,
    process_id: int,
    stage_id: int,
    filters: BoardFilters,
    after: tuple[datetime, int] | None,
    limit: int = BOARD_PAGE_SIZE,
) -> tuple[list[BoardCard], bool]:
    """The next `limit` cards of one column after the keyset `after` = (stage_entered_at, id), and
    whether more follow. Never OFFSET: the condition is written so the index range starts at the
    cursor (`stage_entered_at >= t AND (stage_entered_at > t OR id > i)`)."""
    qs = board_deals(org=org, process_id=process_id, filters=filters).filter(stage_id=stage_id)
    if after is not None:
        at, deal_id = after
        qs = qs.filter(Q(stage_entered_at__gte=at) & (Q(stage_entered_at__gt=at) | Q(id__gt=deal_id)))
    rows = _board_cards(qs.order_by("stage_entered_at", "id")[: limit + 1])
    return rows[:limit], len(rows) > limit


def org_members(*, org: Organization) -> list[Membership]:
    """Active members of the org with their users, by name: the owner pickers. One query."""
    return list(
        Membership.objects.for_org(org)
        .active()
        .select_related("user")
        .order_by("user__full_name", "user__email")
    )


def deal_list_page(
    *,
    org: Organization,
    q: str = "",
    status: str = "",
    process_id: int | None = None,
    owner_id: int | None = None,
    gaps: tuple[str, ...] = (),
    before_id: int | None = None,
    limit: int = DEAL_LIST_PAGE_SIZE,
) -> tuple[list[Deal], int | None]:
    """One page of the org's deals, newest first, and the cursor (an id) of the next page or None.
    `gaps`: only deals with at least one of these stakeholder gaps (deals.network).

    Keyset on id (the `deal_org_id` index); no COUNT over the whole set."""
    qs = Deal.objects.for_org(org)
    if status:
        qs = qs.filter(status=status)
    if process_id is not None:
        qs = qs.filter(process_id=process_id)
    if owner_id is not None:
        qs = qs.filter(owner_id=owner_id)
    if q:
        qs = qs.filter(deal_search(org, q))
    if gaps:
        qs = qs.filter(deal_gaps_condition(gaps))
    if before_id is not None:
        qs = qs.filter(id__lt=before_id)
    rows = list(qs.select_related("account", "owner", "stage", "process").order_by("-id")[: limit + 1])
    next_cursor = rows[limit - 1].id if len(rows) > limit else None
    return rows[:limit], next_cursor


def active_processes(*, org: Organization) -> list[Process]:
    """The org's active processes by name. One query."""
    return list(Process.objects.for_org(org).filter(is_active=True).order_by("name", "id"))


def account_choices(*, org: Organization, q: str = "", selected_id: int | None = None) -> list[Account]:
    """Accounts to offer in a picker: the first CHOICE_LIMIT by name (matching `q`), plus the selected
    one. Bounded so an org with thousands of accounts still gets a light page."""
    qs = Account.objects.for_org(org)
    if q:
        qs = qs.filter(name__icontains=q)
    rows = list(qs.order_by("name", "id")[:CHOICE_LIMIT])
    if selected_id and all(a.id != selected_id for a in rows):
        rows = list(Account.objects.for_org(org).filter(pk=selected_id)) + rows
    return rows


def stakeholder_contact_choices(*, deal: Deal, q: str = "") -> list[Contact]:
    """Contacts that may join the deal (not on it yet): the deal's account's first, then the others by
    name; matching `q` when given; at most CHOICE_LIMIT. One query."""
    qs = Contact.objects.filter(organization_id=deal.organization_id).exclude(deal_roles__deal=deal)
    if q:
        qs = qs.filter(Q(name__icontains=q) | Q(email__icontains=q))
    of_other_account = Case(When(account_id=deal.account_id, then=Value(0)), default=Value(1))
    return list(
        qs.select_related("account")
        .annotate(of_other_account=of_other_account)
        .order_by("of_other_account", "name", "id")[:CHOICE_LIMIT]
    )


@dataclass
class DealPage:
    """Everything the deal page shows about one deal."""

    deal: Deal
    stages: list[Stage]
    criteria: list[CriterionStatus]
    answers: dict[int, CriterionAnswer]
    steps: list[DealStep]
    stakeholders: list[DealStakeholder]
    activities: list[Activity]
    competitors: list[str] = field(default_factory=list)
    objections: list[str] = field(default_factory=list)

    @property
    def criteria_rows(self) -> list[tuple[CriterionStatus, CriterionAnswer | None]]:
        """Each exit criterion's status with the deal's answer to it (kind `answer` only)."""
        return [(s, self.answers.get(s.criterion.id)) for s in self.criteria]

    @property
    def criteria_met(self) -> int:
        return sum(1 for s in self.criteria if s.met)

    @property
    def next_step(self) -> DealStep | None:
        """See `next_step`."""
        return next_step(self.steps)

    @property
    def steps_done(self) -> int:
        return sum(1 for s in self.steps if s.is_done)

    @property
    def next_stage(self) -> Stage | None:
        return next((s for s in self.stages if s.order > self.deal.stage.order), None)


def next_step(steps: list[DealStep]) -> DealStep | None:
    """The plan's next step: of the open steps, the one due first; steps without a due date come after
    the dated ones, and ties (same date, or no date) go by the plan's order. So a deadline wins, and
    otherwise the order the rep and manager gave the plan decides. `steps` in the plan's order."""
    open_steps = [(i, s) for i, s in enumerate(steps) if not s.is_done]
    if not open_steps:
        return None
    return min(open_steps, key=lambda o: (o[1].due_date is None, o[1].due_date or date.min, o[0]))[1]


def plan_steps(deal_id: int) -> QuerySet[DealStep]:
    """A deal's plan in its order (position, then id), with what each step shows: who added, completed
    and is assigned to it, its stage, its stakeholder, and the number of comments in its thread (one
    query whatever the number of steps and comments)."""
    return (
        DealStep.objects.filter(deal_id=deal_id)
        .select_related("completed_by", "assignee", "stage", "created_by", "stakeholder__contact")
        .annotate(comment_count=Count("comments"))
        .order_by("position", "id")
    )


def deals_for_page(*, org: Organization) -> QuerySet[Deal]:
    """The org's deals with what a deal page's header shows (account, owner, stage, process), and the
    process's qualification scorecard: the page's scorecard section then costs no query for a process
    without one."""
    return Deal.objects.for_org(org).select_related("account", "owner", "stage", "process__scorecard")


def deal_page(*, deal: Deal) -> DealPage:
    """The deal page's data for `deal` (fetched through `deals_for_page`).

    A fixed number of queries however many steps, stakeholders and activities the deal has: the
    stages, the current stage's criteria and their status (at most six), the answers, the plan, the
    stakeholders, the latest DEAL_PAGE_ACTIVITIES activities and the tags."""
    stages = list(Stage.objects.filter(process_id=deal.process_id).order_by("order"))
    criteria = list(ExitCriterion.objects.filter(stage_id=deal.stage_id).order_by("order", "id"))
    statuses = stage_criteria_status(deal, criteria=criteria) if deal.is_open else []
    answer_ids = [c.id for c in criteria if c.kind == CriterionKind.ANSWER]
    answers = (
        {a.criterion_id: a for a in CriterionAnswer.objects.filter(deal=deal, criterion_id__in=answer_ids)}
        if answer_ids
        else {}
    )
    steps = list(plan_steps(deal.pk))
    stakeholders = list(
        DealStakeholder.objects.filter(deal=deal).select_related("contact").order_by("-influence", "id")
    )
    activities = list(
        Activity.objects.filter(deal=deal)
        .select_related("by", "stakeholder__contact")
        .order_by("-occurred_at", "-id")[:DEAL_PAGE_ACTIVITIES]
    )
    tags = list(DealTag.objects.filter(deal=deal).order_by("value").values_list("kind", "value"))
    return DealPage(
        deal=deal,
        stages=stages,
        criteria=statuses,
        answers=answers,
        steps=steps,
        stakeholders=stakeholders,
        activities=activities,
        competitors=[v for k, v in tags if k == TagKind.COMPETITOR],
        objections=[v for k, v in tags if k == TagKind.OBJECTION],
    )


def days_in_stage(deal: Deal, now: datetime | None = None) -> int:
    """Whole days the deal has spent in its current stage (computed, never queried)."""
    now = now or timezone.now()
    return max(0, (now - deal.stage_entered_at).days)
