"""manage.py p3s_token --role ROLE NAME: make an API token and print it (shown only once)."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from p3s.accounts.models import ApiToken, Role


class Command(BaseCommand):
    help = "Create an API token with a role and print its key (only its hash is stored)."

    def add_arguments(self, parser):
        parser.add_argument(
            "name", help="who or what holds the token, e.g. daq-np04 or pilots-fnal"
        )
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument("--user", help="for operator/expert tokens: the person's username")
        parser.add_argument("--file", help="also write the key to this file (mode 600)")

    def handle(self, *args, **opts):
        user = None
        if opts["user"]:
            try:
                user = get_user_model().objects.get(username=opts["user"])
            except get_user_model().DoesNotExist:
                raise CommandError(
                    f"no user {opts['user']!r}: create it first (manage.py createsuperuser)"
                ) from None
        _, key = ApiToken.issue(opts["name"], opts["role"], user=user)
        if opts["file"]:
            import os

            with open(opts["file"], "w", encoding="utf-8") as fh:
                fh.write(key + "\n")
            os.chmod(opts["file"], 0o600)
        self.stdout.write(key)
