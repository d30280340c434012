"""``guanxi customers list|show|duplicates|merge``: the unified customer view from a terminal.

The CLI acts as the **system**: whoever can run it on the server administers guanxi, so it reads
with an administrator's visibility (every customer) and writes with ``actor=None`` — the
timeline shows such changes as made by the system, not by a person.

Every command takes ``--json`` for scripts; errors print one sentence on stderr and exit with 2.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

from guanxi.core.errors import GuanxiError

if TYPE_CHECKING:
    from guanxi.accounts.models import User
    from guanxi.customers.duplicates import DuplicatePair
    from guanxi.customers.models import Customer

customers_app = typer.Typer(name="customers", no_args_is_help=True,
                            help="List, show, find duplicates among and merge customers.")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def register(app: typer.Typer) -> None:
    app.add_typer(customers_app)


@contextmanager
def _reported_errors() -> Iterator[None]:
    """Turn a guanxi error into one sentence on stderr and exit status 2, not a traceback."""
    try:
        yield
    except GuanxiError as exc:
        typer.secho(f"Error: {exc.message}", err=True, fg=typer.colors.RED)
        raise typer.Exit(2) from None


def _system_viewer() -> User:
    """An unsaved administrator: the CLI sees what an administrator sees (see module doc)."""
    from guanxi.accounts.models import Role, User

    return User(username="system", role=Role.ADMIN, is_superuser=True)


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _summary(c: Customer) -> dict[str, Any]:
    v = getattr(c, "value", None)  # the latest score; None (all nulls) when never scored
    return {
        "id": c.pk,
        "name": c.name,
        "kind": c.kind,
        "phone": c.phone,
        "email": c.email,
        "city": c.city,
        "owner": c.owner.username if c.owner else None,
        "lifecycle_stage": v.lifecycle_stage if v else None,
        "value_tier": v.value_tier if v else None,
        # Money as a string: a float would round 0.10 to 0.1000000000000000055...
        "clv": str(v.clv) if v and v.clv is not None else None,
        "last_purchase_at": _iso(c.last_purchase_at),
    }


def _profile(c: Customer) -> dict[str, Any]:
    v = getattr(c, "value", None)
    return {
        **_summary(c),
        "gender": c.gender,
        "birthday": _iso(c.birthday),
        "region": c.region,
        "country": c.country,
        "industry": c.industry,
        "company_size": c.company_size,
        "occupation": c.occupation,
        "income_band": c.income_band,
        "source": c.source,
        "acquired_on": _iso(c.acquired_on),
        "referred_by": c.referred_by_id,
        "organization": c.organization_id,
        "tags": [t.name for t in c.tags.all()],
        "attributes": c.attributes,
        "rfm_segment": v.rfm_segment if v else None,
        "p_alive": v.p_alive if v else None,
        "next_purchase_on": _iso(v.expected_next_purchase) if v else None,
        "is_active": c.is_active,
        "merged_into": c.merged_into_id,
        "created_at": _iso(c.created_at),
    }


def _choice(value: str | None, allowed: list[str], what: str) -> str | None:
    from guanxi.core.errors import ValidationFailed
    from guanxi.customers.errors import CustomerErrorCode

    if value is None or value in allowed:
        return value
    raise ValidationFailed(CustomerErrorCode.INVALID_FIELD,
                           f"Unknown {what} {value!r}; use one of {', '.join(allowed)}.",
                           field=what.replace(" ", "_"))


@customers_app.command("list")
def list_customers(
    search: Annotated[str | None, typer.Option(
        "--search", help="Name, pinyin or initials, phone, e-mail or external id.")] = None,
    owner: Annotated[str | None, typer.Option("--owner", help="Owner's user name.")] = None,
    stage: Annotated[str | None, typer.Option("--stage", help="Lifecycle stage.")] = None,
    tier: Annotated[str | None, typer.Option("--tier", help="Value tier.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many.")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """List customers, by name."""
    from guanxi.cli.main import setup_django

    setup_django()
    from rich.console import Console
    from rich.table import Table

    from guanxi.accounts.models import User
    from guanxi.core.errors import NotFound
    from guanxi.customers.models import LifecycleStage, ValueTier
    from guanxi.customers.selectors import customer_list

    with _reported_errors():
        owner_id = None
        if owner is not None:
            found = User.objects.filter(username=owner).first()
            if found is None:
                raise NotFound("user_not_found", f"There is no user named {owner!r}.",
                               field="owner")
            owner_id = found.pk
        qs = customer_list(
            user=_system_viewer(), search=search, owner_id=owner_id,
            lifecycle_stage=_choice(stage, list(LifecycleStage.values), "stage"),
            value_tier=_choice(tier, [v for v in ValueTier.values if v], "tier"),
        )
        total = qs.count()
        rows = list(qs.select_related("owner", "value").order_by("name", "pk")[:limit])

    if as_json:
        _print_json([_summary(c) for c in rows])
        return
    table = Table(title=f"Customers ({len(rows)} of {total})")
    for column in ("ID", "Name", "Phone", "E-mail", "City", "Owner", "Stage", "Tier", "CLV"):
        table.add_column(column, justify="right" if column in ("ID", "CLV") else "left")
    for c in rows:
        v = getattr(c, "value", None)
        table.add_row(str(c.pk), c.name, c.phone, c.email, c.city,
                      c.owner.username if c.owner else "",
                      v.get_lifecycle_stage_display() if v else str(LifecycleStage.PROSPECT.label),
                      v.get_value_tier_display() if v and v.value_tier else "",
                      f"{v.clv:,.2f}" if v and v.clv is not None else "")
    Console().print(table)


@customers_app.command("show")
def show_customer(
    customer_id: Annotated[int, typer.Argument(help="The customer's id.", show_default=False)],
    as_json: JsonOpt = False,
) -> None:
    """Show one customer: profile, pinned notes, last orders, consents and recent events."""
    from guanxi.cli.main import setup_django

    setup_django()
    from rich.console import Console
    from rich.table import Table

    from guanxi.customers.selectors import access_customer

    with _reported_errors():
        customer = access_customer(user=_system_viewer(), customer_id=customer_id)
    notes = list(customer.notes.filter(pinned=True))
    orders = list(customer.orders.order_by("-placed_at", "-pk")[:5])
    consents = list(customer.consents.order_by("channel", "purpose"))
    recent = list(customer.events.select_related("actor")[:10])
    external_ids = list(customer.external_ids.order_by("source", "value"))

    if as_json:
        _print_json({
            "customer": _profile(customer),
            "external_ids": [{"source": e.source, "value": e.value, "is_alias": e.is_alias}
                             for e in external_ids],
            "pinned_notes": [{"id": n.pk, "category": n.category, "text": n.text,
                              "created_at": _iso(n.created_at)} for n in notes],
            "orders": [{"id": o.pk, "external_id": o.external_id,
                        "placed_at": _iso(o.placed_at), "status": o.status,
                        "total": str(o.total), "currency": o.currency} for o in orders],
            "consents": [{"channel": c.channel, "purpose": c.purpose, "granted": c.granted,
                          "recorded_at": _iso(c.recorded_at)} for c in consents],
            "events": [{"type": e.type, "occurred_at": _iso(e.occurred_at),
                        "actor": e.actor.username if e.actor else None, "data": e.data}
                       for e in recent],
        })
        return

    console = Console()
    if customer.merged_into_id is not None:
        console.print(f"[yellow]Merged into customer {customer.merged_into_id}; "
                      f"run `guanxi customers show {customer.merged_into_id}`.[/]")
    profile = Table(title=f"{customer.name} (#{customer.pk})", show_header=False)
    profile.add_column("Field", style="bold")
    profile.add_column("Value")
    for key, value in _profile(customer).items():
        if key in ("id", "name") or value in (None, "", [], {}):
            continue
        shown = ", ".join(value) if isinstance(value, list) else str(value)
        profile.add_row(key.replace("_", " "), shown)
    if external_ids:
        profile.add_row("external ids", ", ".join(
            f"{e.source}:{e.value}" + (" (alias)" if e.is_alias else "") for e in external_ids))
    console.print(profile)
    for note in notes:
        console.print(f"📌 [bold]{note.get_category_display()}[/]: {note.text}")
    if orders:
        table = Table(title="Last orders")
        for column in ("Order", "Placed", "Status", "Total"):
            table.add_column(column, justify="right" if column == "Total" else "left")
        for o in orders:
            table.add_row(o.external_id, f"{o.placed_at:%Y-%m-%d}", o.get_status_display(),
                          f"{o.total:,.2f} {o.currency}")
        console.print(table)
    if consents:
        console.print("Consents: " + ", ".join(
            f"{c.channel}/{c.purpose} {'✓' if c.granted else '✗'}" for c in consents))
    if recent:
        table = Table(title="Recent events")
        for column in ("When", "What", "Who"):
            table.add_column(column)
        for e in recent:
            table.add_row(f"{e.occurred_at:%Y-%m-%d %H:%M}", e.get_type_display(),
                          e.actor.username if e.actor else "system")
        console.print(table)


def _counts(moved: dict[str, int]) -> str:
    """``{"orders": 2, "notes": 1}`` as "2 orders, 1 note"."""
    parts = []
    for key, n in moved.items():
        label = key.replace("_", " ")
        parts.append(f"{n} {label[:-1] if n == 1 and label.endswith('s') else label}")
    return ", ".join(parts)


def _pair_json(p: DuplicatePair) -> dict[str, Any]:
    return {"score": p.score, "a": {"id": p.a.pk, "name": p.a.name},
            "b": {"id": p.b.pk, "name": p.b.name}, "reasons": p.reasons}


@customers_app.command("duplicates")
def duplicates(
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many pairs.")] = 50,
    min_score: Annotated[int, typer.Option("--min-score", min=0, max=100,
                                           help="Only pairs scoring at least this.")] = 70,
    as_json: JsonOpt = False,
) -> None:
    """Likely duplicates (same phone or e-mail, similar name in one city), best first."""
    from guanxi.cli.main import setup_django

    setup_django()
    from rich.console import Console
    from rich.table import Table

    from guanxi.customers.duplicates import find_duplicates

    with _reported_errors():
        pairs = find_duplicates(user=_system_viewer(), limit=limit, min_score=min_score)
    if as_json:
        _print_json([_pair_json(p) for p in pairs])
        return
    console = Console()
    if not pairs:
        console.print("No likely duplicates found.")
        return
    table = Table(title="Likely duplicates")
    for column in ("Score", "Keep", "Merge", "Why"):
        table.add_column(column, justify="right" if column == "Score" else "left")
    for p in pairs:
        table.add_row(str(p.score), f"{p.a.name} (#{p.a.pk})", f"{p.b.name} (#{p.b.pk})",
                      "; ".join(p.reasons))
    console.print(table)
    console.print("Merge a pair with `guanxi customers merge KEEP_ID MERGE_ID`.")


@customers_app.command("merge")
def merge(
    survivor_id: Annotated[int, typer.Argument(help="The customer to keep.",
                                               show_default=False)],
    merged_id: Annotated[int, typer.Argument(help="The duplicate to merge into it.",
                                             show_default=False)],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Merge MERGED_ID into SURVIVOR_ID: its orders, notes, history and ids move over."""
    from guanxi.cli.main import setup_django

    setup_django()
    from guanxi.customers.merge import customer_merge_preview
    from guanxi.customers.models import EventType
    from guanxi.customers.selectors import access_customer
    from guanxi.customers.services import customer_merge

    viewer = _system_viewer()
    with _reported_errors():
        survivor = access_customer(user=viewer, customer_id=survivor_id)
        merged = access_customer(user=viewer, customer_id=merged_id)
        preview = customer_merge_preview(survivor=survivor, merged=merged)
    if not yes:
        # On stderr, so that --json output stays parseable when someone confirms by hand.
        typer.echo(f"Merge {merged.name} (#{merged.pk}) into {survivor.name} (#{survivor.pk}).",
                   err=True)
        typer.echo(f"This moves: {_counts(preview) or 'nothing'}; #{merged.pk} stays as a "
                   f"pointer to #{survivor.pk}.", err=True)
        typer.confirm("Merge?", abort=True, err=True)
    with _reported_errors():
        result = customer_merge(actor=None, survivor=survivor, merged=merged)
    event = result.events.filter(type=EventType.MERGED).order_by("-pk").first()
    moved: dict[str, int] = dict(event.data.get("moved", {})) if event else {}
    if as_json:
        _print_json({"survivor": result.pk, "merged": merged.pk, "moved": moved})
        return
    typer.echo(f"Merged {merged.name} (#{merged.pk}) into {result.name} (#{result.pk}): "
               f"{_counts(moved) or 'nothing to move'}.")
