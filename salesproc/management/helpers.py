"""Helpers shared by the management commands."""

from django.core.management.base import CommandError

from orgs.models import Organization
from salesproc.lib.errors import InvalidInput


def organization_or_error(slug: str) -> Organization:
    """The organization with this slug, or a CommandError that says how to find the right one."""
    org = Organization.objects.filter(slug=slug).first()
    if org is None:
        known = list(Organization.objects.order_by("slug").values_list("slug", flat=True)[:20])
        hint = (
            f" Known slugs: {', '.join(known)}." if known else " There are no organizations yet (create_org)."
        )
        raise CommandError(f'No organization with the slug "{slug}".{hint}')
    return org


def invalid_input_lines(exc: InvalidInput) -> list[str]:
    """One line per problem; messages that already carry their path (`stages[2].phase: ...`) keep it."""
    lines: list[str] = []
    for key, messages in exc.errors.items():
        for message in messages:
            lines.append(message if key in ("__all__", "file") else f"{key}: {message}")
    return lines
