"""Load the demo organization: Demo Co, its people, two processes and deals with 18 months of history."""

from django.core.management.base import BaseCommand, CommandError

from deals.demo import demo_exists, demo_logins, demo_seed
from deals.demo_data import DEMO_NAME, DEMO_PASSWORD, DEMO_SLUG


class Command(BaseCommand):
    help = (
        "Create the demo organization (Demo Co) with its people, two processes and N deals with 18 months "
        "of deterministic history, then print the logins."
    )

    def add_arguments(self, parser):
        parser.add_argument("--deals", type=int, default=400, help="number of deals (default 400)")
        parser.add_argument(
            "--seed", type=int, default=1, help="random seed; the same seed gives the same data"
        )
        parser.add_argument(
            "--if-empty", action="store_true", help="do nothing (but print the logins) if the demo org exists"
        )

    def handle(self, *args, deals: int, seed: int, if_empty: bool, **options):
        if deals < 0:
            raise CommandError("--deals must be 0 or more.")
        if demo_exists():
            if not if_empty:
                raise CommandError(
                    f'The demo organization "{DEMO_NAME}" ({DEMO_SLUG}) already exists. '
                    "Use --if-empty to keep it, or start from an empty database."
                )
            self.stdout.write(f"{DEMO_NAME} is already loaded.")
        else:
            report = demo_seed(deals=deals, seed=seed)
            rows = ", ".join(f"{n} {name}" for name, n in report.rows.items())
            self.stdout.write(
                self.style.SUCCESS(
                    f"Loaded {DEMO_NAME}: {report.deals} deals ({report.open} open, {report.won} won, "
                    f"{report.lost} lost) in {report.seconds:.1f}s."
                )
            )
            self.stdout.write(f"  {rows}")
        self.stdout.write("")
        self.stdout.write(f"Demo logins (password for all: {DEMO_PASSWORD}):")
        for email, role in demo_logins():
            self.stdout.write(f"  {email:<20} {role}")
