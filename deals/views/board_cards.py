"""Board cards as HTML, built in Python.

A board shows up to 25 cards in each column: 175 on a seven-stage process. Through the template engine
a card cost about 0.17 ms (thirty-odd nodes, two `{% url %}`s): most of the board's server time. Here
a card is one string format, about 10 µs. The markup is the board's: templates/deals/board.html places
what this returns, and keeps the feedback after a move (unmet criteria, messages) in its
`card_feedback` partial, which `CardRenderer.render` puts inside the card.

Escaping: every value that comes from a person (deal, account, owner and stage names, the currency
code) goes through `_e`; the rest are numbers, or text written here.
"""

from dataclasses import dataclass
from html import escape

from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe

from deals.network import GAP_TEXT
from deals.selectors import BoardCard
from deals.templatetags.deal_format import days as days_text
from deals.templatetags.deal_format import money
from salesproc.models import Stage

_ID = 987654321

# A stall flag's badge: colour by level, short label by rule (the reason is the title).
_STALL_CLASS = {"advice": "text-bg-info", "warning": "text-bg-warning", "red_flag": "text-bg-danger"}
_STALL_LEVEL = {"advice": "Advice", "warning": "Warning", "red_flag": "Red flag"}
_STALL_RULE = {
    "no_activity": "idle",
    "stalled": "stalled",
    "age": "aging",
}  # reversed once per response, then replaced by each deal's id
# A stakeholder gap's badge: a short label (the full message and what to do are the title).
_GAP_SHORT = {
    "no_economic_buyer": "No econ. buyer",
    "no_champion": "No champion",
    "single_threaded": "Single-threaded",
    "opponent_high_influence": "Opponent",
    "procurement_in_decision": "Procurement",
}


def _e(text) -> str:
    """Escaped for HTML text and attribute values (what Django's `escape` does, without its wrappers:
    it is called a few thousand times per board), with anything outside ASCII as a character
    reference ("—" → "&#8212;", which the browser shows the same). One "—" in a deal name would
    otherwise make the whole page a wide string, which the template engine then joins and encodes
    more than twice as slowly (measured: 4.7 ms instead of 2 ms for a manager's board)."""
    escaped = escape(str(text), quote=True)
    return escaped if escaped.isascii() else escaped.encode("ascii", "xmlcharrefreplace").decode("ascii")


_GAP_BADGES = {
    code: (
        f'<span class="badge rounded-pill fw-normal bg-danger-subtle text-danger-emphasis border '
        f'border-danger-subtle gap-badge" title="{_title}" data-testid="gap-badge" data-gap="{code}">'
        f"{_GAP_SHORT[code]}</span>"
    )
    for code, _title in ((c, _e(f"{m} {a}")) for c, (m, a) in GAP_TEXT.items())
}


@dataclass
class Card:
    """A deal as its board card shows it; `days` and the badges are computed, never queried."""

    deal: BoardCard
    stage: Stage
    days: int
    editable: bool
    over_expected: bool
    cursor: str


def _url_template(name: str) -> str:
    return reverse(name, args=[_ID]).replace(str(_ID), "{}")


class CardRenderer:
    """Renders the cards of one board response; the stages are the process's, for "Move to"."""

    def __init__(self, stages: list[Stage]):
        self.stages = stages
        self.detail_url = _url_template("deal_detail")
        self.move_url = _url_template("deal_move")
        self._options: dict[int, str] = {}

    def _move_options(self, stage_id: int) -> str:
        # The same for every card of a column: built once per column.
        if stage_id not in self._options:
            self._options[stage_id] = "".join(
                f'<option value="{s.id}">{_e(s.name)}</option>' for s in self.stages if s.id != stage_id
            )
        return self._options[stage_id]

    def render(
        self, card: Card, *, feedback: SafeString | None = None, has_feedback: bool = False
    ) -> SafeString:
        """The card's <article>; `feedback` (from the `card_feedback` partial) goes last inside it."""
        deal, stage = card.deal, card.stage
        deal_id = int(deal.id)
        version = int(deal.version)
        move_url = self.move_url.format(deal_id)
        name = _e(deal.name)
        if card.over_expected:
            days_class = "text-bg-warning"
            days_title = _e(f"Longer than the {stage.expected_days} days expected in {stage.name}")
        else:
            days_class, days_title = "text-bg-light border", "Time in this stage"
        idle = ""
        if deal.stall:
            level, rule, reason = deal.stall.split("|", 2)
            idle = (
                f'<span class="badge stall-badge {_STALL_CLASS.get(level, "text-bg-info")}" '
                f'title="{_e(_STALL_LEVEL.get(level, level))}: {_e(reason)}" data-testid="stall-badge" '
                f'data-level="{_e(level)}">{_STALL_RULE.get(rule, "stall")}</span>'
            )
        gaps = ""
        if deal.gaps:
            gaps = (
                '  <div class="d-flex flex-wrap gap-1 mt-1" aria-label="Stakeholder gaps">'
                f"{''.join(_GAP_BADGES[code] for code in deal.gaps)}</div>\n"
            )
        move = ""
        if card.editable:
            move = (
                '<select class="form-select form-select-sm board-move ms-auto" name="to_stage" '
                f'aria-label="Move {name} to" title="Move to another stage"\n'
                f'              hx-post="{move_url}" hx-trigger="change" hx-include="#board-filters" '
                f'hx-target="#deal-card-{deal_id}" hx-swap="outerHTML"\n'
                f"""              hx-vals='{{"version": "{version}", "context": "board"}}'>\n"""
                '        <option value="">Move</option>\n'
                f"        {self._move_options(deal.stage_id)}\n"
                "      </select>"
            )
        html = (
            f'<article class="deal-card{"" if card.editable else " read-only"}'
            f'{" has-feedback" if has_feedback else ""}" id="deal-card-{deal_id}"\n'
            f'         data-deal-id="{deal_id}" data-stage-id="{int(deal.stage_id)}" data-version="{version}"\n'
            f'         data-key="{_e(card.cursor)}" data-editable="{"1" if card.editable else "0"}"\n'
            f'         data-move-url="{move_url}">\n'
            f'  <a class="fw-semibold text-decoration-none deal-card-name" href="{self.detail_url.format(deal_id)}">'
            f"{name}</a>\n"
            f'  <div class="text-body-secondary small text-truncate">{_e(deal.account_name)}</div>\n'
            '  <div class="d-flex justify-content-between align-items-center small mt-1">\n'
            f'    <span class="fw-medium">{_e(money(deal.amount, deal.currency))}</span>\n'
            f'    <span class="text-body-secondary text-truncate ms-2" title="Owner">{_e(deal.owner_name)}</span>\n'
            "  </div>\n"
            '  <div class="d-flex align-items-center gap-1 mt-1">\n'
            f'    <span class="badge {days_class}" title="{days_title}" data-testid="days-in-stage">'
            f"{days_text(card.days)}</span>\n"
            f"    {idle}{move}\n"
            "  </div>\n"
            f"{gaps}"
            f"{feedback or ''}</article>\n"
        )
        return mark_safe(html)  # noqa: S308 - every value above is escaped or ours (see the docstring)

    def render_all(self, cards: list[Card]) -> SafeString:
        return mark_safe("".join(self.render(card) for card in cards))  # noqa: S308 - each card is safe
