"""Compute a process's metrics now (what the nightly job does), store the snapshot, and print it."""

import json

from django.core.management.base import BaseCommand, CommandError

from iteration.snapshots import metrics_refresh_now
from orgs.models import Organization
from salesproc.models import Process


def _pct(value) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _num(value) -> str:
    return "—" if value is None else f"{value:g}"


class Command(BaseCommand):
    help = (
        "Compute the metrics of an organization's processes (or one, with --process), replace their "
        "snapshots, and print them. --format json prints exactly the body of "
        "GET /api/processes/{id}/metrics/ (a list of them without --process)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--org", required=True, help="the organization's slug")
        parser.add_argument("--process", help="the process's name (default: every active process)")
        parser.add_argument("--format", choices=("table", "json"), default="table")

    def handle(self, *args, org: str, process: str | None, format: str, **options):
        organization = Organization.objects.filter(slug=org).first()
        if organization is None:
            raise CommandError(f'No organization with the slug "{org}".')
        processes = Process.objects.for_org(organization).order_by("name")
        if process is not None:
            processes = processes.filter(name=process)
            if not processes.exists():
                raise CommandError(f'No process named "{process}" in {organization.name}.')
        else:
            processes = processes.filter(is_active=True)
        bodies = [metrics_refresh_now(process=p, by=None).overall for p in processes]
        if format == "json":
            data = bodies[0] if process is not None else bodies
            self.stdout.write(json.dumps(data, indent=2, ensure_ascii=False))
            return
        for body in bodies:
            self._table(body)

    def _table(self, body: dict) -> None:
        self.stdout.write(f"{body['process']} — computed {body['computed_at']}")
        header = (
            "STAGE",
            "ENTERED",
            "ADV",
            "DROP",
            "OPEN",
            "CONV",
            "95% CI",
            "WIN",
            "MEDIAN d",
            "P75 d",
            "KM d",
            "STALLED",
        )
        rows = []
        for s in body["stages"]:
            ci = s["conversion_ci"]
            days = s["days_in_stage"]
            rows.append(
                (
                    s["stage"][:28],
                    str(s["entered"]),
                    str(s["advanced"]),
                    str(s["dropped"]),
                    str(s["open"]),
                    _pct(s["conversion_rate"]),
                    "—" if ci is None else f"{_pct(ci[0])}–{_pct(ci[1])}",
                    _pct(s["win_rate"]),
                    _num(days["median"]),
                    _num(days["p75"]),
                    _num(days["km_median"]),
                    str(s["stalled"]),
                )
            )
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        for row in [header, *rows]:
            self.stdout.write("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        self.stdout.write("")
