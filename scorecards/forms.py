"""Forms of the scorecard pages. Numbers stay text here: scorecards.services checks them and words the
messages ("A whole number from 1 to 10."), the same for the pages and the API."""

from django import forms

from orgs.forms import BootstrapMixin, ServiceErrorsMixin
from scorecards.models import AnswerScale


class ScorecardForm(BootstrapMixin, ServiceErrorsMixin, forms.Form):
    name = forms.CharField(required=False, max_length=500, initial="Qualification")
    threshold = forms.CharField(
        required=False,
        label="Go threshold (%)",
        initial=60,
        help_text="A deal with every criterion answered and a score at or above this is a go.",
        widget=forms.TextInput(attrs={"inputmode": "numeric"}),
    )
    active = forms.BooleanField(
        required=False, initial=True, label="Ask it on deals", help_text="Off: deal pages stop asking."
    )


class CriterionForm(BootstrapMixin, ServiceErrorsMixin, forms.Form):
    label = forms.CharField(required=False, max_length=1000)
    help_text = forms.CharField(
        required=False,
        max_length=10000,
        label="Help",
        widget=forms.Textarea(
            attrs={
                "rows": 1,
                "placeholder": "Help for the rep: what counts as a yes, or what each point means",
            }
        ),
    )
    weight = forms.CharField(
        required=False, initial=1, help_text="1 to 10", widget=forms.TextInput(attrs={"inputmode": "numeric"})
    )
    scale = forms.ChoiceField(choices=AnswerScale.choices, initial=AnswerScale.POINTS, label="Answer")
    max_points = forms.CharField(
        required=False,
        initial=3,
        label="Top points",
        help_text="2 to 10 (points scale)",
        widget=forms.TextInput(attrs={"inputmode": "numeric"}),
    )

    def service_fields(self) -> dict:
        return {
            name: self.cleaned_data[name] for name in ("label", "help_text", "weight", "scale", "max_points")
        }


class CriterionMoveForm(forms.Form):
    direction = forms.ChoiceField(choices=[("up", "up"), ("down", "down")])

    def step(self) -> int:
        return -1 if self.cleaned_data["direction"] == "up" else 1


class AnswerForm(forms.Form):
    """One answer from the deal page; the Clear button sends `clear`."""

    value = forms.CharField(required=False, max_length=20)
    note = forms.CharField(required=False, max_length=10000)
    clear = forms.BooleanField(required=False)
