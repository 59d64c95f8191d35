"""Seed the shifter layout: the key plots of each APA a shifter looks at first.

Plot types as the payloads title them (payloads/stages/adcfft_products.py: noise RMS,
pedestals, board map; payloads/stages/vis.py: filtered noise), from any stage. Experts change
it in the gallery or the admin.
"""

from django.db import migrations

SHIFTER = [
    "png/*/noise RMS per plane",
    "png/*/pedestals per plane",
    "png/*/board map (RMS)",
    "png/*/filtered noise per plane",
]


def seed(apps, schema_editor):
    GalleryLayout = apps.get_model("front", "GalleryLayout")
    GalleryLayout.objects.get_or_create(
        name="shifter",
        defaults={
            "audience": "shifter",
            "description": "Key plots per APA: noise, pedestals, the board map, filtered noise.",
            "columns": SHIFTER,
            "updated_by": "migration",
        },
    )


def unseed(apps, schema_editor):
    apps.get_model("front", "GalleryLayout").objects.filter(
        name="shifter", updated_by="migration"
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("front", "0001_gallery_layout")]

    operations = [migrations.RunPython(seed, unseed)]
