from django.contrib import admin

from guanxi.care.models import Task


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):  # type: ignore[type-arg]  # django-stubs generic
    list_display = ("due_on", "kind", "customer", "owner", "title", "channel", "status")
    list_filter = ("kind", "status", "channel")
    search_fields = ("title", "customer__name", "owner__username")
    raw_id_fields = ("customer", "owner", "done_by", "created_by")
    date_hierarchy = "due_on"
    readonly_fields = ("key", "created_at")
    show_full_result_count = False
