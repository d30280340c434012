"""Pages of the insights domain, mounted at ``/insights/``."""

from django.urls import URLPattern, path

from guanxi.insights import views

app_name = "insights"
urlpatterns: list[URLPattern] = [
    path("", views.index, name="index"),
    path("traits/", views.traits, name="traits"),
    path("prospects/", views.prospects, name="prospects"),
    path("key-accounts/", views.key_accounts, name="key_accounts"),
    path("key-accounts/<int:account_id>/", views.plan, name="plan"),
    path("key-accounts/<int:account_id>/advance/", views.plan_advance, name="plan_advance"),
    path("strategy/", views.strategy, name="strategy"),
]
