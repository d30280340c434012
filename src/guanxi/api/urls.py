"""The REST API under ``/api/v1/``: one router per domain, one error shape, local docs."""

from django.urls import URLPattern, path, re_path
from ninja import NinjaAPI

from guanxi.api import consents, customers, interactions, notes, orders, tokens
from guanxi.api.auth import AUTH
from guanxi.api.docs import LocalSwagger, docs_asset
from guanxi.api.errors import install_error_handlers, json_method_not_allowed, unknown_endpoint
from guanxi.care.api import router as care_router
from guanxi.insights.api import router as insights_router
from guanxi.retention.api import router as retention_router
from guanxi.segments.api import router as segments_router

api = NinjaAPI(
    title="guanxi API",
    version="1",
    description=(
        "The guanxi CRM REST API. Authenticate with `Authorization: Bearer <token>` (create "
        "one at `POST /api/v1/tokens` while signed in). Errors come back as "
        '`{"code": ..., "message": ..., "field": ...}`; lists are pages of '
        '`{"items": [...], "next": <cursor>}`: pass `?after=<next>` for the next page.'
    ),
    auth=AUTH,
    docs=LocalSwagger(),
    docs_url="/docs",
    urls_namespace="api-v1",
)
install_error_handlers(api)
api.add_router("/", customers.router)
api.add_router("/", notes.router)
api.add_router("/", interactions.router)
api.add_router("/", consents.router)
api.add_router("/", orders.router)
api.add_router("/", tokens.router)
api.add_router("/", segments_router)
api.add_router("/", insights_router)
api.add_router("/", retention_router)
api.add_router("/", care_router)


def _api_patterns() -> list[URLPattern]:
    patterns, _app_name, _namespace = api.urls
    for pattern in patterns:
        if isinstance(pattern, URLPattern):
            pattern.callback = json_method_not_allowed(pattern.callback)
    return patterns  # type: ignore[return-value]  # all URLPattern: ninja does not nest


urlpatterns = [
    path("docs/assets/<str:name>", docs_asset, name="api-docs-asset"),
    path("", (_api_patterns(), "api-v1", "api-v1")),
    re_path(r"^(?P<rest>.*)$", unknown_endpoint),
]
