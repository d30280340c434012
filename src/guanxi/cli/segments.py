"""``guanxi segments list|show|preview|create|add|remove|delete|snapshot|migration`` (+ ``build``).

Like ``guanxi customers``, the command line acts as the **system**: it sees every customer and
records no person as the author of what it creates. ``build`` (statistical segments) lives in
``guanxi.segments.cli_build`` and is added to this group when that module is there.

Every command takes ``--json``; errors print one sentence on stderr and exit with 2.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Annotated, Any

import typer

from guanxi.cli.options import parse_date as _date
from guanxi.core.errors import GuanxiError, ValidationFailed

if TYPE_CHECKING:
    from guanxi.accounts.models import User
    from guanxi.segments.models import Segment

segments_app = typer.Typer(
    name="segments", no_args_is_help=True,
    help="Segments: saved rules, frozen lists and statistical segments, and how customers "
    "move between them from one scoring run to the next.")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
RuleOpt = Annotated[str | None, typer.Option(
    "--rule", help='The rule as JSON, e.g. \'{"field": "city", "op": "eq", "value": "上海"}\'.')]
WhereOpt = Annotated[str | None, typer.Option(
    "--where", help="The rule in words, e.g. \"city = 上海 and tier in vip,key and "
    "spent > 5000 in 365d\" (see docs/segments.md).")]


def register(app: typer.Typer) -> None:
    try:
        from guanxi.segments.cli_build import register_build
    except ModuleNotFoundError as exc:
        if exc.name != "guanxi.segments.cli_build":
            raise
    else:
        register_build(segments_app)
    app.add_typer(segments_app)


@contextmanager
def _reported_errors() -> Iterator[None]:
    try:
        yield
    except GuanxiError as exc:
        typer.secho(f"Error: {exc.message}", err=True, fg=typer.colors.RED)
        raise typer.Exit(2) from None


def _setup() -> User:
    """Django, and the unsaved administrator the command line acts as."""
    from guanxi.cli.main import setup_django

    setup_django()
    from guanxi.accounts.models import Role, User

    return User(username="system", role=Role.ADMIN, is_superuser=True)


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def _segment(user: User, ref: str) -> Segment:
    """A segment by id, or by its exact name (the newest active one of that name)."""
    from guanxi.core.errors import NotFound
    from guanxi.segments.errors import SegmentErrorCode
    from guanxi.segments.models import Segment
    from guanxi.segments.selectors import access_segment

    if ref.isdigit():
        return access_segment(user=user, segment_id=int(ref))
    found = Segment.objects.filter(name=ref).order_by("-is_active", "-id").first()
    if found is None:
        raise NotFound(SegmentErrorCode.NOT_FOUND, f"There is no segment named {ref!r}.")
    return found


def _rule(rule: str | None, where: str | None) -> Any:
    from guanxi.segments.errors import SegmentErrorCode
    from guanxi.segments.where import parse_where

    if rule is not None and where is not None:
        raise ValidationFailed(SegmentErrorCode.INVALID_RULE, "Give --rule or --where, not both.",
                               field="rule")
    if where is not None:
        return parse_where(where)
    if rule is None:
        return None
    try:
        return json.loads(rule)
    except json.JSONDecodeError as exc:
        raise ValidationFailed(SegmentErrorCode.INVALID_RULE,
                               f"--rule is not valid JSON: {exc.msg} at character {exc.pos}.",
                               field="rule") from None



def _ids(values: list[str]) -> list[int]:
    ids: list[int] = []
    for value in values:
        for part in value.replace(",", " ").split():
            if not part.isdigit():
                raise ValidationFailed("invalid_customer_id",
                                       f"{part!r} is not a customer id.", field="customers")
            ids.append(int(part))
    return ids


def _segment_dict(segment: Segment, *, preview: Any = None) -> dict[str, Any]:
    from guanxi.segments.rules import describe_rule

    data: dict[str, Any] = {
        "id": segment.pk, "name": segment.name, "kind": segment.kind,
        "description": segment.description, "is_active": segment.is_active,
        "definition": segment.definition or None,
        "rule": describe_rule(segment.definition) if segment.definition else None,
        "created_by": segment.created_by.username if segment.created_by else None,
        "created_at": segment.created_at.isoformat(),
    }
    if segment.kind == "statistical":
        data["suggested_name"] = segment.suggested_name
        data["profile"] = segment.profile
    if preview is not None:
        data.update(preview.as_dict())
    return data


def _share(value: float | None) -> str:
    return "" if value is None else f"{value:.1%}"


@segments_app.command("list")
def list_segments(
    kind: Annotated[str | None, typer.Option(
        "--kind", help="Only this kind: dynamic, static or statistical.")] = None,
    count: Annotated[bool, typer.Option(
        "--count/--no-count", help="Count members and value now (one query per segment).")
    ] = True,
    include_inactive: Annotated[bool, typer.Option("--all", help="Include inactive ones.")
                                ] = False,
    as_json: JsonOpt = False,
) -> None:
    """List segments with their size and share of customer equity."""
    user = _setup()
    from guanxi.segments.selectors import segment_list, segment_summary

    with _reported_errors():
        rows = []
        for segment in segment_list(user=user, kind=kind, include_inactive=include_inactive):
            preview = segment_summary(user=user, segment=segment) if count else None
            rows.append(_segment_dict(segment, preview=preview))
    if as_json:
        _print_json(rows)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table()
    for column, justify in (("id", "right"), ("name", "left"), ("kind", "left"),
                            ("customers", "right"), ("value share", "right"),
                            ("rule", "left")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]  # rich's Literal
    for row in rows:
        table.add_row(str(row["id"]), row["name"], row["kind"],
                      f"{row['size']:,}" if "size" in row else "",
                      _share(row.get("value_share")), row["rule"] or row["description"][:60])
    Console().print(table)


@segments_app.command("show")
def show_segment(
    segment: Annotated[str, typer.Argument(help="Segment id or exact name.")],
    members: Annotated[int, typer.Option("--members", min=0,
                                         help="List this many members (by id).")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """Show a segment: its rule, size, value share, size per scoring run and first members."""
    user = _setup()
    from guanxi.segments.selectors import segment_customers, segment_history, segment_summary

    with _reported_errors():
        seg = _segment(user, segment)
        data = _segment_dict(seg, preview=segment_summary(user=user, segment=seg))
        data["history"] = [{"run": h["run"], "as_of": h["as_of"].isoformat(),
                            "size": h["size"]} for h in segment_history(user=user, segment=seg)]
        shown = list(segment_customers(user=user, segment=seg).select_related("value")
                     .order_by("pk")[:members])
        data["members"] = [
            {"id": c.pk, "name": c.name, "city": c.city,
             "value_tier": getattr(getattr(c, "value", None), "value_tier", None),
             "clv": str(c.value.clv) if getattr(c, "value", None) and c.value.clv is not None
             else None}
            for c in shown
        ]
    if as_json:
        _print_json(data)
        return
    typer.echo(f"{data['name']} (#{data['id']}, {data['kind']})")
    if data["rule"]:
        typer.echo(f"  rule: {data['rule']}")
    if data["description"]:
        typer.echo(f"  {data['description']}")
    typer.echo(f"  {data['size']:,} customers ({_share(data['size_share'])}), value "
               f"{Decimal(data['value']):,.2f} = {_share(data['value_share'])} of equity")
    for h in data["history"]:
        typer.echo(f"  {h['as_of']}: {h['size']:,}")
    for m in data["members"]:
        typer.echo(f"  #{m['id']:<8} {m['name']:<20} {m['city']:<10} {m['value_tier'] or '':<8}"
                   f" {m['clv'] or ''}")


@segments_app.command("preview")
def preview_rule(rule: RuleOpt = None, where: WhereOpt = None, as_json: JsonOpt = False) -> None:
    """Count a rule's customers and their share of value, without saving it."""
    user = _setup()
    from guanxi.segments.rules import describe_rule
    from guanxi.segments.selectors import segment_preview

    with _reported_errors():
        definition = _rule(rule, where)
        if definition is None:
            raise ValidationFailed("invalid_rule", "Give the rule with --rule or --where.",
                                   field="rule")
        preview = segment_preview(definition=definition, user=user)
    if as_json:
        _print_json({"definition": definition, **preview.as_dict()})
        return
    typer.echo(f"{describe_rule(definition)}: {preview.size:,} customers "
               f"({_share(preview.size_share)}), {_share(preview.value_share)} of customer "
               "equity")


@segments_app.command("create")
def create_segment(
    name: Annotated[str, typer.Argument(help="The segment's name.")],
    rule: RuleOpt = None,
    where: WhereOpt = None,
    static: Annotated[bool, typer.Option(
        "--static", help="A frozen list of customers (give them with --customers).")] = False,
    customers: Annotated[list[str] | None, typer.Option(
        "--customers", help="Customer ids for a static segment (comma-separated).")] = None,
    freeze: Annotated[str | None, typer.Option(
        "--freeze", help="Make a static copy of this segment's current members.")] = None,
    description: Annotated[str, typer.Option("--description")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Save a dynamic segment (a rule), a static list, or a frozen copy of a segment."""
    user = _setup()
    from guanxi.segments import services
    from guanxi.segments.selectors import segment_summary

    with _reported_errors():
        definition = _rule(rule, where)
        if freeze is not None:
            segment = services.segment_freeze(user=user, segment=_segment(user, freeze),
                                              name=name, description=description)
        elif static:
            segment = services.segment_create(user=user, name=name, kind="static",
                                              definition=definition, description=description,
                                              customer_ids=_ids(customers or []))
        else:
            if definition is None:
                raise ValidationFailed("invalid_rule", "A dynamic segment needs --rule or "
                                       "--where (or use --static or --freeze).", field="rule")
            segment = services.segment_create(user=user, name=name, definition=definition,
                                              description=description)
        preview = segment_summary(user=user, segment=segment)
    if as_json:
        _print_json(_segment_dict(segment, preview=preview))
        return
    typer.echo(f"Created {segment.kind} segment #{segment.pk} {segment.name!r}: "
               f"{preview.size:,} customers, {_share(preview.value_share)} of customer equity.")


def _change_members(segment: str, customers: list[str], *, add: bool, as_json: bool) -> None:
    user = _setup()
    from guanxi.segments import services

    with _reported_errors():
        seg = _segment(user, segment)
        change = services.segment_add_customers if add else services.segment_remove_customers
        n = change(user=user, segment=seg, customer_ids=_ids(customers))
    if as_json:
        _print_json({"segment": seg.pk, "added" if add else "removed": n})
        return
    typer.echo(f"{'Added' if add else 'Removed'} {n:,} customer(s) "
               f"{'to' if add else 'from'} {seg.name!r}.")


@segments_app.command("add")
def add_members(
    segment: Annotated[str, typer.Argument(help="Static segment id or name.")],
    customers: Annotated[list[str], typer.Argument(help="Customer ids.")],
    as_json: JsonOpt = False,
) -> None:
    """Add customers to a static segment."""
    _change_members(segment, customers, add=True, as_json=as_json)


@segments_app.command("remove")
def remove_members(
    segment: Annotated[str, typer.Argument(help="Static segment id or name.")],
    customers: Annotated[list[str], typer.Argument(help="Customer ids.")],
    as_json: JsonOpt = False,
) -> None:
    """Remove customers from a static segment."""
    _change_members(segment, customers, add=False, as_json=as_json)


@segments_app.command("delete")
def delete_segment(
    segment: Annotated[str, typer.Argument(help="Segment id or name.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False,
) -> None:
    """Delete a segment, its list and its stored snapshots (its history is lost)."""
    user = _setup()
    from guanxi.segments import services

    with _reported_errors():
        seg = _segment(user, segment)
        if not yes:
            typer.confirm(f"Delete {seg.name!r} and its history?", abort=True)
        services.segment_delete(user=user, segment=seg)
    typer.echo(f"Deleted {seg.name!r}.")


@segments_app.command("snapshot")
def write_snapshot(
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="The scoring run's date (default: the latest run).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Store the rule and list segments' members in a run's snapshot again.

    Every scoring run does this by itself; use it after creating segments to include them in
    the latest snapshot.
    """
    user = _setup()
    from guanxi.segments.errors import SegmentErrorCode
    from guanxi.segments.models import Segment
    from guanxi.segments.selectors import run_by_date
    from guanxi.segments.services import snapshot_write
    from guanxi.value.selectors import latest_run

    with _reported_errors():
        day = _date(as_of, "as_of")
        run = run_by_date(day) if day is not None else latest_run()
        if run is None:
            from guanxi.core.errors import NotFound

            raise NotFound(SegmentErrorCode.RUN_NOT_FOUND, "There is no scoring run yet.")
        counts = snapshot_write(run=run)
    assert user
    if as_json:
        _print_json({"run": run.pk, "as_of": run.as_of.isoformat(),
                     "segments": {str(k): v for k, v in counts.items()}})
        return
    names = dict(Segment.objects.filter(pk__in=counts).values_list("pk", "name"))
    typer.echo(f"Snapshot of {run.as_of}: {len(counts)} segment(s).")
    for pk, n in counts.items():
        typer.echo(f"  {names[pk]:<30} {n:>10,}")


@segments_app.command("migration")
def migration(
    date_from: Annotated[str | None, typer.Option(
        "--from", help="Date of the first scoring run (default: the one before --to).")] = None,
    date_to: Annotated[str | None, typer.Option(
        "--to", help="Date of the second scoring run (default: the latest).")] = None,
    scheme: Annotated[str, typer.Option(
        "--scheme", help="What a customer's segment is: stage, tier, rfm, statistical "
        "(primary statistical segment) or rules (first of --segments that matches).")
    ] = "stage",
    segments: Annotated[str | None, typer.Option(
        "--segments", help="For --scheme rules: segment ids or names, comma-separated, in "
        "order of priority.")] = None,
    cell: Annotated[str | None, typer.Option(
        "--cell", help="List the customers behind one cell, FROM:TO (e.g. loyal:dormant).")
    ] = None,
    clv_min: Annotated[str | None, typer.Option(
        "--clv-min", help="With --cell: only customers with at least this CLV.")] = None,
    clv_at: Annotated[str, typer.Option(
        "--clv-at", help="With --clv-min: the CLV of the 'from' or the 'to' run.")] = "to",
    limit: Annotated[int, typer.Option("--limit", min=1, max=200,
                                       help="With --cell: at most this many.")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """How customers moved between segments from one scoring run to another.

    Prints the transition matrix (customers per cell) and, per cell, the CLV at both ends.
    """
    user = _setup()
    from guanxi.segments.migration import (
        migration_runs,
        segment_migration,
        segment_migration_customers,
    )

    with _reported_errors():
        from_run, to_run = migration_runs(from_date=_date(date_from, "from"),
                                          to_date=_date(date_to, "to"))
        chosen = None
        if segments:
            chosen = [_segment(user, ref.strip()) for ref in segments.split(",") if ref.strip()]
        if cell is not None:
            source, sep, target = cell.partition(":")
            if not sep:
                raise ValidationFailed("invalid_cell", "--cell is FROM:TO, e.g. loyal:dormant.",
                                       field="cell")
            try:
                minimum = Decimal(clv_min) if clv_min is not None else None
            except InvalidOperation:
                raise ValidationFailed("invalid_amount", f"{clv_min!r} is not an amount.",
                                       field="clv_min") from None
            page = segment_migration_customers(
                user=user, from_run=from_run, to_run=to_run, scheme=scheme, segments=chosen,
                source=source, target=target, clv_min=minimum, clv_at=clv_at, limit=limit)
            rows = [{"id": item.customer.pk, "name": item.customer.name,
                     "clv_from": item.clv_from, "clv_to": item.clv_to} for item in page.items]
            if as_json:
                _print_json({"from": from_run.as_of, "to": to_run.as_of, "cell": cell,
                             "customers": rows, "next_cursor": page.next_cursor})
                return
            typer.echo(f"{source} → {target}, {from_run.as_of} → {to_run.as_of}:")
            for row in rows:
                typer.echo(f"  #{row['id']:<8} {row['name']:<20} {row['clv_from'] or '—':>12} → "
                           f"{row['clv_to'] or '—':>12}")
            if page.next_cursor is not None:
                typer.echo(f"  … more (raise --limit to {min(200, limit * 2)})")
            return
        moved = segment_migration(user=user, from_run=from_run, to_run=to_run, scheme=scheme,
                                  segments=chosen)
    if as_json:
        _print_json(moved.as_dict())
        return
    from rich.console import Console
    from rich.table import Table

    matrix = moved.matrix()
    sources = [k for k in moved.labels if k in matrix]
    targets = [k for k in moved.labels if any(k in row for row in matrix.values())]
    table = Table(title=f"{scheme}: {from_run.as_of} → {to_run.as_of} (customers)")
    table.add_column("from \\ to")
    for key in targets:
        table.add_column(moved.labels[key], justify="right")
    for key in sources:
        table.add_row(moved.labels[key], *(f"{matrix[key].get(t, 0):,}" if matrix[key].get(t)
                                           else "" for t in targets))
    console = Console()
    console.print(table)
    value = Table(title="Value moved (sum of CLV)")
    for column in ("from", "to", "customers", "CLV before", "CLV after", "change"):
        value.add_column(column, justify="left" if column in ("from", "to") else "right")
    for c in moved.cells:
        value.add_row(moved.labels[c.source], moved.labels[c.target], f"{c.count:,}",
                      f"{c.value_from:,.2f}", f"{c.value_to:,.2f}", f"{c.value_change:+,.2f}")
    console.print(value)


__all__ = ["register", "segments_app"]
