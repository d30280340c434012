"""The ``guanxi`` command line."""

from __future__ import annotations

import os
import sys

import typer

app = typer.Typer(
    name="guanxi",
    help="guanxi (关系): a customer-centric CRM. Know every customer, tell them apart by value, "
    "keep the valuable ones.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def main() -> None:
    """guanxi (关系): a customer-centric CRM."""


def setup_django() -> None:
    """Configure Django once, lazily, so `guanxi --help` stays instant."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "guanxi.config.settings")
    import django

    django.setup()


@app.command()
def init() -> None:
    """Create the database, or bring it up to date (safe to run again)."""
    setup_django()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    typer.echo("The database is ready.")


def run() -> None:
    """Entry point: run the app and turn guanxi errors into one sentence, not a traceback."""
    from guanxi.cli.errors import run_app

    sys.exit(run_app(app))
