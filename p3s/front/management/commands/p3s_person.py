"""manage.py p3s_person --role operator|expert NAME: an account for a person who uses the pages."""

from __future__ import annotations

import getpass
import os

from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand, CommandError

ROLES = ("operator", "expert")


class Command(BaseCommand):
    help = "Create (or update) a person's account with the operator or expert role."

    def add_arguments(self, parser):
        parser.add_argument("name", help="user name to log in with")
        parser.add_argument(
            "--role",
            required=True,
            choices=ROLES,
            help="operator: reads and acts; expert: also edits in the admin (staff)",
        )
        parser.add_argument(
            "--password-file", help="read the password from this file (else P3S_PASSWORD, else ask)"
        )
        parser.add_argument("--email", default="")

    def handle(self, *args, **opts):
        password = None
        if opts["password_file"]:
            try:
                with open(opts["password_file"], encoding="utf-8") as fh:
                    password = fh.read().strip()
            except OSError as exc:
                raise CommandError(f"cannot read the password file: {exc}") from None
        elif os.environ.get("P3S_PASSWORD"):
            password = os.environ["P3S_PASSWORD"]
        else:
            password = getpass.getpass(f"password for {opts['name']}: ")
        if not password or len(password) < 8:
            raise CommandError("a password of at least 8 characters is needed")
        user, created = User.objects.get_or_create(
            username=opts["name"], defaults={"email": opts["email"]}
        )
        user.set_password(password)
        user.is_staff = opts["role"] == "expert"
        user.save()
        user.groups.add(Group.objects.get_or_create(name=opts["role"])[0])
        self.stdout.write(f"{'created' if created else 'updated'} {opts['role']} {user.username}")
