"""`parse`: validate a condition, name every problem by its path, normalize it."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any

from orgs.models import Membership
from playbooks.conditions.language import (
    ALL_OPERATORS,
    DAYS,
    FIELDS,
    IN,
    LIST,
    MAX_DAYS,
    MAX_DEPTH,
    MAX_JSON_CHARS,
    MAX_LEAVES,
    MAX_NUMBER,
    MAX_TEXT,
    MAX_VALUES,
    NOT_IN,
    NUMBER,
    OPERATORS,
    OWNER,
    STAGE,
    TEXT,
    VALUELESS,
    AllOf,
    AnyOf,
    Condition,
    Field,
    InvalidCondition,
    Leaf,
    Node,
    Not,
)
from salesproc.models import Stage


class _TooManyLeaves(Exception):
    pass


def _key(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _at(path: str) -> str:
    return path or "condition"


class _Parser:
    def __init__(self) -> None:
        self.problems: list[str] = []
        self.leaf_count = 0
        # (path, id) of every stage / owner id, checked against the organization in one query each.
        self.refs: dict[str, list[tuple[str, int]]] = {STAGE: [], OWNER: []}

    def problem(self, path: str, message: str) -> None:
        self.problems.append(f"{_at(path)}: {message}")

    def node(self, data: Any, path: str, depth: int) -> Node | None:
        if depth > MAX_DEPTH:
            self.problem(path, f"nested too deep (at most {MAX_DEPTH} levels)")
            return None
        if not isinstance(data, dict):
            self.problem(path, 'expected an object: "all", "any", "not" or a leaf {"field", "op", "value"}')
            return None
        if not data:
            self.problem(
                path, 'empty condition: expected "all", "any", "not" or a leaf {"field", "op", "value"}'
            )
            return None
        kind = next((k for k in ("all", "any", "not") if k in data), None)
        if kind is None:
            return self.leaf(data, path)
        for extra in sorted(k for k in data if k != kind):
            self.problem(path, f'unexpected key "{extra}" beside "{kind}"')
        child_path = _key(path, kind)
        if kind == "not":
            child = self.node(data["not"], child_path, depth + 1)
            return Not(child) if child is not None else None
        items = data[kind]
        if not isinstance(items, list):
            self.problem(child_path, "expected a list of conditions")
            return None
        if not items:
            self.problem(child_path, "expected at least one condition")
            return None
        if len(items) > MAX_LEAVES:
            raise _TooManyLeaves
        children = [self.node(item, f"{child_path}[{i}]", depth + 1) for i, item in enumerate(items)]
        if any(c is None for c in children):
            return None
        return (AllOf if kind == "all" else AnyOf)(tuple(children))

    def leaf(self, data: dict, path: str) -> Leaf | None:
        self.leaf_count += 1
        if self.leaf_count > MAX_LEAVES:
            raise _TooManyLeaves
        ok = True
        for extra in sorted(k for k in data if k not in ("field", "op", "value")):
            self.problem(path, f'unexpected key "{extra}"')
            ok = False
        fld = None
        if "field" not in data:
            self.problem(path, 'missing "field"')
        elif not isinstance(data["field"], str):
            self.problem(_key(path, "field"), "expected a field name")
        elif data["field"] not in FIELDS:
            self.problem(_key(path, "field"), f'unknown field "{_clip(data["field"])}"')
        else:
            fld = FIELDS[data["field"]]
        op = None
        if "op" not in data:
            self.problem(path, 'missing "op"')
        elif not isinstance(data["op"], str):
            self.problem(_key(path, "op"), "expected an operator name")
        elif data["op"] not in ALL_OPERATORS:
            self.problem(_key(path, "op"), f'unknown operator "{_clip(data["op"])}"')
        elif fld is not None and data["op"] not in OPERATORS[fld.type]:
            self.problem(
                _key(path, "op"),
                f'operator "{data["op"]}" does not apply to field "{fld.name}" ({fld.type}); '
                f"use one of {', '.join(OPERATORS[fld.type])}",
            )
        else:
            op = data["op"]
        if fld is None or op is None or not ok:
            return None
        value_path = _key(path, "value")
        if op in VALUELESS:
            if data.get("value") is not None:
                self.problem(value_path, f'operator "{op}" takes no value')
                return None
            return Leaf(fld, op)
        if "value" not in data:
            self.problem(path, 'missing "value"')
            return None
        raw = data["value"]
        if op in (IN, NOT_IN):
            if not isinstance(raw, list) or not raw:
                self.problem(value_path, f'expected a non-empty list for operator "{op}"')
                return None
            if len(raw) > MAX_VALUES:
                self.problem(value_path, f"at most {MAX_VALUES} values")
                return None
            values = [self.scalar(fld, v, f"{value_path}[{i}]") for i, v in enumerate(raw)]
            if any(v is None for v in values):
                return None
            return Leaf(fld, op, _unique(values))
        value = self.scalar(fld, raw, value_path)
        return None if value is None else Leaf(fld, op, value)

    def scalar(self, fld: Field, raw: Any, path: str) -> Any:
        """One value for `fld`, normalized; None (with a problem recorded) when it is not valid."""
        if fld.choices is not None:
            if isinstance(raw, str) and raw in fld.choices:
                return raw
            choices = ", ".join(f'"{c}"' for c in fld.choices)
            self.problem(path, f'expected one of {choices} for field "{fld.name}"')
            return None
        if fld.type in (TEXT, LIST):
            if not isinstance(raw, str):
                self.problem(path, f'expected a text for field "{fld.name}"')
                return None
            text = raw.strip()
            if not text:
                self.problem(path, "expected a non-empty text (is_empty matches an empty field)")
                return None
            if len(text) > MAX_TEXT:
                self.problem(path, f"at most {MAX_TEXT} characters")
                return None
            return text
        if fld.type == NUMBER:
            number = _number(raw)
            if number is None:
                self.problem(path, f'expected a number for field "{fld.name}"')
            elif abs(number) >= MAX_NUMBER:
                self.problem(path, f"must be less than {MAX_NUMBER:,f} in size")
            elif number != number.quantize(Decimal("0.01")):
                self.problem(path, "at most 2 decimal places")
            else:
                # Plain notation ("100000", "12.50"), whatever the input's spelling ("1e5", 12.5).
                return number.quantize(
                    Decimal(1) if number == number.to_integral_value() else Decimal("0.01")
                )
            return None
        if fld.type == DAYS:
            days = _whole(raw)
            if days is None or not 0 <= days <= MAX_DAYS:
                self.problem(
                    path, f'expected a whole number of days (0 to {MAX_DAYS}) for field "{fld.name}"'
                )
                return None
            return days
        # STAGE, OWNER: ids, checked against the organization afterwards.
        ident = _whole(raw)
        if ident is None or ident <= 0:
            what = "a stage id" if fld.type == STAGE else "a user id"
            self.problem(path, f'expected {what} for field "{fld.name}"')
            return None
        self.refs[fld.type].append((path, ident))
        return ident


def _clip(text: str, n: int = 40) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _unique(values: list) -> tuple:
    """Values without repeats (text compared case-insensitively), in their first order."""
    seen: set = set()
    out = []
    for v in values:
        k = v.lower() if isinstance(v, str) else v
        if k not in seen:
            seen.add(k)
            out.append(v)
    return tuple(out)


def _number(raw: Any) -> Decimal | None:
    if isinstance(raw, bool) or not isinstance(raw, int | float | Decimal | str):
        return None
    try:
        number = Decimal(raw.strip() if isinstance(raw, str) else str(raw))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _whole(raw: Any) -> int | None:
    """An int (or a string of digits) that fits a bigint column; None otherwise."""
    if isinstance(raw, str):
        digits = raw.strip()
        raw = int(digits) if digits.isascii() and digits.isdigit() and len(digits) <= 19 else None
    if isinstance(raw, bool) or not isinstance(raw, int) or abs(raw) >= 2**63:
        return None
    return raw


def _reject_constant(name: str):
    raise ValueError(f"{name} is not allowed")


def parse(data: Any, *, organization=None) -> Condition:
    """Validate and normalize a condition (a dict, or its JSON text). Raises InvalidCondition listing every
    problem with its path. With `organization`, stage ids must be stages of that organization and owner
    ids users who are members of it; their names become the labels `describe` and `explain` use.
    Costs no query without `organization`, at most two with it."""
    if isinstance(data, Condition):
        return data
    if isinstance(data, bytes | bytearray):
        data = data.decode("utf-8", errors="replace")
    if isinstance(data, str):
        if len(data) > MAX_JSON_CHARS:
            raise InvalidCondition([f"condition: too large (at most {MAX_JSON_CHARS:,} characters)"])
        try:
            data = json.loads(data, parse_float=Decimal, parse_constant=_reject_constant)
        except json.JSONDecodeError as exc:
            raise InvalidCondition(
                [f"condition: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"]
            ) from None
        except (ValueError, RecursionError) as exc:
            raise InvalidCondition([f"condition: not valid JSON ({exc})"]) from None
    parser = _Parser()
    try:
        root = parser.node(data, "", 1)
    except _TooManyLeaves:
        parser.problems.append(f"condition: too many conditions (at most {MAX_LEAVES} leaves)")
        root = None
    labels: dict[tuple[str, Any], str] = {}
    if organization is not None:
        labels = _check_refs(parser, organization)
    if parser.problems or root is None:
        raise InvalidCondition(parser.problems)
    return Condition(root, labels)


def _check_refs(parser: _Parser, organization) -> dict[tuple[str, Any], str]:
    labels: dict[tuple[str, Any], str] = {}
    stage_refs = parser.refs[STAGE]
    if stage_refs:
        ids = {i for _, i in stage_refs}
        for sid, name in Stage.objects.filter(organization=organization, id__in=ids).values_list(
            "id", "name"
        ):
            labels[(STAGE, sid)] = name
        for path, sid in stage_refs:
            if (STAGE, sid) not in labels:
                # Another organization's stage is "unknown" too: never confirm it exists.
                parser.problem(path, f"unknown stage {sid}")
    owner_refs = parser.refs[OWNER]
    if owner_refs:
        ids = {i for _, i in owner_refs}
        members = Membership.objects.filter(organization=organization, user_id__in=ids).select_related("user")
        for member in members:
            labels[(OWNER, member.user_id)] = member.user.display_name
        for path, uid in owner_refs:
            if (OWNER, uid) not in labels:
                parser.problem(path, f"unknown owner {uid} (not a member of this organization)")
    return labels


def as_condition(condition: Condition | dict | str) -> Condition:
    return condition if isinstance(condition, Condition) else parse(condition)
