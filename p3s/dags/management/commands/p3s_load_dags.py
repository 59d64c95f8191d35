"""manage.py p3s_load_dags [--force] [FILE...]: load DAG templates (default: the shipped ones).

Restarts must not undo experts' work: a template that exists already is left exactly as it
is (its graph, tunables and enabled flag), so only missing templates are created. ``--force``
applies the files over existing templates and records a TemplateEvent for each one.
"""

from pathlib import Path

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from p3s.dags import flow, spec
from p3s.dags.models import DagTemplate, TemplateEvent
from p3s.exceptions import InvalidDag

DEFAULTS = Path(__file__).resolve().parents[2] / "defaults"
ACTOR = "p3s_load_dags"


class Command(BaseCommand):
    help = (
        "Create missing DAG templates from YAML/JSON files; --force also overwrites existing "
        "ones (a changed graph makes a new version) and records it."
    )

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="*", help=f"template files (default: {DEFAULTS}/*.yaml)")
        parser.add_argument(
            "--force",
            action="store_true",
            help="overwrite existing templates (an expert's edits and a disabled flag included)",
        )

    def handle(self, *args, **opts):
        files = [Path(f) for f in opts["files"]] or sorted(DEFAULTS.glob("*.yaml"))
        for path in files:
            try:
                text = path.read_text(encoding="utf-8")
                dag = spec.load(text)
            except OSError as exc:
                raise CommandError(f"{path}: {exc}") from None
            except InvalidDag as exc:
                raise CommandError(f"{path}: {exc}") from None
            existing = DagTemplate.objects.filter(name=dag.name).first()
            if existing is not None and not opts["force"]:
                self.stdout.write(f"{dag.name}: kept as it is (exists; --force overwrites it)")
                continue
            with transaction.atomic():
                applied = flow.apply_spec(dag, actor=ACTOR, source=text)
                if existing is not None:
                    TemplateEvent.objects.create(
                        template=applied.template,
                        actor=f"{ACTOR} --force",
                        action="forced-reload",
                        detail=f"replaced by {path.name}"
                        + (" (new graph version)" if applied.new_version else " (tunables, flags)"),
                    )
            what = (
                "created"
                if applied.created
                else ("forced: new version" if applied.new_version else "forced: tunables reset")
            )
            self.stdout.write(f"{dag.name}: {what} (v{applied.template.current_version.number})")
        if not opts["files"]:  # the shipped templates come with their checks and alarm rules
            call_command("p3s_load_checks", stdout=self.stdout)
