"""Check the board's column totals (StageRollup) against the open deals, and repair them."""

from django.core.management.base import BaseCommand, CommandError

from deals.services.rollups import rollup_drift, rollup_rebuild
from orgs.models import Organization


class Command(BaseCommand):
    help = (
        "Compare the board's column totals (open deals per stage, owner and currency) with the deals and "
        "recompute the rows that differ. Run it after writing deals in bulk outside the deal services; "
        "with --check it only reports, and exits with status 1 when a row is wrong."
    )

    def add_arguments(self, parser):
        parser.add_argument("--org", metavar="SLUG", help="only this organization (default: every one)")
        parser.add_argument("--check", action="store_true", help="report what is wrong; change nothing")

    def handle(self, *args, org: str | None, check: bool, **options):
        orgs = Organization.objects.order_by("slug")
        if org:
            orgs = orgs.filter(slug=org)
            if not orgs.exists():
                raise CommandError(f'No organization with the slug "{org}".')
        wrong = 0
        for organization in orgs:
            drift = rollup_drift(org=organization) if check else rollup_rebuild(org=organization)
            wrong += len(drift)
            for d in drift:
                self.stdout.write(
                    f"{organization.slug}: stage {d.stage_id}, owner {d.owner_id}, {d.currency}: "
                    f"{d.stored[0]} deals / {d.stored[1]} stored, {d.actual[0]} / {d.actual[1]} in the deals"
                    + ("" if check else " (fixed)")
                )
        rows = f"{wrong} rollup row{'s' if wrong != 1 else ''}"
        if check and wrong:
            raise CommandError(f"{rows} disagreed with the deals.")
        if wrong:
            self.stdout.write(self.style.SUCCESS(f"{rows} corrected."))
        else:
            self.stdout.write(self.style.SUCCESS("The rollups agree with the deals."))
