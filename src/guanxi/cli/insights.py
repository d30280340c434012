"""``guanxi traits``, ``guanxi prospects rank``, ``guanxi keyaccounts list|plan`` and
``guanxi report strategy``: what the best customers have in common, who resembles them, which
organizations to manage as key accounts, and which customer strategy the data support.

Like the other commands, the CLI acts as the **system** with an administrator's visibility
(every customer) and writes with ``actor=None``. Every command takes ``--json``; errors print
one sentence on stderr and exit with 2.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from guanxi.cli.options import parse_date as _date
from guanxi.core.errors import GuanxiError, ValidationFailed

if TYPE_CHECKING:
    from guanxi.accounts.models import User

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
TopOpt = Annotated[str, typer.Option(
    "--top", help="Value tiers that count as best customers, comma-separated "
    "(vip, key, major, ordinary).")]

prospects_app = typer.Typer(name="prospects", no_args_is_help=True,
                            help="Look-alike prospects: rank the prospects that resemble the "
                            "best customers.")
keyaccounts_app = typer.Typer(name="keyaccounts", no_args_is_help=True,
                              help="Key accounts (大客户): candidate organizations and their "
                              "plans.")
report_app = typer.Typer(name="report", no_args_is_help=True,
                         help="Reports for managers: the customer strategy.")


def register(app: typer.Typer) -> None:
    app.command("traits")(traits_command)
    app.add_typer(prospects_app)
    app.add_typer(keyaccounts_app)
    app.add_typer(report_app)


@contextmanager
def _django() -> Iterator[User]:
    """Set Django up, yield the system viewer, and turn guanxi errors into one sentence."""
    from guanxi.cli.main import setup_django

    setup_django()
    from guanxi.accounts.models import Role, User

    try:
        yield User(username="system", role=Role.ADMIN, is_superuser=True)
    except GuanxiError as exc:
        typer.secho(f"Error: {exc.message}", err=True, fg=typer.colors.RED)
        raise typer.Exit(2) from None


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def _tiers(top: str) -> list[str]:
    return [t.strip() for t in top.split(",") if t.strip()]


def traits_command(top: TopOpt = "vip,key", as_json: JsonOpt = False) -> None:
    """What distinguishes the best customers, in plain words.

    Traits known at acquisition (source, industry, company size, city tier, income band, kind,
    first order's category and size), strongest first, with their lift and support; and how
    well they predict: AUC and top-decile lift on held-out customers.
    """
    with _django() as user:
        from guanxi.insights.reports import traits_report

        report = traits_report(user=user, top_tiers=_tiers(top))
    summary = {
        "top_tiers": list(report.top_tiers), "customers": report.n_customers,
        "top_customers": report.n_top, "base_rate": report.base_rate,
        "holdout_customers": report.n_holdout, "holdout_auc": report.holdout_auc,
        "top_decile_lift": report.top_decile_lift, "traits": report.traits,
    }
    if as_json:
        _print_json(summary)
        return
    typer.echo(f"{report.n_top:,} of {report.n_customers:,} scored customers "
               f"({100 * report.base_rate:.1f}%) are {report.top_label}.")
    typer.echo(f"On {report.n_holdout:,} held-out customers: AUC {report.holdout_auc:.2f}, "
               f"top-decile lift {report.top_decile_lift:.1f}×.")
    if not report.traits:
        typer.echo("No trait distinguishes them significantly.")
    for i, t in enumerate(report.traits, start=1):
        typer.echo(f"{i:>2}. {t['sentence']}")


@prospects_app.command("rank")
def prospects_rank_command(
    top: TopOpt = "vip,key",
    limit: Annotated[int, typer.Option("--limit", min=0,
                                       help="Prospects to print (0: all).")] = 20,
    export: Annotated[Path | None, typer.Option(
        "--export", help="Write the whole ranking to this file: .csv or .xlsx.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Rank prospects (customers without a purchase) by resemblance to the best customers.

    Only prospects with a granted marketing consent on some channel are ranked; the others are
    counted as excluded with the reason (no consent recorded, consent withdrawn, objected to
    profiling). Each ranked prospect comes with the three traits that lift its score.
    """
    if export is not None and export.suffix.lower() not in (".csv", ".xlsx"):
        typer.secho("Error: --export must name a .csv or .xlsx file.", err=True,
                    fg=typer.colors.RED)
        raise typer.Exit(2)
    with _django() as user:
        from guanxi.insights.reports import exclusion_label, prospects_rank, ranking_table

        ranking = prospects_rank(user=user, top_tiers=_tiers(top))
        rows = ranking.rows(0, limit or None)
        if export is not None:
            from guanxi.insights.exports import write_table

            header, table = ranking_table(ranking)
            write_table(export, header, table)
    excluded = ranking.excluded_counts
    if as_json:
        _print_json({"ranked": len(ranking.ids), "excluded": excluded,
                     "holdout_auc": ranking.holdout_auc, "prospects": rows,
                     "export": str(export) if export else None})
        return
    typer.echo(f"{len(ranking.ids):,} prospects ranked by resemblance to {ranking.top_label} "
               f"customers (model AUC {ranking.holdout_auc:.2f}).")
    for reason, count in excluded.items():
        typer.echo(f"  excluded {count:,}: {exclusion_label(reason)}")
    for row in rows:
        drivers = "; ".join(d["label"] for d in row["drivers"])
        typer.echo(f"{row['rank']:>5}. #{row['id']} {row['name'] or ''}  "
                   f"{row['probability']:.3f}  {drivers}")
    if export is not None:
        typer.echo(f"Wrote {len(ranking.ids):,} prospects to {export}")


@keyaccounts_app.command("list")
def keyaccounts_list_command(
    candidates: Annotated[bool, typer.Option("--candidates",
                                             help="Only the candidates.")] = False,
    years: Annotated[int, typer.Option("--years", min=2, max=10,
                                       help="Years of continuity to look at.")] = 4,
    limit: Annotated[int, typer.Option("--limit", min=0,
                                       help="Organizations to list, best first (0: all).")
                     ] = 50,
    as_json: JsonOpt = False,
) -> None:
    """Organizations with product fit, purchasing mode and continuity, candidates first.

    A candidate buys at least 30% of the catalogue's categories, places at least 60% of its
    spend through one buyer, and bought in 3 of the last 4 years with a yearly spend varying
    by at most 50%.
    """
    with _django() as user:
        from guanxi.insights.reports import key_account_candidates

        rows = key_account_candidates(user=user, n_periods=years, candidates_only=candidates,
                                      limit=limit or None)
    if as_json:
        _print_json(rows)
        return
    if not rows:
        typer.echo("No organizations.")
    for r in rows:
        flag = "candidate" if r["candidate"] else "—"
        stage = f", plan: {r['plan_stage']}" if r["plan_stage"] else ""
        typer.echo(f"#{r['id']} {r['name']}  ¥{r['spend']:,.0f}  {flag}{stage}")
        for line in r["explanation"]:
            typer.echo(f"    {line}")



@keyaccounts_app.command("plan")
def keyaccounts_plan_command(
    account: Annotated[int, typer.Argument(help="The organization's customer id.")],
    owner: Annotated[str | None, typer.Option("--owner", help="Owner's user name.")] = None,
    goals: Annotated[str | None, typer.Option("--goals", help="Goals of the plan.")] = None,
    notes: Annotated[str | None, typer.Option("--notes", help="Notes.")] = None,
    review: Annotated[str | None, typer.Option("--review",
                                               help="Next review date (YYYY-MM-DD).")] = None,
    stage: Annotated[str | None, typer.Option(
        "--stage", help="Set the stage: build, stabilize or strengthen.")] = None,
    advance: Annotated[bool, typer.Option("--advance",
                                          help="Move to the next stage.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Show or change an organization's key-account plan (created at stage build if none).

    Stages: build → stabilize → strengthen (--advance moves one step).
    """
    with _django() as user:
        from guanxi.accounts.models import User as UserModel
        from guanxi.core.errors import NotFound
        from guanxi.insights import selectors, services
        from guanxi.insights.errors import InsightsErrorCode

        fields: dict[str, Any] = {}
        if owner is not None:
            try:
                fields["owner"] = UserModel.objects.get(username=owner)
            except UserModel.DoesNotExist:
                raise ValidationFailed(InsightsErrorCode.INVALID_OWNER,
                                       f"No user named {owner!r}.", field="owner") from None
        if goals is not None:
            fields["goals"] = goals
        if notes is not None:
            fields["notes"] = notes
        if review is not None:
            fields["next_review_on"] = _date(review, "review")
        if stage is not None:
            fields["stage"] = stage
        org = selectors.access_organization(user=user, customer_id=account, write=True)
        try:
            plan = selectors.access_plan(user=user, account_id=org.pk, write=True)
            if fields:
                plan = services.key_account_plan_update(actor=None, plan=plan, **fields)
        except NotFound:
            plan = services.key_account_plan_create(actor=None, account=org, **fields)
        if advance:
            plan = services.key_account_plan_advance(actor=None, plan=plan)
        data = {"account": org.pk, "name": org.name, "stage": plan.stage,
                "owner": plan.owner.username if plan.owner else None, "goals": plan.goals,
                "notes": plan.notes, "next_review_on": plan.next_review_on}
    if as_json:
        _print_json(data)
        return
    typer.echo(f"#{org.pk} {org.name}: stage {plan.get_stage_display()}, owner "
               f"{data['owner'] or '—'}, next review {plan.next_review_on or '—'}")
    if plan.goals:
        typer.echo(f"  goals: {plan.goals}")


@report_app.command("strategy")
def report_strategy_command(as_json: JsonOpt = False) -> None:
    """Which customer strategy the data support: undifferentiated, differentiated or focused.

    Shows value concentration (equity held by the top 1%, 5%, 20%), how different the segments
    are in value, category preferences and price level, and each condition with its number.
    """
    with _django() as user:
        from guanxi.insights.reports import strategy

        report = strategy(user=user)
    if as_json:
        _print_json(report)
        return
    conc = report["concentration"]
    typer.echo(f"{conc['n_customers']:,} scored customers, equity ¥{conc['total_equity']:,.0f}"
               f" (Gini {conc['gini']:.2f}).")
    typer.echo("Top 1% hold {:.0%}, top 5% hold {:.0%}, top 20% hold {:.0%} of equity.".format(
        conc["top_shares"]["1%"], conc["top_shares"]["5%"], conc["top_shares"]["20%"]))
    typer.echo(f"Recommendation ({report['basis']} segments): "
               f"{report['recommendation_label']}")
    for e in report["evidence"]:
        typer.echo(f"  - {e['sentence']}")
    typer.echo(report["price_basis"])


__all__ = ["register"]
