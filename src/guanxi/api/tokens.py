"""``/api/v1/tokens``: each user lists, creates and revokes their own API tokens.

The raw token is in the answer to the create call and nowhere else: only its SHA-256 digest
is stored, so a lost token is revoked and replaced, never recovered.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router, Status

from guanxi.accounts.models import ApiToken
from guanxi.accounts.services import api_token_create, api_token_revoke
from guanxi.api.customers import ERRORS, user_of
from guanxi.api.schemas import TokenCreatedOut, TokenIn, TokenOut

router = Router(tags=["tokens"])


@router.get("/tokens", response={200: list[TokenOut], **ERRORS})
def list_tokens(request: HttpRequest) -> list[ApiToken]:
    return list(ApiToken.objects.filter(user=user_of(request)).order_by("pk"))


@router.post("/tokens", response={201: TokenCreatedOut, **ERRORS})
def create_token(request: HttpRequest, payload: TokenIn) -> Status[dict[str, Any]]:
    token, raw = api_token_create(user=user_of(request), name=payload.name.strip())
    return Status(201, {"id": token.pk, "name": token.name, "prefix": token.prefix,
                        "created_at": token.created_at, "last_used_at": token.last_used_at,
                        "revoked_at": token.revoked_at, "token": raw})


@router.delete("/tokens/{token_id}", response={200: TokenOut, **ERRORS})
def revoke_token(request: HttpRequest, token_id: int) -> ApiToken:
    return api_token_revoke(user=user_of(request), token_id=token_id)
