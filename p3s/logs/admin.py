from django.contrib import admin

from p3s.logs.models import JobLog


@admin.register(JobLog)
class JobLogAdmin(admin.ModelAdmin):
    """Stored logs, read-only: the pilot writes them, retention (a ``logs`` rule) removes them."""

    list_display = ("job", "attempt", "size", "compressed_size", "cut_bytes", "created")
    list_filter = ("created",)
    search_fields = ("=job__id",)
    raw_id_fields = ("job",)
    readonly_fields = [f.name for f in JobLog._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
