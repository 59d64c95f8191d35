"""Archive, delete ended runs' intermediate outputs and prune old rows, as the sweeper does."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from p3s.archive.outputs import archive_runs, delete_outputs
from p3s.archive.prune import prune


class Command(BaseCommand):
    help = (
        "Apply the archive, output and prune rules (p3s.archive). --dry-run reports what one "
        "pass would do and changes nothing; --until-done repeats passes until nothing is left."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="report, change nothing")
        parser.add_argument(
            "--until-done", action="store_true", help="repeat until a pass does nothing"
        )
        parser.add_argument("--verbose-list", action="store_true", help="name every file")

    def handle(self, *args, dry_run: bool = False, until_done: bool = False, **opts):
        passes = 0
        totals = {"copied": 0, "refused": 0, "deleted": 0, "jobs": 0, "events": 0}
        totals |= {"dagruns": 0, "files": 0}
        while True:
            passes += 1
            arch = archive_runs(dry_run=dry_run)
            outs = delete_outputs(dry_run=dry_run)
            gone = prune(dry_run=dry_run)
            if dry_run:
                self._plan(arch, outs, gone, opts["verbose_list"])
                return
            totals["copied"] += arch.copied
            totals["refused"] += arch.refused
            totals["deleted"] += outs.deleted
            for key in ("jobs", "events", "dagruns", "files"):
                totals[key] += getattr(gone, key)
            if not until_done or arch.total + outs.total + gone.total == 0:
                break
        self.stdout.write(
            f"{passes} pass(es): {totals['copied']} file(s) archived and verified, "
            f"{totals['refused']} copy(ies) refused, {totals['deleted']} output(s) deleted; "
            f"pruned {totals['jobs']} job(s), {totals['events']} event(s), "
            f"{totals['dagruns']} DAG run(s), {totals['files']} file(s)"
        )

    def _plan(self, arch, outs, gone, names: bool) -> None:
        w = self.stdout.write
        w("dry run: nothing changed; one pass would")
        w(f"  archive: copy {arch.copied} file(s) of {arch.runs_archived} ended DAG run(s)")
        w(f"  outputs: delete {outs.deleted} output(s) of {outs.runs_cleaned} DAG run(s)")
        w(
            f"  prune:   {gone.jobs} job(s) with {gone.events} event(s), of "
            f"{gone.dagruns} eligible DAG run(s); {gone.files} file(s)"
        )
        if names:
            for note in arch.notes + outs.notes:
                w(f"    {note}")
