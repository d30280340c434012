"""Segments pages (issue #5 §6): list, rule builder with a live preview, detail, migration.

Every read goes through ``guanxi.segments.selectors`` (members through ``customers_visible``:
a rep sees only their own customers inside any segment) and every write through
``guanxi.segments.services`` or the statistical build. An analyst sees segments and their
aggregates but no customer's name or contact details, as on the dashboard.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.db.models import Sum
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from guanxi.accounts.models import User
from guanxi.core.errors import GuanxiError
from guanxi.core.pagination import keyset_page
from guanxi.customers.models import LifecycleStage, ValueTier
from guanxi.customers.selectors import can_see_contact_details, customers_visible
from guanxi.segments import selectors
from guanxi.segments.forms import (
    BuildForm,
    ConditionForm,
    RenameForm,
    RuleForm,
    rule_is_simple,
)
from guanxi.segments.migration import (
    SCHEMES,
    migration_runs,
    segment_migration,
    segment_migration_customers,
)
from guanxi.segments.models import Segment, Segmentation, SegmentKind
from guanxi.segments.rules import FIELDS, describe_rule
from guanxi.segments.services import segment_create, segment_update
from guanxi.segments.statistical import (
    TRAIT_LABELS,
    can_build_segments,
    check_can_build,
    display_name,
    latest_segmentation,
    segmentation_build_task,
    trait_phrase,
)
from guanxi.value.models import RunStatus, ScoreRun
from guanxi.value.selectors import latest_run
from guanxi.web import exports
from guanxi.web.charts import Chart, _sankey_svg, png
from guanxi.web.templatetags.guanxi_web import segment_label
from guanxi.web.views import guanxi_errors

MEMBERS_PER_PAGE = 50
LIST_CACHE_SECONDS = 3600


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User), "login_required runs first"
    return user


def _is_htmx(request: HttpRequest) -> bool:
    return bool(getattr(request, "htmx", False))


# -- list ---------------------------------------------------------------------------------------


def _equity(user: User) -> Decimal:
    """Sum of CLV of everything ``user`` may see (the run's total for who sees everyone)."""
    if selectors.sees_every_customer(user):
        run = latest_run()
        if run is not None and run.equity is not None:
            return run.equity
    total = customers_visible(user=user).aggregate(v=Sum("value__clv"))["v"]
    return Decimal(total or 0)


def _list_rows(user: User, segments: list[Segment]) -> list[dict[str, Any]]:
    """Per segment: members the user may see in its latest snapshot and their value.

    One grouped query over the snapshots: a statistical segment counts its customers' primary
    memberships in its build's run, a rule or list segment its members in the latest run.
    Snapshots only change with a scoring run or a build, so the counts are cached under both
    (a million customers hold some 15 million memberships to group).
    """
    latest = latest_run()
    build = latest_segmentation()
    key = "segments-list:{}:{}:{}:{}".format(
        latest.pk if latest else 0, build.pk if build else 0, user.pk,
        ",".join(str(s.pk) for s in segments))
    counts = cache.get(key)
    if counts is None:
        counts = selectors.segment_counts(user=user, segments=segments, latest=latest)
        cache.set(key, counts, LIST_CACHE_SECONDS)
    equity = _equity(user)
    out = []
    for s in segments:
        n, value = counts.get(s.pk, (None, None))
        out.append({
            "segment": s, "name": display_name(s), "size": n, "value": value,
            "value_share": float(value / equity) if value is not None and equity else None,
            "rule": describe_rule(s.definition) if s.kind == SegmentKind.DYNAMIC else "",
        })
    return out


@login_required
@require_GET
@guanxi_errors
def segment_list(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    segments = list(selectors.segment_list(user=user).select_related("segmentation"))
    rows = _list_rows(user, segments)
    kinds = dict(SegmentKind.choices)
    return render(request, "segments/list.html", {
        "groups": [(kinds[k], [r for r in rows if r["segment"].kind == k])
                   for k in (SegmentKind.STATISTICAL, SegmentKind.DYNAMIC, SegmentKind.STATIC)],
        "can_create": selectors.can_create_segments(user),
        "can_build": can_build_segments(user),
        "build_form": BuildForm(),
        "segmentation": latest_segmentation(),
        "last_build": Segmentation.objects.order_by("-created_at", "-id").first(),
        "building": request.GET.get("building") == "1",
        "run": latest_run(),
    })


@login_required
@require_POST
@guanxi_errors
def segment_build(request: HttpRequest) -> HttpResponse:
    """Start a statistical build in the background (admins, managers, analysts)."""
    user = _user(request)
    check_can_build(user)
    form = BuildForm(request.POST)
    if not form.is_valid() or form.cleaned_data["k_min"] > form.cleaned_data["k_max"]:
        return HttpResponse(_("Choose the fewest and most segments, fewest first."),
                            status=422)
    data = form.cleaned_data
    segmentation_build_task.enqueue(k_range=[data["k_min"], data["k_max"]],
                                    criterion=data["criterion"], cluster_traits=[],
                                    user_id=user.pk)
    return HttpResponseRedirect(reverse("segments:list") + "?building=1")


# -- detail -------------------------------------------------------------------------------------


def _traits_url() -> str | None:
    """The ranked best-customer traits page, when the insights pages provide it."""
    for name in ("insights:traits", "insights:index"):
        try:
            return reverse(name)
        except NoReverseMatch:
            continue
    return None


def _statistical_profile(segment: Segment) -> dict[str, Any] | None:
    profile = segment.profile or {}
    if segment.kind != SegmentKind.STATISTICAL or not profile:
        return None
    traits = [{
        "label": str(TRAIT_LABELS.get(t["trait"], t["trait"])),
        "phrase": trait_phrase(t["trait"], t["value"]),
        "support": t["support"], "overall": t["overall"], "lift": t["lift"],
    } for t in profile.get("traits", [])]
    return {**profile, "trait_rows": traits}


@login_required
@require_GET
@guanxi_errors
def segment_detail(request: HttpRequest, segment_id: int) -> HttpResponse:
    user = _user(request)
    segment = selectors.access_segment(user=user, segment_id=segment_id)
    after = request.GET.get("after")
    members = selectors.segment_customers(user=user, segment=segment).select_related(
        "owner", "value")
    page = keyset_page(members, after=int(after) if after and after.isdigit() else None,
                       limit=MEMBERS_PER_PAGE)
    probability: dict[int, float | None] = {}
    if segment.kind == SegmentKind.STATISTICAL and segment.segmentation and page.items:
        probability = selectors.membership_probabilities(
            segment=segment, run_id=segment.segmentation.run_id,
            customer_ids=[c.pk for c in page.items])
    context = {
        "segment": segment,
        "name": display_name(segment),
        "members": [(c, probability.get(c.pk)) for c in page.items],
        "next_cursor": page.next_cursor,
        "show_names": can_see_contact_details(user),
        "stages": dict(LifecycleStage.choices),
        "tiers": dict(ValueTier.choices),
    }
    if _is_htmx(request) and after:
        return render(request, "segments/_members.html", context)
    context.update({
        "summary": selectors.segment_summary(user=user, segment=segment),
        "history": selectors.segment_history(user=user, segment=segment),
        "rule": describe_rule(segment.definition) if segment.kind == SegmentKind.DYNAMIC
        else "",
        "profile": _statistical_profile(segment),
        "can_change": selectors.can_change_segment(user, segment),
        "rename_form": RenameForm(initial={"name": display_name(segment)}),
        "traits_url": _traits_url(),
    })
    return render(request, "segments/detail.html", context)


@login_required
@require_POST
@guanxi_errors
def segment_rename(request: HttpRequest, segment_id: int) -> HttpResponse:
    user = _user(request)
    segment = selectors.access_segment(user=user, segment_id=segment_id, write=True)
    form = RenameForm(request.POST)
    error = ""
    if form.is_valid():
        try:
            segment = segment_update(user=user, segment=segment, name=form.cleaned_data["name"])
        except GuanxiError as exc:
            error = exc.message
    else:
        error = _("A segment needs a name.")
    if not _is_htmx(request):
        return HttpResponseRedirect(reverse("segments:detail", args=[segment.pk]))
    return render(request, "segments/_title.html", {
        "segment": segment, "name": display_name(segment), "can_change": True,
        "rename_form": RenameForm(initial={"name": display_name(segment)}), "error": error,
    }, status=422 if error else 200)


# -- builder ------------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
@guanxi_errors
def segment_builder(request: HttpRequest, segment_id: int | None = None) -> HttpResponse:
    """Create a rule segment, or edit one (its creator, their manager, an admin)."""
    user = _user(request)
    segment = None
    if segment_id is not None:
        segment = selectors.access_segment(user=user, segment_id=segment_id, write=True)
        if segment.kind != SegmentKind.DYNAMIC:
            raise Http404(_("Only rule segments have conditions to edit."))
    elif not selectors.can_create_segments(user):
        return HttpResponse(_("You may not create segments."), status=403)
    simple = segment is None or rule_is_simple(segment.definition)
    initial = {"name": segment.name, "description": segment.description} if segment else {}
    form = RuleForm(request.POST if request.method == "POST" else None,
                    initial=initial, initial_rule=segment.definition if segment else None)
    error = ""
    if request.method == "POST" and form.is_valid():
        definition = form.definition()
        name = form.cleaned_data.get("name") or ""
        try:
            if segment is None:
                segment = segment_create(user=user, name=name, definition=definition,
                                         description=form.cleaned_data.get("description", ""))
            else:
                segment_update(user=user, segment=segment, name=name or segment.name,
                               definition=definition,
                               description=form.cleaned_data.get("description", ""))
            return HttpResponseRedirect(reverse("segments:detail", args=[segment.pk]))
        except GuanxiError as exc:
            error = exc.message
    return render(request, "segments/builder.html", {
        "form": form, "segment": segment, "simple": simple, "error": error,
        "fields": FIELDS,
        "preview": _preview(user, form) if request.method == "POST" else None,
    }, status=422 if error else 200)


def _preview(user: User, form: RuleForm) -> dict[str, Any]:
    if not form.is_valid():
        return {"error": _("Check the conditions.")}
    definition = form.definition()
    if not next(iter(definition.values())):
        return {"empty": True}
    try:
        preview = selectors.segment_preview(definition=definition, user=user)
    except GuanxiError as exc:
        return {"error": exc.message, "field": exc.field}
    return {"preview": preview}


@login_required
@require_GET
def condition_row(request: HttpRequest) -> HttpResponse:
    """One builder row redrawn for its field: only that field's conditions are offered."""
    prefix = request.GET.get("row", "")
    if not re.fullmatch(r"c\d{1,2}", prefix):
        raise Http404(_("Unknown row."))
    form = ConditionForm(request.GET, prefix=prefix)
    return render(request, "segments/_condition.html", {"c": form})


@login_required
@require_POST
@guanxi_errors
def segment_preview(request: HttpRequest) -> HttpResponse:
    """The live size and value share of the rule being edited (htmx, on every change)."""
    user = _user(request)
    return render(request, "segments/_preview.html",
                  _preview(user, RuleForm(request.POST)))


# -- migration ----------------------------------------------------------------------------------


def _runs() -> list[ScoreRun]:
    return list(ScoreRun.objects.filter(status=RunStatus.COMPLETE).order_by("-as_of", "-id")[:60])


def _migration_params(request: HttpRequest) -> dict[str, Any]:
    """Dates, scheme and (for the rules scheme) segments from the query string."""
    def day(key: str) -> dt.date | None:
        try:
            return dt.date.fromisoformat(request.GET.get(key, ""))
        except ValueError:
            return None

    scheme = request.GET.get("scheme") or "stage"
    if scheme not in SCHEMES:
        scheme = "stage"
    ids = [int(i) for i in request.GET.getlist("segments") if i.isdigit()]
    segments = None
    if scheme == "rules":
        segments = list(Segment.objects.filter(pk__in=ids, is_active=True).exclude(
            kind=SegmentKind.STATISTICAL).order_by("name"))
    return {"from_date": day("from"), "to_date": day("to"), "scheme": scheme,
            "segments": segments, "segment_ids": ids}


def _migration_chart(migration: Any) -> Chart:
    labels = migration.labels
    if migration.scheme == "rfm":
        labels = {k: segment_label(k) if k != "none" else v for k, v in labels.items()}
    if migration.scheme == "statistical":
        names = {str(s.pk): display_name(s) for s in Segment.objects.filter(
            kind=SegmentKind.STATISTICAL, pk__in=[k for k in labels if k.isdigit()])}
        labels = {k: names.get(k, v) for k, v in labels.items()}
    migration.labels = labels
    rows: list[list[Any]] = [[labels.get(c.source, c.source), labels.get(c.target, c.target),
                              c.count, c.value_from, c.value_to] for c in migration.cells]
    # The Sankey leaves about 120 px beside each column for names: long segment names are cut
    # there (kept distinct), and the table below the chart carries them in full.
    short = _short_labels({str(r[0]) for r in rows} | {str(r[1]) for r in rows})
    svg = _sankey_svg([[short[str(r[0])], short[str(r[1])], r[2]] for r in rows])
    return Chart("migration", _("Migration from %(a)s to %(b)s") % {
        "a": migration.from_run.as_of.isoformat(), "b": migration.to_run.as_of.isoformat()},
        [_("From"), _("To"), _("Customers"), _("Lifetime value before"),
         _("Lifetime value after")], rows, svg)


def _cut(label: str, width: int) -> str:
    """``label`` cut to ``width`` columns, a Chinese character counting as two."""
    if sum(2 if ord(c) >= 0x2E80 else 1 for c in label) <= width:
        return label
    out, used = "", 1  # room for the ellipsis
    for c in label:
        used += 2 if ord(c) >= 0x2E80 else 1
        if used > width:
            break
        out += c
    return out + "…"


def _short_labels(labels: set[str], width: int = 18) -> dict[str, str]:
    out: dict[str, str] = {}
    used: set[str] = set()
    for label in sorted(labels):
        short, n = _cut(label, width), 2
        while short in used:
            short = f"{_cut(label, width - 3)}{n}"
            n += 1
        used.add(short)
        out[label] = short
    return out


@login_required
@require_GET
@guanxi_errors
def migration_view(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    params = _migration_params(request)
    context: dict[str, Any] = {
        "runs": _runs(), "schemes": _scheme_choices(), "params": params,
        "rule_segments": selectors.segment_list(user=user).exclude(
            kind=SegmentKind.STATISTICAL),
    }
    try:
        from_run, to_run = migration_runs(from_date=params["from_date"],
                                          to_date=params["to_date"])
        migration = segment_migration(user=user, from_run=from_run, to_run=to_run,
                                      scheme=params["scheme"], segments=params["segments"])
    except GuanxiError as exc:
        context["error"] = exc.message
        return render(request, "segments/migration.html", context)
    chart = _migration_chart(migration)
    keys = list(migration.labels)
    sources = {c.source for c in migration.cells}
    used_targets = {c.target for c in migration.cells}
    targets = [(t, migration.labels[t]) for t in keys if t in used_targets]
    matrix = [(key, migration.labels[key], [migration.cell(key, t) for t, _label in targets])
              for key in keys if key in sources]
    query = request.GET.copy()
    query["from"], query["to"] = from_run.as_of.isoformat(), to_run.as_of.isoformat()
    query["scheme"] = params["scheme"]
    context.update({"migration": migration, "chart": chart, "matrix": matrix,
                    "targets": targets, "query": query.urlencode(),
                    "from_run": from_run, "to_run": to_run})
    return render(request, "segments/migration.html", context)


def _scheme_choices() -> list[tuple[str, str]]:
    words = {"stage": _("Lifecycle stage"), "tier": _("Value tier"), "rfm": _("RFM segment"),
             "statistical": _("Statistical segments"), "rules": _("Rule and list segments")}
    return [(s, words[s]) for s in SCHEMES]


@login_required
@require_GET
@guanxi_errors
def migration_cell(request: HttpRequest) -> HttpResponse:
    """The customers behind one cell of the matrix (htmx), e.g. loyal → dormant."""
    user = _user(request)
    params = _migration_params(request)
    from_run, to_run = migration_runs(from_date=params["from_date"], to_date=params["to_date"])
    after = request.GET.get("after")
    clv_min = request.GET.get("clv_min") or None
    try:
        minimum = Decimal(clv_min) if clv_min else None
    except ArithmeticError:
        minimum = None
    source, target = request.GET.get("source", ""), request.GET.get("target", "")
    page = segment_migration_customers(
        user=user, from_run=from_run, to_run=to_run, source=source, target=target,
        scheme=params["scheme"], segments=params["segments"], clv_min=minimum,
        after=int(after) if after and after.isdigit() else None, limit=MEMBERS_PER_PAGE)
    query = request.GET.copy()
    query.pop("after", None)
    return render(request, "segments/_cell.html", {
        "page": page, "show_names": can_see_contact_details(user), "query": query.urlencode(),
        "source": request.GET.get("from_label") or source,
        "target": request.GET.get("to_label") or target, "clv_min": clv_min or "",
        "first_page": not after,
    })


@login_required
@require_GET
@guanxi_errors
def migration_export(request: HttpRequest, fmt: str) -> HttpResponse:
    """The migration table as CSV, or its chart as PNG."""
    user = _user(request)
    params = _migration_params(request)
    from_run, to_run = migration_runs(from_date=params["from_date"], to_date=params["to_date"])
    migration = segment_migration(user=user, from_run=from_run, to_run=to_run,
                                  scheme=params["scheme"], segments=params["segments"])
    chart = _migration_chart(migration)
    if fmt == "png":
        response: HttpResponse = HttpResponse(
            png(Chart("migration", chart.title, chart.columns[:3],
                      [r[:3] for r in chart.rows])), content_type="image/png")
    elif fmt == "csv":
        response = exports.table_csv_response(chart.columns, chart.rows)
    else:
        raise Http404(_("Unknown format."))
    response["Content-Disposition"] = (
        f'attachment; filename="guanxi-migration-{params["scheme"]}.{fmt}"')
    return response
