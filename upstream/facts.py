"""The facts of a deal that a play's trigger condition can be prefilled from, and that condition.

A step worth promoting usually belongs to a situation: deals of an industry, against a competitor,
facing an objection, in a stage. `deal_facts` reads those facts of one deal (what a promotion from a
step stores as `evidence["deal_facts"]`); `condition_from_facts` turns facts — of one deal, or the
facts a group of deals shares (upstream.evidence) — into a condition in the playbooks language,
validated by `playbooks.conditions.parse`, for ops to edit before accepting.
"""

from __future__ import annotations

from typing import Any

from deals.models import Deal, DealStakeholder, DealTag, TagKind
from playbooks.conditions import parse

# The facts a prefilled condition reads, in the order its rules are written. Stakeholder roles are
# shown to ops but not prefilled: "has a champion" describes how far a deal got, rarely a situation.
CONDITION_FIELDS = ("industry", "competitors", "objections", "stage")


def deal_facts(deal: Deal) -> dict[str, Any]:
    """The deal's facts as JSON: industry, competitors, objections, stage and process (id and name),
    stakeholder roles present. Two queries (the tags and the roles); the deal's stage and process should
    be loaded (deals_for_page does)."""
    tags = list(DealTag.objects.filter(deal=deal).order_by("value").values_list("kind", "value"))
    roles = sorted(set(DealStakeholder.objects.filter(deal=deal).values_list("role", flat=True)))
    return {
        "industry": deal.industry,
        "competitors": [value for kind, value in tags if kind == TagKind.COMPETITOR],
        "objections": [value for kind, value in tags if kind == TagKind.OBJECTION],
        "stage": {"id": deal.stage_id, "name": deal.stage.name},
        "process": {"id": deal.process_id, "name": deal.process.name},
        "stakeholder_roles": roles,
    }


def _stage_id(value: Any) -> int | None:
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def condition_from_facts(facts: dict[str, Any], *, fields: tuple[str, ...] = CONDITION_FIELDS) -> dict:
    """A trigger condition that holds for deals with these facts, normalized by `parse`, e.g.
    `{"all": [{"field": "industry", "op": "eq", "value": "Healthcare"}, {"field": "competitors",
    "op": "in", "value": ["Globex"]}, {"field": "stage", "op": "eq", "value": 12}]}`.

    `facts` has the shape of `deal_facts` (the stage as `{"id": …}` or a bare id; missing keys and empty
    values are skipped). Competitors and objections use `in` (any of them), since one shared rival is
    the situation, not the exact set. With no usable fact the result is `{}`, which ops must fill in:
    accepting it is refused by the condition language ("expected a condition")."""
    rules: list[dict] = []
    for name in fields:
        value = facts.get(name)
        if name == "industry" and isinstance(value, str) and value.strip():
            rules.append({"field": "industry", "op": "eq", "value": value.strip()})
        elif name in ("competitors", "objections") and isinstance(value, list | tuple):
            values = [v.strip() for v in value if isinstance(v, str) and v.strip()]
            if values:
                rules.append({"field": name, "op": "in", "value": values})
        elif name == "stakeholder_roles" and isinstance(value, list | tuple):
            rules.extend({"field": name, "op": "contains", "value": role} for role in value if role)
        elif name == "stage" and (stage_id := _stage_id(value)) is not None:
            rules.append({"field": "stage", "op": "eq", "value": stage_id})
    if not rules:
        return {}
    return parse({"all": rules}).data
