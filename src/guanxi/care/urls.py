"""Pages of the care domain, mounted at ``/care/``."""

from django.urls import URLPattern, path

from guanxi.care import views

app_name = "care"
urlpatterns: list[URLPattern] = [
    path("", views.queue, name="queue"),
    path("calendar/", views.care_calendar, name="calendar"),
    path("tasks/<int:task_id>/<slug:action>/", views.task_action, name="task_action"),
    path("alerts/<int:alert_id>/dismiss/", views.alert_dismiss, name="alert_dismiss"),
    path("customers/<int:customer_id>/reminder/", views.reminder_add, name="reminder_add"),
]
