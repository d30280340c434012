"""``guanxi value fit`` (models on a file, no database) and ``guanxi score`` (the database)."""

from __future__ import annotations

import json
import math
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from guanxi.cli.options import json_default as _json_default
from guanxi.cli.options import parse_date as _date
from guanxi.core.errors import ValidationFailed

value_app = typer.Typer(name="value", help="Customer value models: fit on a file, score.",
                        no_args_is_help=True)


class FileFormatOption(StrEnum):
    CDNOW = "cdnow"
    CDNOW_SAMPLE = "cdnow-sample"
    GENERIC = "generic"


class TimeUnitOption(StrEnum):
    WEEK = "week"
    DAY = "day"


class EngineOption(StrEnum):
    LOCAL = "local"
    DASK = "dask"


_MODELS = ("bgnbd", "paretonbd", "gammagamma")




def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@value_app.command("fit")
def fit_command(
    file: Annotated[Path, typer.Argument(help="Transactions file.")],
    calibration_end: Annotated[str, typer.Option("--calibration-end",
                                                 help="Last day of the calibration period.")],
    fmt: Annotated[FileFormatOption, typer.Option("--format")] = FileFormatOption.GENERIC,
    holdout_end: Annotated[str | None, typer.Option("--holdout-end",
                                                    help="Last day of the holdout.")] = None,
    time_unit: Annotated[TimeUnitOption, typer.Option("--time-unit")] = TimeUnitOption.WEEK,
    model: Annotated[str, typer.Option("--model",
                                       help="Comma-separated: bgnbd,paretonbd,gammagamma."
                                       )] = "bgnbd,gammagamma",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    out: Annotated[Path | None, typer.Option("--out", help="Per-customer CSV.")] = None,
    plot: Annotated[Path | None, typer.Option("--plot", help="Tracking plot (PNG).")] = None,
) -> None:
    """Fit the value models to a transactions file and report parameters and holdout fit."""
    from guanxi.value.fitfile import fit_file

    models = [m.strip().lower() for m in model.split(",") if m.strip()]
    unknown = [m for m in models if m not in _MODELS]
    if unknown or not models:
        raise ValidationFailed("invalid_model", f"Unknown model {unknown[0] if unknown else ''!r};"
                               f" use {', '.join(_MODELS)}.", field="model")
    cal_end = _date(calibration_end, "calibration_end")
    assert cal_end is not None
    report = fit_file(file, fmt=fmt.value, calibration_end=cal_end,
                      holdout_end=_date(holdout_end, "holdout_end"), time_unit=time_unit.value,
                      models=models, out=out, plot=plot)
    if as_json:
        typer.echo(json.dumps(report, indent=2, default=_json_default))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    s = report["summary"]
    console.print(f"{s['customers']:,} customers, {s['repeat_buyers']:,} with a repeat purchase, "
                  f"{s['repeat_purchases']:,} repeat purchases in calibration.")
    for name, info in report["models"].items():
        table = Table(title=f"{name}  (log-likelihood {info['log_likelihood']:.1f})")
        table.add_column("parameter")
        table.add_column("estimate", justify="right")
        table.add_column("std. error", justify="right")
        errors = info.get("standard_errors") or {}
        for key, val in info["params"].items():
            se = errors.get(key) if isinstance(errors, dict) else None
            table.add_row(key, f"{val:.4f}", "" if se is None else f"{se:.4f}")
        console.print(table)
        if "holdout" in info:
            h = info["holdout"]
            console.print(f"  holdout: actual {h['actual']:,.0f}, predicted "
                          f"{h['predicted']:,.1f} repeat purchases")
    if out:
        console.print(f"Wrote {out}")
    if plot:
        console.print(f"Wrote {plot}")


def score_command(
    as_of: Annotated[str | None, typer.Option("--as-of", help="Score as of this day "
                                              "(default today).")] = None,
    engine: Annotated[EngineOption, typer.Option("--engine")] = EngineOption.LOCAL,
    scheduler: Annotated[str | None, typer.Option("--scheduler",
                                                  help="Dask scheduler address.")] = None,
    full: Annotated[bool, typer.Option(
        "--full", help="Read every order again even when nothing changed since the latest "
        "run (by default such a run moves the latest run's summaries to the new date).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary.")] = False,
) -> None:
    """Score every customer in the database and keep a dated snapshot.

    When no order or customer changed since the latest run, the run starts from that run's
    summaries instead of reading the orders (same numbers, much faster); the summary says
    which path was taken.
    """
    from guanxi.cli.main import setup_django

    setup_django()
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from guanxi.value.services import score_all

    err = Console(stderr=True)
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed:,}"),
                  TimeElapsedColumn(), console=err, transient=True) as bar:
        tasks: dict[str, Any] = {}

        def progress(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(phase, total=total or None)
            bar.update(tasks[phase], completed=done, total=total or None)

        run = score_all(as_of=_date(as_of, "as_of"),
                        engine="dask" if engine is EngineOption.DASK else "local",
                        scheduler=scheduler, progress=progress, full=full)
    from guanxi.value.selectors import run_summary

    summary = run_summary(run)
    if as_json:
        typer.echo(json.dumps(summary, indent=2, default=_json_default))
        return
    how = ("from the summaries of the previous run (nothing changed)"
           if run.path == "incremental" else "from the orders")
    typer.echo(f"Scored {run.n_customers:,} customers ({run.n_buyers:,} buyers) as of "
               f"{run.as_of} {how}; customer equity {run.equity:,}.")
    for stage, count in summary["stages"].items():
        typer.echo(f"  {stage:<9} {count:>10,}")


def register(app: typer.Typer) -> None:
    app.add_typer(value_app)
    app.command("score")(score_command)


__all__ = ["register"]
