"""The vocabulary of the trigger-condition language: its fields, operators and limits, the parsed
tree, and the words `describe` and `explain` use for it. See the package docstring for the semantics."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

from deals.models import StakeholderRole, TagKind
from deals.network import GAP_LABELS
from salesproc.lib.errors import InvalidInput
from salesproc.models import Phase

MAX_DEPTH = 6
MAX_LEAVES = 50
MAX_VALUES = 100
MAX_TEXT = 200
# A JSON string longer than this is refused before it is decoded.
MAX_JSON_CHARS = 100_000
MAX_NUMBER = Decimal("1e12")
MAX_DAYS = 36_500

# Field types.
TEXT = "text"
NUMBER = "number"
DAYS = "days"
STAGE = "stage"
PHASE = "phase"
OWNER = "owner"
LIST = "list"
# One of a fixed set of values, possibly missing (a deal without a scorecard has no result).
CHOICE = "choice"

EQ, NE, IN, NOT_IN = "eq", "ne", "in", "not_in"
GT, GTE, LT, LTE = "gt", "gte", "lt", "lte"
CONTAINS, NOT_CONTAINS = "contains", "not_contains"
IS_EMPTY, IS_NOT_EMPTY = "is_empty", "is_not_empty"
ALL_OPERATORS = (EQ, NE, IN, NOT_IN, GT, GTE, LT, LTE, CONTAINS, NOT_CONTAINS, IS_EMPTY, IS_NOT_EMPTY)

# Each negative operator is `not` of its positive twin, in Python and in SQL.
NEGATIONS = {NE: EQ, NOT_IN: IN, NOT_CONTAINS: CONTAINS, IS_NOT_EMPTY: IS_EMPTY}
VALUELESS = (IS_EMPTY, IS_NOT_EMPTY)

OPERATORS: dict[str, tuple[str, ...]] = {
    TEXT: (EQ, NE, IN, NOT_IN, CONTAINS, NOT_CONTAINS, IS_EMPTY, IS_NOT_EMPTY),
    NUMBER: (EQ, NE, GT, GTE, LT, LTE, IS_EMPTY, IS_NOT_EMPTY),
    DAYS: (EQ, NE, GT, GTE, LT, LTE),
    STAGE: (EQ, NE, IN, NOT_IN),
    PHASE: (EQ, NE, IN, NOT_IN),
    OWNER: (EQ, NE, IN, NOT_IN),
    LIST: (CONTAINS, NOT_CONTAINS, IN, NOT_IN, IS_EMPTY, IS_NOT_EMPTY),
    CHOICE: (EQ, NE, IN, NOT_IN, IS_EMPTY, IS_NOT_EMPTY),
}


@dataclass(frozen=True)
class Field:
    """A deal fact a condition may test. `column` is the Deal attribute / lookup for scalar fields."""

    name: str
    label: str
    type: str
    column: str = ""
    nullable: bool = False
    # value -> label, for fields whose values come from a fixed list (phase, stakeholder roles).
    choices: dict[str, str] | None = None
    # For competitors / objections: the DealTag kind.
    tag_kind: str = ""
    # Whether the field's value changes as time passes, without any edit of the deal (days in stage,
    # a stakeholder gap that depends on how recent activities are): plays reading it are re-evaluated
    # nightly (playbooks.triggering.time_based_plays_reevaluate).
    moves_with_time: bool = False


FIELDS: dict[str, Field] = {
    f.name: f
    for f in (
        Field("stage", "stage", STAGE, column="stage_id"),
        Field("phase", "phase", PHASE, column="stage__phase", choices=dict(Phase.choices)),
        Field("industry", "industry", TEXT, column="industry"),
        Field("lead_source", "lead source", TEXT, column="lead_source"),
        Field("amount", "amount", NUMBER, column="amount"),
        Field("budget", "budget", NUMBER, column="budget", nullable=True),
        Field("competitors", "competitors", LIST, tag_kind=TagKind.COMPETITOR),
        Field("objections", "objections", LIST, tag_kind=TagKind.OBJECTION),
        Field("stakeholder_roles", "stakeholder roles", LIST, choices=dict(StakeholderRole.choices)),
        # The gaps of the deal's stakeholder network (deals.network: the rules, in Python and SQL).
        Field("stakeholder_gaps", "stakeholder gaps", LIST, choices=dict(GAP_LABELS), moves_with_time=True),
        Field("days_in_stage", "days in stage", DAYS, column="stage_entered_at", moves_with_time=True),
        Field("owner", "owner", OWNER, column="owner_id"),
        # The deal's qualification scorecard (scorecards.DealScorecard): none until it is answered.
        Field(
            "scorecard_result",
            "scorecard result",
            CHOICE,
            column="scorecard__result",
            nullable=True,
            choices={"go": "go", "no_go": "no-go", "incomplete": "incomplete"},
        ),
        Field("scorecard_score", "scorecard score", NUMBER, column="scorecard__score", nullable=True),
    )
}


# ---------------------------------------------------------------------------------------------------
# The parsed tree


# The list field whose items are the deal's stakeholder gaps (deals.network), not stored values.
STAKEHOLDER_GAPS = "stakeholder_gaps"
# The fields whose truth can change with time alone.
TIME_BASED_FIELDS = frozenset(f.name for f in FIELDS.values() if f.moves_with_time)


@dataclass(frozen=True)
class Leaf:
    field: Field
    op: str
    # str | Decimal | int, a tuple of them for in / not_in, None for is_empty / is_not_empty.
    value: Any = None


@dataclass(frozen=True)
class AllOf:
    children: tuple


@dataclass(frozen=True)
class AnyOf:
    children: tuple


@dataclass(frozen=True)
class Not:
    child: Any


Node = Leaf | AllOf | AnyOf | Not


@dataclass(frozen=True)
class Condition:
    """A validated condition. `labels` names stage and owner ids for people (filled when parsed with an
    organization); `data` is the normalized JSON to store."""

    root: Node
    labels: dict[tuple[str, Any], str] = field(default_factory=dict, compare=False)

    @property
    def data(self) -> dict:
        return to_data(self.root)

    @property
    def fields(self) -> frozenset[str]:
        """The names of the fields the condition reads."""
        return frozenset(leaf.field.name for leaf in leaves(self.root))


class InvalidCondition(InvalidInput):
    """A condition that does not parse. `problems` lists "path: message" strings in document order;
    `errors` carries them under "condition", like every other InvalidInput."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__({"condition": problems})


DAY = timedelta(days=1)


def to_data(node: Node) -> dict:
    if isinstance(node, AllOf):
        return {"all": [to_data(c) for c in node.children]}
    if isinstance(node, AnyOf):
        return {"any": [to_data(c) for c in node.children]}
    if isinstance(node, Not):
        return {"not": to_data(node.child)}
    out: dict[str, Any] = {"field": node.field.name, "op": node.op}
    if node.op not in VALUELESS:
        value = node.value
        out["value"] = [_json_value(v) for v in value] if isinstance(value, tuple) else _json_value(value)
    return out


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def leaves(node: Node):
    if isinstance(node, Leaf):
        yield node
    elif isinstance(node, Not):
        yield from leaves(node.child)
    else:
        for child in node.children:
            yield from leaves(child)


# ---------------------------------------------------------------------------------------------------
# Words

_SCALAR_PHRASES = {
    EQ: "is",
    NE: "is not",
    IN: "is one of",
    NOT_IN: "is not one of",
    GT: "is more than",
    GTE: "is at least",
    LT: "is less than",
    LTE: "is at most",
    CONTAINS: "contains",
    NOT_CONTAINS: "does not contain",
}
_LIST_PHRASES = {
    CONTAINS: "contain",
    NOT_CONTAINS: "do not contain",
    IN: "contain any of",
    NOT_IN: "contain none of",
}


def _show(fld: Field, value: Any, labels: dict) -> str:
    if isinstance(value, tuple):
        return ", ".join(_show(fld, v, labels) for v in value)
    if fld.choices is not None:
        return fld.choices.get(value, value)
    if fld.type == STAGE:
        return labels.get((STAGE, value), f"stage #{value}")
    if fld.type == OWNER:
        return labels.get((OWNER, value), f"user #{value}")
    if isinstance(value, Decimal):
        return f"{value:,f}"
    return str(value)


def describe_leaf(leaf: Leaf, labels: dict) -> str:
    fld, op = leaf.field, leaf.op
    if fld.type == LIST:
        if op == IS_EMPTY:
            return f"no {fld.label}"
        if op == IS_NOT_EMPTY:
            return f"has {fld.label}"
        return f"{fld.label} {_LIST_PHRASES[op]} {_show(fld, leaf.value, labels)}"
    if op == IS_EMPTY:
        return f"{fld.label} is empty"
    if op == IS_NOT_EMPTY:
        return f"{fld.label} is set"
    return f"{fld.label} {_SCALAR_PHRASES[op]} {_show(fld, leaf.value, labels)}"


def describe_node(node: Node, labels: dict, parent: type | None) -> str:
    if isinstance(node, Leaf):
        return describe_leaf(node, labels)
    if isinstance(node, Not):
        return f"not ({describe_node(node.child, labels, None)})"
    joiner = " and " if isinstance(node, AllOf) else " or "
    text = joiner.join(describe_node(c, labels, type(node)) for c in node.children)
    # Brackets where "and" meets "or"; a group of one needs none.
    return f"({text})" if parent is not None and parent is not type(node) and len(node.children) > 1 else text
