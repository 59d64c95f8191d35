"""The admin site's name: p3s's expert admin (the models register in their own apps' admin.py)."""

from django.contrib import admin

from p3s.front.adminkit import ExpertAdmin, actor
from p3s.front.models import GalleryLayout

admin.site.site_header = "p3s expert admin"
admin.site.site_title = "p3s admin"
admin.site.index_title = "DAG templates, alarm and retention rules, tokens; read-only records"


@admin.register(GalleryLayout)
class GalleryLayoutAdmin(ExpertAdmin):
    """Experts edit the gallery layouts (columns and APAs as JSON lists)."""

    list_display = ("name", "audience", "description", "updated_by", "updated")
    list_filter = ("audience",)
    readonly_fields = ("updated_by", "updated")

    def save_model(self, request, obj, form, change):
        obj.updated_by = actor(request)
        super().save_model(request, obj, form, change)
