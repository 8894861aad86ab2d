"""Forms of the playbook editor. They shape input for the services, which validate it again and
enforce the roles; service errors come back onto these forms' fields (ServiceErrorsMixin)."""

from django import forms

from orgs.forms import BootstrapMixin, ServiceErrorsMixin
from salesproc.models import Process, Stage


class PlaybookForm(BootstrapMixin, ServiceErrorsMixin, forms.Form):
    name = forms.CharField(max_length=120)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}), max_length=5000)
    process = forms.ModelChoiceField(
        queryset=Process.objects.none(), required=False, empty_label="Every process", label="Applies to"
    )
    active = forms.BooleanField(required=False, initial=True)

    def __init__(self, organization, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["process"].queryset = Process.objects.for_org(organization).order_by("name")


class NewPlayForm(BootstrapMixin, ServiceErrorsMixin, forms.Form):
    name = forms.CharField(max_length=200, label="New play")


class PlayForm(BootstrapMixin, ServiceErrorsMixin, forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput)
    name = forms.CharField(max_length=200)
    description = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}), max_length=5000, label="When to use it"
    )
    priority = forms.IntegerField(
        initial=0, min_value=-1000, max_value=1000, help_text="Higher priority plays are shown first."
    )
    target_stage = forms.ModelChoiceField(
        queryset=Stage.objects.none(),
        required=False,
        empty_label="None: measure the win rate only",
        label="Stage it aims to get deals through",
    )
    talk_track = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 8}),
        max_length=20000,
        help_text="Markdown: **bold**, *italic*, lists, [links](https://…).",
    )

    def __init__(self, playbook, *args, **kwargs):
        super().__init__(*args, **kwargs)
        stages = Stage.objects.filter(organization_id=playbook.organization_id).select_related("process")
        if playbook.process_id:
            stages = stages.filter(process_id=playbook.process_id)
        self.fields["target_stage"].queryset = stages.order_by("process__name", "order")
        self.fields["target_stage"].label_from_instance = lambda s: (
            s.name if playbook.process_id else f"{s.process.name} · {s.name}"
        )


class QuestionForm(BootstrapMixin, ServiceErrorsMixin, forms.Form):
    text = forms.CharField(max_length=300, label="Question to ask")

    def __init__(self, *args, **kwargs):
        # Its own element ids: the editor shows this form beside the play's and the other content forms.
        kwargs.setdefault("auto_id", "question_%s")
        super().__init__(*args, **kwargs)


class ResourceForm(BootstrapMixin, ServiceErrorsMixin, forms.Form):
    title = forms.CharField(max_length=200)
    url = forms.URLField(required=False, max_length=500, label="Link", assume_scheme="https")
    file = forms.FileField(required=False, label="Or a file")

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "resource_%s")
        super().__init__(*args, **kwargs)

    def clean(self):
        cleaned = super().clean()
        if not self.errors and bool(cleaned.get("url")) == bool(cleaned.get("file")):
            raise forms.ValidationError("Give a link or a file (one of the two).")
        return cleaned


class StepForm(BootstrapMixin, ServiceErrorsMixin, forms.Form):
    title = forms.CharField(max_length=200, label="Step")
    description = forms.CharField(required=False, max_length=2000)
    stage = forms.ModelChoiceField(
        queryset=Stage.objects.none(), required=False, empty_label="Whatever stage the deal is in"
    )

    def __init__(self, playbook, *args, **kwargs):
        kwargs.setdefault("auto_id", "step_%s")
        super().__init__(*args, **kwargs)
        stages = Stage.objects.filter(organization_id=playbook.organization_id).select_related("process")
        if playbook.process_id:
            stages = stages.filter(process_id=playbook.process_id)
        self.fields["stage"].queryset = stages.order_by("process__name", "order")
