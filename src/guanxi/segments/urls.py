"""Pages of the segments domain, mounted at ``/segments/``."""

from django.urls import URLPattern

app_name = "segments"
urlpatterns: list[URLPattern] = []
