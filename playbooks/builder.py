"""The condition builder of the play editor: a condition as rows and groups people edit in a form, and
back to the condition language's JSON.

The form names every node by its path in the tree: the root group is `r`, its children `r.0`, `r.1`…,
theirs `r.1.0`… The `node` inputs list the paths in document order; a group has `<path>:kind` (all,
any, none = not any, not_all = not all), a rule `<path>:field`, `<path>:op` and zero or more
`<path>:value` inputs. Nothing here validates: `conditions.parse` does, and its problems (paths like
`all[1].value`) are matched back to the rows they belong to (`errors_by_row`).
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dataclass_field

from playbooks.conditions import FIELDS, LIST, OPERATORS
from playbooks.conditions.language import IN, NOT_IN, VALUELESS

GROUP_KINDS = {
    "all": "All of these are true",
    "any": "Any of these is true",
    "none": "None of these is true",
    "not_all": "Not all of these are true",
}
MULTI_OPERATORS = (IN, NOT_IN)
OPERATOR_LABELS = {
    "eq": "is",
    "ne": "is not",
    "in": "is one of",
    "not_in": "is none of",
    "gt": "is more than",
    "gte": "is at least",
    "lt": "is less than",
    "lte": "is at most",
    "contains": "contains",
    "not_contains": "does not contain",
    "is_empty": "is empty",
    "is_not_empty": "is not empty",
}
LIST_OPERATOR_LABELS = {
    "contains": "include",
    "not_contains": "do not include",
    "in": "include any of",
    "not_in": "include none of",
    "is_empty": "are empty",
    "is_not_empty": "are not empty",
}
MAX_NODES = 120


@dataclass
class Node:
    path: str
    kind: str = ""  # a group's kind; "" for a rule
    field: str = ""
    op: str = ""
    values: list[str] = dataclass_field(default_factory=list)
    children: list[Node] = dataclass_field(default_factory=list)
    data_path: str = ""  # where parse's problems about this node point

    @property
    def is_group(self) -> bool:
        return bool(self.kind)

    @property
    def depth(self) -> int:
        return self.path.count(".")

    @property
    def multi(self) -> bool:
        return self.op in MULTI_OPERATORS

    @property
    def valueless(self) -> bool:
        return self.op in VALUELESS

    @property
    def choice_options(self) -> list[tuple[str, str]]:
        """(value, label) of the field's fixed values, for the value select (stakeholder gaps: the gap
        codes with their labels, "No champion"); empty for fields without a fixed list."""
        fld = FIELDS.get(self.field)
        if fld is None or not fld.choices:
            return []
        return [(value, label[:1].upper() + label[1:]) for value, label in fld.choices.items()]

    @property
    def operators(self) -> list[tuple[str, str]]:
        fld = FIELDS.get(self.field)
        if fld is None:
            return []
        labels = LIST_OPERATOR_LABELS if fld.type == LIST else OPERATOR_LABELS
        return [(op, labels[op]) for op in OPERATORS[fld.type]]


def default_rule(path: str) -> Node:
    return Node(path=path, field="industry", op="eq", values=[""])


def empty_tree() -> Node:
    return Node(path="r", kind="all", children=[default_rule("r.0")])


# JSON -> tree ----------------------------------------------------------------------------------------


def from_condition(data) -> Node:
    """The builder tree of a stored condition (normalized JSON); the root is always a group."""
    if not isinstance(data, dict) or not data:
        return empty_tree()
    root = _node(data, "r")
    if not root.is_group:
        root = Node(path="r", kind="all", children=[_renumber(root, "r.0")])
    return root


def _renumber(node: Node, path: str) -> Node:
    node.path = path
    for i, child in enumerate(node.children):
        _renumber(child, f"{path}.{i}")
    return node


def _node(data: dict, path: str) -> Node:
    if "all" in data or "any" in data:
        kind = "all" if "all" in data else "any"
        children = data[kind] if isinstance(data[kind], list) else []
        return Node(path=path, kind=kind, children=[_node(c, f"{path}.{i}") for i, c in enumerate(children)])
    if "not" in data:
        inner = data["not"] if isinstance(data["not"], dict) else {}
        if "any" in inner or "all" in inner:
            group = _node(inner, path)
            group.kind = "none" if group.kind == "any" else "not_all"
            return group
        return Node(path=path, kind="none", children=[_node(inner, f"{path}.0")])
    value = data.get("value")
    values = [str(v) for v in value] if isinstance(value, list) else ([] if value is None else [str(value)])
    return Node(path=path, field=str(data.get("field", "")), op=str(data.get("op", "")), values=values)


# Form -> tree -> JSON --------------------------------------------------------------------------------


def from_form(post) -> Node:
    """The tree the builder's inputs describe (a QueryDict or a dict of lists). Unknown or malformed
    paths are ignored; the root group always exists."""
    paths = [p for p in _getlist(post, "node") if _valid_path(p)][:MAX_NODES]
    nodes: dict[str, Node] = {}
    for path in paths:
        if path in nodes:
            continue
        kind = _get(post, f"{path}:kind")
        if kind:
            nodes[path] = Node(path=path, kind=kind if kind in GROUP_KINDS else "all")
        else:
            values = [v.strip() for v in _getlist(post, f"{path}:value")]
            nodes[path] = Node(
                path=path, field=_get(post, f"{path}:field"), op=_get(post, f"{path}:op"), values=values
            )
    root = nodes.get("r")
    if root is None or not root.is_group:
        root = Node(path="r", kind="all")
        nodes["r"] = root
    for path in paths:
        node = nodes[path]
        if path == "r":
            continue
        parent = nodes.get(path.rsplit(".", 1)[0])
        if parent is not None and parent.is_group and node not in parent.children:
            parent.children.append(node)
    return _renumber(root, "r")


def _valid_path(path: str) -> bool:
    parts = path.split(".")
    return parts[0] == "r" and len(parts) <= 8 and all(p.isdigit() and len(p) <= 3 for p in parts[1:])


def _get(post, key: str) -> str:
    value = post.get(key, "")
    if isinstance(value, list):
        value = value[-1] if value else ""
    return str(value).strip()


def _getlist(post, key: str) -> list[str]:
    if hasattr(post, "getlist"):
        return post.getlist(key)
    value = post.get(key, [])
    return value if isinstance(value, list) else [value]


def to_condition(root: Node) -> dict:
    """The condition JSON of a tree, unvalidated (parse checks it); fills each node's `data_path`."""
    return _data(root, "")


def _data(node: Node, data_path: str) -> dict:
    if node.is_group:
        key = "any" if node.kind in ("any", "none") else "all"
        inner_path = f"{data_path}.not" if node.kind in ("none", "not_all") else data_path
        inner_path = inner_path.lstrip(".")
        children = []
        for i, child in enumerate(node.children):
            children.append(_data(child, f"{inner_path}.{key}[{i}]".lstrip(".")))
        node.data_path = inner_path
        body = {key: children}
        return {"not": body} if node.kind in ("none", "not_all") else body
    node.data_path = data_path
    out: dict = {"field": node.field, "op": node.op}
    if node.op in VALUELESS:
        return out
    values = [v for v in node.values if v != ""]
    fld = FIELDS.get(node.field)
    if node.op in MULTI_OPERATORS:
        out["value"] = [_typed(fld, v) for v in _split(values, fld)]
    else:
        out["value"] = _typed(fld, values[0]) if values else ""
    return out


def _split(values: list[str], fld) -> list[str]:
    """Multi-value inputs: a multi-select gives several values; a text box gives one, comma-separated."""
    if len(values) == 1 and fld is not None and fld.type not in ("stage", "owner"):
        return [v.strip() for v in values[0].split(",") if v.strip()]
    return values


def _typed(fld, value: str):
    if fld is not None and fld.type in ("stage", "owner") and value.isdigit():
        return int(value)
    return value


def errors_by_row(root: Node, problems: list[str]) -> tuple[dict[str, list[str]], list[str]]:
    """parse's problems split into those of each rule or group (by builder path) and the rest."""
    nodes = list(_walk(root))
    by_row: dict[str, list[str]] = {}
    rest: list[str] = []
    for problem in problems:
        where, _, message = problem.partition(": ")
        owners = [
            n for n in nodes if where == n.data_path or (n.data_path and where.startswith(n.data_path + "."))
        ]
        best = max(owners, key=lambda n: len(n.data_path), default=None)
        if best is not None and (not best.is_group or where == best.data_path):
            by_row.setdefault(best.path, []).append(message or problem)
        else:
            rest.append(problem)
    return by_row, rest


def _walk(node: Node):
    yield node
    for child in node.children:
        yield from _walk(child)


def flatten(root: Node) -> list[Node]:
    """Every node in document order (what the template renders, indented by depth)."""
    return list(_walk(root))


# Editing actions -------------------------------------------------------------------------------------


def apply_action(root: Node, action: str) -> Node:
    """`add_rule:<group path>`, `add_group:<group path>`, `remove:<path>`, `field:<rule path>` (the
    rule's field changed: its operator and value start over) or `op:<rule path>` (its operator changed:
    a single-value operator keeps the first value)."""
    verb, _, path = action.partition(":")
    nodes = {n.path: n for n in _walk(root)}
    target = nodes.get(path)
    if target is None or len(nodes) >= MAX_NODES and verb.startswith("add"):
        return root
    if verb == "add_rule" and target.is_group:
        target.children.append(default_rule(f"{path}.{len(target.children)}"))
    elif verb == "add_group" and target.is_group and target.depth < 5:
        group_path = f"{path}.{len(target.children)}"
        target.children.append(Node(path=group_path, kind="any", children=[default_rule(f"{group_path}.0")]))
    elif verb == "remove" and path != "r":
        parent = nodes.get(path.rsplit(".", 1)[0])
        if parent is not None:
            parent.children = [c for c in parent.children if c.path != path]
    elif verb == "op" and not target.is_group:
        if target.op not in MULTI_OPERATORS:
            target.values = target.values[:1]
    elif verb == "field" and not target.is_group:
        fld = FIELDS.get(target.field)
        ops = OPERATORS[fld.type] if fld is not None else ()
        target.op = ops[0] if ops else ""
        target.values = []
    return _renumber(root, "r")
