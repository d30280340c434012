from __future__ import annotations

import secrets

from django.db import transaction

from guanxi.accounts.models import ApiToken, Role, User, hash_token
from guanxi.core.errors import Conflict, ValidationFailed


def user_create(
    *,
    username: str,
    password: str,
    role: Role | str = Role.REP,
    email: str = "",
    manager: User | None = None,
    first_name: str = "",
    last_name: str = "",
) -> User:
    if role not in Role.values:
        raise ValidationFailed(
            "invalid_role", f"Unknown role {role!r}; use one of {', '.join(Role.values)}.",
            field="role",
        )
    if User.objects.filter(username=username).exists():
        raise Conflict("username_taken", f"A user named {username!r} exists already.",
                       field="username")
    with transaction.atomic():
        user = User(
            username=username, email=email, role=role, manager=manager,
            first_name=first_name, last_name=last_name,
            is_staff=role == Role.ADMIN, is_superuser=role == Role.ADMIN,
        )
        user.set_password(password)
        user.save()
    return user


def api_token_create(*, user: User, name: str) -> tuple[ApiToken, str]:
    """Create a token and return it with its raw value, which is never stored."""
    raw = "gx_" + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(user=user, name=name, prefix=raw[:8], digest=hash_token(raw))
    return token, raw


def api_token_revoke(*, user: User, token_id: int) -> ApiToken:
    """Revoke one of ``user``'s own tokens; revoking twice keeps the first revocation time."""
    from django.utils import timezone

    from guanxi.core.errors import NotFound

    with transaction.atomic():
        token = ApiToken.objects.select_for_update().filter(user=user, pk=token_id).first()
        if token is None:
            raise NotFound("token_not_found", f"You have no API token {token_id}.")
        if token.revoked_at is None:
            token.revoked_at = timezone.now()
            token.save(update_fields=["revoked_at"])
    return token
