"""Template helpers of the playbooks pages."""

from django import template

from playbooks.markdown import render_markdown

register = template.Library()


@register.filter(name="markdown")
def markdown_filter(text: str):
    """Render ops' Markdown safely: `{{ play.talk_track|markdown }}`."""
    return render_markdown(text)
