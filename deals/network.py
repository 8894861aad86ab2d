"""The stakeholder network of a deal: who decides, how they lean, and what is missing (deal-level
strategy, change and decision dynamics).

Three readings of the same gap rules, one in Python and two in SQL, kept in step by
tests/deals/test_network.py and the play conditions' property tests
(tests/playbooks/test_condition_properties.py):
- `deal_gaps(deal, stakeholders)` / `deal_gap_codes(...)`: one deal, for its page, the API and the play
  condition `stakeholder_gaps` in Python (the stakeholders are already loaded; at most two small
  queries more, usually none);
- `deal_gap_condition(code)` / `deals_with_gap(queryset, code)`: set-based, a `Q` of `Exists`/`Count`
  subqueries over Deal that is never NULL (so its negation is its exact complement), for reading every
  open deal: the play condition in SQL;
- `GapBits` / `deal_gaps_condition(codes)` / `deal_gap_annotations()`: the same rules read deal by deal
  (index probes), for pages and lists that look at a few deals: the board's, the deal list's and the
  API's gap filter, and the board cards' badges.

`single_threaded` moves with time (an activity stops counting 30 days after it happened): every reading
takes `now` (default: the current time), so tests pin it and the nightly re-evaluation of plays catches
deals whose gap came or went without an edit.

`decision_map_svg(stakeholders)` draws the decision-team map (influence × attitude) as server-rendered
SVG; every piece of text in it is escaped."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from html import escape

from django.db.models import (
    Count,
    Exists,
    Expression,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce
from django.db.models.lookups import Exact
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

from deals.models import Activity, Attitude, Deal, DealStakeholder, StageChange, StakeholderRole
from salesproc.models import Phase, Stage

# How far back an activity with a stakeholder counts as "engaged" for `single_threaded`.
ENGAGEMENT_DAYS = 30
# The influence from which an opponent is a threat to the deal.
HIGH_INFLUENCE = 4

GAP_CODES = (
    "no_economic_buyer",
    "no_champion",
    "single_threaded",
    "opponent_high_influence",
    "procurement_in_decision",
)

# What each gap means and what to do about it: the page shows both, the API returns both.
GAP_TEXT = {
    "no_economic_buyer": (
        "No economic buyer on the deal.",
        "Find who signs off the budget and get a meeting with them.",
    ),
    "no_champion": (
        "No champion on the deal.",
        "Find someone inside who wins if this succeeds and will sell it when you are not there.",
    ),
    "single_threaded": (
        f"Single-threaded: only one stakeholder engaged in the last {ENGAGEMENT_DAYS} days.",
        "Reach more of the decision team, so the deal does not hang on one person.",
    ),
    "opponent_high_influence": (
        f"An opponent with influence {HIGH_INFLUENCE} or more.",
        "Learn what they fear losing, and plan who can neutralise or win them over.",
    ),
    "procurement_in_decision": (
        "Procurement joined during the decision phase.",
        "Prepare the business case and your price and terms position before negotiating.",
    ),
}


# Short names, for filters, badges and play conditions ("stakeholder gaps contain no champion").
GAP_LABELS = {
    "no_economic_buyer": "no economic buyer",
    "no_champion": "no champion",
    "single_threaded": "single-threaded",
    "opponent_high_influence": "influential opponent",
    "procurement_in_decision": "procurement joined in decision",
}
# In a filter, "any" stands for every gap: deals with at least one.
ANY_GAP = "any"


def _gap(code: str) -> dict:
    message, action = GAP_TEXT[code]
    return {"code": code, "message": message, "action": action}


def _default_since(activities_since: datetime | None, now: datetime | None = None) -> datetime:
    if activities_since is not None:
        return activities_since
    return (now or timezone.now()) - timedelta(days=ENGAGEMENT_DAYS)


def parse_gap_codes(raw: Iterable[str]) -> tuple[str, ...]:
    """The gap codes a filter names, in GAP_CODES order: each item of `raw` is a code, "any" (every
    gap) or a comma-separated list of them; blanks are ignored. A ValueError names what is unknown and
    lists the valid codes."""
    wanted: set[str] = set()
    unknown: list[str] = []
    for item in raw:
        for part in str(item).split(","):
            code = part.strip()
            if not code:
                continue
            if code == ANY_GAP:
                wanted.update(GAP_CODES)
            elif code in GAP_CODES:
                wanted.add(code)
            elif code not in unknown:
                unknown.append(code)
    if unknown:
        names = ", ".join(f'"{u[:40]}"' for u in unknown[:5])
        raise ValueError(
            f"Unknown stakeholder gap {names}: use one of {', '.join(GAP_CODES)}, or {ANY_GAP} for any of them."
        )
    return tuple(c for c in GAP_CODES if c in wanted)


# ---- one deal


def _engaged_stakeholder_ids(
    deal: Deal, since: datetime, recent_activities: Sequence[Activity] | None, loaded_limit: int | None
) -> set[int]:
    """Ids of the deal's stakeholders with an activity at or after `since`.

    `recent_activities`, when given, are the deal's latest activities, newest first, as the deal page
    loaded them (at most `loaded_limit`). They hold every activity since `since` unless the list is full
    and its oldest is still recent: only then does this ask the database."""
    if recent_activities is not None:
        full = loaded_limit is not None and len(recent_activities) >= loaded_limit
        if not full or recent_activities[-1].occurred_at < since:
            return {
                a.stakeholder_id for a in recent_activities if a.stakeholder_id and a.occurred_at >= since
            }
    return set(
        Activity.objects.filter(deal=deal, stakeholder__isnull=False, occurred_at__gte=since)
        .values_list("stakeholder_id", flat=True)
        .distinct()
    )


def _procurement_joined_in_decision(deal: Deal, procurement: list[DealStakeholder]) -> bool:
    # The deal's stays in decision-phase stages; a procurement stakeholder created inside one joined then.
    stays = list(
        StageChange.objects.filter(deal=deal, to_stage__phase=Phase.DECISION).values_list(
            "entered_at", "left_at"
        )
    )
    return any(
        entered <= s.created_at and (left is None or s.created_at < left)
        for s in procurement
        for entered, left in stays
    )


def deal_gap_codes(
    deal: Deal,
    stakeholders: Iterable[DealStakeholder],
    *,
    codes: Iterable[str] = GAP_CODES,
    now: datetime | None = None,
    activities_since: datetime | None = None,
    recent_activities: Sequence[Activity] | None = None,
    loaded_limit: int | None = None,
) -> list[str]:
    """The gaps among `codes` that the deal has, in GAP_CODES order (the rules: see deal_gaps). Only
    the asked codes are worked out, so asking for roles alone costs no query."""
    stakeholders = list(stakeholders)
    asked = set(codes)
    roles = {s.role for s in stakeholders}
    found = []
    if "no_economic_buyer" in asked and StakeholderRole.ECONOMIC_BUYER not in roles:
        found.append("no_economic_buyer")
    if "no_champion" in asked and StakeholderRole.CHAMPION not in roles:
        found.append("no_champion")
    if "single_threaded" in asked:
        since = _default_since(activities_since, now)
        if len(_engaged_stakeholder_ids(deal, since, recent_activities, loaded_limit)) == 1:
            found.append("single_threaded")
    if "opponent_high_influence" in asked and any(
        s.attitude == Attitude.OPPONENT and s.influence >= HIGH_INFLUENCE for s in stakeholders
    ):
        found.append("opponent_high_influence")
    if "procurement_in_decision" in asked:
        procurement = [s for s in stakeholders if s.role == StakeholderRole.PROCUREMENT]
        if (
            procurement
            and deal.stage.phase == Phase.DECISION
            and _procurement_joined_in_decision(deal, procurement)
        ):
            found.append("procurement_in_decision")
    return found


def deal_gaps(
    deal: Deal,
    stakeholders: Iterable[DealStakeholder],
    *,
    now: datetime | None = None,
    activities_since: datetime | None = None,
    recent_activities: Sequence[Activity] | None = None,
    loaded_limit: int | None = None,
) -> list[dict]:
    """The gaps in the deal's stakeholder network, in GAP_CODES order, each {code, message, action}.

    `stakeholders` are all the deal's stakeholders (loaded by the caller). The rules:
    - `no_economic_buyer`, `no_champion`: no stakeholder with that role;
    - `single_threaded`: exactly one stakeholder has an activity at or after `activities_since`
      (default: ENGAGEMENT_DAYS before `now`, itself by default the current time; an activity exactly
      30 days old still counts). "An activity with a stakeholder" is an Activity whose
      `stakeholder` is set (the "With" of the activity form); activities with nobody named do not
      count. A deal with no such activity at all is idle rather than single-threaded: the stall rules
      report it;
    - `opponent_high_influence`: a stakeholder with attitude opponent and influence ≥ HIGH_INFLUENCE;
    - `procurement_in_decision`: the deal's current stage is in the decision phase, and a procurement
      stakeholder was added (its `created_at`) while the deal was in a decision-phase stage (a
      StageChange into such a stage, entered_at ≤ created_at < left_at).

    Queries: the engaged stakeholders (none when `recent_activities` already cover the window, see
    _engaged_stakeholder_ids) and the decision-phase stays (only for a deal in the decision phase with
    a procurement stakeholder). `deal.stage` should be loaded. Same answers as deals_with_gap."""
    return [
        _gap(code)
        for code in deal_gap_codes(
            deal,
            stakeholders,
            now=now,
            activities_since=activities_since,
            recent_activities=recent_activities,
            loaded_limit=loaded_limit,
        )
    ]


# ---- sets of deals


def _has_role(role: str) -> Exists:
    return Exists(DealStakeholder.objects.filter(deal=OuterRef("pk"), role=role))


def _engaged_count(since: datetime) -> Coalesce:
    """How many of the deal's stakeholders have an activity at or after `since` (0, never NULL)."""
    engaged = (
        Activity.objects.filter(deal=OuterRef("pk"), stakeholder__isnull=False, occurred_at__gte=since)
        .order_by()
        .values("deal")
        .annotate(n=Count("stakeholder", distinct=True))
        .values("n")
    )
    return Coalesce(Subquery(engaged, output_field=IntegerField()), Value(0))


def _joined_in_decision_stay() -> Exists:
    """For a stakeholder row (the outer query): a stay of its deal in a decision-phase stage that it was
    created during."""
    return Exists(
        StageChange.objects.filter(
            deal=OuterRef("deal_id"), to_stage__phase=Phase.DECISION, entered_at__lte=OuterRef("created_at")
        ).filter(Q(left_at__isnull=True) | Q(left_at__gt=OuterRef("created_at")))
    )


def deal_gap_condition(
    code: str, *, now: datetime | None = None, activities_since: datetime | None = None
) -> Q:
    """The gap `code` as a condition on Deal (subqueries only: no join multiplies the deal rows), the
    same rules as deal_gaps. Its SQL is never NULL, so `~deal_gap_condition(code)` is exactly the deals
    without the gap. A ValueError names an unknown code."""
    if code == "no_economic_buyer":
        return ~Q(_has_role(StakeholderRole.ECONOMIC_BUYER))
    if code == "no_champion":
        return ~Q(_has_role(StakeholderRole.CHAMPION))
    if code == "single_threaded":
        # No engaged stakeholder: no row, a NULL count, read as 0 so that NOT of it holds.
        return Q(Exact(_engaged_count(_default_since(activities_since, now)), 1))
    if code == "opponent_high_influence":
        return Q(
            Exists(
                DealStakeholder.objects.filter(
                    deal=OuterRef("pk"), attitude=Attitude.OPPONENT, influence__gte=HIGH_INFLUENCE
                )
            )
        )
    if code == "procurement_in_decision":
        joined = DealStakeholder.objects.filter(deal=OuterRef("pk"), role=StakeholderRole.PROCUREMENT).filter(
            _joined_in_decision_stay()
        )
        return Q(stage__phase=Phase.DECISION) & Q(Exists(joined))
    raise ValueError(f"Unknown stakeholder gap {code!r}; known: {', '.join(GAP_CODES)}.")


def deals_with_gap(
    queryset: QuerySet[Deal],
    code: str,
    *,
    now: datetime | None = None,
    activities_since: datetime | None = None,
) -> QuerySet[Deal]:
    """The deals of `queryset` that have the gap `code` (one query, whatever the number of deals)."""
    return queryset.filter(deal_gap_condition(code, now=now, activities_since=activities_since))


# One bit per gap, in GAP_CODES order: what GapBits computes.
GAP_BITS = {code: 1 << i for i, code in enumerate(GAP_CODES)}


class GapBits(Expression):
    """The deal's gaps among `codes` as an integer, one bit each (GAP_BITS), never NULL; for a query
    on Deal. Each gap is read per deal by an index probe: one aggregate subquery over the deal's
    stakeholders (with the decision-phase stays inside it, for procurement) and, for single_threaded,
    one count over its recent activities.

    Why not deal_gap_condition's EXISTS: in an expression (a select list, an OR) PostgreSQL may
    answer EXISTS with a hash of every row of the stakeholder or stage-change table, which is right
    for a play condition over every open deal and wrong for a page that shows 25 deals a column or
    stops at a LIMIT (measured at 20k deals: 150 ms for a board's cards filtered on any gap, 1 ms by
    probes). And why SQL text: compiling the same subqueries through the ORM took 9 ms of CPU per
    board. The deal's table is referred to by its alias in the query being compiled, so the
    expression stays right when that query becomes a subquery."""

    def __init__(self, codes: Iterable[str] = GAP_CODES, *, since: datetime | None = None):
        super().__init__(output_field=IntegerField())
        self.codes = tuple(c for c in GAP_CODES if c in set(codes))
        self.since = since if since is not None else _default_since(None)

    def __repr__(self) -> str:
        return f"GapBits({self.codes!r})"

    def get_group_by_cols(self):
        return []

    def as_sql(self, compiler, connection):
        qn, codes = connection.ops.quote_name, self.codes
        deal = compiler.quote_name_unless_alias(compiler.query.base_table)
        role_terms: list[str] = []
        params: list = []
        if "no_economic_buyer" in codes:
            role_terms.append(
                f"(1 - COALESCE(MAX(CASE WHEN s.role = %s THEN 1 END), 0)) * {GAP_BITS['no_economic_buyer']}"
            )
            params.append(StakeholderRole.ECONOMIC_BUYER.value)
        if "no_champion" in codes:
            role_terms.append(
                f"(1 - COALESCE(MAX(CASE WHEN s.role = %s THEN 1 END), 0)) * {GAP_BITS['no_champion']}"
            )
            params.append(StakeholderRole.CHAMPION.value)
        if "opponent_high_influence" in codes:
            role_terms.append(
                "COALESCE(MAX(CASE WHEN s.attitude = %s AND s.influence >= %s THEN 1 END), 0)"
                f" * {GAP_BITS['opponent_high_influence']}"
            )
            params += [Attitude.OPPONENT.value, HIGH_INFLUENCE]
        if "procurement_in_decision" in codes:
            stage = qn(Stage._meta.db_table)
            role_terms.append(
                "COALESCE(MAX(CASE WHEN s.role = %s"
                f" AND EXISTS (SELECT 1 FROM {stage} g WHERE g.id = {deal}.{qn('stage_id')} AND g.phase = %s)"
                f" AND EXISTS (SELECT 1 FROM {qn(StageChange._meta.db_table)} c"
                f" JOIN {stage} g ON g.id = c.to_stage_id WHERE c.deal_id = s.deal_id AND g.phase = %s"
                " AND c.entered_at <= s.created_at AND (c.left_at IS NULL OR c.left_at > s.created_at))"
                f" THEN 1 END), 0) * {GAP_BITS['procurement_in_decision']}"
            )
            params += [StakeholderRole.PROCUREMENT.value, Phase.DECISION.value, Phase.DECISION.value]
        terms = []
        if role_terms:
            # No GROUP BY: over a deal without stakeholders the aggregates are NULL, not absent.
            terms.append(
                f"(SELECT {' + '.join(role_terms)} FROM {qn(DealStakeholder._meta.db_table)} s"
                f" WHERE s.deal_id = {deal}.{qn('id')})"
            )
        if "single_threaded" in codes:
            terms.append(
                f"(CASE WHEN (SELECT COUNT(DISTINCT a.stakeholder_id) FROM {qn(Activity._meta.db_table)} a"
                f" WHERE a.deal_id = {deal}.{qn('id')} AND a.stakeholder_id IS NOT NULL AND a.occurred_at >= %s)"
                f" = 1 THEN {GAP_BITS['single_threaded']} ELSE 0 END)"
            )
            params.append(connection.ops.adapt_datetimefield_value(self.since))
        return (f"({' + '.join(terms)})" if terms else "0"), params


def deal_gaps_condition(codes: Iterable[str], *, now: datetime | None = None) -> Q:
    """Deals with at least one of the gaps `codes` (several gaps in a filter mean any of them; every
    code: deals with any gap), read per deal (GapBits): the board's, the deal list's and the API's
    filter, which look at a page of deals or stop at a LIMIT. No codes: no filter. (A play condition,
    read over every open deal, uses deal_gap_condition.)"""
    codes = tuple(c for c in GAP_CODES if c in set(codes))
    if not codes:
        return Q()
    # GapBits of just these codes: any bit set is one of them. Written `<> 0` rather than as a mask
    # test: PostgreSQL guesses that nearly every deal passes `<>` (a third for `>`), so a query that
    # stops at a LIMIT is costed as the short scan it is, and stays below jit_above_cost (with `>`, a
    # board at 100k deals filtered on any gap spent 250 ms compiling a JIT plan for a 20 ms query).
    return ~Q(Exact(GapBits(codes, since=_default_since(None, now)), 0))


def deal_gap_annotations(*, now: datetime | None = None) -> dict[str, GapBits]:
    """Every gap of each deal as one integer column `gap_bits` to annotate a Deal query with (read it
    back with `deal_gap_codes_from`): a list of cards gets its gaps in its own query, by probes."""
    return {"gap_bits": GapBits(GAP_CODES, since=_default_since(None, now))}


def deal_gap_codes_from(bits: int) -> tuple[str, ...]:
    """The gap codes a `gap_bits` value holds, in GAP_CODES order."""
    return tuple(code for code in GAP_CODES if bits & GAP_BITS[code])


# ---- the decision-team map

# Left to right, from against to for.
ATTITUDE_ORDER = (
    Attitude.OPPONENT,
    Attitude.SKEPTIC,
    Attitude.NEUTRAL,
    Attitude.SUPPORTER,
    Attitude.ADVOCATE,
)
# One colour per role (Bootstrap's palette, distinct in print and for most colour-blind readers); the
# legend names them and the table view repeats the roles in words.
ROLE_COLOURS = {
    StakeholderRole.ECONOMIC_BUYER: "#6f42c1",
    StakeholderRole.CHAMPION: "#198754",
    StakeholderRole.DECISION_MAKER: "#0d6efd",
    StakeholderRole.INFLUENCER: "#fd7e14",
    StakeholderRole.USER: "#20c997",
    StakeholderRole.PROCUREMENT: "#6c757d",
    StakeholderRole.BLOCKER: "#dc3545",
}
_LEFT = 70
_TOP = 16
_COL_W = 124
_LINE_H = 16
_LABEL_CHARS = 15


def _e(text) -> str:
    return escape(str(text), quote=True)


def _short(name: str) -> str:
    return name if len(name) <= _LABEL_CHARS else name[: _LABEL_CHARS - 1] + "…"


def decision_map_svg(stakeholders: Iterable[DealStakeholder]) -> SafeString:
    """The decision team as a grid: attitude left to right (opponent … advocate), influence bottom to
    top (1 … 5), one dot per stakeholder coloured by role, with the name beside it. Stakeholders that
    share a cell are stacked one line apart (rows grow to fit the fullest cell), so no label covers
    another; a long name is shortened on the map and given in full in its tooltip. The stakeholders
    need `contact` loaded."""
    stakeholders = list(stakeholders)
    cells: dict[tuple[int, int], list[DealStakeholder]] = defaultdict(list)
    for s in stakeholders:
        col = ATTITUDE_ORDER.index(s.attitude) if s.attitude in ATTITUDE_ORDER else 2
        influence = min(5, max(1, int(s.influence)))
        cells[(col, influence)].append(s)
    fullest = max((len(v) for v in cells.values()), default=1)
    row_h = max(40, _LINE_H * fullest + 14)
    plot_w, plot_h = _COL_W * 5, row_h * 5
    legend_y = _TOP + plot_h + 62  # below the axis title
    roles_shown = [r for r in StakeholderRole if any(s.role == r for s in stakeholders)] or list(
        StakeholderRole
    )
    legend_rows = (len(roles_shown) + 3) // 4
    width, height = _LEFT + plot_w + 10, legend_y + 18 * legend_rows + 6

    parts = []
    for col, attitude in enumerate(ATTITUDE_ORDER):
        x = _LEFT + col * _COL_W
        shade = "#f8d7da" if attitude == Attitude.OPPONENT else "#f8f9fa" if col % 2 else "#ffffff"
        parts.append(f'<rect x="{x}" y="{_TOP}" width="{_COL_W}" height="{plot_h}" fill="{shade}"/>')
        parts.append(
            f'<text x="{x + _COL_W / 2:.0f}" y="{_TOP + plot_h + 16}" text-anchor="middle" '
            f'fill="#495057">{_e(attitude.label)}</text>'
        )
    for level in range(1, 6):
        y = _TOP + (5 - level) * row_h
        parts.append(f'<line x1="{_LEFT}" y1="{y}" x2="{_LEFT + plot_w}" y2="{y}" stroke="#dee2e6"/>')
        parts.append(
            f'<text x="{_LEFT - 8}" y="{y + row_h / 2 + 4:.0f}" text-anchor="end" fill="#495057">{level}</text>'
        )
    parts.append(
        f'<rect x="{_LEFT}" y="{_TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#6c757d"/>'
        f'<text x="{_LEFT + plot_w / 2:.0f}" y="{_TOP + plot_h + 34}" text-anchor="middle" fill="#212529" '
        f'font-weight="600">Attitude</text>'
        f'<text x="16" y="{_TOP + plot_h / 2:.0f}" text-anchor="middle" fill="#212529" font-weight="600" '
        f'transform="rotate(-90 16 {_TOP + plot_h / 2:.0f})">Influence</text>'
    )
    for (col, influence), people in sorted(cells.items()):
        x0 = _LEFT + col * _COL_W + 10
        y0 = _TOP + (5 - influence) * row_h + (row_h - _LINE_H * len(people)) / 2 + _LINE_H / 2
        for k, s in enumerate(people):
            y = y0 + k * _LINE_H
            name = s.contact.name
            tip = f"{name}: {s.get_role_display()}, {s.get_attitude_display().lower()}, influence {s.influence} of 5"
            parts.append(
                f'<g data-stakeholder="{s.id}" data-influence="{influence}" data-attitude="{_e(s.attitude)}">'
                f"<title>{_e(tip)}</title>"
                f'<circle cx="{x0}" cy="{y:.1f}" r="5" fill="{ROLE_COLOURS.get(s.role, "#212529")}" '
                f'stroke="#fff" stroke-width="1"/>'
                f'<text x="{x0 + 9}" y="{y + 4:.1f}" fill="#212529" font-size="11">{_e(_short(name))}</text></g>'
            )
    for i, role in enumerate(roles_shown):
        x = _LEFT + (i % 4) * 150
        y = legend_y + (i // 4) * 18
        parts.append(
            f'<circle cx="{x}" cy="{y - 4}" r="5" fill="{ROLE_COLOURS[role]}"/>'
            f'<text x="{x + 9}" y="{y}" fill="#212529" font-size="11">{_e(role.label)}</text>'
        )
    title = "Decision team: each stakeholder by attitude and influence, coloured by role"
    return mark_safe(  # noqa: S308 - every piece of text in `parts` and `title` is escaped
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-label="{_e(title)}" class="decision-map" font-family="system-ui, sans-serif" font-size="12">'
        f"<title>{_e(title)}</title>{''.join(parts)}</svg>"
    )


def stakeholder_network(
    deal: Deal,
    stakeholders: Iterable[DealStakeholder],
    *,
    recent_activities: Sequence[Activity] | None = None,
    loaded_limit: int | None = None,
) -> dict:
    """The deal page's network section: the map, the rows of its table view (the map's order: most
    influential first) and the gaps."""
    stakeholders = list(stakeholders)
    return {
        "map": decision_map_svg(stakeholders) if stakeholders else "",
        "rows": sorted(stakeholders, key=lambda s: (-s.influence, ATTITUDE_ORDER.index(s.attitude), s.id)),
        "gaps": deal_gaps(deal, stakeholders, recent_activities=recent_activities, loaded_limit=loaded_limit),
    }
