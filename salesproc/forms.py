"""Forms of the process editor. They parse what the browser sends (numbers, choices, the uploaded file);
the rules and their messages stay in salesproc.services and salesproc.process_schema."""

import json

from django import forms

from deals.models import ActivityKind, StakeholderRole
from orgs.forms import BootstrapMixin, ServiceErrorsMixin
from salesproc.models import CRITERION_FIELDS, PHASE_QUESTIONS, CriterionKind, Importance, Phase
from salesproc.process_schema import CRITERION_PARAM

# A process file has at most 30 stages of 40 criteria: far below this.
MAX_IMPORT_BYTES = 1_000_000

WHOLE_NUMBER = {"invalid": "Enter a whole number."}


class ProcessForm(BootstrapMixin, ServiceErrorsMixin, forms.Form):
    name = forms.CharField(max_length=120, required=False)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}), max_length=2000)


class ProcessImportForm(BootstrapMixin, ServiceErrorsMixin, forms.Form):
    """A process file (JSON, the export format). The parsed data is `cleaned_data["data"]`."""

    file = forms.FileField(
        label="Process file (.json)",
        error_messages={"required": "Choose a process file to import.", "empty": "The file is empty."},
        widget=forms.ClearableFileInput(attrs={"accept": ".json,application/json"}),
    )
    service_field_names = {"stages": "file", "name": "file"}

    def clean(self):
        cleaned = super().clean()
        upload = cleaned.get("file")
        if upload is None:
            return cleaned
        if upload.size > MAX_IMPORT_BYTES:
            self.add_error("file", f"The file is too large ({upload.size:,} bytes); a process file is small.")
            return cleaned
        try:
            text = upload.read().decode("utf-8-sig")
        except UnicodeDecodeError:
            self.add_error("file", "The file is not UTF-8 text: export a process to see the format.")
            return cleaned
        try:
            cleaned["data"] = json.loads(text)
        except json.JSONDecodeError as exc:
            self.add_error("file", f"Not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}.")
        return cleaned


def phase_choices() -> list[tuple[str, str]]:
    return [(p.value, f"{p.label} — {PHASE_QUESTIONS[p]}") for p in Phase]


class StageForm(BootstrapMixin, ServiceErrorsMixin, forms.Form):
    """A stage's fields. Blank and out-of-range values go to the service, which words the message."""

    name = forms.CharField(required=False, strip=True)
    phase = forms.ChoiceField(choices=phase_choices, initial=Phase.CHANGE)
    probability = forms.IntegerField(
        required=False, label="Win probability (%)", error_messages=WHOLE_NUMBER, initial=10
    )
    expected_days = forms.IntegerField(
        required=False,
        label="Expected days",
        error_messages=WHOLE_NUMBER,
        help_text="The stall threshold: a deal longer than this in the stage is stalled.",
    )
    guidance = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="What a rep should do in this stage.",
    )

    def service_fields(self) -> dict:
        """Keyword arguments for stage_add / stage_update."""
        return {
            k: self.cleaned_data[k] for k in ("name", "phase", "probability", "expected_days", "guidance")
        }


def _param_choices(choices) -> list[tuple[str, str]]:
    return [("", "Choose…"), *choices]


class CriterionForm(BootstrapMixin, ServiceErrorsMixin, forms.Form):
    """An exit criterion: its kind decides which one parameter it takes. A blank label is made from the
    parameter ("Amount filled in", "Economic buyer on the deal", …); a step must be named."""

    kind = forms.ChoiceField(choices=CriterionKind.choices, initial=CriterionKind.STEP)
    label = forms.CharField(required=False)
    importance = forms.ChoiceField(choices=Importance.choices, initial=Importance.MANDATORY)
    field_name = forms.ChoiceField(
        choices=_param_choices(list(CRITERION_FIELDS.items())), required=False, label="Deal field"
    )
    role = forms.ChoiceField(
        choices=_param_choices(StakeholderRole.choices), required=False, label="Stakeholder role"
    )
    activity_kind = forms.ChoiceField(
        choices=_param_choices(ActivityKind.choices), required=False, label="Activity"
    )
    question = forms.CharField(required=False, max_length=300, label="Question the rep answers")

    def selected_kind(self) -> str:
        """The kind to show inputs for: the submitted one when valid, else the initial one."""
        value = self.data.get(self.add_prefix("kind")) if self.is_bound else self.initial.get("kind")
        return value if value in CriterionKind.values else CriterionKind.STEP

    def param_field(self):
        param = CRITERION_PARAM[CriterionKind(self.selected_kind())]
        return self[param] if param else None

    def add_service_errors(self, exc) -> None:
        # A blank label of a kind with a parameter is made from the parameter: when that is missing too,
        # its own message says what to do and "needs a label" would only confuse.
        data = self.cleaned_data
        if data.get("kind") != CriterionKind.STEP and not data.get("label"):
            exc.errors.pop("label", None)
        super().add_service_errors(exc)

    def service_fields(self) -> dict:
        """Keyword arguments for criterion_add: the kind's parameter only, and a label made from it."""
        data = self.cleaned_data
        kind = data["kind"]
        param = CRITERION_PARAM[CriterionKind(kind)]
        fields = {"kind": kind, "label": data["label"], "importance": data["importance"]}
        if param:
            fields[param] = data[param]
            if not fields["label"] and data[param]:
                fields["label"] = _default_label(kind, data[param])
        return fields


def _default_label(kind: str, value: str) -> str:
    if kind == CriterionKind.FIELD:
        return f"{CRITERION_FIELDS.get(value, value)} filled in"
    if kind == CriterionKind.STAKEHOLDER_ROLE:
        return f"{StakeholderRole(value).label if value in StakeholderRole.values else value} on the deal"
    if kind == CriterionKind.ACTIVITY_KIND:
        return f"{ActivityKind(value).label if value in ActivityKind.values else value} logged in this stage"
    return value[:200]


class CriterionImportanceForm(BootstrapMixin, ServiceErrorsMixin, forms.Form):
    importance = forms.ChoiceField(choices=Importance.choices)


class StageMoveForm(forms.Form):
    direction = forms.ChoiceField(choices=[("up", "Up"), ("down", "Down")])

    def step(self) -> int:
        return -1 if self.cleaned_data["direction"] == "up" else 1


class StageReorderForm(forms.Form):
    """The stage ids in their new order, as the drag-and-drop list posts them."""

    def __init__(self, data, **kwargs):
        super().__init__(data, **kwargs)
        self.raw_ids = data.getlist("stage_ids") if hasattr(data, "getlist") else []

    def clean(self):
        cleaned = super().clean()
        ids = []
        for raw in self.raw_ids:
            try:
                ids.append(int(raw))
            except (TypeError, ValueError):
                raise forms.ValidationError("List every stage of the process exactly once.") from None
        cleaned["stage_ids"] = ids
        return cleaned
