"""Pages of the insights domain: parse, one access check (in the reports/selectors), render.

Aggregate pages (traits, strategy) are for managers, analysts and admins — a rep gets a 403;
the prospect ranking and key accounts show each person what they may see (a rep their own).
"""

from __future__ import annotations

import io
import warnings
from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from guanxi.accounts.models import Role, User
from guanxi.core.errors import Conflict, NotFound, ValidationFailed
from guanxi.customers.models import ValueTier
from guanxi.customers.selectors import can_change_customer
from guanxi.insights import reports, selectors, services
from guanxi.insights.exports import table_csv
from guanxi.insights.models import KeyAccountPlan, KeyAccountStage
from guanxi.web.charts import Chart
from guanxi.web.views import _user, guanxi_errors

PAGE = 50
# The key-accounts page lists the best this many (candidates first); the API pages further.
PAGE_ACCOUNTS = 200


def _render(request: HttpRequest, template: str, context: dict[str, Any],
            status: int = 200) -> HttpResponse:
    """Render with what the insights navigation needs (which links this person gets)."""
    user = _user(request)
    context.setdefault("aggregates", selectors.can_see_aggregates(user))
    context.setdefault("outreach", user.is_admin_role or user.role != Role.AGENT)
    return render(request, template, context, status=status)


def _top(request: HttpRequest) -> list[str]:
    return [t for t in request.GET.get("top", "vip,key").split(",") if t.strip()]


@login_required
@require_GET
def index(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    return _render(request, "insights/index.html",
                   {"aggregates": selectors.can_see_aggregates(user)})


@login_required
@require_GET
@guanxi_errors
def traits(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    try:
        report = reports.traits_report(user=user, top_tiers=_top(request))
    except ValidationFailed as exc:
        return _render(request, "insights/traits.html", {"error": exc.message})
    return _render(request, "insights/traits.html", {"report": report})


@login_required
@require_GET
@guanxi_errors
def prospects(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    try:
        ranking = reports.prospects_rank(user=user, top_tiers=_top(request))
    except ValidationFailed as exc:
        return _render(request, "insights/prospects.html", {"error": exc.message})
    fmt = request.GET.get("format")
    if fmt in ("csv", "xlsx"):
        from guanxi.insights.exports import table_response

        header, table = reports.ranking_table(ranking)
        return table_response(fmt, header, table)
    try:
        page = max(int(request.GET.get("page", "1")), 1)
    except ValueError:
        page = 1
    start = (page - 1) * PAGE
    rows = ranking.rows(start, start + PAGE)
    excluded = [(reports.exclusion_label(r), n) for r, n in ranking.excluded_counts.items()]
    return _render(request, "insights/prospects.html", {
        "ranking": ranking, "rows": rows, "excluded": excluded, "page": page,
        "has_next": start + PAGE < len(ranking.ids), "top": request.GET.get("top", "vip,key"),
    })


@login_required
@require_GET
@guanxi_errors
def key_accounts(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    rows = reports.key_account_candidates(user=user, limit=PAGE_ACCOUNTS,
                                          candidates_only=bool(request.GET.get("candidates")))
    return _render(request, "insights/key_accounts.html",
                  {"rows": rows, "only_candidates": bool(request.GET.get("candidates")),
                   "stages": dict(KeyAccountStage.choices)})


class PlanForm(forms.Form):
    owner = forms.ModelChoiceField(queryset=User.objects.none(), required=False,
                                   label=gettext_lazy("Owner"))
    stage = forms.ChoiceField(choices=KeyAccountStage.choices, label=gettext_lazy("Stage"))
    goals = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False,
                            label=gettext_lazy("Goals"))
    next_review_on = forms.DateField(required=False, label=gettext_lazy("Next review"),
                                     widget=forms.DateInput(attrs={"type": "date"}))
    notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False,
                            label=gettext_lazy("Notes"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        owner_field = self.fields["owner"]
        assert isinstance(owner_field, forms.ModelChoiceField)
        owner_field.queryset = User.objects.filter(
            is_active=True, role__in=[Role.ADMIN, Role.MANAGER, Role.REP]).order_by("username")


@login_required
@require_http_methods(["GET", "POST"])
@guanxi_errors
def plan(request: HttpRequest, account_id: int) -> HttpResponse:
    user = _user(request)
    account = selectors.access_organization(user=user, customer_id=account_id)
    try:
        current = selectors.access_plan(user=user, account_id=account_id)
    except NotFound:
        current = None
    writable = can_change_customer(user, account)
    if request.method == "POST":
        account = selectors.access_organization(user=user, customer_id=account_id, write=True)
        form = PlanForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                if current is None:
                    services.key_account_plan_create(
                        actor=user, account=account, owner=data["owner"], goals=data["goals"],
                        notes=data["notes"], next_review_on=data["next_review_on"],
                        stage=data["stage"])
                else:
                    services.key_account_plan_update(actor=user, plan=current, **data)
            except (ValidationFailed, Conflict) as exc:
                form.add_error(None, exc.message)
            else:
                return HttpResponseRedirect(reverse("insights:plan", args=[account_id]))
    elif current is not None:
        form = _plan_form(current)
    else:
        form = PlanForm(initial={"owner": user if user.role != Role.ANALYST else None,
                                 "stage": KeyAccountStage.BUILD})
    measures = next(iter(reports.key_account_candidates(user=user,
                                                        organization_id=account.pk)), None)
    return _render(request, "insights/plan.html", {
        "account": account, "plan": current, "form": form, "writable": writable,
        "measures": measures, "last_stage": current is not None
        and current.stage == KeyAccountStage.STRENGTHEN})


@login_required
@require_POST
@guanxi_errors
def plan_advance(request: HttpRequest, account_id: int) -> HttpResponse:
    user = _user(request)
    current = selectors.access_plan(user=user, account_id=account_id, write=True)
    try:
        plan = services.key_account_plan_advance(actor=user, plan=current)
    except Conflict:
        plan = current  # already in the last stage (a second click): show it as it is
    if getattr(request, "htmx", False):
        # In place: the panel with the new stage, and its form showing the new values.
        return _render(request, "insights/_plan_panel.html", {
            "account": plan.account, "plan": plan, "writable": True,
            "last_stage": plan.stage == KeyAccountStage.STRENGTHEN,
            "form": _plan_form(plan)})
    return HttpResponseRedirect(reverse("insights:plan", args=[account_id]))


def _plan_form(plan: KeyAccountPlan) -> PlanForm:
    return PlanForm(initial={"owner": plan.owner, "stage": plan.stage, "goals": plan.goals,
                             "notes": plan.notes, "next_review_on": plan.next_review_on})


def _pareto_chart(report: dict[str, Any]) -> Chart:
    conc = report["concentration"]
    rows = [[f"{round(x * 100)}%", round(100 * y, 1)] for x, y in conc["pareto"][::5]]
    return Chart("pareto", _("Value concentration (Pareto curve)"),
                 [_("Top share of customers"), _("Share of customer equity (%)")], rows,
                 _pareto_svg(conc["pareto"], conc["top_shares"]))


def _pareto_svg(points: list[list[float]], top: dict[str, float]) -> SafeString:
    w, h, left, pad = 520, 260, 46, 24

    def xy(x: float, y: float) -> tuple[float, float]:
        return left + (w - left - pad) * x, h - pad - (h - 2 * pad) * y

    line = " ".join("{:.1f},{:.1f}".format(*xy(x, y)) for x, y in points)
    diag = "{:.1f},{:.1f} {:.1f},{:.1f}".format(*xy(0, 0), *xy(1, 1))
    body = [f'<line x1="{left}" y1="{h - pad}" x2="{w - pad}" y2="{h - pad}" stroke="#d8dee4"/>',
            f'<line x1="{left}" y1="{pad}" x2="{left}" y2="{h - pad}" stroke="#d8dee4"/>',
            f'<polyline fill="none" stroke="#d8dee4" stroke-dasharray="4 4" points="{diag}"/>',
            f'<polyline fill="none" stroke="#b3261e" stroke-width="2" points="{line}"/>']
    for label, share in (("1%", 0.01), ("5%", 0.05), ("20%", 0.20)):
        x, y = xy(share, top[label])
        body.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="#b3261e"/>')
        body.append(f'<text x="{x + 6:.1f}" y="{y + 14:.1f}" font-size="11" fill="#1f2328">'
                    f'{escape(label)}: {100 * top[label]:.0f}%</text>')
    for v in (0, 0.5, 1):
        x, y = xy(0, v)
        body.append(f'<text x="{x - 6:.1f}" y="{y + 4:.1f}" font-size="11" text-anchor="end" '
                    f'fill="#1f2328">{int(v * 100)}%</text>')
        x, y = xy(v, 0)
        body.append(f'<text x="{x:.1f}" y="{h - 6}" font-size="11" text-anchor="middle" '
                    f'fill="#1f2328">{int(v * 100)}%</text>')
    label = escape(_("Value concentration (Pareto curve)"))
    return mark_safe(  # every text inside went through escape() or is a number
        f'<svg class="chart" viewBox="0 0 {w} {h}" role="img" aria-label="{label}" '
        f'xmlns="http://www.w3.org/2000/svg">{"".join(body)}</svg>')


def _pareto_png(chart: Chart, points: list[list[float]]) -> bytes:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4), dpi=100)
    ax = fig.add_subplot()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*Glyph .* missing from.*")
        ax.plot([100 * p[0] for p in points], [100 * p[1] for p in points], color="#b3261e")
        ax.plot([0, 100], [0, 100], color="#d8dee4", linestyle="--")
        ax.set_xlabel(chart.columns[0])
        ax.set_ylabel(chart.columns[1])
        ax.set_title(chart.title)
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
    return buffer.getvalue()


@login_required
@require_GET
@guanxi_errors
def strategy(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    try:
        report = reports.strategy(user=user)
    except ValidationFailed as exc:
        return _render(request, "insights/strategy.html", {"error": exc.message})
    chart = _pareto_chart(report)
    fmt = request.GET.get("format")
    if fmt == "csv":
        response = HttpResponse(table_csv(chart.columns, chart.rows),
                                content_type="text/csv; charset=utf-8")
    elif fmt == "png":
        response = HttpResponse(_pareto_png(chart, report["concentration"]["pareto"]),
                                content_type="image/png")
    elif fmt:
        raise Http404(_("Unknown format."))
    else:
        segs = report["segmentations"]
        return _render(request, "insights/strategy.html", {
            "report": report, "chart": chart, "basis": segs[report["basis"]],
            "segmentations": segs, "tier_labels": dict(ValueTier.choices)})
    response["Content-Disposition"] = f'attachment; filename="guanxi-pareto.{fmt}"'
    return response
