"""``guanxi segments build``: find statistical segments in the latest scores.

Registered on the ``segments`` command group by ``guanxi.cli.segments`` through
:func:`register_build`.
"""

from __future__ import annotations

import datetime as dt
import json
from enum import StrEnum
from typing import Annotated, Any

import typer

from guanxi.core.errors import GuanxiError, ValidationFailed


class CriterionOption(StrEnum):
    BIC = "bic"
    SILHOUETTE = "silhouette"


def parse_k_range(value: str) -> tuple[int, int]:
    """``"6-10"`` → (6, 10); ``"8"`` → (8, 8)."""
    low, sep, high = value.strip().partition("-")
    try:
        k_range = (int(low), int(high) if sep else int(low))
    except ValueError:
        raise ValidationFailed("segmentation_invalid_settings",
                               f"{value!r} is not a range of segment counts like 6-10.",
                               field="k") from None
    return k_range


def build_command(
    k: Annotated[str, typer.Option(
        "--k", help="How many segments to try, as a range: the build keeps the number the "
        "criterion prefers (default 6-10; 2-30 allowed).")] = "6-10",
    criterion: Annotated[CriterionOption, typer.Option(
        "--criterion", help="bic: lowest Bayesian information criterion of the Gaussian "
        "mixture; silhouette: best separated segments.")] = CriterionOption.BIC,
    traits: Annotated[str, typer.Option(
        "--traits", help="Comma-separated profile traits to cluster on besides value and "
        "behaviour: source, income_band, city_tier, kind, industry, company_size, gender. "
        "All of them describe the segments anyway.")] = "",
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="Segment the scoring run of this day (default: the latest).")] = None,
    seed: Annotated[int | None, typer.Option(
        "--seed", help="Random seed, for a build that can be repeated exactly.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Find statistical segments in the scored customers and store who belongs to which.

    Customers are clustered on lifetime value, P(alive), purchases, recency, spend, tenure and
    the regularity of their purchases; each gets membership probabilities, each segment a
    description and a suggested name. Segments that stay similar keep their names (and any
    name a person gave them) from one build to the next.
    """
    try:
        _build(k=k, criterion=criterion, traits=traits, as_of=as_of, seed=seed,
               as_json=as_json)
    except GuanxiError as exc:
        # One sentence on stderr and exit code 2, like every guanxi command.
        typer.secho(f"Error: {exc.message}", err=True, fg=typer.colors.RED)
        raise typer.Exit(2) from None


def _build(*, k: str, criterion: CriterionOption, traits: str, as_of: str | None,
           seed: int | None, as_json: bool) -> None:
    from guanxi.cli.main import setup_django

    setup_django()
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from guanxi.segments.selectors import run_by_date
    from guanxi.segments.statistical import segmentation_build, segmentation_summary

    run = None
    if as_of:
        try:
            day = dt.date.fromisoformat(as_of)
        except ValueError:
            raise ValidationFailed("invalid_date", f"{as_of!r} is not a date like 2026-06-30.",
                                   field="as_of") from None
        run = run_by_date(day)
    cluster = [t.strip() for t in traits.split(",") if t.strip()]
    err = Console(stderr=True)
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed:,}"),
                  TimeElapsedColumn(), console=err, transient=True) as bar:
        tasks: dict[str, Any] = {}

        def progress(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(phase, total=total or None)
            bar.update(tasks[phase], completed=done, total=total or None)

        segmentation = segmentation_build(run=run, k_range=parse_k_range(k),
                                          criterion=criterion.value, cluster_traits=cluster,
                                          seed=seed, progress=progress)
    summary = segmentation_summary(segmentation)
    if as_json:
        typer.echo(json.dumps(summary, indent=2, ensure_ascii=False))
        return
    console = Console()
    console.print(f"{summary['n_segments']} segments among {summary['n_customers']:,} scored "
                  f"buyers (as of {summary['as_of']}), chosen by {summary['criterion']} in "
                  f"{summary['timings'].get('total', 0):.1f} s.")
    table = Table()
    for column, justify in (("id", "right"), ("segment", "left"), ("customers", "right"),
                            ("share", "right"), ("equity", "right"), ("mean CLV", "right"),
                            ("RFM", "left"), ("stands out", "left")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]  # rich's Literal
    for s in summary["segments"]:
        standout = "; ".join(f"{t['phrase']} ×{t['lift']:.1f}"
                             for t in s["traits"] or [])
        table.add_row(str(s["id"]), s["name"], f"{s['size']:,}", f"{s['share']:.1%}",
                      f"{s['equity_share']:.1%}", f"{s['mean_clv']:,.0f}",
                      s["typical_rfm"] or "", standout)
    console.print(table)


def register_build(segments_app: typer.Typer) -> None:
    """Add ``build`` to the ``guanxi segments`` group."""
    segments_app.command("build")(build_command)


__all__ = ["build_command", "parse_k_range", "register_build"]
