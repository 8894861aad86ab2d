"""Import a team's deals and their stage history from two CSV files into a process (all or nothing)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from iteration.history_import import HistoryImportInvalid, history_import_run
from salesproc.management.helpers import organization_or_error
from salesproc.models import Process


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise CommandError(f"Cannot read {path}: {exc.strerror or exc}") from None


class Command(BaseCommand):
    help = (
        "Import deals (DEALS_CSV) and their stage history (HISTORY_CSV) into a process; see "
        'docs/operations.md, "History import". All or nothing: problems are printed as '
        "FILE:LINE:COLUMN: message and nothing is written. Importing the same files again changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("--org", required=True, metavar="SLUG", help="the organization's slug")
        parser.add_argument("--process", required=True, metavar="NAME", help="the process's name")
        parser.add_argument(
            "deals",
            metavar="DEALS_CSV",
            help="external_id,name,account,industry,owner_email,amount,currency,created_at,status,"
            "closed_at,lost_reason,competitors,objections",
        )
        parser.add_argument("history", metavar="HISTORY_CSV", help="external_id,stage,entered_at")

    def handle(self, *args, org: str, process: str, deals: str, history: str, **options):
        organization = organization_or_error(org)
        target = Process.objects.for_org(organization).filter(name=process).first()
        if target is None:
            names = list(
                Process.objects.for_org(organization).order_by("name").values_list("name", flat=True)
            )
            known = (
                f" Its processes: {', '.join(names)}."
                if names
                else " It has no process yet (import_process)."
            )
            raise CommandError(f'{organization.name} has no process named "{process}".{known}')
        verbose = options["verbosity"] > 1

        def progress(percent: int, phase: str) -> None:
            self.stderr.write(f"{percent:3d}% {phase}")

        try:
            result = history_import_run(
                organization=organization,
                process=target,
                deals_file=_read(deals),
                history_file=_read(history),
                by=None,
                progress=progress if verbose else None,
                deals_filename=deals,
                history_filename=history,
            )
        except HistoryImportInvalid as exc:
            for problem in exc.problems:
                self.stderr.write(str(problem))
            more = " (the first 100; there are more)" if exc.truncated else ""
            noun = "problem" if len(exc.problems) == 1 else "problems"
            raise CommandError(f"{len(exc.problems)} {noun}{more}: nothing was imported.") from None
        self.stdout.write(
            self.style.SUCCESS(
                f'Imported into "{target.name}": {result["deals_created"]} deals created, '
                f"{result['deals_updated']} updated, {result['deals_unchanged']} unchanged; "
                f"{result['history_rows']} stage entries written."
            )
        )
        self.stdout.write(
            f"New: {result['accounts_created']} accounts, {result['members_created']} inactive members "
            f"({result['users_created']} new users)."
        )
