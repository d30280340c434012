"""``guanxi demo``: a ready-to-explore guanxi with a believable company in it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

if TYPE_CHECKING:
    from guanxi.demo import DemoSummary, DemoUser


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    customers: int = typer.Option(20000, "--customers", min=20,
                                  help="How many customers the demo company has."),
    seed: int = typer.Option(0, "--seed", help="The same seed always gives the same company."),
    locale: str = typer.Option("zh_CN", "--locale", help="zh_CN (Chinese names) or en."),
    reset: bool = typer.Option(False, "--reset", help="Wipe an existing demo company first."),
    score: bool = typer.Option(True, "--score/--no-score",
                               help="Run the value engine on the new company, if installed."),
    serve: bool = typer.Option(True, "--serve/--no-serve", help="Serve the web app afterwards."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to serve on."),
    port: int = typer.Option(8000, "--port", help="Port to serve on."),
) -> None:
    """Initialize, generate the demo company, create the demo users and serve the web app."""
    from guanxi.cli.main import setup_django

    setup_django()
    from django.core.management import call_command

    from guanxi import demo as demo_company

    console = Console()
    call_command("migrate", interactive=False, verbosity=0)
    locale = demo_company.normalize_locale(locale)
    # Users first: the generator hands the customers to the reps and the manager.
    users = demo_company.demo_users_ensure()
    if demo_company.demo_present() and not reset:
        console.print("[yellow]Demo data already present; use --reset to regenerate.[/]")
    else:
        if reset and demo_company.demo_present():
            with console.status("Removing the previous demo company…"):
                removed = demo_company.demo_reset()
            console.print(f"Removed the previous demo company ({removed:,} customers).")
        with _progress(console) as callback:
            summary = demo_company.generate(customers=customers, seed=seed, locale=locale,
                                            progress=callback)
        _print_summary(console, summary)
        if score:
            _score(console, summary.as_of)
    url = f"http://{host}:{port}/"
    _print_users(console, users, url)
    if serve:
        from guanxi.cli.serve import run_server

        raise typer.Exit(run_server(host=host, port=port))


@contextmanager
def _progress(console: Console) -> Iterator[Callable[[str, int, int], None]]:
    """A Rich progress display with one bar per phase; yields the ``progress`` callback."""
    bar = Progress(TextColumn("{task.description:<38}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), console=console)
    tasks: dict[str, TaskID] = {}

    def callback(phase: str, done: int, total: int) -> None:
        if phase not in tasks:
            tasks[phase] = bar.add_task(phase, total=max(total, 1))
        bar.update(tasks[phase], completed=done if total else 1, total=max(total, 1))

    with bar:
        yield callback


def _score(console: Console, as_of: dt.date) -> None:
    """Run the value engine if a colleague's ``guanxi.value`` is installed; skip otherwise."""
    try:
        from guanxi.value.services import score_all
    except ImportError:
        console.print("The value engine is not installed yet; skipped scoring.")
        return
    from django.db import transaction

    from guanxi.core.errors import GuanxiError

    try:
        with _progress(console) as callback, transaction.atomic():
            result = score_all(as_of=as_of, progress=callback)
    except GuanxiError as exc:
        console.print(f"[yellow]Scoring skipped: {exc.message}[/]")
        return
    except Exception as exc:
        # The demo company is committed already; a scoring failure must not take the demo
        # (and its login details) down with it. The savepoint above undid any partial scores.
        console.print(f"[yellow]Scoring failed ({type(exc).__name__}: {exc}); run the value "
                      "engine again later.[/]")
        return
    console.print(f"Scored the customers with the value engine: {result}")
    _daily(console, as_of)


def _daily(console: Console, as_of: dt.date) -> None:
    """The rest of a morning's run, so the demo opens with alerts, reminders and care tasks."""
    from guanxi.retention.services import daily_run

    try:
        report = daily_run(as_of=as_of)
    except Exception as exc:
        # As with scoring: the company and its logins stay usable; `guanxi daily` retries.
        console.print(f"[yellow]The daily run failed ({type(exc).__name__}: {exc}); run "
                      "`guanxi daily` later.[/]")
        return
    made = ", ".join(f"{counts.get('created', 0):,} {kind.replace('_', ' ')}"
                     for kind, counts in report.items()
                     if kind not in ("scores", "milliseconds") and counts.get("created"))
    console.print(f"Today's work for the reps: {made or 'nothing new'}.")


def _print_summary(console: Console, s: DemoSummary) -> None:
    table = Table(title=f"Demo company (seed {s.seed}, {s.locale}, history to {s.as_of})",
                  show_header=False)
    for label, value in (
        ("customers", s.customers), ("  organizations", s.organizations),
        ("  their contacts", s.contacts), ("  prospects (no orders)", s.prospects),
        ("  planted duplicates", s.duplicates), ("products", s.products),
        ("orders", s.orders), ("order lines", s.order_lines), ("memory notes", s.notes),
        ("important dates", s.important_dates), ("interactions", s.interactions),
        ("consents", s.consents), ("timeline events", s.events),
    ):
        table.add_row(label, f"{value:,}")
    table.add_row("generated in", f"{s.seconds:.1f} s")
    console.print(table)


def _print_users(console: Console, users: list[DemoUser], url: str) -> None:
    table = Table(title="Demo users (new passwords)")
    table.add_column("user")
    table.add_column("role")
    table.add_column("password", no_wrap=True)
    for user in users:
        table.add_row(user.username, user.role, user.password)
    console.print(table)
    console.print(f"Sign in at {url}login/", soft_wrap=True)
