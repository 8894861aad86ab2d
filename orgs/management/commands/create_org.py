"""Create an organization with its first admin; print the admin's set-password link and an API token."""

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils.text import slugify
from rest_framework.authtoken.models import Token

from orgs.services import organization_create, set_password_link
from salesproc.lib.errors import InvalidInput
from salesproc.management.helpers import invalid_input_lines


class Command(BaseCommand):
    help = "Create an organization and its admin; prints a set-password link and an API token."

    def add_arguments(self, parser):
        parser.add_argument("slug", metavar="SLUG", help="short name used in commands, e.g. acme")
        parser.add_argument("--name", required=True, help='the organization\'s name, e.g. "Acme Inc"')
        parser.add_argument("--admin", required=True, metavar="EMAIL", help="the first admin's email")

    def handle(self, *args, slug: str, name: str, admin: str, **options):
        # The service would slugify a free-form name; here the slug is what later commands are typed
        # with, so it must already be one rather than silently become another.
        if slugify(slug) != slug:
            suggestion = slugify(slug)
            hint = f' (e.g. "{suggestion}")' if suggestion else ""
            raise CommandError(f'"{slug}" is not a slug: use lowercase letters, digits and hyphens{hint}.')
        try:
            with transaction.atomic():
                org, membership = organization_create(name=name, slug=slug, admin_email=admin.strip())
                token, _ = Token.objects.get_or_create(user=membership.user)
                link = set_password_link(membership.user)
        except InvalidInput as exc:
            raise CommandError("\n".join(invalid_input_lines(exc))) from None
        user = membership.user
        self.stdout.write(self.style.SUCCESS(f'Created organization "{org.name}" ({org.slug}).'))
        existing = " (an existing user: their password is unchanged)" if user.has_usable_password() else ""
        self.stdout.write(f"Admin: {user.email}{existing}")
        self.stdout.write(f"Set the admin's password here: {link}")
        self.stdout.write(f"API token for {user.email}: {token.key}")
        self.stdout.write("  use it as the header: Authorization: Token <token>")
