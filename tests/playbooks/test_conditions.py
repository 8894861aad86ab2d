"""The trigger-condition language: parsing with path-named problems, the meaning of each operator
(including missing values), describe / explain, and what evaluating one deal costs."""

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from deals.models import Deal
from deals.services import deal_create, stakeholder_add
from playbooks.conditions import (
    MAX_JSON_CHARS,
    InvalidCondition,
    describe,
    evaluate,
    explain,
    parse,
    to_q,
)
from salesproc.lib.errors import InvalidInput
from tests.factories import AccountFactory, UserFactory

OK = {"field": "amount", "op": "gt", "value": 1000}


def problems(data, **kwargs) -> list[str]:
    with pytest.raises(InvalidCondition) as exc:
        parse(data, **kwargs)
    return exc.value.problems


def nested_not(levels: int) -> dict:
    node = OK
    for _ in range(levels):
        node = {"not": node}
    return node


# ---------------------------------------------------------------------------------------------------
# parse: every kind of problem, named by its path


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(
            {"field": "colour", "op": "eq", "value": "red"},
            ['field: unknown field "colour"'],
            id="unknown-field",
        ),
        pytest.param(
            {"all": [OK, OK, {"field": "amount", "op": "gtt", "value": 1}]},
            ['all[2].op: unknown operator "gtt"'],
            id="unknown-operator",
        ),
        pytest.param(
            {"any": [{"field": "industry", "op": "gt", "value": "Retail"}]},
            [
                'any[0].op: operator "gt" does not apply to field "industry" (text); use one of eq, ne, in, '
                "not_in, contains, not_contains, is_empty, is_not_empty"
            ],
            id="operator-not-for-type",
        ),
        pytest.param(
            {"any": [{"field": "amount", "op": "gt", "value": "lots"}]},
            ['any[0].value: expected a number for field "amount"'],
            id="not-a-number",
        ),
        pytest.param(
            {"field": "budget", "op": "gte", "value": True},
            ['value: expected a number for field "budget"'],
            id="bool-is-not-a-number",
        ),
        pytest.param(
            {"field": "amount", "op": "gt", "value": 10.005},
            ["value: at most 2 decimal places"],
            id="decimals",
        ),
        pytest.param(
            {"field": "amount", "op": "gt", "value": 1e12},
            ["value: must be less than 1,000,000,000,000 in size"],
            id="number-too-large",
        ),
        pytest.param(
            {"field": "days_in_stage", "op": "gt", "value": 1.5},
            ['value: expected a whole number of days (0 to 36500) for field "days_in_stage"'],
            id="days-not-whole",
        ),
        pytest.param(
            {"field": "industry", "op": "eq", "value": 5},
            ['value: expected a text for field "industry"'],
            id="not-a-text",
        ),
        pytest.param(
            {"field": "industry", "op": "eq", "value": "   "},
            ["value: expected a non-empty text (is_empty matches an empty field)"],
            id="blank-text",
        ),
        pytest.param(
            {"field": "industry", "op": "contains", "value": "x" * 201},
            ["value: at most 200 characters"],
            id="text-too-long",
        ),
        pytest.param(
            {"all": [{"field": "industry", "op": "in", "value": "Retail"}]},
            ['all[0].value: expected a non-empty list for operator "in"'],
            id="in-needs-a-list",
        ),
        pytest.param(
            {"field": "industry", "op": "not_in", "value": []},
            ['value: expected a non-empty list for operator "not_in"'],
            id="in-needs-values",
        ),
        pytest.param(
            {"field": "industry", "op": "in", "value": ["Retail", 3, "Banking", None]},
            [
                'value[1]: expected a text for field "industry"',
                'value[3]: expected a text for field "industry"',
            ],
            id="bad-list-items",
        ),
        pytest.param(
            {"field": "industry", "op": "in", "value": [f"v{i}" for i in range(101)]},
            ["value: at most 100 values"],
            id="too-many-values",
        ),
        pytest.param(
            {"field": "phase", "op": "eq", "value": "closing"},
            ['value: expected one of "change", "decision", "value" for field "phase"'],
            id="unknown-phase",
        ),
        pytest.param(
            {"field": "stakeholder_roles", "op": "contains", "value": "Champion"},
            [
                'value: expected one of "economic_buyer", "champion", "decision_maker", "influencer", '
                '"user", "procurement", "blocker" for field "stakeholder_roles"'
            ],
            id="unknown-role",
        ),
        pytest.param(
            {"field": "stage", "op": "eq", "value": "Propose"},
            ['value: expected a stage id for field "stage"'],
            id="stage-by-name",
        ),
        pytest.param(
            {"field": "owner", "op": "in", "value": [3, -1]},
            ['value[1]: expected a user id for field "owner"'],
            id="bad-owner-id",
        ),
        pytest.param(
            {"field": "budget", "op": "is_empty", "value": 0},
            ['value: operator "is_empty" takes no value'],
            id="valueless-operator",
        ),
        pytest.param({"field": "amount"}, ['condition: missing "op"'], id="missing-op"),
        pytest.param({"op": "eq", "value": 1}, ['condition: missing "field"'], id="missing-field"),
        pytest.param(
            {"any": [OK, {"field": "amount", "op": "gt"}]}, ['any[1]: missing "value"'], id="missing-value"
        ),
        pytest.param(
            {**OK, "note": "big deals"}, ['condition: unexpected key "note"'], id="extra-key-in-leaf"
        ),
        pytest.param(
            {"all": [OK], "any": [OK]}, ['condition: unexpected key "any" beside "all"'], id="two-combinators"
        ),
        pytest.param(
            {"not": OK, "field": "amount"},
            ['condition: unexpected key "field" beside "not"'],
            id="not-and-leaf",
        ),
        pytest.param({"all": []}, ["all: expected at least one condition"], id="empty-all"),
        pytest.param(
            {"any": [OK, {"any": []}]}, ["any[1].any: expected at least one condition"], id="empty-any"
        ),
        pytest.param({"any": OK}, ["any: expected a list of conditions"], id="any-not-a-list"),
        pytest.param(
            {"not": [OK]},
            ['not: expected an object: "all", "any", "not" or a leaf {"field", "op", "value"}'],
            id="not-of-a-list",
        ),
        pytest.param(
            {},
            ['condition: empty condition: expected "all", "any", "not" or a leaf {"field", "op", "value"}'],
            id="empty-object",
        ),
        pytest.param(
            [OK],
            ['condition: expected an object: "all", "any", "not" or a leaf {"field", "op", "value"}'],
            id="not-an-object",
        ),
        pytest.param(
            nested_not(6), ["not.not.not.not.not.not: nested too deep (at most 6 levels)"], id="too-deep"
        ),
        pytest.param(
            {"all": [OK] * 51}, ["condition: too many conditions (at most 50 leaves)"], id="too-many-leaves"
        ),
        pytest.param(
            {"all": [{"any": [OK] * 30}, {"not": {"any": [OK] * 21}}]},
            ["condition: too many conditions (at most 50 leaves)"],
            id="too-many-leaves-nested",
        ),
        pytest.param(
            '{"all": [', ["condition: not valid JSON (Expecting value at line 1, column 10)"], id="bad-json"
        ),
        pytest.param(
            '{"field": "amount", "op": "gt", "value": NaN}',
            ["condition: not valid JSON (NaN is not allowed)"],
            id="json-nan",
        ),
    ],
)
def test_parse_names_each_problem_by_its_path(data, expected):
    assert problems(data) == expected


def test_parse_reports_every_problem_in_document_order():
    data = {
        "all": [
            {"field": "colour", "op": "eq", "value": "red"},
            {"any": [OK, {"field": "amount", "op": "gt", "value": "x"}]},
            {"not": {"field": "industry", "op": "gtt", "value": "y", "extra": 1}},
        ]
    }
    assert problems(data) == [
        'all[0].field: unknown field "colour"',
        'all[1].any[1].value: expected a number for field "amount"',
        'all[2].not: unexpected key "extra"',
        'all[2].not.op: unknown operator "gtt"',
    ]


def test_parse_failure_is_an_invalid_input_under_condition():
    with pytest.raises(InvalidInput) as exc:
        parse({"all": []})
    assert exc.value.errors == {"condition": ["all: expected at least one condition"]}


def test_parse_accepts_the_limits_exactly():
    parse(nested_not(5))
    parse({"all": [OK] * 50})
    parse({"field": "industry", "op": "in", "value": [f"v{i}" for i in range(100)]})
    parse({"field": "industry", "op": "eq", "value": "x" * 200})


def test_parse_refuses_an_oversized_json_text_before_decoding_it():
    text = json.dumps({"field": "industry", "op": "eq", "value": "x" * MAX_JSON_CHARS})
    assert problems(text) == [f"condition: too large (at most {MAX_JSON_CHARS:,} characters)"]


def test_parse_accepts_json_text_and_normalizes():
    cond = parse(
        '{"all": [{"field": "amount", "op": "gte", "value": "1e5"},'
        ' {"field": "budget", "op": "lt", "value": 12.5},'
        ' {"field": "industry", "op": "in", "value": [" Retail ", "retail", "Banking"]},'
        ' {"field": "budget", "op": "is_not_empty", "value": null}]}'
    )
    assert cond.data == {
        "all": [
            {"field": "amount", "op": "gte", "value": 100000},
            {"field": "budget", "op": "lt", "value": 12.5},
            {"field": "industry", "op": "in", "value": ["Retail", "Banking"]},
            {"field": "budget", "op": "is_not_empty"},
        ]
    }
    assert parse(cond.data).data == cond.data
    assert cond.fields == {"amount", "budget", "industry"}


def test_parse_checks_stage_ids_against_the_organization(org, stages, other_org_world):
    other_stage = other_org_world["process"].stages.first()
    data = {"all": [{"field": "stage", "op": "in", "value": [stages[0].id, other_stage.id]}]}
    assert problems(data, organization=org) == [f"all[0].value[1]: unknown stage {other_stage.id}"]
    assert problems({"field": "stage", "op": "eq", "value": 999999}, organization=org) == [
        "value: unknown stage 999999"
    ]
    assert parse({"field": "stage", "op": "eq", "value": stages[1].id}, organization=org)


def test_parse_checks_owner_ids_against_the_organization(org, rep, other_org_world):
    outsider = other_org_world["member"].user
    stranger = UserFactory()
    data = {"field": "owner", "op": "in", "value": [rep.user_id, outsider.id, stranger.id]}
    assert problems(data, organization=org) == [
        f"value[1]: unknown owner {outsider.id} (not a member of this organization)",
        f"value[2]: unknown owner {stranger.id} (not a member of this organization)",
    ]


def test_parse_without_an_organization_makes_no_query():
    # No `db` fixture: any query would fail the test.
    parse({"all": [{"field": "stage", "op": "eq", "value": 12}, {"field": "owner", "op": "ne", "value": 3}]})


def test_parse_with_an_organization_makes_one_query_per_kind_of_id(
    org, rep, stages, django_assert_num_queries
):
    data = {
        "any": [
            {"field": "stage", "op": "in", "value": [s.id for s in stages]},
            {"field": "stage", "op": "ne", "value": stages[0].id},
            {"field": "owner", "op": "eq", "value": rep.user_id},
        ]
    }
    with django_assert_num_queries(2):
        parse(data, organization=org)


# ---------------------------------------------------------------------------------------------------
# describe / explain


def test_describe_reads_as_a_sentence_with_brackets_where_and_meets_or():
    cond = {
        "all": [
            {"field": "industry", "op": "eq", "value": "Healthcare"},
            {
                "any": [
                    {"field": "amount", "op": "gt", "value": 50000},
                    {"field": "competitors", "op": "contains", "value": "Globex"},
                ]
            },
            {"not": {"field": "budget", "op": "is_empty"}},
            {"field": "stakeholder_roles", "op": "in", "value": ["champion", "economic_buyer"]},
            {"field": "days_in_stage", "op": "gte", "value": 30},
            {"field": "phase", "op": "eq", "value": "decision"},
            {"field": "objections", "op": "is_empty"},
        ]
    }
    assert describe(cond) == (
        "industry is Healthcare and (amount is more than 50,000 or competitors contain Globex) and "
        "not (budget is empty) and stakeholder roles contain any of Champion, Economic buyer and "
        "days in stage is at least 30 and phase is Decision and no objections"
    )


def test_describe_names_stages_and_owners_when_parsed_with_the_organization(org, stages, rep):
    data = {
        "any": [
            {"field": "stage", "op": "in", "value": [stages[2].id, stages[3].id]},
            {"field": "owner", "op": "ne", "value": rep.user_id},
        ]
    }
    assert describe(parse(data, organization=org)) == (
        f"stage is one of Propose, Negotiate or owner is not {rep.user.display_name}"
    )
    assert (
        describe(data)
        == f"stage is one of stage #{stages[2].id}, stage #{stages[3].id} or owner is not user #{rep.user_id}"
    )


def make_deal(by, process, **fields):
    account = AccountFactory(organization=by.organization, industry="")
    return deal_create(by=by, process=process, name="Deal", account=account, **fields)


def test_explain_lists_the_parts_that_held(admin, process, contact):
    deal = make_deal(admin, process, amount="80000", industry="Healthcare", competitors=["Globex"])
    stakeholder_add(deal=deal, by=admin, contact=contact, role="champion")
    cond = {
        "all": [
            {"field": "industry", "op": "eq", "value": "healthcare"},
            {
                "any": [
                    {"field": "amount", "op": "gt", "value": 50000},
                    {"field": "competitors", "op": "contains", "value": "Initech"},
                    {"field": "stakeholder_roles", "op": "contains", "value": "champion"},
                ]
            },
            {"not": {"field": "objections", "op": "is_not_empty"}},
            {"field": "industry", "op": "eq", "value": "healthcare"},
        ]
    }
    assert explain(cond, deal) == [
        "industry is healthcare",
        "amount is more than 50,000",
        "stakeholder roles contain Champion",
        "not (has objections)",
    ]


def test_explain_is_empty_when_the_condition_does_not_hold(admin, process):
    deal = make_deal(admin, process, amount="100", industry="Retail")
    cond = {
        "any": [
            {"field": "industry", "op": "eq", "value": "Banking"},
            {"not": {"field": "amount", "op": "lt", "value": 500}},
        ]
    }
    assert evaluate(cond, deal) is False
    assert explain(cond, deal) == []


# ---------------------------------------------------------------------------------------------------
# What the operators mean, in Python and SQL alike


def holds_in_both(cond, deal, *, now=None) -> bool:
    in_python = evaluate(cond, deal, now=now)
    in_sql = Deal.objects.filter(pk=deal.pk).filter(to_q(cond, now=now)).exists()
    assert in_python == in_sql, describe(cond)
    return in_python


@pytest.mark.parametrize(
    ("op", "value", "expected"),
    [
        ("eq", 5000, False),
        ("gt", 5000, False),
        ("gte", 0, False),
        ("lt", 5000, False),
        ("lte", 5000, False),
        ("ne", 5000, True),
        ("is_empty", None, True),
        ("is_not_empty", None, False),
    ],
)
def test_a_missing_budget_satisfies_no_comparison_and_ne_is_not_eq(admin, process, op, value, expected):
    deal = make_deal(admin, process, amount="5000")
    assert deal.budget is None
    leaf = {"field": "budget", "op": op, **({"value": value} if value is not None else {})}
    assert holds_in_both(leaf, deal) is expected
    # `not` is the exact complement, even for NULL (plain `~Q(budget__gt=...)` would drop the deal).
    assert holds_in_both({"not": leaf}, deal) is not expected


def test_text_compares_case_insensitively_and_empty_is_empty(admin, process):
    deal = make_deal(admin, process, industry="HealthCare", lead_source="")
    assert holds_in_both({"field": "industry", "op": "eq", "value": "healthcare"}, deal)
    assert holds_in_both({"field": "industry", "op": "in", "value": ["Retail", "HEALTHCARE"]}, deal)
    assert holds_in_both({"field": "industry", "op": "contains", "value": "thcar"}, deal)
    assert not holds_in_both({"field": "industry", "op": "not_contains", "value": "CARE"}, deal)
    assert holds_in_both({"field": "lead_source", "op": "is_empty"}, deal)
    assert not holds_in_both({"field": "lead_source", "op": "eq", "value": "Web"}, deal)


def test_like_wildcards_and_quotes_in_values_are_plain_characters(admin, process):
    deal = make_deal(admin, process, industry="Health")
    for value in ("Heal%", "H_alth", "%", "x' OR '1'='1", 'Health" --'):
        assert not holds_in_both({"field": "industry", "op": "eq", "value": value}, deal), value
        assert not holds_in_both({"field": "industry", "op": "contains", "value": value}, deal), value


def test_competitors_contain_a_whole_name_not_a_substring(admin, process):
    deal = make_deal(admin, process, competitors=["Globex", "Initech"])
    assert holds_in_both({"field": "competitors", "op": "contains", "value": "GLOBEX"}, deal)
    assert not holds_in_both({"field": "competitors", "op": "contains", "value": "Glob"}, deal)
    assert holds_in_both({"field": "competitors", "op": "in", "value": ["Hooli", "initech"]}, deal)
    assert holds_in_both({"field": "competitors", "op": "not_in", "value": ["Hooli"]}, deal)
    assert holds_in_both({"field": "objections", "op": "is_empty"}, deal)


def test_days_in_stage_are_whole_days_floored(admin, process):
    now = timezone.now()
    deal = make_deal(admin, process, at=now - timedelta(days=3) + timedelta(microseconds=1))
    # 2.99999… days: that is 2 whole days.
    assert holds_in_both({"field": "days_in_stage", "op": "eq", "value": 2}, deal, now=now)
    assert not holds_in_both({"field": "days_in_stage", "op": "gte", "value": 3}, deal, now=now)
    later = now + timedelta(microseconds=1)
    assert holds_in_both({"field": "days_in_stage", "op": "gte", "value": 3}, deal, now=later)
    assert holds_in_both({"field": "days_in_stage", "op": "lt", "value": 4}, deal, now=later)


def test_stage_phase_and_owner(admin, rep, process, stages):
    deal = make_deal(admin, process, owner=rep.user_id, stage=stages[2])
    assert holds_in_both({"field": "stage", "op": "eq", "value": stages[2].id}, deal)
    assert holds_in_both({"field": "stage", "op": "not_in", "value": [stages[0].id, stages[1].id]}, deal)
    assert holds_in_both({"field": "phase", "op": "eq", "value": "decision"}, deal)
    assert not holds_in_both({"field": "phase", "op": "in", "value": ["change", "value"]}, deal)
    assert holds_in_both({"field": "owner", "op": "eq", "value": rep.user_id}, deal)
    assert holds_in_both({"field": "owner", "op": "ne", "value": admin.user_id}, deal)


def test_numbers_compare_exactly(admin, process):
    deal = make_deal(admin, process, amount="12000.50", budget="12000")
    assert holds_in_both({"field": "amount", "op": "eq", "value": 12000.5}, deal)
    assert holds_in_both({"field": "amount", "op": "gt", "value": "12000.49"}, deal)
    assert not holds_in_both({"field": "amount", "op": "gt", "value": Decimal("12000.50")}, deal)
    assert holds_in_both({"field": "budget", "op": "lte", "value": 12000}, deal)


# ---------------------------------------------------------------------------------------------------
# What evaluating one deal costs


def every_kind_of_leaf(stage_id: int) -> dict:
    return {
        "any": [
            {"field": "stage", "op": "eq", "value": stage_id},
            {"field": "phase", "op": "eq", "value": "change"},
            {"field": "industry", "op": "contains", "value": "care"},
            {"field": "amount", "op": "gt", "value": 100},
            {"field": "budget", "op": "is_empty"},
            {"field": "competitors", "op": "contains", "value": "Globex"},
            {"field": "competitors", "op": "not_in", "value": ["Hooli"]},
            {"field": "objections", "op": "is_empty"},
            {"field": "stakeholder_roles", "op": "contains", "value": "champion"},
            {"field": "stakeholder_roles", "op": "is_not_empty"},
            {"field": "days_in_stage", "op": "gte", "value": 0},
            {"field": "owner", "op": "ne", "value": 1},
            {"field": "lead_source", "op": "is_empty"},
        ]
    }


@pytest.fixture
def three_deals(admin, process, contact):
    deals = []
    for i in range(3):
        deal = make_deal(admin, process, industry="Healthcare", amount=1000 * i, competitors=["Globex"])
        stakeholder_add(deal=deal, by=admin, contact=contact, role="champion")
        deals.append(deal)
    return deals


def test_evaluate_and_explain_of_prefetched_deals_make_no_query(three_deals, django_assert_num_queries):
    cond = parse(every_kind_of_leaf(three_deals[0].stage_id))
    deals = list(
        Deal.objects.filter(pk__in=[d.pk for d in three_deals])
        .select_related("stage")
        .prefetch_related("tags", "stakeholders")
    )
    with django_assert_num_queries(0):
        for deal in deals:
            assert evaluate(cond, deal)
            # explain evaluates every alternative of the "any": every field is read.
            assert len(explain(cond, deal)) >= 10


def test_evaluate_without_prefetch_makes_one_query_per_list_field(three_deals, django_assert_num_queries):
    cond = parse(every_kind_of_leaf(three_deals[0].stage_id))
    deal = Deal.objects.get(pk=three_deals[0].pk)
    # competitors, objections, stakeholder roles, and the stage for the phase.
    with django_assert_num_queries(4):
        explain(cond, deal)
