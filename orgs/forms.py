"""Forms of the sign-in and people pages. They parse what the browser sends; the rules and their messages
stay in orgs.services, whose InvalidInput errors are copied onto the fields (ServiceErrorsMixin)."""

from django import forms
from django.contrib.auth.forms import (
    AuthenticationForm,
    PasswordChangeForm,
    PasswordResetForm,
    SetPasswordForm,
)

from orgs.models import Membership, Organization, Role, User
from salesproc.lib.errors import InvalidInput

# Largest id a bigint column holds: anything else is not an id of ours and never reaches the database.
MAX_ID = 2**63 - 1


def parse_id(value) -> int | None:
    """A positive id from user input, or None."""
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if 0 < number <= MAX_ID else None


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


class BootstrapMixin:
    """Bootstrap classes on every widget, and `is-invalid` on the fields that carry an error."""

    # "sm" for the dense editing pages; "" for the roomy sign-in pages.
    input_size = "sm"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        size = f" form-select-{self.input_size}" if self.input_size else ""
        for field in self.fields.values():
            widget = field.widget
            if isinstance(widget, forms.CheckboxInput):
                css = "form-check-input"
            elif isinstance(widget, forms.Select):
                css = "form-select" + size
            else:
                css = "form-control" + size.replace("select", "control")
            widget.attrs["class"] = f"{css} {widget.attrs.get('class', '')}".strip()

    def add_error(self, field, error):
        super().add_error(field, error)
        for name in self.errors:
            if name in self.fields:
                attrs = self.fields[name].widget.attrs
                if "is-invalid" not in attrs.get("class", ""):
                    attrs["class"] = f"{attrs.get('class', '')} is-invalid".strip()


class IdChoiceField(forms.ModelChoiceField):
    """A ModelChoiceField that refuses what cannot be an id before asking the database."""

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if parse_id(getattr(value, "pk", value)) is None:
            raise forms.ValidationError(self.error_messages["invalid_choice"], code="invalid_choice")
        return super().to_python(value)


class EmailAuthenticationForm(BootstrapMixin, AuthenticationForm):
    """Sign in with the email address, whatever its case (emails are stored lower-case)."""

    input_size = ""

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "That email and password do not match an account. Passwords are case-sensitive.",
    }

    def __init__(self, request=None, *args, **kwargs):
        super().__init__(request, *args, **kwargs)
        self.fields["username"].label = "Email"
        self.fields["username"].widget.attrs.update({"autocomplete": "email", "inputmode": "email"})

    def clean_username(self) -> str:
        return (self.cleaned_data.get("username") or "").strip().lower()


class StyledPasswordChangeForm(BootstrapMixin, PasswordChangeForm):
    input_size = ""


class StyledSetPasswordForm(BootstrapMixin, SetPasswordForm):
    input_size = ""


class StyledPasswordResetForm(BootstrapMixin, PasswordResetForm):
    input_size = ""

    def get_users(self, email):
        # Emails are stored lower-case; Django's form matches them case-insensitively already, but an
        # invited person who never set a password has an unusable one, and Django skips those. Let them
        # ask for a new link too: it is the same set-password link the invitation carried.
        return (
            u
            for u in User.objects.filter(email__iexact=email.strip(), is_active=True)
            if u.has_usable_password() or u.memberships.filter(is_active=True).exists()
        )


class ManagerChoiceField(IdChoiceField):
    def label_from_instance(self, obj: Membership) -> str:
        return f"{obj.user.display_name} ({obj.get_role_display()})"


def _manager_queryset(org_id: int, *, exclude: Membership | None = None):
    qs = (
        Membership.objects.filter(organization_id=org_id)
        .active()
        .select_related("user")
        .order_by("user__full_name", "user__email")
    )
    return qs.exclude(pk=exclude.pk) if exclude is not None else qs


class InviteForm(BootstrapMixin, ServiceErrorsMixin, forms.Form):
    """Invite a person: member_invite checks the email and the role."""

    email = forms.CharField(max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "off"}))
    full_name = forms.CharField(max_length=150, required=False, label="Name")
    role = forms.ChoiceField(choices=Role.choices, initial=Role.REP)
    manager = ManagerChoiceField(queryset=Membership.objects.none(), required=False, empty_label="Nobody")

    def __init__(self, *args, org: Organization, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["manager"].queryset = _manager_queryset(org.id)


class MemberForm(BootstrapMixin, ServiceErrorsMixin, forms.Form):
    """A member's role, manager and access: member_update refuses loops and a last admin leaving."""

    role = forms.ChoiceField(choices=Role.choices)
    manager = ManagerChoiceField(queryset=Membership.objects.none(), required=False, empty_label="Nobody")
    is_active = forms.BooleanField(required=False, label="Active")

    def __init__(self, *args, membership: Membership, **kwargs):
        kwargs.setdefault(
            "initial",
            {"role": membership.role, "manager": membership.manager_id, "is_active": membership.is_active},
        )
        super().__init__(*args, **kwargs)
        self.fields["manager"].queryset = _manager_queryset(membership.organization_id, exclude=membership)
