"""Forms of the stall pages: the stalled list's filters, the snooze form and a stage's rule form. They
parse what the browser sends; the rules and their messages stay in iteration.stalls."""

from django import forms

from deals.forms import ServiceErrorsMixin
from iteration.models import StallLevel, StallRuleKind
from iteration.stalls import LEVEL_FIELDS, LEVELS, MAX_RULE_DAYS, STALLED_MULTIPLIERS, EffectiveRule


class StallFilterForm(forms.Form):
    """?level=&rule= on the stalled list; anything unreadable is ignored (it is only a view)."""

    level = forms.ChoiceField(choices=[("", "Any level"), *StallLevel.choices], required=False)
    rule = forms.ChoiceField(choices=[("", "Any rule"), *StallRuleKind.choices], required=False)

    def filters(self) -> dict[str, str | None]:
        data = self.cleaned_data if self.is_valid() else {}
        return {"level": data.get("level") or None, "rule": data.get("rule") or None}


class SnoozeForm(ServiceErrorsMixin, forms.Form):
    until = forms.DateField(
        label="Show again on",
        widget=forms.DateInput(attrs={"type": "date", "class": "form-control form-control-sm"}),
        error_messages={"required": "Say when the flag should show again."},
    )
    reason = forms.CharField(
        max_length=300,
        widget=forms.TextInput(
            attrs={
                "class": "form-control form-control-sm",
                "placeholder": "e.g. Customer on holiday until the 15th",
            }
        ),
        error_messages={"required": "Say why the flag can wait."},
    )


class StallRuleForm(ServiceErrorsMixin, forms.Form):
    """One rule of one stage (prefix "<stage id>-<kind>"): on or off, and the days of each level."""

    enabled = forms.BooleanField(required=False, label="On")
    advice_days = forms.IntegerField(required=False, min_value=1, max_value=MAX_RULE_DAYS, label="Advice")
    warning_days = forms.IntegerField(required=False, min_value=1, max_value=MAX_RULE_DAYS, label="Warning")
    red_flag_days = forms.IntegerField(required=False, min_value=1, max_value=MAX_RULE_DAYS, label="Red flag")

    def __init__(self, *args, rule: EffectiveRule, **kwargs):
        self.rule = rule
        kwargs.setdefault("prefix", f"{rule.stage_id}-{rule.kind}")
        if not args or args[0] is None:
            # Unbound: what applies today. `stalled` levels left empty follow the threshold (shown as
            # placeholders); the other rules show their days, since empty there means off.
            initial = {"enabled": rule.enabled}
            for level in LEVELS:
                name = LEVEL_FIELDS[level]
                if rule.row is not None:
                    initial[name] = getattr(rule.row, name)
                elif rule.kind != StallRuleKind.STALLED and rule.limits[level] is not None:
                    initial[name] = int(rule.limits[level])
            kwargs.setdefault("initial", initial)
        super().__init__(*args, **kwargs)
        for level in LEVELS:
            field = self.fields[LEVEL_FIELDS[level]]
            attrs = {"class": "form-control form-control-sm", "inputmode": "numeric"}
            if rule.kind == StallRuleKind.STALLED:
                # Empty follows the threshold: × 1, 1.5 and 2 (off when the stage has none).
                default = _threshold_default(rule, level)
                attrs["placeholder"] = f"{default:g}" if default is not None else "off"
            else:
                attrs["placeholder"] = "off"
            field.widget.attrs.update(attrs)
        self.fields["enabled"].widget.attrs.update({"class": "form-check-input"})

    def clean(self):
        data = super().clean()
        ordered = [(n, data.get(n)) for n in ("advice_days", "warning_days", "red_flag_days") if data.get(n)]
        for (low_name, low), (high_name, high) in zip(ordered, ordered[1:], strict=False):
            if high < low:
                label = low_name.removesuffix("_days").replace("_", " ")
                self.add_error(high_name, f"At least the {label} days ({low}): advice ≤ warning ≤ red flag.")
        return data


def _threshold_default(rule: EffectiveRule, level: str) -> float | None:
    if rule.threshold is None or rule.threshold.days is None:
        return None
    return round(rule.threshold.days * STALLED_MULTIPLIERS[level], 2)
