"""The condition builder: stored conditions become rows and groups and back, unchanged; form inputs
become a tree; actions edit it; parse's problems land on the rows they are about."""

import pytest
from django.http import QueryDict

from playbooks import builder
from playbooks.conditions import InvalidCondition, parse

CONDITIONS = [
    {"all": [{"field": "industry", "op": "eq", "value": "Healthcare"}]},
    {"any": [{"field": "competitors", "op": "contains", "value": "Globex"}, {"field": "amount", "op": "gt", "value": 50000}]},
    {"all": [{"field": "stage", "op": "in", "value": [3, 4]}, {"any": [{"field": "budget", "op": "is_empty"}, {"not": {"any": [{"field": "objections", "op": "contains", "value": "Price"}]}}]}]},
    {"not": {"all": [{"field": "owner", "op": "eq", "value": 7}, {"field": "days_in_stage", "op": "gte", "value": 30}]}},
]  # fmt: skip


def _as_form(root: builder.Node) -> QueryDict:
    form = QueryDict(mutable=True)
    for node in builder.flatten(root):
        form.appendlist("node", node.path)
        if node.is_group:
            form[f"{node.path}:kind"] = node.kind
        else:
            form[f"{node.path}:field"] = node.field
            form[f"{node.path}:op"] = node.op
            for value in node.values:
                form.appendlist(f"{node.path}:value", value)
    return form


@pytest.mark.parametrize("condition", CONDITIONS)
def test_a_condition_survives_the_round_trip_through_the_form(condition):
    root = builder.from_form(_as_form(builder.from_condition(condition)))

    assert parse(builder.to_condition(root)).data == parse(condition).data


def test_a_single_rule_becomes_a_group_of_one():
    root = builder.from_condition({"field": "industry", "op": "eq", "value": "Retail"})

    assert root.kind == "all" and [c.field for c in root.children] == ["industry"]
    assert builder.to_condition(root) == {"all": [{"field": "industry", "op": "eq", "value": "Retail"}]}


def test_comma_separated_text_becomes_a_list_for_in():
    form = QueryDict("node=r&r:kind=any&node=r.0&r.0:field=industry&r.0:op=in&r.0:value=Retail, Energy ,")

    assert builder.to_condition(builder.from_form(form)) == {
        "any": [{"field": "industry", "op": "in", "value": ["Retail", "Energy"]}]
    }


def test_malformed_paths_and_kinds_are_ignored():
    form = QueryDict(
        "node=r&r:kind=bogus&node=x.1&node=r.0&r.0:field=amount&r.0:op=gt&r.0:value=5&node=r.9.9.9"
    )

    root = builder.from_form(form)

    assert root.kind == "all" and len(builder.flatten(root)) == 2


def test_actions_add_and_remove_rules_and_groups():
    root = builder.empty_tree()

    root = builder.apply_action(root, "add_group:r")
    root = builder.apply_action(root, "add_rule:r.1")
    assert [n.path for n in builder.flatten(root)] == ["r", "r.0", "r.1", "r.1.0", "r.1.1"]

    root = builder.apply_action(root, "remove:r.0")
    assert [n.path for n in builder.flatten(root)] == ["r", "r.0", "r.0.0", "r.0.1"]
    assert builder.apply_action(root, "remove:r").kind == "all"  # the root stays


def test_changing_the_field_resets_an_operator_it_does_not_have():
    root = builder.from_condition({"all": [{"field": "industry", "op": "contains", "value": "care"}]})
    root.children[0].field = "amount"

    root = builder.apply_action(root, "field:r.0")

    assert (root.children[0].op, root.children[0].values) == ("eq", [])


def test_problems_are_shown_on_their_rows():
    root = builder.from_condition(CONDITIONS[2])
    root.children[1].children[0].op = "gtt"
    root.children[0].values = ["x"]
    condition = builder.to_condition(root)

    with pytest.raises(InvalidCondition) as caught:
        parse(condition)
    by_row, rest = builder.errors_by_row(root, caught.value.problems)

    assert set(by_row) == {"r.0", "r.1.0"} and rest == []
    assert any("gtt" in m for m in by_row["r.1.0"])
