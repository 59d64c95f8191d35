"""manage.py p3s_load_checks [FILE...]: create missing checks and alarm rules from YAML."""

from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from p3s.quality.catalogue import DEFAULTS, BadCatalogue, load_checks


class Command(BaseCommand):
    help = (
        "Create the checks and alarm rules of YAML files that do not exist yet (never overwrites)."
    )

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="*", help=f"checks files (default: {DEFAULTS}/*.yaml)")

    def handle(self, *args, **opts):
        try:
            loaded = load_checks([Path(f) for f in opts["files"]] or None)
        except (BadCatalogue, ValidationError) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"checks and alarm rules: {len(loaded.created)} created, {len(loaded.kept)} kept as they are"
        )
