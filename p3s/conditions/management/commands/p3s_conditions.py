"""manage.py p3s_conditions: list conditions, load the shipped defaults, import a new version."""

import json
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from p3s.conditions import services, shipped
from p3s.conditions.models import Condition


class Command(BaseCommand):
    help = (
        "List conditions and their versions; --load-defaults creates version 1 of shipped ones "
        "that are missing; --import NAME FILE writes the next version of NAME from a JSON file."
    )

    def add_arguments(self, parser):
        parser.add_argument("--load-defaults", action="store_true")
        parser.add_argument("--import", nargs=2, metavar=("NAME", "FILE"), dest="import_")
        parser.add_argument("--owner", default="p3s_conditions")
        parser.add_argument("--comment", default="")
        parser.add_argument("--valid-from-run", type=int)
        parser.add_argument("--valid-to-run", type=int)

    def handle(self, *args, **opts):
        if opts["load_defaults"]:
            made = shipped.load_defaults()
            self.stdout.write(f"created: {', '.join(made) or 'nothing (all present)'}")
        if opts["import_"]:
            name, file = opts["import_"]
            try:
                data = json.loads(Path(file).read_text(encoding="utf-8"))
                condition = services.new_version(
                    name,
                    data,
                    owner=opts["owner"],
                    comment=opts["comment"] or f"imported from {Path(file).name}",
                    valid_from_run=opts["valid_from_run"],
                    valid_to_run=opts["valid_to_run"],
                )
            except (OSError, ValueError) as exc:
                raise CommandError(f"{file}: {exc}") from None
            except ValidationError as exc:
                raise CommandError(f"{file}: " + "; ".join(exc.messages)) from None
            self.stdout.write(f"{condition}: written")
        current = services.current_versions()
        for c in Condition.objects.defer("data"):
            mark = " (current)" if current.get(c.name) == c.version else ""
            self.stdout.write(f"{c.name}\tv{c.version}{mark}\t{c.validity}\t{c.owner}")
