"""Pages of the segments domain, mounted at ``/segments/``."""

from django.urls import URLPattern, path

from guanxi.segments import views

app_name = "segments"
urlpatterns: list[URLPattern] = [
    path("", views.segment_list, name="list"),
    path("new/", views.segment_builder, name="new"),
    path("preview/", views.segment_preview, name="preview"),
    path("condition/", views.condition_row, name="condition"),
    path("build/", views.segment_build, name="build"),
    path("migration/", views.migration_view, name="migration"),
    path("migration/cell/", views.migration_cell, name="migration_cell"),
    path("migration.<str:fmt>", views.migration_export, name="migration_export"),
    path("<int:segment_id>/", views.segment_detail, name="detail"),
    path("<int:segment_id>/edit/", views.segment_builder, name="edit"),
    path("<int:segment_id>/rename/", views.segment_rename, name="rename"),
]
