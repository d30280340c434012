"""Pages of the insights domain, mounted at ``/insights/``."""

from django.urls import URLPattern

app_name = "insights"
urlpatterns: list[URLPattern] = []
