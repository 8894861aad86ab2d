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
from playbooks.models import Play
from salesproc.models import Stage

log = logging.getLogger(__name__)


# play id -> ((version, updated_at), parsed). Parsing costs ~20 µs a play, and reading a condition's
# JSON about as much: evaluating 200 plays on every deal edit would spend most of its time on both. Every
# write of a condition bumps the play's version and updated_at (the services, the admin), so the pair
# says when to parse again (updated_at too: ids come back in a test database rolled back).
_PARSED: dict[int, tuple[tuple, Condition | None]] = {}
_PARSED_MAX = 20_000


def _parse_stored(play_id: int, stamp: tuple, data) -> Condition | None:
    try:
        cond: Condition | None = parse(data)
    except InvalidCondition as exc:
        log.warning("play %s has a condition that does not parse (%s): it matches no deal", play_id, exc)
        cond = None
    if len(_PARSED) >= _PARSED_MAX:
        _PARSED.clear()
    _PARSED[play_id] = (stamp, cond)
    return cond


def play_condition(play: Play) -> Condition | None:
    """The play's parsed condition (without labels); None when the stored JSON no longer parses (the
    play then matches no deal, and says so in the log)."""
    stamp = (play.version, play.updated_at)
    hit = _PARSED.get(play.pk)
    if hit is not None and hit[0] == stamp:
        return hit[1]
    return _parse_stored(play.pk, stamp, play.condition)


def play_conditions(plays: list[tuple[int, int, datetime]]) -> dict[int, Condition]:
    """The parsed conditions of the plays given as (id, version, updated_at), in their order, leaving
    out those that do not parse. Reads the stored JSON of the plays not parsed at that version yet, in
    one query."""
    missing = [pid for pid, *stamp in plays if _PARSED.get(pid, (None,))[0] != tuple(stamp)]
    if missing:
        rows = Play.objects.filter(pk__in=missing).values_list("id", "version", "updated_at", "condition")
        for pid, version, updated_at, data in rows:
            _parse_stored(pid, (version, updated_at), data)
    out = {}
    for pid, *_ in plays:
        hit = _PARSED.get(pid)
        if hit is not None and hit[1] is not None:
            out[pid] = hit[1]
    return out


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


class Explainer:
    """`conditions.explain` for the many deals a condition matches, without loading them: when the
    reasons cannot vary between deals (no `any`) they are worked out once; otherwise the query that
    finds the matching deals also returns each leaf's truth for each, and the reasons are worked out
    once per distinct combination of truths."""

    def __init__(self, cond: Condition, now: datetime):
        self.cond = cond
        self.now = now
        self.varies = _why_varies(cond.root)
        self.leaves = list(leaves(cond.root)) if self.varies else []
        self._names = [f"leaf_{i}" for i in range(len(self.leaves))]
        self._whys: dict[tuple, list[str]] = {}
        if not self.varies:
            self._whys[()] = list(dict.fromkeys(_constant_reasons(cond.root, cond.labels)))

    def matching(self, deals) -> dict[int, tuple]:
        """The ids of `deals` the condition matches, each with its leaves' truths. One query."""
        matched = deals.filter(to_q(self.cond, now=self.now))
        if not self.varies:
            return dict.fromkeys(matched.values_list("id", flat=True), ())
        annotations = {
            name: ExpressionWrapper(to_q(Condition(leaf), now=self.now), output_field=BooleanField())
            for name, leaf in zip(self._names, self.leaves, strict=True)
        }
        return {row[0]: row[1:] for row in matched.annotate(**annotations).values_list("id", *self._names)}

    def why(self, truths: tuple) -> list[str]:
        """What `explain` says for a deal whose leaves have these truths."""
        why = self._whys.get(truths)
        if why is None:
            truth = {id(leaf): bool(v) for leaf, v in zip(self.leaves, truths, strict=True)}
            why = self._whys[truths] = list(
                dict.fromkeys(_reasons(self.cond.root, truth, self.cond.labels) or [])
            )
        return why


def _constant_reasons(node: Node, labels: dict) -> list[str]:
    """The reasons of a condition without `any` for any deal it matches: every part held (a `not`
    reached through `all` holds too)."""
    if isinstance(node, Leaf):
        return [describe_leaf(node, labels)]
    if isinstance(node, Not):
        return [f"not ({describe_node(node.child, labels, None)})"]
    return [r for c in node.children for r in _constant_reasons(c, labels)]
