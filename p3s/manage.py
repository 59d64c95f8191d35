"""`p3s-manage`: manage.py as an installed console script (for hosts without the source tree)."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "p3s.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
