"""Template helpers for stall flags: one deal's flags out of flags_by_deal's dict, and the deal page's
flags section in one tag."""

from django import template

from iteration.views.stalls import deal_flags_context

register = template.Library()


@register.filter
def flags_for(flags_by_deal: dict | None, deal_id) -> list:
    """`stall_flags|flags_for:card.id`: that deal's flags from a flags_by_deal() dict (or none)."""
    if not flags_by_deal:
        return []
    return flags_by_deal.get(deal_id, [])


@register.inclusion_tag("iteration/stalls/_deal_flags.html", takes_context=True)
def deal_stall_flags(context, deal):
    """`{% deal_stall_flags deal %}`: the deal's flags with their snooze forms (one query)."""
    membership = context.get("membership")
    if membership is None:
        return {"deal": deal, "stall_flags": [], "can_snooze": False}
    return deal_flags_context(membership, deal)
