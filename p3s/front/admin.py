"""The admin site's name: p3s's expert admin (the models register in their own apps' admin.py)."""

from django.contrib import admin

admin.site.site_header = "p3s expert admin"
admin.site.site_title = "p3s admin"
admin.site.index_title = "DAG templates, alarm and retention rules, tokens; read-only records"
