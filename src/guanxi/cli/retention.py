"""``guanxi daily``, ``guanxi alerts`` and ``guanxi retention backtest|due``.

Like the other commands the CLI acts as the **system**: it sees every alert (``--user NAME``
shows what that person would see) and closes alerts with no person as the actor, unless
``--by NAME`` says who. Every command takes ``--json``; errors print one sentence and exit 2.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from guanxi.cli.options import parse_date as _date
from guanxi.core.errors import GuanxiError, NotFound

if TYPE_CHECKING:
    from guanxi.accounts.models import User
    from guanxi.retention.models import ChurnAlert

alerts_app = typer.Typer(name="alerts", invoke_without_command=True,
                         help="Churn alerts: customers late against their own rhythm. Without a "
                              "command, list them.")
retention_app = typer.Typer(name="retention", no_args_is_help=True,
                            help="Retention: replay the churn warning on past data, "
                                 "replenishments due.")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


class StatusOption(StrEnum):
    OPEN = "open"
    WON_BACK = "won_back"
    LOST = "lost"
    DISMISSED = "dismissed"
    ALL = "all"


class OutcomeOption(StrEnum):
    LOST = "lost"
    DISMISSED = "dismissed"


class FileFormatOption(StrEnum):
    CDNOW = "cdnow"
    CDNOW_SAMPLE = "cdnow-sample"
    GENERIC = "generic"


@contextmanager
def _reported_errors() -> Iterator[None]:
    try:
        yield
    except GuanxiError as exc:
        typer.secho(f"Error: {exc.message}", err=True, fg=typer.colors.RED)
        raise typer.Exit(2) from None



def _setup() -> None:
    from guanxi.cli.main import setup_django

    setup_django()


def _viewer(username: str | None) -> User:
    from guanxi.accounts.models import Role, User

    if username is None:
        return User(username="system", role=Role.ADMIN, is_superuser=True)
    found = User.objects.filter(username=username).first()
    if found is None:
        raise NotFound("user_not_found", f"There is no user named {username!r}.", field="user")
    return found


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def alert_dict(alert: ChurnAlert) -> dict[str, Any]:
    return {
        "id": alert.pk, "customer_id": alert.customer_id, "customer": alert.customer.name,
        "owner": alert.owner.username if alert.owner else None,
        "raised_on": alert.raised_on.isoformat(), "reason_code": alert.reason_code,
        "reason": alert.reason, "severity": alert.severity,
        "value_at_stake": None if alert.value_at_stake is None else str(alert.value_at_stake),
        "days_since_last": alert.days_since_last,
        "last_purchase_on": alert.last_purchase_on.isoformat(),
        "expected_interval_days": alert.expected_interval_days,
        "p_alive": alert.p_alive, "status": alert.status,
        "closed_on": alert.closed_on.isoformat() if alert.closed_on else None,
        "closed_by": alert.closed_by.username if alert.closed_by else None,
        "outcome_note": alert.outcome_note, "outcome": alert.outcome,
    }


@alerts_app.callback()
def alerts_list(
    ctx: typer.Context,
    user: Annotated[str | None, typer.Option(
        "--user", help="Show the alerts this person sees (a rep: their customers; a manager: "
                       "the team's). Default: all.")] = None,
    status: Annotated[StatusOption, typer.Option("--status", help="Which alerts.")
                      ] = StatusOption.OPEN,
    limit: Annotated[int, typer.Option("--limit", help="At most this many, worst first.")
                     ] = 50,
    as_json: JsonOpt = False,
) -> None:
    """List churn alerts, the most valuable and latest first."""
    if ctx.invoked_subcommand is not None:
        return
    _setup()
    from guanxi.retention.selectors import alert_list

    with _reported_errors():
        viewer = _viewer(user)
        qs = alert_list(user=viewer,
                        status=None if status is StatusOption.ALL else status.value)
        rows = [alert_dict(a) for a in qs[:limit]]
    if as_json:
        _print_json(rows)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(rows)} {status.value} alert(s)")
    for col in ("id", "customer", "owner", "severity", "value", "reason", "raised"):
        table.add_column(col, justify="right" if col in ("id", "value") else "left")
    for r in rows:
        table.add_row(str(r["id"]), r["customer"], r["owner"] or "", r["severity"],
                      r["value_at_stake"] or "", r["reason"], r["raised_on"])
    Console().print(table)


@alerts_app.command("close")
def alerts_close(
    alert_id: Annotated[int, typer.Argument(help="The alert's id (see `guanxi alerts`).")],
    outcome: Annotated[OutcomeOption, typer.Option("--as", help="lost: the customer is gone; "
                                                   "dismissed: not a real risk.")],
    note: Annotated[str, typer.Option("--note", help="What happened, for the record.")] = "",
    by: Annotated[str | None, typer.Option("--by", help="Close as this person (they must be "
                                           "allowed to change the customer).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Close an open alert as lost or dismissed; the outcome goes on the customer's timeline."""
    _setup()
    from guanxi.retention.selectors import access_alert
    from guanxi.retention.services import alert_close

    with _reported_errors():
        viewer = _viewer(by)
        alert = access_alert(user=viewer, alert_id=alert_id, write=True)
        alert_close(alert=alert, actor=viewer if by else None, outcome=outcome.value,
                    note=note)
    if as_json:
        _print_json(alert_dict(alert))
        return
    typer.echo(f"Alert {alert.pk} ({alert.customer.name}) closed as {alert.status}.")


def daily_command(
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="Run for this day (default today, company time).")] = None,
    rescore: Annotated[bool, typer.Option(
        "--rescore", help="Score again even if that day was scored already.")] = False,
    schedule: Annotated[bool, typer.Option(
        "--schedule", help="Do not run now: queue the run for the background worker at "
                           "GUANXI_DAILY_AT; each run then queues the next day's.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """The daily run: score, raise and close churn alerts, replenishments, care tasks.

    Idempotent: running it twice the same day creates nothing new. Safe to interrupt: each
    step commits on its own; run it again to finish. Schedule it with cron or a systemd timer
    (docs/retention.md) or set GUANXI_DAILY_AT for the background worker.
    """
    _setup()
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from guanxi.retention.services import daily_run

    if schedule:
        from guanxi.retention.tasks import daily_schedule_next, next_daily_run

        with _reported_errors():
            queued = daily_schedule_next()
            when = queued or next_daily_run()
        if when is None:
            typer.secho("Error: GUANXI_DAILY_AT is not set (e.g. 06:00); nothing scheduled.",
                        err=True, fg=typer.colors.RED)
            raise typer.Exit(2)
        if as_json:
            _print_json({"scheduled": queued is not None, "next_run": when.isoformat()})
        else:
            typer.echo(f"The daily run is queued for {when:%Y-%m-%d %H:%M %Z}." if queued
                       else "The daily run is already queued; nothing added.")
        return
    with _reported_errors():
        day = _date(as_of, "as_of")
        err = Console(stderr=True)
        with Progress(TextColumn("{task.description}"), BarColumn(),
                      TextColumn("{task.completed:,}"), TimeElapsedColumn(), console=err,
                      transient=True, disable=as_json) as bar:
            tasks: dict[str, Any] = {}

            def progress(phase: str, done: int, total: int) -> None:
                if phase not in tasks:
                    tasks[phase] = bar.add_task(phase, total=total or None)
                bar.update(tasks[phase], completed=done, total=total or None)

            report = daily_run(as_of=day, rescore=rescore, progress=progress)
    if as_json:
        _print_json(report)
        return
    for kind, counts in report.items():
        if kind == "milliseconds":
            continue
        parts = ", ".join(f"{k} {v:,}" for k, v in counts.items())
        typer.echo(f"{kind:<16} {parts}")


@retention_app.command("backtest")
def backtest_command(
    as_of: Annotated[str, typer.Option("--as-of", help="Replay the warning on this day, "
                                       "using only purchases up to it.")],
    horizon: Annotated[int, typer.Option("--horizon", help="Days after --as-of in which a "
                                         "customer must buy to count as having come back.")],
    file: Annotated[Path | None, typer.Option(
        "--file", help="Run on a transactions file instead of the database.")] = None,
    fmt: Annotated[FileFormatOption, typer.Option("--format", help="Format of --file.")
                   ] = FileFormatOption.CDNOW,
    flat_days: Annotated[int, typer.Option("--flat-days", help="The flat rule to compare "
                                           "with: more than N days since the last purchase.")
                         ] = 90,
    as_json: JsonOpt = False,
) -> None:
    """Does the warning work? Precision and recall against who really did not come back.

    Compared with a flat "more than N days" rule and with the flat rule that raises as many
    alerts; value-weighted recall weighs each lost customer by their spend before --as-of.
    """
    _setup()
    from guanxi.retention.backtest import backtest_database, backtest_transactions
    from guanxi.retention.conf import retention_settings

    with _reported_errors():
        day = _date(as_of, "as_of")
        assert day is not None
        cfg = retention_settings()
        if file is not None:
            from guanxi.value.files import read_transactions

            t = read_transactions(file, fmt.value)
            report = backtest_transactions(t.customer, t.day, t.amount, as_of=day,
                                           horizon_days=horizon, cfg=cfg, flat_days=flat_days)
        else:
            report = backtest_database(as_of=day, horizon_days=horizon, cfg=cfg)
    if as_json:
        _print_json(report)
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(f"As of {report['as_of']}, horizon {report['horizon_days']} days: "
                  f"{report['repeat_buyers']:,} repeat buyers, "
                  f"{report['did_not_come_back']:,} did not come back "
                  f"({report['base_rate']:.0%}).")
    table = Table()
    for col in ("rule", "alerts", "precision", "recall", "value recall"):
        table.add_column(col, justify="left" if col == "rule" else "right")

    def pct(v: float | None) -> str:
        return "" if v is None else f"{v:.1%}"

    for r in report["rules"].values():
        table.add_row(r["rule"], f"{r['flagged']:,}", pct(r["precision"]), pct(r["recall"]),
                      pct(r["value_recall"]))
    console.print(table)


@retention_app.command("due")
def due_command(
    user: Annotated[str | None, typer.Option("--user", help="What this person sees.")] = None,
    within: Annotated[int, typer.Option("--within", help="Running out within N days.")] = 7,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Default today.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Replenishments due: customers about to run out of what they buy again and again."""
    _setup()
    from guanxi.retention.selectors import replenishments_due

    with _reported_errors():
        rows: list[dict[str, Any]] = [
            {"id": r.pk, "customer_id": r.customer_id, "customer": r.customer.name,
             "owner": r.owner.username if r.owner else None, "item": r.item_name,
             "due_on": r.due_on.isoformat(), "value": str(r.value), "reason": r.reason}
            for r in replenishments_due(user=_viewer(user), as_of=_date(as_of, "as_of"),
                                            within_days=within)]
    if as_json:
        _print_json(rows)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(rows)} replenishment(s) due")
    for col in ("customer", "owner", "item", "due", "value", "reason"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["customer"], r["owner"] or "", r["item"], r["due_on"], r["value"],
                      r["reason"])
    Console().print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(alerts_app)
    app.add_typer(retention_app)
    app.command("daily")(daily_command)


__all__ = ["register"]
