"""Conditions as the triggering reads them: parsed once per play version, labelled with the names of
the stages and owners they mention, and explained from SQL's truth of each leaf (the bulk path)."""

from __future__ import annotations

import logging
from datetime import datetime

from django.db.models import (
    BooleanField,
    ExpressionWrapper,
)

from orgs.models import Membership
from playbooks.conditions import InvalidCondition, parse, to_q
from playbooks.conditions.language import (
    OWNER,
    STAGE,
    AllOf,
    AnyOf,
    Condition,
    Leaf,
    Node,
    Not,
    describe_leaf,
    describe_node,
    leaves,
)
from salesproc.models import Stage

log = logging.getLogger(__name__)


# play id -> (version, stored condition, parsed). Parsing costs ~20 µs a play; evaluating 200 plays on
# every deal edit would spend most of its time re-parsing the same JSON. The stored condition is part
# of the key, so an edit that forgot to bump the version cannot serve a stale parse.
_PARSED: dict[int, tuple[int, dict, Condition | None]] = {}
_PARSED_MAX = 20_000


def play_condition(play_id: int, version: int, data: dict) -> Condition | None:
    """The play's parsed condition (without labels); None when the stored JSON no longer parses (the
    play then matches no deal, and says so in the log)."""
    hit = _PARSED.get(play_id)
    if hit is not None and hit[0] == version and hit[1] == data:
        return hit[2]
    try:
        cond: Condition | None = parse(data)
    except InvalidCondition as exc:
        log.warning("play %s has a condition that does not parse (%s): it matches no deal", play_id, exc)
        cond = None
    if len(_PARSED) >= _PARSED_MAX:
        _PARSED.clear()
    _PARSED[play_id] = (version, data, cond)
    return cond


def _refs(cond: Condition) -> tuple[set[int], set[int]]:
    stage_ids: set[int] = set()
    owner_ids: set[int] = set()
    for leaf in leaves(cond.root):
        if leaf.field.type in (STAGE, OWNER):
            values = leaf.value if isinstance(leaf.value, tuple) else (leaf.value,)
            (stage_ids if leaf.field.type == STAGE else owner_ids).update(values)
    return stage_ids, owner_ids


def with_labels(conds: list[Condition], organization_id: int) -> list[Condition]:
    """The conditions with the names of the stages and owners they mention (what `explain` shows), in
    at most two queries for all of them. Mirrors `parse(..., organization=...)`."""
    stage_ids: set[int] = set()
    owner_ids: set[int] = set()
    for cond in conds:
        s, o = _refs(cond)
        stage_ids |= s
        owner_ids |= o
    labels: dict = {}
    if stage_ids:
        rows = Stage.objects.filter(organization_id=organization_id, id__in=stage_ids).values_list(
            "id", "name"
        )
        labels.update(((STAGE, sid), name) for sid, name in rows)
    if owner_ids:
        members = Membership.objects.filter(
            organization_id=organization_id, user_id__in=owner_ids
        ).select_related("user")
        labels.update(((OWNER, m.user_id), m.user.display_name) for m in members)
    return [Condition(c.root, labels) if labels else c for c in conds]


def _why_varies(node: Node) -> bool:
    """Whether `explain` can differ between two deals that both match: only an `any` (outside a `not`)
    picks which alternatives are named."""
    if isinstance(node, AnyOf):
        return True
    if isinstance(node, AllOf):
        return any(_why_varies(c) for c in node.children)
    return False


def _holds(node: Node, truth: dict[int, bool]) -> bool:
    if isinstance(node, Leaf):
        return truth[id(node)]
    if isinstance(node, AllOf):
        return all(_holds(c, truth) for c in node.children)
    if isinstance(node, AnyOf):
        return any(_holds(c, truth) for c in node.children)
    return not _holds(node.child, truth)


def _reasons(node: Node, truth: dict[int, bool], labels: dict) -> list[str] | None:
    """`conditions.explain` from the truth of each leaf (as SQL computed it) instead of a loaded deal:
    the same walk, so the same words."""
    if isinstance(node, Leaf):
        return [describe_leaf(node, labels)] if truth[id(node)] else None
    if isinstance(node, Not):
        return None if _holds(node.child, truth) else [f"not ({describe_node(node.child, labels, None)})"]
    if isinstance(node, AllOf):
        out: list[str] = []
        for child in node.children:
            reasons = _reasons(child, truth, labels)
            if reasons is None:
                return None
            out += reasons
        return out
    held = [r for r in (_reasons(c, truth, labels) for c in node.children) if r is not None]
    return [reason for reasons in held for reason in reasons] if held else None


def explain_many(cond: Condition, deals, ids: list[int], now: datetime) -> dict[int, list[str]]:
    """`explain(cond, deal)` for each of the matching deals `ids`: the same list for all when it cannot
    vary, else one query that returns each leaf's truth per deal."""
    all_leaves = list(leaves(cond.root))
    if not _why_varies(cond.root):
        why = list(dict.fromkeys(_constant_reasons(cond.root, cond.labels)))
        return dict.fromkeys(ids, why)
    names = [f"leaf_{i}" for i in range(len(all_leaves))]
    annotations = {
        name: ExpressionWrapper(to_q(Condition(leaf), now=now), output_field=BooleanField())
        for name, leaf in zip(names, all_leaves, strict=True)
    }
    out: dict[int, list[str]] = {}
    for deal_id, *values in deals.filter(id__in=ids).annotate(**annotations).values_list("id", *names):
        truth = {id(leaf): bool(v) for leaf, v in zip(all_leaves, values, strict=True)}
        out[deal_id] = list(dict.fromkeys(_reasons(cond.root, truth, cond.labels) or []))
    return out


def _constant_reasons(node: Node, labels: dict) -> list[str]:
    """The reasons of a condition without `any` for any deal it matches: every part held (a `not`
    reached through `all` holds too)."""
    if isinstance(node, Leaf):
        return [describe_leaf(node, labels)]
    if isinstance(node, Not):
        return [f"not ({describe_node(node.child, labels, None)})"]
    return [r for c in node.children for r in _constant_reasons(c, labels)]
