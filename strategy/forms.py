"""Forms of the strategy section: they parse what the browser sends; the rules and their messages stay
in strategy.services."""

from django import forms

from deals.forms import ServiceErrorsMixin
from strategy.models import STRATEGY_FIELDS, STRATEGY_HELP, STRATEGY_TEXT_MAX, DealStrategy
from strategy.services import COMMENT_MAX


class StrategyForm(ServiceErrorsMixin, forms.Form):
    """The five fields of the strategy and the version the writer saw."""

    version = forms.IntegerField(min_value=0, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, label in STRATEGY_FIELDS.items():
            self.fields[name] = forms.CharField(
                label=label,
                help_text=STRATEGY_HELP[name],
                required=False,
                max_length=STRATEGY_TEXT_MAX,
                widget=forms.Textarea(attrs={"rows": 3}),
            )

    @classmethod
    def for_strategy(cls, strategy: DealStrategy) -> "StrategyForm":
        """An unbound form showing the strategy as saved."""
        initial = {name: getattr(strategy, name) for name in STRATEGY_FIELDS}
        return cls(initial={**initial, "version": strategy.version})

    def text_fields(self):
        return [self[name] for name in STRATEGY_FIELDS]


class CommentForm(ServiceErrorsMixin, forms.Form):
    body = forms.CharField(
        label="Comment",
        max_length=COMMENT_MAX,
        widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={"required": "Write something first."},
    )
