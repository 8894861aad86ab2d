"""Forms of the upstream pages: promote a step, accept or dismiss a promotion. They check shapes only;
the services decide (roles, states, the condition language), and their messages land on the fields."""

import json

from django import forms

from deals.forms import MAX_ID, ServiceErrorsMixin
from playbooks.conditions import MAX_JSON_CHARS
from salesproc.models import Importance
from upstream.models import Promotion, PromotionTarget
from upstream.services import MAX_NOTE, MAX_REASON


class PromoteForm(ServiceErrorsMixin, forms.Form):
    target = forms.ChoiceField(choices=PromotionTarget.choices, initial=PromotionTarget.PLAY)
    note = forms.CharField(required=False, max_length=MAX_NOTE)


class AcceptForm(ServiceErrorsMixin, forms.Form):
    """The reviewer's edits. Fields of the other target are ignored by the service."""

    target = forms.ChoiceField(choices=PromotionTarget.choices)
    title = forms.CharField(max_length=200)
    description = forms.CharField(required=False, max_length=5000)
    playbook = forms.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    condition = forms.CharField(required=False, max_length=MAX_JSON_CHARS, strip=False)
    stage = forms.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    importance = forms.ChoiceField(choices=Importance.choices, required=False)

    @classmethod
    def for_promotion(cls, promotion: Promotion) -> "AcceptForm":
        """The unbound form, prefilled with what the promotion proposes."""
        return cls(
            initial={
                "target": promotion.target,
                "title": promotion.title,
                "description": promotion.description,
                "playbook": promotion.playbook_id,
                "condition": json.dumps(promotion.condition, indent=2) if promotion.condition else "",
                "stage": promotion.stage_id,
                "importance": promotion.importance,
            },
            prefix=f"p{promotion.pk}",
        )

    def service_arguments(self) -> dict:
        data = self.cleaned_data
        return {
            "target": data["target"],
            "title": data["title"],
            "description": data["description"],
            "playbook": data["playbook"],
            # A cleared condition is sent as such, so the condition language says what is missing.
            "condition": data["condition"] if data["condition"].strip() else {},
            "stage": data["stage"],
            "importance": data["importance"] or None,
        }


class DismissForm(ServiceErrorsMixin, forms.Form):
    reason = forms.CharField(max_length=MAX_REASON)
