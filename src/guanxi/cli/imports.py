"""``guanxi import customers|orders|interactions FILE``: data in from CSV, TSV and XLSX.

Exit status: 0 when every row was stored (or unchanged), 1 when some rows were rejected (see the
error report), 2 when the file could not be imported at all (unreadable, missing columns).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from guanxi.cli.main import setup_django
from guanxi.core.errors import GuanxiError

import_app = typer.Typer(name="import", no_args_is_help=True,
                         help="Import customers, orders or interactions from CSV, TSV or XLSX.")

# Files above this size get a progress bar (on stderr, so --json output stays clean).
_PROGRESS_FROM_BYTES = 2 * 1024 * 1024


class FormatOption(StrEnum):
    AUTO = "auto"
    CSV = "csv"
    TSV = "tsv"
    XLSX = "xlsx"
    CDNOW = "cdnow"
    CDNOW_SAMPLE = "cdnow-sample"


FileArg = Annotated[Path, typer.Argument(help="The CSV, TSV or XLSX file.", show_default=False)]
MapOpt = Annotated[list[str] | None, typer.Option(
    "--map", help="COLUMN=FIELD: read FIELD from COLUMN (repeatable); FIELD '-' ignores it.")]
FormatOpt = Annotated[FormatOption, typer.Option("--format", help="File format.")]
SourceOpt = Annotated[str | None, typer.Option(
    "--source-system", help="Whose ids these are (ERP, shop...); default 'default'.")]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Validate only; write nothing.")]
UpdateOpt = Annotated[bool, typer.Option(
    "--update", help="Overwrite stored records that differ from the file.")]
ErrorsOpt = Annotated[Path | None, typer.Option(
    "--errors", help="Where to write rejected rows (default FILE.errors.csv).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")]
UserOpt = Annotated[str | None, typer.Option("--user", help="Import as this user (audit).")]


def _run(kind: str, file: Path, *, mapping: list[str] | None, fmt: FormatOption,
         source_system: str | None, dry_run: bool, update: bool, errors: Path | None,
         as_json: bool, user: str | None, create_customers: bool = False) -> None:
    setup_django()
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    from guanxi.accounts.models import User
    from guanxi.imports import services
    from guanxi.imports.mapping import parse_map_options

    try:
        actor = None
        if user:
            actor = User.objects.filter(username=user).first()
            if actor is None:
                raise GuanxiError("user_not_found", f"There is no user named {user!r}.")
        kwargs: dict[str, Any] = {
            "path": file, "actor": actor, "mapping": parse_map_options(mapping or []),
            "dry_run": dry_run, "update": update, "report_path": errors, "fmt": fmt.value,
            "source_system": source_system or "default",
        }
        if kind == "orders":
            kwargs["create_customers"] = create_customers
        services_by_kind: dict[str, Callable[..., services.ImportResult]] = {
            "customers": services.import_customers, "orders": services.import_orders,
            "interactions": services.import_interactions}
        service = services_by_kind[kind]
        large = file.is_file() and file.stat().st_size >= _PROGRESS_FROM_BYTES
        if large:
            columns = ([BarColumn(), DownloadColumn(), TransferSpeedColumn()]
                       if fmt != FormatOption.XLSX and file.suffix.lower() != ".xlsx"
                       else [BarColumn()])
            with Progress(f"Importing {file.name}", *columns, TimeRemainingColumn(),
                          console=Console(stderr=True), transient=True) as bar:
                task = bar.add_task("import", total=None)

                def progress(done: int, total: int) -> None:
                    bar.update(task, completed=done, total=total)

                result = service(progress=progress, **kwargs)
        else:
            result = service(**kwargs)
    except GuanxiError as exc:
        if as_json:
            typer.echo(json.dumps({"error": exc.as_dict()}, ensure_ascii=False))
        typer.secho(f"Error: {exc.message}", err=True, fg=typer.colors.RED)
        raise typer.Exit(2) from None

    if as_json:
        typer.echo(json.dumps(result.as_dict(), ensure_ascii=False))
    else:
        title = "Dry run (nothing written)" if dry_run else "Imported"
        typer.echo(f"{title} {kind} from {file.name}: read {result.read}, created "
                   f"{result.created}, updated {result.updated}, unchanged {result.unchanged}, "
                   f"rejected {result.rejected} ({result.rows_per_second:,.0f} rows/s).")
        if result.customers_created:
            typer.echo(f"Customers created: {result.customers_created}.")
        if result.error_report:
            typer.echo(f"Rejected rows with their reasons: {result.error_report} — fix them "
                       "and import that file again.", err=True)
    sys.stdout.flush()
    raise typer.Exit(0 if result.ok else 1)


@import_app.command("customers")
def customers_command(file: FileArg, mapping: MapOpt = None,
                      fmt: FormatOpt = FormatOption.AUTO, source_system: SourceOpt = None,
                      dry_run: DryRunOpt = False, update: UpdateOpt = False,
                      errors: ErrorsOpt = None, as_json: JsonOpt = False,
                      user: UserOpt = None) -> None:
    """Import a customer list (客户编号, 客户名称, 手机, 邮箱, 生日, 城市…)."""
    _run("customers", file, mapping=mapping, fmt=fmt, source_system=source_system,
         dry_run=dry_run, update=update, errors=errors, as_json=as_json, user=user)


@import_app.command("orders")
def orders_command(file: FileArg, mapping: MapOpt = None,
                   fmt: FormatOpt = FormatOption.AUTO, source_system: SourceOpt = None,
                   dry_run: DryRunOpt = False, update: UpdateOpt = False,
                   create_customers: Annotated[bool, typer.Option(
                       "--create-customers",
                       help="Create customers the file names but guanxi does not know.")] = False,
                   errors: ErrorsOpt = None, as_json: JsonOpt = False,
                   user: UserOpt = None) -> None:
    """Import orders (订单号, 客户编号, 下单时间, 实付金额, 数量, 商品…); CDNOW: --format cdnow."""
    _run("orders", file, mapping=mapping, fmt=fmt, source_system=source_system,
         dry_run=dry_run, update=update, errors=errors, as_json=as_json, user=user,
         create_customers=create_customers)


@import_app.command("interactions")
def interactions_command(file: FileArg, mapping: MapOpt = None,
                         fmt: FormatOpt = FormatOption.AUTO, source_system: SourceOpt = None,
                         dry_run: DryRunOpt = False, update: UpdateOpt = False,
                         errors: ErrorsOpt = None, as_json: JsonOpt = False,
                         user: UserOpt = None) -> None:
    """Import contacts: calls, visits, e-mails, WeChat… (客户编号, 方式, 时间, 主题, 结果)."""
    _run("interactions", file, mapping=mapping, fmt=fmt, source_system=source_system,
         dry_run=dry_run, update=update, errors=errors, as_json=as_json, user=user)


def register(app: typer.Typer) -> None:
    app.add_typer(import_app)
