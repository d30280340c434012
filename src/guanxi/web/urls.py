from django.contrib.auth import views as auth_views
from django.urls import path

from guanxi.web import import_pages, views

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(template_name="web/login.html",
                                                redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", views.home, name="home"),
    path("dashboard/<str:key>.<str:fmt>", views.chart_export, name="chart_export"),
    path("customers/", views.customer_list, name="customer_list"),
    path("customers/bulk/", views.customer_bulk, name="customer_bulk"),
    path("customers/export.<str:fmt>", views.customer_export, name="customer_export"),
    path("customers/<int:customer_id>/", views.customer_detail, name="customer_detail"),
    path("customers/<int:customer_id>/timeline/", views.customer_timeline,
         name="customer_timeline"),
    path("customers/<int:customer_id>/notes/", views.note_add, name="customer_note_add"),
    path("customers/<int:customer_id>/interactions/", views.interaction_add,
         name="customer_interaction_add"),
    path("imports/", import_pages.import_start, name="import_start"),
    path("imports/<str:token>/", import_pages.import_mapping, name="import_mapping"),
    path("imports/<str:token>/progress/", import_pages.import_progress, name="import_progress"),
    path("imports/<str:token>/errors.csv", import_pages.import_report, name="import_report"),
    path("score/", import_pages.score_now, name="score_now"),
]
