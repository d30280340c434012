from django.http import HttpRequest, HttpResponse
from django.urls import path
from ninja import NinjaAPI

from guanxi.api.auth import AUTH
from guanxi.core.errors import GuanxiError

api = NinjaAPI(
    title="guanxi API",
    version="1",
    description="The guanxi CRM REST API. Authenticate with `Authorization: Bearer <token>`.",
    auth=AUTH,
    docs_url="/docs",
    urls_namespace="api-v1",
)


@api.exception_handler(GuanxiError)
def guanxi_error(request: HttpRequest, exc: GuanxiError) -> HttpResponse:
    return api.create_response(request, exc.as_dict(), status=exc.http_status)


urlpatterns = [path("", api.urls)]
