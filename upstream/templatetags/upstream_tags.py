"""The upstream app's hooks into other pages, each one line in the host template so the host's code
does not change: the promote slot of a custom step on the deal plan, and "Promoted from …" on the play
editor and on the process editor's exit criteria. Each costs one query per page, whatever the number of
steps or criteria (the result is kept on the page's object for the next row)."""

import json

from django import template

from upstream.selectors import criteria_provenance, play_provenance, step_promotion_states
from upstream.views import step_promote_context

register = template.Library()


@register.inclusion_tag("upstream/partials/step_promote_body.html", takes_context=True)
def step_promote(context, step):
    """`{% step_promote step %}` in a row of the deal plan: the step's promotion state ("Proposed for
    review", "Became play X") and, for those who may propose it, the Promote form. The states of the whole
    plan are read once (`page.steps`) and kept on the page object."""
    page = context.get("page")
    steps = getattr(page, "steps", None) or [step]
    states = getattr(page, "_upstream_step_states", None)
    if states is None:
        states = step_promotion_states(steps)
        if page is not None:
            page._upstream_step_states = states
    membership = context.get("membership")
    if membership is None:
        return {"step": step, "state": states.get(step.id)}
    return step_promote_context(
        membership,
        context.get("deal") or step.deal,
        step,
        states.get(step.id),
        can_edit_deal_plan=bool(context.get("can_edit_fields")),
    )


@register.inclusion_tag("upstream/partials/play_provenance.html")
def play_promoted_from(play):
    """`{% play_promoted_from play %}`: "Promoted from deal D's step S" / "from a step recurring on N
    deals" under the play's name, when an accepted promotion became it. One query."""
    return {"promotions": play_provenance(play)}


@register.simple_tag(takes_context=True)
def criterion_promoted_from(context, criterion):
    """`{% criterion_promoted_from c as promoted %}` in the process editor's criterion list: the accepted
    promotion that became this criterion, or None. One query for the whole process (kept on the
    `process` object of the context)."""
    process = context.get("process")
    holder = process if process is not None else criterion
    cache = getattr(holder, "_upstream_criteria_provenance", None)
    if cache is None:
        cache = criteria_provenance(process=process) if process is not None else {}
        holder._upstream_criteria_provenance = cache
    return cache.get(criterion.pk)


@register.filter
def pct(fraction) -> str:
    """0.456 → "46%"; "—" for None."""
    if fraction is None:
        return "—"
    return f"{round(float(fraction) * 100)}%"


@register.filter
def interval_pct(interval) -> str:
    """[0.31, 0.61] → "31–61%"; "" for None."""
    if not interval or len(interval) != 2 or None in interval:
        return ""
    low, high = interval
    return f"{round(float(low) * 100)}–{round(float(high) * 100)}%"


@register.filter
def points(difference) -> str:
    """A difference of two rates in percentage points, signed: 0.45 → "+45 points"."""
    if difference is None:
        return "—"
    value = round(float(difference) * 100)
    return f"{value:+d} points"


@register.filter
def points_interval(interval) -> str:
    """[-0.05, 0.7] → "−5 to +70"."""
    if not interval or len(interval) != 2 or None in interval:
        return ""
    low, high = (round(float(v) * 100) for v in interval)
    return f"{low:+d} to {high:+d}".replace("-", "−")


@register.filter
def json_pretty(value) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)
