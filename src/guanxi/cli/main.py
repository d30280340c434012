"""The ``guanxi`` command line."""

from __future__ import annotations

import os
import sys

# The models' optimizers make many tiny linear-algebra calls; with OpenBLAS's thread pool on a
# small busy machine each call waits for threads to wake (9 ms instead of 0.03 ms for a dot
# product). Our heavy work is vectorized element-wise numpy, which does not use BLAS threads.
# Set before numpy is first imported; a user's own setting wins.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import typer  # noqa: E402 - after the thread settings above, on purpose

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


# Each command group lives in its own module with a ``register(app)`` function; a group whose
# module is not there (yet) is simply absent from ``--help``.
_COMMAND_MODULES = (
    "guanxi.cli.users",
    "guanxi.cli.customers",
    "guanxi.cli.imports",
    "guanxi.cli.demo",
    "guanxi.cli.serve",
    "guanxi.cli.value",
    "guanxi.cli.segments",   # segments list|show|create|build|migration
    "guanxi.cli.insights",   # traits, prospects rank, keyaccounts, report strategy
    "guanxi.cli.retention",  # alerts, daily, retention backtest
    "guanxi.cli.care",       # care, queue
)


def _register_commands() -> None:
    import importlib

    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(app)


_register_commands()


def run() -> None:
    """Entry point: run the app and turn guanxi errors into one sentence, not a traceback."""
    from guanxi.cli.errors import run_app

    sys.exit(run_app(app))
