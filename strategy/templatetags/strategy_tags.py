"""Template tags of the strategy pillar: the deal page's strategy section, the top bar's unread badge,
comments with their @mentions, and a revision's word diff."""

from django import template
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import SafeString, mark_safe

from strategy.diff import Segment, word_diff
from strategy.models import STRATEGY_FIELDS, DealComment
from strategy.selectors import UNREAD_BADGE_CAP, unread_notification_count
from strategy.views import section_context

register = template.Library()


@register.inclusion_tag("strategy/deal_strategy.html#strategy_section", takes_context=True)
def deal_strategy_section(context):
    """The strategy section for the deal page (its `deal`, the request's `membership`)."""
    return section_context(context["membership"], context["deal"])


@register.simple_tag
def unread_notifications(membership) -> str:
    """The member's unread count for the badge: "" for none, "99+" beyond the cap. One COUNT."""
    if not membership:
        return ""
    count = unread_notification_count(membership)
    if count >= UNREAD_BADGE_CAP:
        return f"{UNREAD_BADGE_CAP - 1}+"
    return str(count) if count else ""


@register.filter
def strategy_rows(strategy) -> list[tuple[str, str, str]]:
    """(field name, label, text) for each field of the strategy, in the panel's order."""
    return [(name, label, getattr(strategy, name)) for name, label in STRATEGY_FIELDS.items()]


@register.filter
def field_label(name: str) -> str:
    return STRATEGY_FIELDS.get(name, name)


@register.filter
def diff_segments(change: dict) -> list[Segment]:
    """A revision's change ({"field", "before", "after"}) as word-diff segments."""
    return word_diff(change.get("before", ""), change.get("after", ""))


@register.filter
def comment_html(comment: DealComment) -> SafeString:
    """The comment's text, escaped, with line breaks and its resolved @mentions highlighted."""
    body = comment.body
    parts: list[str] = []
    position = 0
    for mention in sorted(comment.mentions or [], key=lambda m: m["start"]):
        start, end = mention["start"], mention["end"]
        if start < position or end > len(body):
            continue  # never trust offsets that do not fit the text
        parts.append(conditional_escape(body[position:start]))
        parts.append(
            format_html('<span class="mention fw-semibold text-primary-emphasis">{}</span>', body[start:end])
        )
        position = end
    parts.append(conditional_escape(body[position:]))
    # Every part is escaped above, so the joined text is safe.
    return mark_safe("".join(parts).replace("\n", "<br>"))
