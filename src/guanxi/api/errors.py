"""Every API error has one shape: ``{"code": ..., "message": ..., "field": ...}``.

    GuanxiError (domain)        its own code and HTTP status (customers, sales, accounts...)
    ninja ValidationError  422  ``validation_error``, ``field`` names the first bad input
    ninja AuthenticationError   401 ``not_authenticated``
    ninja AuthorizationError    403 ``permission_denied``
    Http404 / unknown URL  404  ``not_found``
    Throttled              429  ``throttled``
    unparsable body        400  ``bad_request``
    wrong HTTP method      405  ``method_not_allowed``
    other HttpError             ``http_error``

A program branches on ``code`` (stable, never translated); a person reads ``message``.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from functools import wraps
from typing import Any

from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseNotAllowed,
    JsonResponse,
)
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, AuthorizationError, HttpError, Throttled
from ninja.errors import ValidationError as NinjaValidationError

from guanxi.core.errors import GuanxiError


class ApiErrorCode(StrEnum):
    VALIDATION_ERROR = "validation_error"
    NOT_AUTHENTICATED = "not_authenticated"
    PERMISSION_DENIED = "permission_denied"
    NOT_FOUND = "not_found"
    THROTTLED = "throttled"
    BAD_REQUEST = "bad_request"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    HTTP_ERROR = "http_error"


def error_body(code: StrEnum | str, message: str, field: str | None = None) -> dict[str, Any]:
    return {"code": str(code), "message": message, "field": field}


def _field_of(loc: list[Any] | tuple[Any, ...]) -> str | None:
    """Turn ninja's error location into the name a client sent.

    ninja reports ``["body", "payload", "name"]`` for a body field (``payload`` is our
    parameter's name, which the client never sees) and ``["query", "limit"]`` for a query
    parameter; the client knows them as ``name`` and ``limit``.
    """
    parts = [str(p) for p in loc]
    if parts and parts[0] == "body":
        parts = parts[2:] if len(parts) > 2 else parts[1:]
    elif parts and parts[0] in {"query", "path", "header", "cookie", "form", "file"}:
        parts = parts[1:]
    return ".".join(parts) or None


def _validation_error(request: HttpRequest, exc: NinjaValidationError,
                      api: NinjaAPI) -> HttpResponse:
    errors = exc.errors or [{}]
    first = errors[0]
    field = _field_of(first.get("loc", ()))
    reason = str(first.get("msg", "invalid input"))
    message = f"{field}: {reason}." if field else f"{reason}."
    body = error_body(ApiErrorCode.VALIDATION_ERROR, message, field)
    return api.create_response(request, body, status=422)


def _http_error(request: HttpRequest, exc: HttpError, api: NinjaAPI) -> HttpResponse:
    if isinstance(exc, AuthenticationError) or exc.status_code == 401:
        body = error_body(ApiErrorCode.NOT_AUTHENTICATED,
                          "Sign in, or send a valid token: Authorization: Bearer <token>.")
    elif isinstance(exc, AuthorizationError) or exc.status_code == 403:
        body = error_body(ApiErrorCode.PERMISSION_DENIED, "You may not do this.")
    elif isinstance(exc, Throttled):
        body = error_body(ApiErrorCode.THROTTLED, "Too many requests; try again later.")
    elif exc.status_code == 400:
        # ninja's only 400 is a body it cannot parse (broken JSON, a bad multipart form).
        body = error_body(ApiErrorCode.BAD_REQUEST,
                          f"{exc.message or 'Bad request'}: send a JSON object.")
    elif exc.status_code == 404:
        body = error_body(ApiErrorCode.NOT_FOUND, exc.message or "Not found.")
    else:
        body = error_body(ApiErrorCode.HTTP_ERROR, exc.message)
    return api.create_response(request, body, status=exc.status_code)


def _not_found(request: HttpRequest, exc: Http404, api: NinjaAPI) -> HttpResponse:
    return api.create_response(
        request, error_body(ApiErrorCode.NOT_FOUND, "Not found."), status=404
    )


def _guanxi_error(request: HttpRequest, exc: GuanxiError, api: NinjaAPI) -> HttpResponse:
    return api.create_response(request, exc.as_dict(), status=exc.http_status)


def install_error_handlers(api: NinjaAPI) -> None:
    @api.exception_handler(GuanxiError)
    def on_guanxi_error(request: HttpRequest, exc: GuanxiError) -> HttpResponse:
        return _guanxi_error(request, exc, api)

    @api.exception_handler(NinjaValidationError)
    def on_validation_error(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
        return _validation_error(request, exc, api)

    @api.exception_handler(HttpError)
    def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        return _http_error(request, exc, api)

    @api.exception_handler(Http404)
    def on_404(request: HttpRequest, exc: Http404) -> HttpResponse:
        return _not_found(request, exc, api)


def unknown_endpoint(request: HttpRequest, rest: str = "") -> JsonResponse:
    """A URL under /api/v1/ that names no endpoint: JSON, like every other API answer."""
    body = error_body(ApiErrorCode.NOT_FOUND, f"No API endpoint at {request.path}.")
    return JsonResponse(body, status=404)


def json_method_not_allowed(
    view: Callable[..., HttpResponseBase],
) -> Callable[..., HttpResponseBase]:
    """Wrap a ninja path view so a wrong method answers in our JSON shape, not plain text."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        response = view(request, *args, **kwargs)
        if isinstance(response, HttpResponseNotAllowed):
            allowed = response["Allow"]
            body = error_body(ApiErrorCode.METHOD_NOT_ALLOWED,
                              f"{request.method} is not allowed here; use {allowed}.")
            json_response = JsonResponse(body, status=405)
            json_response["Allow"] = allowed
            return json_response
        return response

    return wrapper
