"""``guanxi care`` (the care calendar) and ``guanxi queue --user NAME`` (a person's work today)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any

import typer

from guanxi.cli.options import json_default as _json_default
from guanxi.cli.options import parse_date as _date


def care_command(
    days: Annotated[int, typer.Option("--days", min=0, max=366,
                                      help="How many days ahead to look.")] = 14,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Start day (default today, "
                                              "in the company's time zone).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    show: Annotated[int, typer.Option("--show", min=0,
                                      help="List at most this many pending tasks.")] = 50,
) -> None:
    """Create the care calendar's tasks (birthdays, lunar ones too; anniversaries; festivals;
    thank-yous after a first purchase) due in the next DAYS days, then list what is pending.

    Safe to run again: a task that exists is left alone. Festivals and messages follow the
    GUANXI_CARE setting (see docs/care.md).
    """
    from guanxi.cli.main import setup_django

    setup_django()
    from guanxi.care.models import PENDING, Task
    from guanxi.care.services import care_tasks_create
    from guanxi.core import clock

    start = _date(as_of, "as_of") or clock.today()
    counts = care_tasks_create(as_of=start, horizon_days=days)
    end = start + dt.timedelta(days=days)
    pending = (Task.objects.filter(status__in=PENDING, due_on__gte=start, due_on__lte=end)
               .select_related("customer", "owner").order_by("due_on", "id")[:show])
    rows: list[dict[str, Any]] = [
            {"id": t.pk, "due_on": t.due_on, "kind": t.kind, "customer_id": t.customer_id,
             "customer": t.customer.name, "owner": t.owner.username if t.owner else None,
             "title": t.title, "channel": t.channel or None, "message": t.message}
            for t in pending]
    if as_json:
        typer.echo(json.dumps({"as_of": start, "horizon_days": days, "counts": counts,
                               "tasks": rows}, indent=2, ensure_ascii=False,
                              default=_json_default))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    summary = Table(title=f"Care calendar {start} → {end}")
    for col in ("kind", "created", "already there", "skipped (taboo)"):
        summary.add_column(col, justify="left" if col == "kind" else "right")
    for kind, c in counts.items():
        summary.add_row(kind, f"{c['created']:,}", f"{c['unchanged']:,}",
                        f"{c['skipped_taboo']:,}")
    console.print(summary)
    if rows:
        agenda = Table(title="Pending")
        for col in ("due", "kind", "customer", "owner", "channel", "title"):
            agenda.add_column(col)
        for r in rows:
            agenda.add_row(str(r["due_on"]), r["kind"], r["customer"], r["owner"] or "—",
                           r["channel"] or "no consent", r["title"])
        console.print(agenda)


def queue_command(
    user: Annotated[str, typer.Option("--user", help="Whose queue (a username).")],
    as_of: Annotated[str | None, typer.Option("--as-of", help="The day (default today).")]
    = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    offers: Annotated[bool, typer.Option("--offers/--no-offers",
                                         help="Suggest an offer per customer.")] = True,
) -> None:
    """A person's work for the day, the most valuable first: their due and overdue tasks,
    churn alerts and replenishments of their customers, each with the pinned notes and an offer.
    """
    from guanxi.cli.main import setup_django

    setup_django()
    from guanxi.accounts.models import User
    from guanxi.care.errors import CareErrorCode
    from guanxi.care.selectors import queue_for
    from guanxi.core.errors import NotFound

    person = User.objects.filter(username=user, is_active=True).first()
    if person is None:
        raise NotFound(CareErrorCode.USER_NOT_FOUND, f"No active user {user!r}.")
    items = queue_for(user=person, as_of=_date(as_of, "as_of"), offers=offers)
    rows: list[dict[str, Any]] = [
            {"source": i.source, "id": i.id, "kind": i.kind, "customer_id": i.customer_id,
             "customer": i.customer_name, "title": i.title, "reason": i.reason,
             "due_on": i.due_on, "days_overdue": i.days_overdue, "value": i.value,
             "channel": i.channel or None, "notes": i.notes,
             "offer": None if i.offer is None else {"product": i.offer.product,
                                                    "reason": i.offer.reason}}
            for i in items]
    if as_json:
        typer.echo(json.dumps({"user": person.username, "items": rows}, indent=2,
                              ensure_ascii=False, default=_json_default))
        return
    if not rows:
        typer.echo(f"Nothing due for {person.username}.")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Work queue of {person.username}")
    for col in ("value", "what", "customer", "due", "notes", "offer"):
        table.add_column(col, justify="right" if col == "value" else "left")
    for r in rows:
        late = f" (+{r['days_overdue']}d)" if r["days_overdue"] else ""
        table.add_row(f"{r['value']:,}", f"{r['kind']}: {r['title']}", r["customer"],
                      f"{r['due_on']}{late}", "; ".join(r["notes"]),
                      r["offer"]["reason"] if r["offer"] else "")
    Console().print(table)


def register(app: typer.Typer) -> None:
    app.command("care")(care_command)
    app.command("queue")(queue_command)


__all__ = ["register"]
