"""`evaluate`, `explain` and `describe`: a condition against one deal in Python, and in words."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.utils import timezone

from deals.models import DealStakeholder, DealTag
from deals.network import GAP_CODES, deal_gap_codes
from playbooks.conditions.language import (
    CONTAINS,
    DAY,
    DAYS,
    EQ,
    GT,
    GTE,
    IN,
    IS_EMPTY,
    LIST,
    LT,
    LTE,
    NEGATIONS,
    NUMBER,
    PHASE,
    STAKEHOLDER_GAPS,
    TEXT,
    AllOf,
    AnyOf,
    Condition,
    Field,
    Leaf,
    Node,
    Not,
    describe_leaf,
    describe_node,
)
from playbooks.conditions.parsing import as_condition


class _DealFacts:
    """What the leaves read from one deal, loaded lazily and once: prefetched tags and stakeholders
    are used as they are, otherwise one query per list field. Stakeholder gaps are worked out code by
    code as leaves ask for them (deals.network.deal_gap_codes, on the same stakeholders): the role gaps
    cost nothing more, `single_threaded` one query for the recent activities, and
    `procurement_in_decision` one for the decision-phase stays when the deal has procurement in a
    decision-phase stage."""

    def __init__(self, deal, now: datetime):
        self.deal = deal
        self.now = now
        self._lists: dict[str, frozenset[str]] = {}
        self._stakeholders: list[DealStakeholder] | None = None
        # Kept on the deal instance, per `now`: evaluating many conditions on one loaded deal (every
        # play, in deal_plays_evaluate) works each gap out once. Like prefetched lists, it is as of
        # loading: a deal changed since is loaded again.
        at = deal.__dict__.setdefault("_stakeholder_gaps_at", {})
        if now not in at and len(at) >= 4:  # evaluated again and again with the current time
            at.clear()
        self._gaps: dict[str, bool] = at.setdefault(now, {})

    def stakeholders(self) -> list[DealStakeholder]:
        if self._stakeholders is None:
            deal = self.deal
            if "stakeholders" in getattr(deal, "_prefetched_objects_cache", {}):
                self._stakeholders = list(deal.stakeholders.all())
            else:
                self._stakeholders = list(DealStakeholder.objects.filter(deal_id=deal.pk))
        return self._stakeholders

    def gaps(self, codes) -> frozenset[str]:
        """The deal's gaps among `codes` (and any worked out before)."""
        missing = [c for c in codes if c not in self._gaps]
        if missing:
            found = set(deal_gap_codes(self.deal, self.stakeholders(), codes=missing, now=self.now))
            self._gaps.update((c, c in found) for c in missing)
        return frozenset(c for c, present in self._gaps.items() if present)

    def scalar(self, fld: Field) -> Any:
        deal = self.deal
        if fld.type == PHASE:
            return deal.stage.phase
        if fld.type == DAYS:
            return (self.now - deal.stage_entered_at) // DAY
        *path, attribute = fld.column.split("__")
        owner = deal
        for step in path:  # a related row (the deal's scorecard), which may not exist
            try:
                owner = getattr(owner, step)
            except ObjectDoesNotExist:
                return None
            if owner is None:
                return None
        value = getattr(owner, attribute)
        if fld.type == NUMBER and value is not None and not isinstance(value, Decimal):
            value = Decimal(str(value))
        return value

    def items(self, fld: Field) -> frozenset[str]:
        """The field's set: lower-cased tag names, or role values."""
        if fld.name not in self._lists:
            deal = self.deal
            prefetched = getattr(deal, "_prefetched_objects_cache", {})
            if fld.tag_kind:
                if "tags" in prefetched:
                    values = [t.value for t in deal.tags.all() if t.kind == fld.tag_kind]
                else:
                    values = DealTag.objects.filter(deal_id=deal.pk, kind=fld.tag_kind).values_list(
                        "value", flat=True
                    )
                self._lists[fld.name] = frozenset(v.lower() for v in values)
            else:
                self._lists[fld.name] = frozenset(s.role for s in self.stakeholders())
        return self._lists[fld.name]


def _fold(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _leaf_holds(leaf: Leaf, facts: _DealFacts) -> bool:
    op = leaf.op
    if op in NEGATIONS:
        return not _leaf_holds(Leaf(leaf.field, NEGATIONS[op], leaf.value), facts)
    fld = leaf.field
    if fld.type == LIST:
        wanted = () if op == IS_EMPTY else leaf.value if op == IN else (leaf.value,)
        if fld.name == STAKEHOLDER_GAPS:
            have = facts.gaps(GAP_CODES if op == IS_EMPTY else wanted)
        else:
            have = facts.items(fld)
        if op == IS_EMPTY:
            return not have
        return any(_fold(v) in have for v in wanted)
    actual = facts.scalar(fld)
    if op == IS_EMPTY:
        return actual is None or actual == ""
    if actual is None:
        # A missing value satisfies no comparison.
        return False
    if fld.type == TEXT:
        actual = actual.lower()
        if op == CONTAINS:
            return leaf.value.lower() in actual
        if op == IN:
            return actual in {v.lower() for v in leaf.value}
        return actual == leaf.value.lower()
    if op == IN:
        return actual in leaf.value
    if op == EQ:
        return actual == leaf.value
    if op == GT:
        return actual > leaf.value
    if op == GTE:
        return actual >= leaf.value
    if op == LT:
        return actual < leaf.value
    if op == LTE:
        return actual <= leaf.value
    raise AssertionError(f"unhandled operator {op}")  # parse() admits no other


def _holds(node: Node, facts: _DealFacts) -> bool:
    if isinstance(node, Leaf):
        return _leaf_holds(node, facts)
    if isinstance(node, AllOf):
        return all(_holds(c, facts) for c in node.children)
    if isinstance(node, AnyOf):
        return any(_holds(c, facts) for c in node.children)
    return not _holds(node.child, facts)


def evaluate(condition: Condition | dict | str, deal, *, now: datetime | None = None) -> bool:
    """Whether the condition holds for `deal`, exactly as `Deal.objects.filter(to_q(condition))` would
    say. No query for a deal loaded with `select_related("stage")` and
    `prefetch_related("tags", "stakeholders")` (but for the stakeholder gaps `single_threaded`, one,
    and `procurement_in_decision`, one when procurement joined a decision-phase deal); otherwise at
    most one per list field (stakeholder roles and gaps share theirs), and one for the stage if `phase`
    is tested or procurement's gap needs it."""
    return _holds(as_condition(condition).root, _DealFacts(deal, now or timezone.now()))


def explain(condition: Condition | dict | str, deal, *, now: datetime | None = None) -> list[str]:
    """Why the condition holds for `deal`: the descriptions of the parts that held (for `any`, each
    alternative that held; a `not` as "not (…)"), without repeats. Empty when it does not hold."""
    cond = as_condition(condition)
    reasons = _explain(cond.root, _DealFacts(deal, now or timezone.now()), cond.labels)
    return list(dict.fromkeys(reasons)) if reasons else []


def _explain(node: Node, facts: _DealFacts, labels: dict) -> list[str] | None:
    """The reasons `node` holds, or None when it does not."""
    if isinstance(node, Leaf):
        return [describe_leaf(node, labels)] if _leaf_holds(node, facts) else None
    if isinstance(node, Not):
        return None if _holds(node.child, facts) else [f"not ({describe_node(node.child, labels, None)})"]
    if isinstance(node, AllOf):
        out: list[str] = []
        for child in node.children:
            reasons = _explain(child, facts, labels)
            if reasons is None:
                return None
            out += reasons
        return out
    held = [r for r in (_explain(c, facts, labels) for c in node.children) if r is not None]
    return [reason for reasons in held for reason in reasons] if held else None


def describe(condition: Condition | dict | str) -> str:
    """The condition in words, e.g. `industry is Healthcare and (amount is more than 50,000 or
    competitors contain Globex)`. Stages and owners are named when the condition was parsed with its
    organization, numbered otherwise."""
    cond = as_condition(condition)
    return describe_node(cond.root, cond.labels, None)
