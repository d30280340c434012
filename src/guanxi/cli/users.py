"""``guanxi users create|list|token``: the people who use guanxi, and their API tokens.

Like every guanxi command, these act as the system (whoever may run the CLI on the server
administers guanxi). Errors print one sentence on stderr and exit with 2.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

from guanxi.core.errors import GuanxiError

if TYPE_CHECKING:
    from guanxi.accounts.models import User

users_app = typer.Typer(name="users", no_args_is_help=True,
                        help="Create and list users; issue API tokens.")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


class RoleOption(StrEnum):
    # The values of accounts.models.Role, repeated so `--help` needs no Django set-up.
    ADMIN = "admin"
    MANAGER = "manager"
    REP = "rep"
    AGENT = "agent"
    ANALYST = "analyst"


def register(app: typer.Typer) -> None:
    app.add_typer(users_app)


@contextmanager
def _reported_errors() -> Iterator[None]:
    """Turn a guanxi error into one sentence on stderr and exit status 2, not a traceback."""
    try:
        yield
    except GuanxiError as exc:
        typer.secho(f"Error: {exc.message}", err=True, fg=typer.colors.RED)
        raise typer.Exit(2) from None


def _user_named(username: str, *, field: str = "username") -> User:
    from guanxi.accounts.models import User
    from guanxi.core.errors import NotFound

    user = User.objects.filter(username=username).first()
    if user is None:
        raise NotFound("user_not_found", f"There is no user named {username!r}.", field=field)
    return user


def _check_password(password: str, *, username: str, email: str) -> None:
    """Apply the configured password rules (length, commonness, likeness to the name)."""
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError

    from guanxi.accounts.models import User
    from guanxi.core.errors import ValidationFailed

    try:
        validate_password(password, user=User(username=username, email=email))
    except ValidationError as exc:
        raise ValidationFailed("invalid_password", " ".join(exc.messages),
                               field="password") from None


@users_app.command("create")
def create(
    username: Annotated[str, typer.Argument(help="Sign-in name.", show_default=False)],
    role: Annotated[RoleOption, typer.Option("--role", help="What they may see and do.",
                                             show_default=False)],
    manager: Annotated[str | None, typer.Option(
        "--manager", help="User name of their manager (for reps).")] = None,
    email: Annotated[str, typer.Option("--email", help="E-mail address.")] = "",
    password: Annotated[str | None, typer.Option(
        "--password", help="Asked for (twice, hidden) when not given.")] = None,
) -> None:
    """Create a user with a role."""
    from guanxi.cli.main import setup_django

    setup_django()
    from guanxi.accounts.services import user_create

    with _reported_errors():
        boss = _user_named(manager, field="manager") if manager else None
        if password is None:
            password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
        _check_password(password, username=username, email=email)
        user = user_create(username=username, password=password, role=role.value,
                           email=email, manager=boss)
    typer.echo(f"Created {user.username} ({user.get_role_display()}).")


@users_app.command("list")
def list_users(as_json: JsonOpt = False) -> None:
    """List users with their role and manager."""
    from guanxi.cli.main import setup_django

    setup_django()
    from rich.console import Console
    from rich.table import Table

    from guanxi.accounts.models import User

    users = list(User.objects.select_related("manager").order_by("username"))
    if as_json:
        typer.echo(json.dumps([
            {"username": u.username, "role": u.role, "email": u.email,
             "manager": u.manager.username if u.manager else None, "is_active": u.is_active,
             "last_login": u.last_login.isoformat() if u.last_login else None}
            for u in users
        ], ensure_ascii=False, indent=2))
        return
    table = Table(title=f"Users ({len(users)})")
    for column in ("User", "Role", "Manager", "E-mail", "Active", "Last sign-in"):
        table.add_column(column)
    for u in users:
        table.add_row(u.username, u.get_role_display(), u.manager.username if u.manager else "",
                      u.email, "yes" if u.is_active else "no",
                      f"{u.last_login:%Y-%m-%d %H:%M}" if u.last_login else "")
    Console().print(table)


@users_app.command("token")
def token(
    username: Annotated[str, typer.Argument(help="Whose token.", show_default=False)],
    name: Annotated[str, typer.Option("--name", help="What the token is for, e.g. 'ERP sync'.",
                                      show_default=False)],
    as_json: JsonOpt = False,
) -> None:
    """Create an API token and print it, once: only its hash is stored."""
    from guanxi.cli.main import setup_django

    setup_django()
    from guanxi.accounts.services import api_token_create

    with _reported_errors():
        user = _user_named(username)
        api_token, raw = api_token_create(user=user, name=name)
    if as_json:
        typer.echo(json.dumps({"username": user.username, "name": api_token.name,
                               "prefix": api_token.prefix, "token": raw}, ensure_ascii=False))
        return
    # The token alone on stdout, so `TOKEN=$(guanxi users token ...)` works; the advice on stderr.
    typer.echo(raw)
    typer.echo(f"API token {name!r} for {user.username}. Copy it now: it cannot be shown again.",
               err=True)
