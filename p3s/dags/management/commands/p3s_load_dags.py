"""manage.py p3s_load_dags [FILE...]: load DAG templates (default: the shipped ones)."""

from pathlib import Path

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from p3s.dags import flow, spec
from p3s.exceptions import InvalidDag

DEFAULTS = Path(__file__).resolve().parents[2] / "defaults"


class Command(BaseCommand):
    help = (
        "Create or update DAG templates from YAML/JSON files (a changed graph makes a new version)."
    )

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="*", help=f"template files (default: {DEFAULTS}/*.yaml)")

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
            applied = flow.apply_spec(dag, actor="p3s_load_dags", source=text)
            what = (
                "created"
                if applied.created
                else ("new version" if applied.new_version else "tunables updated")
            )
            self.stdout.write(f"{dag.name}: {what} (v{applied.template.current_version.number})")
        if not opts["files"]:  # the shipped templates come with their checks and alarm rules
            call_command("p3s_load_checks", stdout=self.stdout)
