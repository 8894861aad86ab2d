"""Refresh an organization's stall flags now (what the hourly job does) and print them, worst first."""

import json

from django.core.management.base import BaseCommand, CommandError

from iteration.models import StallLevel
from iteration.stalls import detect_stalls
from orgs.models import Organization


class Command(BaseCommand):
    help = (
        "Apply the stall rules to an organization's open deals now, update its flags, and print every "
        "flag worst first (level, then days). JSON: a list of {deal_id, external_id, deal, stage, rule, "
        "level, days, threshold, reason}."
    )

    def add_arguments(self, parser):
        parser.add_argument("--org", required=True, help="the organization's slug")
        parser.add_argument("--format", choices=("table", "json"), default="table")

    def handle(self, *args, org: str, format: str, **options):
        organization = Organization.objects.filter(slug=org).first()
        if organization is None:
            raise CommandError(f'No organization with the slug "{org}".')
        flags = detect_stalls(organization=organization)
        if format == "json":
            self.stdout.write(json.dumps(flags, indent=2, ensure_ascii=False))
            return
        if not flags:
            self.stdout.write(f"No stalled deals in {organization.name}.")
            return
        header = ("LEVEL", "RULE", "DAYS", "LIMIT", "DEAL", "STAGE", "REASON")
        rows = [
            (
                StallLevel(f["level"]).label,
                f["rule"],
                str(f["days"]),
                f"{f['threshold']:g}",
                f"{f['deal']} (#{f['deal_id']})",
                f["stage"],
                f["reason"],
            )
            for f in flags
        ]
        widths = [min(40, max(len(r[i]) for r in [header, *rows])) for i in range(len(header) - 1)]
        for row in [header, *rows]:
            cells = [cell[:40].ljust(width) for cell, width in zip(row[:-1], widths, strict=True)]
            self.stdout.write("  ".join([*cells, row[-1]]).rstrip())
        self.stdout.write(f"\n{len(flags)} flag{'s' if len(flags) != 1 else ''} in {organization.name}.")
