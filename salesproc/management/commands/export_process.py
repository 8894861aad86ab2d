"""Print a process (stages, exit criteria, thresholds) as its JSON file: the input of import_process."""

from django.core.management.base import BaseCommand, CommandError

from salesproc.management.helpers import organization_or_error
from salesproc.models import Process
from salesproc.process_schema import dump_process_data
from salesproc.services import process_export


class Command(BaseCommand):
    help = "Print a process as JSON (stages, exit criteria, thresholds). Re-importing the output changes nothing."

    def add_arguments(self, parser):
        parser.add_argument("--org", required=True, metavar="SLUG", help="the organization's slug")
        parser.add_argument("--process", required=True, metavar="NAME", help="the process's name")

    def handle(self, *args, org: str, process: str, **options):
        organization = organization_or_error(org)
        found = Process.objects.for_org(organization).filter(name=process).first()
        if found is None:
            names = list(Process.objects.for_org(organization).values_list("name", flat=True))
            known = ", ".join(f'"{n}"' for n in names) if names else "none yet"
            raise CommandError(f'{organization.slug} has no process named "{process}" (processes: {known}).')
        # dump_process_data ends with a newline; adding none keeps the output byte-identical to a file.
        self.stdout.write(dump_process_data(process_export(process=found)), ending="")
