from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("guanxi.api.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("segments/", include("guanxi.segments.urls")),
    path("insights/", include("guanxi.insights.urls")),
    path("retention/", include("guanxi.retention.urls")),
    path("care/", include("guanxi.care.urls")),
    path("", include("guanxi.web.urls")),
]
