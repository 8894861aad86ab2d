"""The history import's upload form: a process of the organization and the two CSV files. The files'
contents are checked by the import job (iteration.history_import), which names each problem's line."""

from django import forms

from iteration.history_import import MAX_FILE_BYTES
from orgs.forms import BootstrapMixin, ServiceErrorsMixin
from orgs.models import Organization
from salesproc.models import Process


class HistoryImportForm(BootstrapMixin, ServiceErrorsMixin, forms.Form):
    process = forms.ModelChoiceField(
        queryset=Process.objects.none(),
        empty_label=None,
        error_messages={"invalid_choice": "Choose one of your processes."},
    )
    deals = forms.FileField(
        label="Deals (.csv)",
        error_messages={"required": "Choose the deals file.", "empty": "The deals file is empty."},
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )
    history = forms.FileField(
        label="Stage history (.csv)",
        error_messages={"required": "Choose the stage history file.", "empty": "The history file is empty."},
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )

    def __init__(self, organization: Organization, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["process"].queryset = Process.objects.for_org(organization).order_by("-is_active", "name")

    def clean(self):
        cleaned = super().clean()
        for name in ("deals", "history"):
            upload = cleaned.get(name)
            if upload is not None and upload.size > MAX_FILE_BYTES:
                self.add_error(
                    name,
                    f"The file is too large ({upload.size:,} bytes); at most {MAX_FILE_BYTES // 2**20} MB.",
                )
        return cleaned
