"""Create or update a process from its JSON file (the format export_process prints)."""

import json
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from salesproc.lib.errors import InvalidInput
from salesproc.management.helpers import invalid_input_lines, organization_or_error
from salesproc.services import process_import


def read_process_file(path: str) -> object:
    """The parsed JSON of `path` ("-" for standard input), or a CommandError saying what is wrong."""
    try:
        raw = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise CommandError(f"Cannot read {path}: {exc.strerror or exc}") from None
    try:
        # utf-8-sig: a byte-order mark, as some editors write, is not an error.
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CommandError(
            f"{path}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
            "save the file as UTF-8."
        ) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CommandError(
            f"{path}: not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from None


class Command(BaseCommand):
    help = (
        "Create or update a process from a JSON file (see export_process). A new process version is "
        "recorded when the file changes the process; the import is all or nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("--org", required=True, metavar="SLUG", help="the organization's slug")
        parser.add_argument("file", metavar="FILE", help='the process JSON file ("-" for standard input)')
        parser.add_argument("--note", default="", help="a note for the process version")

    def handle(self, *args, org: str, file: str, note: str, **options):
        organization = organization_or_error(org)
        data = read_process_file(file)
        try:
            process, version = process_import(org=organization, data=data, by=None, note=note)
        except InvalidInput as exc:
            lines = invalid_input_lines(exc)
            noun = "problem" if len(lines) == 1 else "problems"
            raise CommandError(
                f"{file}: {len(lines)} {noun}, nothing imported:\n" + "\n".join(f"  {line}" for line in lines)
            ) from None
        stages = process.stages.count()
        if version is None:
            current = process.current_version.number if process.current_version else 0
            self.stdout.write(f'Process "{process.name}" unchanged (version {current}, {stages} stages).')
        elif version.number == 1:
            self.stdout.write(
                self.style.SUCCESS(f'Created process "{process.name}": version 1, {stages} stages.')
            )
        else:
            self.stdout.write(
                self.style.SUCCESS(f'Updated process "{process.name}": version {version.number}.')
            )
            for change in version.changes:
                self.stdout.write(f"  {change}")
