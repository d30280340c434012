"""API authentication: a per-user bearer token (stored hashed) or the browser session."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from ninja.security import HttpBearer, SessionAuth

from guanxi.accounts.models import ApiToken, User, hash_token


class TokenAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> User | None:
        try:
            api_token = ApiToken.objects.select_related("user").get(
                digest=hash_token(token), revoked_at__isnull=True
            )
        except (ApiToken.DoesNotExist, UnicodeEncodeError):
            return None
        if not api_token.user.is_active:
            return None
        # Touch last_used_at at most once a minute: a write per request would serialize
        # every API call on SQLite.
        now = timezone.now()
        if api_token.last_used_at is None or (now - api_token.last_used_at).total_seconds() > 60:
            ApiToken.objects.filter(pk=api_token.pk).update(last_used_at=now)
        request.user = api_token.user
        return api_token.user


class UserSessionAuth(SessionAuth):
    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        user = super().authenticate(request, key)
        return user if isinstance(user, User) else None


AUTH = [TokenAuth(), UserSessionAuth()]
