"""Pages of the care domain, mounted at ``/care/``."""

from django.urls import URLPattern

app_name = "care"
urlpatterns: list[URLPattern] = []
