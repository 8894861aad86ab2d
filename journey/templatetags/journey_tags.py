"""The journey sections in one tag each, so the deal and account pages need only an include."""

from django import template

from journey.selectors import account_confirmed_value
from journey.views import DEAL_TEMPLATE, deal_section_context

register = template.Library()


@register.inclusion_tag(DEAL_TEMPLATE, takes_context=True)
def deal_journey_section(context, deal):
    """`{% deal_journey_section deal %}`: the phases; for a won deal, the value plan and expansions."""
    membership = context.get("membership")
    if membership is None:
        return {"deal": deal, "journey": None}
    return deal_section_context(membership, deal, full=False)


@register.inclusion_tag("journey/account_section.html", takes_context=True)
def account_value_section(context, account):
    """`{% account_value_section account %}`: the value confirmed with the account over time. No query
    when the page lists all the account's deals and none is won (nothing can have been confirmed)."""
    deals = context.get("deals")
    if deals is not None and not context.get("more_deals") and not any(d.status == "won" for d in deals):
        return {"account": account, "value": None}
    return {"account": account, "value": account_confirmed_value(account)}
