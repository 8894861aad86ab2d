"""The deal page's "Qualification" section in one tag (included by deals/deal_detail.html through
scorecards/deal_hook.html, so the deal page needs no change of its own)."""

from django import template

from scorecards.views import DEAL_TEMPLATE, deal_section_context

register = template.Library()


@register.inclusion_tag(DEAL_TEMPLATE, takes_context=True)
def deal_scorecard_section(context, deal):
    """`{% deal_scorecard_section deal %}`: the criteria, the deal's answers, score and result."""
    membership = context.get("membership")
    if membership is None:
        return {"deal": deal, "card": None, "scorecard": None}
    return deal_section_context(membership, deal)


@register.filter
def pct(fraction) -> str:
    """0.456 → "46%"; "—" for None."""
    if fraction is None:
        return "—"
    return f"{round(float(fraction) * 100)}%"


@register.filter
def interval_pct(interval) -> str:
    """[0.31, 0.61] → "31–61%"; "" for None."""
    if not interval:
        return ""
    low, high = interval
    return f"{round(low * 100)}–{round(high * 100)}%"


@register.filter
def score_text(score) -> str:
    """A stored score for people, to the cent it is compared at (69.96 is not 70): 66.67 → "66.67",
    62.50 → "62.5", 70.00 → "70"."""
    if score is None:
        return "—"
    text = f"{score:.2f}"
    return text.rstrip("0").rstrip(".")


@register.filter
def value_label(criterion, value) -> str:
    """How an answer reads: "Yes", "No" or "2 / 3"."""
    return criterion.value_label(value)


@register.filter
def interval_span(interval) -> str:
    """The width of an interval in percent points, for the whisker's CSS width: [0.31, 0.61] → "30%"."""
    if not interval:
        return "0%"
    low, high = interval
    return f"{round((high - low) * 100, 1)}%"
