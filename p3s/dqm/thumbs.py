"""Thumbnails of PNG products for the gallery, made once on first view and kept beside them.

Pillow comes with matplotlib. A product that Pillow cannot shrink (or a very large image)
simply has no thumbnail: the page then shows the original.
"""

from __future__ import annotations

import io
import logging

from django.core.files.base import ContentFile

from p3s.dqm.models import Product

log = logging.getLogger(__name__)
SIZE = (480, 360)
MAX_PIXELS = 40_000_000  # refuse to decode larger images (decompression bombs)


def thumb_name(product_id: int) -> str:
    return f"thumbs/{product_id // 1000:04d}/{product_id}.png"


def thumbnail(product: Product) -> str | None:
    """The storage name of the product's thumbnail (made now if missing), or None."""
    storage = product.file.storage
    name = thumb_name(product.pk)
    if storage.exists(name):
        return name
    try:
        from PIL import Image

        with product.file.open("rb") as fh, Image.open(fh) as img:
            if img.width * img.height > MAX_PIXELS:
                return None
            if img.width <= SIZE[0] and img.height <= SIZE[1]:
                return product.file.name  # already small
            img.thumbnail(SIZE)
            buf = io.BytesIO()
            img.save(buf, format="PNG", optimize=True)
    except Exception as exc:  # a bad image must not break the gallery
        log.warning("no thumbnail for product %s: %s", product.pk, exc)
        return None
    saved = storage.save(name, ContentFile(buf.getvalue()))
    if saved != name:  # made at the same moment by another request: keep one
        storage.delete(saved)
    return name


def delete_thumbnail(storage, product_id: int) -> None:
    try:
        storage.delete(thumb_name(product_id))
    except OSError:
        pass
