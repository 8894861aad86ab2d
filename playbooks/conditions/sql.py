"""`to_q`: a condition compiled to a `Q` over `Deal`, meaning exactly what `evaluate` means."""

from __future__ import annotations

from datetime import datetime
from functools import reduce

from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from deals.models import DealStakeholder, DealTag
from deals.network import GAP_CODES, deal_gap_condition
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
    STAKEHOLDER_GAPS,
    TEXT,
    AllOf,
    Condition,
    Leaf,
    Node,
    Not,
)
from playbooks.conditions.parsing import as_condition


def _leaf_q(leaf: Leaf, now: datetime) -> Q:
    """The leaf as a Q whose SQL is never NULL, so negating it is an exact complement."""
    op = leaf.op
    if op in NEGATIONS:
        return ~_leaf_q(Leaf(leaf.field, NEGATIONS[op], leaf.value), now)
    fld, value = leaf.field, leaf.value
    if fld.name == STAKEHOLDER_GAPS:
        # deals.network's conditions: subqueries that are never NULL, like the EXISTS below.
        if op == IS_EMPTY:
            return ~reduce(Q.__or__, (deal_gap_condition(c, now=now) for c in GAP_CODES))
        if op == IN:
            return reduce(Q.__or__, (deal_gap_condition(c, now=now) for c in value))
        return deal_gap_condition(value, now=now)
    if fld.type == LIST:
        if fld.tag_kind:
            rows = DealTag.objects.filter(deal=OuterRef("pk"), kind=fld.tag_kind)
            if op != IS_EMPTY:
                wanted = value if op == IN else (value,)
                rows = rows.filter(reduce(Q.__or__, (Q(value__iexact=v) for v in wanted)))
        else:
            rows = DealStakeholder.objects.filter(deal=OuterRef("pk"))
            if op != IS_EMPTY:
                rows = rows.filter(role__in=value if op == IN else (value,))
        exists = Q(Exists(rows))
        return ~exists if op == IS_EMPTY else exists
    col = fld.column
    if op == IS_EMPTY:
        q = Q(**{f"{col}__isnull": True})
        return q | Q(**{col: ""}) if fld.type == TEXT else q
    if fld.type == DAYS:
        q = _days_q(op, value, now)
    elif fld.type == TEXT:
        if op == IN:
            q = reduce(Q.__or__, (Q(**{f"{col}__iexact": v}) for v in value))
        else:
            q = Q(**{f"{col}__{'icontains' if op == CONTAINS else 'iexact'}": value})
    else:
        q = Q(**{col if op == EQ else f"{col}__{op}": list(value) if op == IN else value})
    if fld.nullable:
        # Explicit, so that the leaf is FALSE rather than NULL for a missing value.
        q &= Q(**{f"{col}__isnull": False})
    return q


def _days_q(op: str, days: int, now: datetime) -> Q:
    """Whole days in stage, floor((now - stage_entered_at) / 1 day), compared with `days`:
    floor(d) >= n exactly when stage_entered_at <= now - n days."""

    def at_least(n: int) -> Q:
        return Q(stage_entered_at__lte=now - n * DAY)

    def below(n: int) -> Q:
        return Q(stage_entered_at__gt=now - n * DAY)

    return {
        GTE: lambda: at_least(days),
        GT: lambda: at_least(days + 1),
        LT: lambda: below(days),
        LTE: lambda: below(days + 1),
        EQ: lambda: at_least(days) & below(days + 1),
    }[op]()


def _node_q(node: Node, now: datetime) -> Q:
    if isinstance(node, Leaf):
        return _leaf_q(node, now)
    if isinstance(node, Not):
        return ~_node_q(node.child, now)
    parts = [_node_q(c, now) for c in node.children]
    return reduce(Q.__and__ if isinstance(node, AllOf) else Q.__or__, parts)


def to_q(condition: Condition | dict | str, *, now: datetime | None = None) -> Q:
    """The condition as a filter on `Deal` querysets: `Deal.objects.filter(to_q(c, now=t))` holds the
    deals for which `evaluate(c, deal, now=t)` is true. List fields are EXISTS subqueries, so the
    filter never duplicates rows."""
    return _node_q(as_condition(condition).root, now or timezone.now())
