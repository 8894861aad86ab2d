"""Run the nightly recurring-steps job for one organization now, and print the groups it found."""

import json

from django.core.management.base import BaseCommand, CommandError

from orgs.models import Organization
from upstream.recurrence_run import recurring_steps_refresh


def _pct(value) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


class Command(BaseCommand):
    help = (
        "Find the custom steps that recur across an organization's deals (what the nightly job does), "
        "write or refresh their proposed promotions, and print the groups. --dry-run writes nothing; "
        "--format json prints the groups with their evidence."
    )

    def add_arguments(self, parser):
        parser.add_argument("--org", required=True, help="the organization's slug")
        parser.add_argument("--dry-run", action="store_true", help="compute and print, write nothing")
        parser.add_argument("--format", choices=("table", "json"), default="table")

    def handle(self, *args, org: str, dry_run: bool, format: str, **options):
        organization = Organization.objects.filter(slug=org).first()
        if organization is None:
            raise CommandError(f'No organization with the slug "{org}".')
        result = recurring_steps_refresh(organization=organization, dry_run=dry_run)
        if result.skipped:
            raise CommandError(f"Another run for {organization.name} is in progress; nothing was done.")
        if format == "json":
            data = result.as_dict()
            data["organization"] = organization.slug
            self.stdout.write(json.dumps(data, indent=2, ensure_ascii=False))
            return
        verb = "would be" if dry_run else "were"
        self.stdout.write(
            f"{organization.name}: {result.steps} custom steps, {len(result.groups)} recurring groups; "
            f"{result.created} proposals {verb} created, {result.updated} refreshed, {result.removed} removed."
        )
        if not result.groups:
            return
        header = ("ACTION", "PROMOTION", "DEALS", "STEPS", "WIN", "BASELINE", "TARGET", "TITLE")
        rows = []
        for g in result.groups:
            e = g.measured.evidence
            rows.append(
                (
                    g.action,
                    "—" if g.promotion_id is None else str(g.promotion_id),
                    str(e["deals"]),
                    str(e["steps"]),
                    _pct(e["win_rate"]),
                    _pct(e["baseline"]["win_rate"]),
                    g.measured.target,
                    g.group.title[:60],
                )
            )
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        for r in [header, *rows]:
            self.stdout.write("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
