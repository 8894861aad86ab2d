"""The facts of a deal and the play condition prefilled from them."""

import pytest

from deals.services import stakeholder_add
from playbooks.conditions import describe, parse
from upstream.facts import condition_from_facts, deal_facts


def test_deal_facts_read_industry_competitors_stage_process_and_roles(hc_deal, rep, contact):
    stakeholder_add(deal=hc_deal, by=rep, contact=contact, role="champion")

    facts = deal_facts(hc_deal)

    assert facts == {
        "industry": "Healthcare",
        "competitors": ["Globex"],
        "objections": [],
        "stage": {"id": hc_deal.stage_id, "name": "Qualify"},
        "process": {"id": hc_deal.process_id, "name": "New business"},
        "stakeholder_roles": ["champion"],
    }


def test_condition_from_facts_is_a_valid_normalized_condition(hc_deal):
    condition = condition_from_facts(deal_facts(hc_deal))

    assert condition == {
        "all": [
            {"field": "industry", "op": "eq", "value": "Healthcare"},
            {"field": "competitors", "op": "in", "value": ["Globex"]},
            {"field": "stage", "op": "eq", "value": hc_deal.stage_id},
        ]
    }
    parsed = parse(condition, organization=hc_deal.organization_id)
    assert (
        describe(parsed)
        == "industry is Healthcare and competitors contain any of Globex and stage is Qualify"
    )


def test_condition_from_facts_skips_empty_facts_and_takes_bare_stage_ids():
    assert condition_from_facts(
        {"industry": " ", "competitors": [], "objections": ["Price"], "stage": 7}
    ) == {
        "all": [
            {"field": "objections", "op": "in", "value": ["Price"]},
            {"field": "stage", "op": "eq", "value": 7},
        ]
    }


def test_condition_from_facts_with_nothing_usable_is_empty():
    assert condition_from_facts({"industry": "", "stage": None}) == {}


@pytest.mark.parametrize("fields", [("stakeholder_roles",)])
def test_condition_from_facts_can_read_roles_when_asked(fields):
    condition = condition_from_facts({"stakeholder_roles": ["champion"]}, fields=fields)

    assert condition == {"all": [{"field": "stakeholder_roles", "op": "contains", "value": "champion"}]}
