"""Reads behind the rep-facing deal pages: the pipeline board, the deal list and the deal page.

Every function here runs a fixed number of queries, whatever the number of deals, steps, stakeholders or
activities: the pages' query counts are pinned in tests/deals/test_query_counts.py."""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db import connection
from django.db.models import Case, Count, F, FilteredRelation, Max, Min, Q, QuerySet, Sum, Value, When, Window
from django.db.models.functions import RowNumber
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
    StepSource,
    TagKind,
)
from orgs.models import Membership, Organization
from salesproc.models import CriterionKind, ExitCriterion, Process, Stage

BOARD_PAGE_SIZE = 25
DEAL_LIST_PAGE_SIZE = 50
DEAL_PAGE_ACTIVITIES = 50
CHOICE_LIMIT = 100

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class BoardFilters:
    """Which open deals the board shows: `owner_ids` None means everyone's; `q` searches deal and
    account names."""

    owner_ids: frozenset[int] | None = None
    q: str = ""


def _owner_filter(filters: BoardFilters, prefix: str = "") -> Q:
    if filters.owner_ids is None:
        return Q()
    return Q(**{f"{prefix}owner_id__in": sorted(filters.owner_ids)})


def _search_filter(org: Organization, filters: BoardFilters, prefix: str = "") -> Q:
    """Deal name or account name contains `q`. The account match is a subquery, not a join, so the
    deal queries stay on deal rows."""
    if not filters.q:
        return Q()
    matching_accounts = Account.objects.for_org(org).filter(name__icontains=filters.q).values("id")
    return Q(**{f"{prefix}name__icontains": filters.q}) | Q(**{f"{prefix}account_id__in": matching_accounts})


def board_deals(*, org: Organization, process_id: int, filters: BoardFilters) -> QuerySet[Deal]:
    """Open deals of one process in `org` that match the board's filters (no ordering, no joins)."""
    return (
        Deal.objects.for_org(org)
        .filter(process_id=process_id, status=DealStatus.OPEN)
        .filter(_owner_filter(filters), _search_filter(org, filters))
    )


def board_stages(
    *,
    org: Organization,
    process_id: int,
    filters: BoardFilters,
    with_other_processes: bool = False,
) -> list[Stage]:
    """Stages of the process in order, each annotated with its open deals under `filters`:
    `open_count`, `amount_sum`, and `currency` (the one currency of those deals, or "" when they mix).

    One query. Exact counts and sums read each open deal of the process once (about 100 ms at 100k
    open deals in one process); the first page of cards does not depend on them. With
    `with_other_processes`, the stages of the org's other active processes come along (with zero
    counts): the same query then also feeds the board's process switcher."""
    where = Q(process_id=process_id)
    if with_other_processes:
        where |= Q(process__is_active=True)
    qs = Stage.objects.for_org(org).filter(where).filter(process__organization=org)
    # Conditions on the deal row go in the join's ON clause, so only open deals of the process are
    # joined; the search (which Django does not allow there) filters the aggregates instead.
    open_deals = FilteredRelation(
        "deals",
        condition=Q(deals__process_id=process_id, deals__status=DealStatus.OPEN)
        & _owner_filter(filters, prefix="deals__"),
    )
    search = _search_filter(org, filters, prefix="open_deals__") if filters.q else None
    rows = list(
        qs.select_related("process")
        .annotate(open_deals=open_deals)
        .annotate(
            open_count=Count("open_deals", filter=search),
            amount_sum=Sum("open_deals__amount", filter=search),
            currency_min=Min("open_deals__currency", filter=search),
            currency_max=Max("open_deals__currency", filter=search),
        )
        .order_by("process__name", "process_id", "order")
    )
    for stage in rows:
        stage.amount_sum = stage.amount_sum or 0
        stage.currency = stage.currency_min if stage.currency_min == stage.currency_max else ""
    return rows


def board_first_cards(
    *,
    org: Organization,
    process_id: int,
    stage_ids: list[int],
    filters: BoardFilters,
    per_column: int = BOARD_PAGE_SIZE,
) -> dict[int, list[Deal]]:
    """The first `per_column` cards of EVERY column (ordered by stage_entered_at, id), in one query,
    with account and owner. Returns {stage_id: [deal, ...]}.

    Where the database takes a LIMIT inside a UNION (PostgreSQL), each column is its own bounded range
    of the `deal_board_keyset` index: `id IN (first 25 of stage 1 UNION ALL first 25 of stage 2 ...)`
    reads about 25 index entries per column whatever the number of deals (7 ms at 100k open deals,
    where a ROW_NUMBER() window over the whole process took 270 ms). Elsewhere (SQLite) the deals are
    ranked within their stage with ROW_NUMBER() and kept while the rank is at most `per_column`."""
    if not stage_ids:
        return {}
    deals = board_deals(org=org, process_id=process_id, filters=filters)
    if connection.features.supports_slicing_ordering_in_compound:
        per_stage = [
            deals.filter(stage_id=stage_id).order_by("stage_entered_at", "id").values("id")[:per_column]
            for stage_id in stage_ids
        ]
        first_ids = per_stage[0].union(*per_stage[1:], all=True)
    else:
        first_ids = (
            deals.annotate(
                column_rank=Window(
                    RowNumber(),
                    partition_by=[F("stage_id")],
                    order_by=[F("stage_entered_at").asc(), F("id").asc()],
                )
            )
            .filter(column_rank__lte=per_column)
            .values("id")
        )
    cards = (
        Deal.objects.for_org(org)
        .filter(pk__in=first_ids)
        .select_related("account", "owner")
        .order_by("stage_id", "stage_entered_at", "id")
    )
    columns: dict[int, list[Deal]] = {}
    for deal in cards:
        columns.setdefault(deal.stage_id, []).append(deal)
    return columns


def board_cursor(deal: Deal) -> str:
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
) -> tuple[list[Deal], bool]:
    """The next `limit` cards of one column after the keyset `after` = (stage_entered_at, id), and
    whether more follow. Never OFFSET: the condition is written so the index range starts at the
    cursor (`stage_entered_at >= t AND (stage_entered_at > t OR id > i)`)."""
    qs = board_deals(org=org, process_id=process_id, filters=filters).filter(stage_id=stage_id)
    if after is not None:
        at, deal_id = after
        qs = qs.filter(Q(stage_entered_at__gte=at) & (Q(stage_entered_at__gt=at) | Q(id__gt=deal_id)))
    rows = list(qs.select_related("account", "owner").order_by("stage_entered_at", "id")[: limit + 1])
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
    before_id: int | None = None,
    limit: int = DEAL_LIST_PAGE_SIZE,
) -> tuple[list[Deal], int | None]:
    """One page of the org's deals, newest first, and the cursor (an id) of the next page or None.

    Keyset on id (the `deal_org_id` index); no COUNT over the whole set."""
    qs = Deal.objects.for_org(org)
    if status:
        qs = qs.filter(status=status)
    if process_id is not None:
        qs = qs.filter(process_id=process_id)
    if owner_id is not None:
        qs = qs.filter(owner_id=owner_id)
    if q:
        qs = qs.filter(_search_filter(org, BoardFilters(q=q)))
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
        return next((s for s in self.steps if not s.is_done), None)

    @property
    def step_groups(self) -> list[tuple[str, str, list[DealStep]]]:
        """(source, label, steps) for each source that has steps, in the order stage, play, custom."""
        groups = []
        for source, label in StepSource.choices:
            steps = [s for s in self.steps if s.source == source]
            if steps:
                groups.append((source, label, steps))
        return groups

    @property
    def next_stage(self) -> Stage | None:
        return next((s for s in self.stages if s.order > self.deal.stage.order), None)


def deals_for_page(*, org: Organization) -> QuerySet[Deal]:
    """The org's deals with what a deal page's header shows (account, owner, stage, process)."""
    return Deal.objects.for_org(org).select_related("account", "owner", "stage", "process")


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
    steps = list(
        DealStep.objects.filter(deal=deal)
        .select_related("completed_by", "assignee", "stage")
        .order_by("position", "id")
    )
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
