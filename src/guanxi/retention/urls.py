"""Pages of the retention domain, mounted at ``/retention/``."""

from django.urls import URLPattern, path

from guanxi.retention import views

app_name = "retention"
urlpatterns: list[URLPattern] = [
    path("alerts/", views.alert_list_page, name="alerts"),
    path("alerts/<int:alert_id>/close/", views.alert_close_action, name="alert_close"),
    path("due/", views.due_page, name="due"),
]
