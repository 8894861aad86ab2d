"""Forms of the account and contact pages. They parse what the browser sends; the rules and their messages
stay in deals.services.people (a blank name, a bad email or web address come back as field messages)."""

from django import forms

from deals.models import Account
from orgs.forms import BootstrapMixin, IdChoiceField, ServiceErrorsMixin, parse_id
from orgs.models import Organization

SEARCH_MAX = 200


def search_text(request) -> str:
    """The ?q= search, trimmed; anything unreadable is simply no search."""
    return (request.GET.get("q") or "").strip()[:SEARCH_MAX]


def keyset_cursor(request) -> tuple[str, int] | None:
    """The (name, id) the previous page ended on, from ?after_name=&after=; None for the first page."""
    after_id = parse_id(request.GET.get("after"))
    after_name = request.GET.get("after_name")
    if after_id is None or after_name is None:
        return None
    return after_name[:SEARCH_MAX], after_id


class AccountForm(BootstrapMixin, ServiceErrorsMixin, forms.Form):
    name = forms.CharField(required=False, strip=True)
    industry = forms.CharField(required=False)
    website = forms.CharField(required=False, widget=forms.TextInput(attrs={"placeholder": "example.com"}))
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))

    def service_fields(self) -> dict:
        return dict(self.cleaned_data)


class AccountChoiceField(IdChoiceField):
    def label_from_instance(self, obj: Account) -> str:
        return obj.name


class ContactForm(BootstrapMixin, ServiceErrorsMixin, forms.Form):
    name = forms.CharField(required=False, strip=True)
    title = forms.CharField(required=False, label="Job title")
    email = forms.CharField(required=False, widget=forms.EmailInput)
    phone = forms.CharField(required=False)
    account = AccountChoiceField(
        queryset=Account.objects.none(),
        required=False,
        empty_label="No account",
        error_messages={"invalid_choice": "Unknown account."},
    )

    def __init__(self, *args, org: Organization, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["account"].queryset = Account.objects.for_org(org)

    def service_fields(self) -> dict:
        return dict(self.cleaned_data)
