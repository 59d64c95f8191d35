"""Version 1 of the shipped conditions (channel-map, bad-channels, bands) on a fresh install."""

from django.db import migrations


def load(apps, schema_editor):
    from p3s.conditions.shipped import load_defaults

    load_defaults(apps.get_model("conditions", "Condition"))


class Migration(migrations.Migration):
    dependencies = [("conditions", "0001_initial")]

    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
