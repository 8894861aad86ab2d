"""Forms of the deal pages. They parse what the browser sends (ids into org-scoped objects, dates into
aware datetimes); the business rules and their messages stay in deals.services."""

import re

from django import forms

from deals.models import (
    Account,
    ActivityKind,
    Attitude,
    Contact,
    DealStakeholder,
    DealStatus,
    StakeholderRole,
)
from deals.network import ANY_GAP, GAP_CODES, GAP_LABELS, parse_gap_codes
from deals.selectors import BoardFilters
from orgs.models import Membership, Organization
from orgs.selectors import team_user_ids
from salesproc.lib.errors import InvalidInput
from salesproc.models import Process
from scorecards.selectors import BOARD_FILTER_CHOICES as SCORECARD_FILTERS

INFLUENCE_CHOICES = [(i, str(i)) for i in range(1, 6)]


def split_names(text: str) -> list[str]:
    """Competitors or objections typed as "a, b; c" → ["a", "b", "c"]."""
    return [part.strip() for part in re.split(r"[;,]", text or "") if part.strip()]


# Largest id a bigint column holds: anything else is not an id of ours (and never reaches the database).
MAX_ID = 2**63 - 1


def parse_id(value) -> int | None:
    """A positive id from user input, or None."""
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if 0 < number <= MAX_ID else None


class IdChoiceField(forms.ModelChoiceField):
    """A ModelChoiceField that refuses what cannot be an id before asking the database."""

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if parse_id(getattr(value, "pk", value)) is None:
            raise forms.ValidationError(self.error_messages["invalid_choice"], code="invalid_choice")
        return super().to_python(value)


class ServiceErrorsMixin:
    """Copy a service's InvalidInput messages onto the form's fields (or its non-field errors)."""

    # Service field name → form field name, where they differ.
    service_field_names: dict[str, str] = {}

    def add_service_errors(self, exc: InvalidInput) -> None:
        for key, messages in exc.errors.items():
            name = self.service_field_names.get(key, key)
            target = name if name in self.fields else None
            for message in messages:
                self.add_error(target, message)


# The gap filter's options: every gap, then each one (the board and the deal list).
GAP_FILTER_CHOICES = [(ANY_GAP, "Any gap"), *((code, GAP_LABELS[code].capitalize()) for code in GAP_CODES)]


class GapCodesField(forms.Field):
    """Stakeholder gaps to filter on: ?gap=no_champion, repeated (?gap=a&gap=b) or as a comma list
    (?gap=a,b), or ?gap=any; cleaned to the codes in GAP_CODES order (empty: no filter). Deals with
    any of them match (deals.network.deal_gaps_condition). An unknown code is an error naming it and
    the valid ones."""

    widget = forms.SelectMultiple

    def to_python(self, value) -> tuple[str, ...]:
        if value in self.empty_values:
            return ()
        raw = value if isinstance(value, list | tuple) else [value]
        if len(raw) > 20 or any(len(str(v)) > 400 for v in raw):
            raise forms.ValidationError("Too many gaps: name at most the five gaps, or any.")
        try:
            return parse_gap_codes(raw)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None


def gap_query_value(codes: tuple[str, ...]) -> str:
    """The gap filter as it goes back into a link: "any" for every gap, else a comma list."""
    return ANY_GAP if set(codes) == set(GAP_CODES) else ",".join(codes)


class BoardFilterForm(forms.Form):
    """The board's filters: ?owner=me|<user id>, ?team=1 (the manager's team), ?q=, ?scorecard=go|no_go|
    incomplete|not_scored, ?gap=<stakeholder gap>|any (see GapCodesField)."""

    owner = forms.CharField(required=False)
    team = forms.BooleanField(required=False)
    q = forms.CharField(required=False, max_length=200)
    scorecard = forms.CharField(required=False)
    gap = GapCodesField(required=False)

    def to_filters(self, membership: Membership) -> BoardFilters:
        """What to filter on; anything unreadable is ignored rather than refused (it is only a view),
        each filter on its own: an unknown gap leaves the others in force, and the page says why
        (`gap_error`)."""
        self.is_valid()
        data = self.cleaned_data
        owner = (data.get("owner") or "").strip()
        owner_ids: frozenset[int] | None = None
        if data.get("team"):
            owner_ids = frozenset(team_user_ids(membership))
        elif owner == "me":
            owner_ids = frozenset({membership.user_id})
        elif parse_id(owner):
            owner_ids = frozenset({parse_id(owner)})
        scorecard = (data.get("scorecard") or "").strip()
        return BoardFilters(
            owner_ids=owner_ids,
            q=(data.get("q") or "").strip(),
            scorecard=scorecard if scorecard in dict(SCORECARD_FILTERS) else "",
            gaps=data.get("gap") or (),
        )

    @property
    def gap_error(self) -> str:
        """Why the gap filter was ignored ("" when it was not)."""
        return self.errors["gap"][0] if self.is_bound and "gap" in self.errors else ""


class DealListFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=200)
    status = forms.ChoiceField(required=False, choices=[("", "Any status"), *DealStatus.choices])
    process = forms.CharField(required=False)
    owner = forms.CharField(required=False)
    gap = GapCodesField(required=False)
    before = forms.CharField(required=False)

    def values(self, membership: Membership) -> dict:
        """The list's filters; an unreadable one is left out and the others stay (the page shows
        `gap_error` for an unknown gap)."""
        self.is_valid()
        data = self.cleaned_data
        owner = (data.get("owner") or "").strip()
        return {
            "q": (data.get("q") or "").strip(),
            "status": data.get("status") or "",
            "process_id": parse_id(data.get("process")),
            "owner_id": membership.user_id if owner == "me" else parse_id(owner),
            "gaps": data.get("gap") or (),
            "before_id": parse_id(data.get("before")),
        }

    @property
    def gap_error(self) -> str:
        return self.errors["gap"][0] if self.is_bound and "gap" in self.errors else ""


class VersionForm(forms.Form):
    """The deal version the page showed: the services refuse a write over someone else's."""

    version = forms.IntegerField(min_value=0, max_value=2**31 - 1)


class MoveForm(VersionForm):
    to_stage = forms.IntegerField(min_value=1, max_value=2**63 - 1)
    override_reason = forms.CharField(required=False, max_length=2000, widget=forms.Textarea)


class LoseForm(VersionForm):
    # Not required here: the service says why an empty reason is refused.
    reason = forms.CharField(required=False, max_length=1000)


class DealForm(ServiceErrorsMixin, forms.Form):
    """Create or edit a deal. Amounts, dates and lists stay text: deal_create/deal_update validate them."""

    process = IdChoiceField(queryset=Process.objects.none(), required=True, empty_label=None)
    name = forms.CharField(required=False, max_length=200)
    account = IdChoiceField(queryset=Account.objects.none(), required=False)
    new_account = forms.CharField(required=False, max_length=200, label="Or a new account")
    owner = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    amount = forms.CharField(required=False, max_length=40)
    currency = forms.CharField(required=False, max_length=10)
    expected_close = forms.CharField(required=False, max_length=40)
    industry = forms.CharField(required=False, max_length=80)
    budget = forms.CharField(required=False, max_length=40)
    lead_source = forms.CharField(required=False, max_length=80)
    competitors = forms.CharField(required=False, max_length=4000)
    objections = forms.CharField(required=False, max_length=4000)
    description = forms.CharField(required=False, max_length=10000, widget=forms.Textarea)

    def __init__(self, *args, org: Organization, members: list[Membership], creating: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.creating = creating
        self.fields["account"].queryset = Account.objects.for_org(org)
        self.fields["owner"].choices = [("", "—")] + [(m.user_id, m.user.display_name) for m in members]
        if creating:
            self.fields["process"].queryset = Process.objects.for_org(org).filter(is_active=True)
        else:
            del self.fields["process"]

    def clean(self):
        data = super().clean()
        if not data.get("account") and not data.get("new_account"):
            self.add_error("account", "Choose an account, or type the name of a new one.")
        return data

    def service_fields(self, *, include_owner: bool) -> dict:
        """The cleaned values as deal_create/deal_update keyword arguments (account added by the view)."""
        data = self.cleaned_data
        out = {
            key: data.get(key, "")
            for key in (
                "name",
                "amount",
                "currency",
                "expected_close",
                "industry",
                "budget",
                "lead_source",
                "description",
            )
        }
        out["competitors"] = split_names(data.get("competitors", ""))
        out["objections"] = split_names(data.get("objections", ""))
        if include_owner and data.get("owner"):
            out["owner"] = data["owner"]
        return out


class OptionalIdField(forms.CharField):
    """An optional id typed or picked in the browser: None when blank, an error when not an id. Which
    ids are acceptable (same org, same deal) is the service's to say."""

    def to_python(self, value):
        value = super().to_python(value)
        if value in self.empty_values:
            return None
        number = parse_id(value)
        if number is None:
            raise forms.ValidationError("Choose one of the list.", code="invalid_choice")
        return number


class StepForm(ServiceErrorsMixin, forms.Form):
    """A custom step of the plan (add and edit): the services check the assignee and stakeholder."""

    title = forms.CharField(required=False, max_length=200)
    description = forms.CharField(required=False, max_length=5000, widget=forms.Textarea)
    due_date = forms.CharField(required=False, max_length=40)
    stakeholder = OptionalIdField(required=False)
    assignee = OptionalIdField(required=False)


class StepCommentForm(ServiceErrorsMixin, forms.Form):
    body = forms.CharField(required=False, max_length=5000, widget=forms.Textarea)


class StepReorderForm(forms.Form):
    """The plan's step ids in their new order, comma-separated (what the drag and drop sends)."""

    step_ids = forms.CharField(
        max_length=20000, error_messages={"required": "Send the plan's steps in order."}
    )

    def clean_step_ids(self) -> list[int]:
        ids = [parse_id(part) for part in self.cleaned_data["step_ids"].split(",") if part.strip()]
        if not ids or None in ids:
            raise forms.ValidationError("A comma-separated list of the plan's step ids.")
        return ids


class StepDoneForm(forms.Form):
    done = forms.BooleanField(required=False)


STAKEHOLDER_ROLE_CHOICES = [("", "Choose a role"), *StakeholderRole.choices]


class StakeholderForm(ServiceErrorsMixin, forms.Form):
    """Put a contact on the deal: an existing contact of the org, or a new one created on the spot."""

    contact = IdChoiceField(queryset=Contact.objects.none(), required=False)
    new_contact_name = forms.CharField(required=False, max_length=200, label="New contact's name")
    new_contact_email = forms.CharField(required=False, max_length=254, label="Email")
    new_contact_title = forms.CharField(required=False, max_length=120, label="Job title")
    role = forms.ChoiceField(choices=STAKEHOLDER_ROLE_CHOICES, error_messages={"required": "Choose a role."})
    influence = forms.TypedChoiceField(choices=INFLUENCE_CHOICES, coerce=int, initial=3)
    attitude = forms.ChoiceField(choices=Attitude.choices, initial=Attitude.NEUTRAL)
    desired_results = forms.CharField(required=False, max_length=5000, widget=forms.Textarea)
    wins = forms.CharField(required=False, max_length=5000, widget=forms.Textarea)

    service_field_names = {
        "name": "new_contact_name",
        "email": "new_contact_email",
        "title": "new_contact_title",
    }

    def __init__(self, *args, org: Organization, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["contact"].queryset = Contact.objects.for_org(org)

    def clean(self):
        data = super().clean()
        picked = data.get("contact") or (data.get("new_contact_name") or "").strip()
        if not picked and "contact" not in self.errors:
            self.add_error("contact", "Pick a contact, or type a new contact's name.")
        return data


class StakeholderEditForm(ServiceErrorsMixin, forms.Form):
    role = forms.ChoiceField(choices=StakeholderRole.choices)
    influence = forms.TypedChoiceField(choices=INFLUENCE_CHOICES, coerce=int)
    attitude = forms.ChoiceField(choices=Attitude.choices)
    desired_results = forms.CharField(required=False, max_length=5000, widget=forms.Textarea)
    wins = forms.CharField(required=False, max_length=5000, widget=forms.Textarea)


class ActivityForm(ServiceErrorsMixin, forms.Form):
    kind = forms.ChoiceField(choices=ActivityKind.choices, initial=ActivityKind.CALL)
    subject = forms.CharField(required=False, max_length=200)
    body = forms.CharField(required=False, max_length=20000, widget=forms.Textarea)
    # Read in the user's time zone (the middleware activates it); blank means now.
    occurred_at = forms.DateTimeField(
        required=False, input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d"]
    )
    stakeholder = IdChoiceField(queryset=DealStakeholder.objects.none(), required=False)

    def __init__(self, *args, deal, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["stakeholder"].queryset = DealStakeholder.objects.filter(deal=deal)


class AnswerForm(ServiceErrorsMixin, forms.Form):
    text = forms.CharField(required=False, max_length=5000, widget=forms.Textarea)
