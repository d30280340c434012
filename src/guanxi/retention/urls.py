"""Pages of the retention domain, mounted at ``/retention/``."""

from django.urls import URLPattern

app_name = "retention"
urlpatterns: list[URLPattern] = []
