"""Writes about people: organizations, invitations, roles."""

import secrets

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import transaction
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.text import slugify

from orgs.models import Membership, Organization, Role, User
from salesproc.lib.errors import InvalidInput, NotAllowed


def _require_admin(by: Membership | None, org: Organization) -> None:
    if by is not None and (by.organization_id != org.id or not by.can_manage_members):
        raise NotAllowed("Only admins manage members.")


def set_password_link(user: User) -> str:
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    return settings.SITE_URL + reverse("password_reset_confirm", kwargs={"uidb64": uid, "token": token})


@transaction.atomic
def organization_create(*, name: str, slug: str, admin_email: str, admin_password: str | None = None):
    """Create an org with its first admin (creating the user if new). Returns (org, membership)."""
    errors: dict = {}
    name = (name or "").strip()
    slug = slugify(slug or name)
    if not name:
        errors["name"] = ["Required."]
    if not slug:
        errors["slug"] = ["Required."]
    elif Organization.objects.filter(slug=slug).exists():
        errors["slug"] = [f'An organization with the slug "{slug}" already exists.']
    try:
        validate_email(admin_email)
    except ValidationError:
        errors["admin"] = [f'"{admin_email}" is not a valid email address.']
    if errors:
        raise InvalidInput(errors)
    org = Organization.objects.create(name=name, slug=slug)
    user = User.objects.filter(email__iexact=admin_email).first()
    if user is None:
        user = User.objects.create_user(admin_email, admin_password)
    membership = Membership.objects.create(organization=org, user=user, role=Role.ADMIN)
    return org, membership


@transaction.atomic
def member_invite(
    *,
    org: Organization,
    by: Membership | None,
    email: str,
    role: str,
    full_name: str = "",
    manager: Membership | None = None,
) -> tuple[Membership, str]:
    """Add a person to the org with a role; a new user gets a set-password link by email.
    Returns (membership, link). The email is sent after the transaction commits."""
    _require_admin(by, org)
    errors: dict = {}
    email = (email or "").strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        errors["email"] = ["Enter a valid email address."]
    if role not in Role.values:
        errors["role"] = [f"Choose one of {', '.join(Role.values)}."]
    if manager is not None and manager.organization_id != org.id:
        errors["manager"] = ["Unknown manager."]
    if not errors and Membership.objects.filter(organization=org, user__email__iexact=email).exists():
        errors["email"] = [f"{email} is already a member of {org.name}."]
    if errors:
        raise InvalidInput(errors)
    user = User.objects.filter(email__iexact=email).first()
    if user is None:
        user = User.objects.create_user(email, None, full_name=full_name.strip()[:150])
    membership = Membership.objects.create(organization=org, user=user, role=role, manager=manager)
    link = set_password_link(user)
    inviter = by.user.display_name if by else "Salesproc"
    transaction.on_commit(
        lambda: send_mail(
            f"You are invited to {org.name} on Salesproc",
            f"{inviter} added you to {org.name} as {membership.get_role_display()}.\n\n"
            f"Set your password here:\n{link}\n\nYour login is {email}.",
            None,
            [email],
        )
    )
    return membership, link


@transaction.atomic
def member_update(
    *,
    membership: Membership,
    by: Membership | None,
    role: str | None = None,
    manager: Membership | None | str = "unchanged",
    is_active: bool | None = None,
) -> Membership:
    """Change a member's role, manager or access. An org keeps at least one active admin."""
    _require_admin(by, membership.organization)
    errors: dict = {}
    if role is not None and role not in Role.values:
        errors["role"] = [f"Choose one of {', '.join(Role.values)}."]
    if manager != "unchanged" and manager is not None:
        if manager.organization_id != membership.organization_id:
            errors["manager"] = ["Unknown manager."]
        elif manager.pk == membership.pk:
            errors["manager"] = ["A member cannot report to themselves."]
        else:
            # Refuse cycles: walk up from the new manager.
            seen, cur = set(), manager
            while cur is not None and cur.pk not in seen:
                if cur.pk == membership.pk:
                    errors["manager"] = ["That would make a reporting loop."]
                    break
                seen.add(cur.pk)
                cur = cur.manager
    if errors:
        raise InvalidInput(errors)
    if role is not None:
        membership.role = role
    if manager != "unchanged":
        membership.manager = manager
    if is_active is not None:
        membership.is_active = is_active
    remaining_admins = Membership.objects.filter(
        organization_id=membership.organization_id, role=Role.ADMIN, is_active=True
    ).exclude(pk=membership.pk)
    if not remaining_admins.exists() and (membership.role != Role.ADMIN or not membership.is_active):
        raise InvalidInput({"role": ["The organization needs at least one active admin."]})
    membership.save()
    return membership


def random_password() -> str:
    return secrets.token_urlsafe(12)
