"""The segments in Django's admin: for looking things up, not for day-to-day work.

Memberships are not listed (15 rows per customer per run); a segment's list members are edited
through the CLI, the API or the pages, which check who may see which customer.
"""

from django.contrib import admin

from guanxi.segments.models import Segment, Segmentation


@admin.register(Segment)
class SegmentAdmin(admin.ModelAdmin):  # type: ignore[type-arg]  # stubs want the model type
    list_display = ("name", "kind", "is_active", "created_by", "updated_at", "segmentation")
    list_filter = ("kind", "is_active")
    search_fields = ("name", "suggested_name", "description")
    raw_id_fields = ("created_by", "segmentation")
    readonly_fields = ("created_at", "updated_at", "profile", "centroid")


@admin.register(Segmentation)
class SegmentationAdmin(admin.ModelAdmin):  # type: ignore[type-arg]  # stubs want the model
    list_display = ("created_at", "status", "run", "n_segments", "criterion", "n_customers")
    list_filter = ("status", "criterion")
    raw_id_fields = ("run", "created_by")
    readonly_fields = ("criterion_values", "features", "model", "settings_used", "timings")
