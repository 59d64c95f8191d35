"""manage.py p3s_reference --template T --stream S --run N: make a reference from good runs."""

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from p3s.conditions import references
from p3s.conditions.models import ReferenceSet


class Command(BaseCommand):
    help = (
        "Make the reference of a template and stream from runs (or DAG runs) signed off good; "
        "it supersedes the active one. --list shows the references."
    )

    def add_arguments(self, parser):
        parser.add_argument("--template", help="DAG template name")
        parser.add_argument("--stream", default="tpc")
        parser.add_argument("--run", type=int, action="append", default=[], help="repeatable")
        parser.add_argument("--dagrun", type=int, action="append", default=[], help="repeatable")
        parser.add_argument("--name", default="", help="default: run N")
        parser.add_argument("--owner", default="", help="who makes it (default: p3s_reference)")
        parser.add_argument("--comment", default="")
        parser.add_argument("--valid-from-run", type=int)
        parser.add_argument("--valid-to-run", type=int)
        parser.add_argument("--valid-days", type=float, help="expires this many days from now")
        parser.add_argument(
            "--force", action="store_true", help="also from runs not signed off good"
        )
        parser.add_argument("--list", action="store_true", help="list references and exit")

    def handle(self, *args, **opts):
        if opts["list"]:
            for ref in ReferenceSet.objects.all():
                state = "active" if ref.active else "inactive"
                expired = f", expired: {ref.expired_reason}" if ref.expired else ""
                self.stdout.write(
                    f"{ref.pk}\t{ref.template}/{ref.stream}\t{ref.name}\truns {ref.source_runs}"
                    f"\t{state}{expired}"
                )
            return
        if not opts["template"] or not (opts["run"] or opts["dagrun"]):
            raise CommandError("give --template and at least one --run or --dagrun (or --list)")
        unsigned = [r for r in opts["run"] if references.signed_off_good(r) is False]
        if unsigned and not opts["force"]:
            raise CommandError(
                f"runs {unsigned} are not signed off good: sign them off or pass --force"
            )
        valid_until = (
            timezone.now() + timedelta(days=opts["valid_days"]) if opts["valid_days"] else None
        )
        try:
            ref = references.make_reference(
                opts["template"],
                opts["stream"],
                runs=opts["run"],
                dagruns=opts["dagrun"],
                name=opts["name"],
                owner=opts["owner"] or "p3s_reference",
                comment=opts["comment"],
                valid_from_run=opts["valid_from_run"],
                valid_to_run=opts["valid_to_run"],
                valid_until=valid_until,
            )
        except references.ReferenceRefused as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"reference {ref.pk} ({ref.name}) for {ref.template}/{ref.stream}: "
            f"{ref.hists.count()} histograms, {ref.metrics.count()} metrics"
        )
        if ref.notes:
            self.stderr.write(f"left out:\n{ref.notes}")
