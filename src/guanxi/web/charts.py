"""Dashboard charts (issue #5 §4): aggregates, cached per scoring run, drawn as inline SVG.

Every chart is a ``Chart``: a title, a table (``columns`` × ``rows``, which is also the CSV
export) and an SVG drawn here on the server — no chart library and nothing from a CDN, so the
page works offline, prints, and a screen reader reads the table. The PNG export is drawn by
matplotlib from the same rows (``png``).

The expensive part is the aggregation over every visible customer (GROUP BYs over a million
rows, a join of the two latest snapshots for the migration). ``dashboard_data`` caches it under
the id of the latest complete ``ScoreRun`` and the user: a new scoring run changes the key, so
the figures refresh with each run and never in between (the cache also expires after an hour,
for the counts that imports change).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import math
import warnings
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.core.cache import caches
from django.core.cache.backends.base import BaseCache
from django.db import connection
from django.db.models import F, Q, Sum
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from guanxi.accounts.models import Role, User
from guanxi.core import clock
from guanxi.customers.models import Customer, ImportantDate, LifecycleStage, ValueTier
from guanxi.customers.selectors import can_see_contact_details, customers_visible
from guanxi.value.models import CustomerScore, RunStatus, ScoreRun
from guanxi.web import selectors
from guanxi.web.templatetags.guanxi_web import segment_label

CACHE_SECONDS = 3600
EQUITY_CACHE_SECONDS = 30 * 24 * 3600
WORK_CACHE_SECONDS = 60
AT_RISK_LIMIT = 10
WORK_LIMIT = 15
# Tiers from the top of the pyramid down.
# Tiers from the top of the pyramid down; the unscored are not on it.
TIER_ORDER = [ValueTier.VIP.value, ValueTier.KEY.value, ValueTier.MAJOR.value,
              ValueTier.ORDINARY.value]
_PALETTE = ["#b3261e", "#d4652f", "#e0a030", "#5b8def", "#1a7f37", "#8250df", "#636c76",
            "#0b57d0"]
CHART_KEYS = ("equity", "pyramid", "stages", "segments", "rfm", "migration", "at_risk")


@dataclass(frozen=True)
class Chart:
    key: str
    title: str
    columns: list[str]
    rows: list[list[Any]]
    svg: SafeString = field(default_factory=lambda: mark_safe(""))
    has_png: bool = True


# ---------------------------------------------------------------------------------------------
# Aggregates (cached)
# ---------------------------------------------------------------------------------------------


def latest_runs() -> list[int]:
    """The ids of the two latest complete scoring runs, newest first."""
    return list(ScoreRun.objects.filter(status=RunStatus.COMPLETE)
                .order_by("-as_of", "-pk").values_list("pk", flat=True)[:2])


def _sees_everyone(user: User) -> bool:
    return user.is_admin_role or user.role == Role.ANALYST


def dashboard_cache() -> BaseCache:
    """The ``dashboard`` cache (a file cache every server process shares), else the default."""
    from django.conf import settings

    return caches["dashboard" if "dashboard" in settings.CACHES else "default"]


def cache_key(user: User, run_id: int | None) -> str:
    # Scope: administrators and analysts share one entry (they see every customer); anyone
    # else's figures are their own. The database's name is in the key because the file cache
    # outlives a process: two databases (test runs side by side) must not share entries.
    return f"guanxi:dashboard:v2:{_db_name()}:run{run_id or 0}:{_scope(user)}"


def _scope(user: User) -> str:
    return "all" if _sees_everyone(user) else f"u{user.pk}"


def _db_name() -> str:
    return str(connection.settings_dict.get("NAME", ""))


def dashboard_data(*, user: User) -> dict[str, Any]:
    """All dashboard aggregates for ``user``, from the cache when the latest run is unchanged."""
    runs = latest_runs()
    key = cache_key(user, runs[0] if runs else None)
    cache = dashboard_cache()
    data: dict[str, Any] | None = cache.get(key)
    if data is None:
        data = _compute(user, runs)
        cache.set(key, data, CACHE_SECONDS)
    # The cache holds figures, not words: label them in the language of this request.
    return {**data, "summary": _relabel(data["summary"])}


def _relabel(summary: selectors.Dashboard) -> selectors.Dashboard:
    stages, tiers = dict(LifecycleStage.choices), dict(ValueTier.choices)
    return dataclasses.replace(
        summary,
        stages=[dataclasses.replace(b, label=str(stages.get(b.key, b.key)))
                for b in summary.stages],
        tiers=[dataclasses.replace(b, label=str(tiers.get(b.key, b.key)))
               for b in summary.tiers])


def cached_list_count(*, user: User, filters: selectors.ListFilters) -> int | None:
    """How many of ``user``'s customers a list filtered by one stage, tier or RFM segment alone
    holds, from the dashboard's cached aggregates of the latest scoring run; None when the list
    has other filters or nothing is cached (this never computes the aggregates).

    Counting those lists in the database means probing the latest score of each of a rep's
    customers until a thousand match: 60 ms a page, in three parallel processes, at 1M.
    """
    plain = dataclasses.replace(filters, lifecycle_stage="", value_tier="", segment="",
                                sort="name")
    picked = [(kind, key) for kind, key in (("stages", filters.lifecycle_stage),
                                            ("tiers", filters.value_tier),
                                            ("segments", filters.segment)) if key]
    if len(picked) != 1 or plain != selectors.ListFilters():
        return None
    runs = latest_runs()
    data = dashboard_cache().get(cache_key(user, runs[0] if runs else None))
    if data is None:
        return None
    kind, key = picked[0]
    bars: list[selectors.Bar] = getattr(data["summary"], kind)
    return next((b.count for b in bars if b.key == key), None)


def dashboards_warm() -> int:
    """Fill the dashboard cache for every active person after a scoring run, so nobody waits
    for the first, cold load (3 s for a manager over 1M customers, 1 s for a rep over 50k).
    Everyone who sees all customers shares one entry. Returns the entries computed."""
    runs = latest_runs()
    cache = dashboard_cache()
    done: set[str] = set()
    for user in User.objects.filter(is_active=True).order_by("pk"):
        key = cache_key(user, runs[0] if runs else None)
        if key in done:
            continue
        cache.set(key, _compute(user, runs), CACHE_SECONDS)
        done.add(key)
    return len(done)


def _compute(user: User, runs: list[int]) -> dict[str, Any]:
    visible = customers_visible(user=user).order_by()
    everyone = _sees_everyone(user)
    # One pass over the visible customers and their latest scores gives the summary, the RFM
    # grid and the tier migration (see ``selectors.value_cells``).
    cells = selectors.value_cells(user=user, previous_run=runs[1] if len(runs) == 2 else None)
    rfm: dict[tuple[int, int], int] = {}
    flows: dict[tuple[str, str], int] = {}
    for c in cells:
        if c.rfm_r is not None and c.rfm_f is not None:
            cell = (int(c.rfm_r), int(c.rfm_f))
            rfm[cell] = rfm.get(cell, 0) + c.count
        if c.old_tier is not None and c.scored:
            flows[(c.old_tier, c.tier)] = flows.get((c.old_tier, c.tier), 0) + c.count
    migration = [(a, b, n) for (a, b), n in flows.items()]
    summary = selectors.dashboard_from_cells(cells)
    # Equity per run: the stored total when the user sees everyone, else their customers' sum
    # (the latest run's is the summary's).
    run_rows = list(ScoreRun.objects.filter(status=RunStatus.COMPLETE).order_by("as_of", "pk")
                    .only("as_of", "equity", "created_at"))
    if everyone:
        equity = [(r.as_of, r.equity or Decimal(0)) for r in run_rows]
    else:
        sums = _equity_by_run(user, visible, [r for r in run_rows if not runs
                                              or r.pk != runs[0]])
        if runs:
            sums[runs[0]] = summary.equity
        equity = [(r.as_of, sums.get(r.pk) or Decimal(0)) for r in run_rows]
    at_risk = list(
        visible.filter(Q(value__lifecycle_stage__in=[LifecycleStage.DORMANT,
                                                     LifecycleStage.LOST])
                       | Q(value__p_alive__lt=0.5), value__clv__isnull=False)
        .order_by("-value__clv", "pk")
        .values("pk", "name", clv=F("value__clv"), p_alive=F("value__p_alive"),
                lifecycle_stage=F("value__lifecycle_stage"))
        [:AT_RISK_LIMIT])
    return {"summary": summary, "equity": equity, "rfm": rfm,
            "migration": migration, "at_risk": at_risk, "runs": runs}


def _equity_by_run(user: User, visible: Any, runs: list[ScoreRun]) -> dict[int, Decimal | None]:
    """The CLV sum of ``user``'s customers in each of the earlier ``runs``.

    A finished run's scores never change, so each sum is cached on its own, for a month: after
    a new scoring run only that run is summed (from the latest scores), not the whole history
    again. (A customer who changed hands since counts where they were then summed.) The key
    holds the run's creation time too: a database made again from scratch reuses run ids.
    """
    cache = dashboard_cache()
    keys = {r.pk: f"guanxi:equity:v1:{_db_name()}:run{r.pk}-{r.created_at.timestamp():.0f}:"
                  f"{_scope(user)}" for r in runs}
    found = cache.get_many(list(keys.values()))
    sums: dict[int, Decimal | None] = {r: found[k] for r, k in keys.items() if k in found}
    missing = [r for r in keys if r not in sums]
    if missing:
        computed = dict(CustomerScore.objects.filter(run_id__in=missing,
                                                     customer__in=visible.values("pk"))
                        .values_list("run_id").annotate(s=Sum("clv"))
                        .values_list("run_id", "s"))
        for run_id in missing:
            sums[run_id] = computed.get(run_id)
        cache.set_many({keys[r]: sums[r] for r in missing}, EQUITY_CACHE_SECONDS)
    return sums


# ---------------------------------------------------------------------------------------------
# Today's work for the signed-in person (their own customers; short cache)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkItem:
    customer_id: int
    name: str
    reason: str
    on: dt.date


def todays_work(*, user: User, within_days: int = 7) -> list[WorkItem]:
    """The customers ``user`` owns to call (expected to buy soon or overdue) and their dates
    coming up (birthdays, anniversaries) within ``within_days``."""
    today = clock.today()
    key = f"guanxi:work:v1:{connection.settings_dict.get('NAME', '')}:{user.pk}:{today}"
    cache = dashboard_cache()
    items: list[WorkItem] | None = cache.get(key)
    if items is not None:
        return items
    mine = Customer.objects.filter(owner=user, is_active=True)
    horizon = today + dt.timedelta(days=within_days)
    # The expected next purchase is the latest score's (``customer.value``).
    items = [WorkItem(c["pk"], c["name"], _("expected to buy"),
                      c["next_purchase_on"] or today)
             for c in mine.filter(
                 value__expected_next_purchase__gte=today - dt.timedelta(days=within_days),
                 value__expected_next_purchase__lte=horizon)
             .order_by("value__expected_next_purchase", "pk")
             .values("pk", "name", next_purchase_on=F("value__expected_next_purchase"))
             [:WORK_LIMIT]]
    months = {today.month, horizon.month}
    dates = (ImportantDate.objects.filter(customer__in=mine.values("pk"), is_lunar=False,
                                          date__month__in=months)
             .select_related("customer")[:500])
    upcoming = []
    for d in dates:
        on = selectors.next_occurrence(d, today=today)
        if on is not None and on <= horizon:
            upcoming.append(WorkItem(d.customer_id, d.customer.name,
                                     d.label or d.get_kind_display(), on))
    items += sorted(upcoming, key=lambda w: (w.on, w.customer_id))[:WORK_LIMIT]
    items.sort(key=lambda w: (w.on, w.customer_id))
    cache.set(key, items, WORK_CACHE_SECONDS)
    return items


# ---------------------------------------------------------------------------------------------
# Charts: rows for the table and CSV, and the SVG
# ---------------------------------------------------------------------------------------------


def build_charts(*, user: User, data: dict[str, Any]) -> dict[str, Chart]:
    """The charts from cached ``data``, labelled in the active language."""
    tiers = dict(ValueTier.choices)
    stages = dict(LifecycleStage.choices)
    summary = data["summary"]
    charts: dict[str, Chart] = {}

    rows: list[list[Any]] = [[d.isoformat(), _money(v)] for d, v in data["equity"]]
    charts["equity"] = Chart("equity", _("Customer equity by scoring run"),
                             [_("As of"), _("Equity")], rows, _line_svg(rows))

    by_tier = {b.key: b for b in summary.tiers}
    rows = [[str(tiers.get(k, k)), by_tier[k].count, _money(by_tier[k].clv)]
            for k in TIER_ORDER if k in by_tier]
    charts["pyramid"] = Chart("pyramid", _("Value pyramid"),
                              [_("Tier"), _("Customers"), _("Lifetime value")], rows,
                              _pyramid_svg(rows))

    rows = [[b.label, b.count] for b in summary.stages]
    charts["stages"] = Chart("stages", _("Lifecycle stages"), [_("Stage"), _("Customers")], rows,
                             _bars_svg(rows))

    rows = [[segment_label(b.key), b.count] for b in summary.segments]
    charts["segments"] = Chart("segments", _("RFM segments"), [_("Segment"), _("Customers")],
                               rows, _bars_svg(rows))

    rows = [[r, f, data["rfm"].get((r, f), 0)] for r in range(5, 0, -1) for f in range(1, 6)]
    charts["rfm"] = Chart("rfm", _("RFM grid (recency × frequency)"),
                          [_("Recency score"), _("Frequency score"), _("Customers")], rows,
                          _grid_svg(data["rfm"]))

    rows = [[str(tiers.get(a, a or "—")), str(tiers.get(b, b or "—")), n]
            for a, b, n in sorted(data["migration"], key=lambda t: (_tier_rank(t[0]),
                                                                    _tier_rank(t[1])))]
    charts["migration"] = Chart("migration", _("Tier migration between the two latest runs"),
                                [_("From"), _("To"), _("Customers")], rows, _sankey_svg(rows))

    show_names = can_see_contact_details(user)
    rows = [[c["pk"], c["name"] if show_names else f"#{c['pk']}", _money(c["clv"]),
             "" if c["p_alive"] is None else round(c["p_alive"], 3),
             str(stages.get(c["lifecycle_stage"], c["lifecycle_stage"]))]
            for c in data["at_risk"]]
    charts["at_risk"] = Chart("at_risk", _("Top customers at risk"),
                              [_("Id"), _("Customer"), _("Lifetime value"),
                               _("Probability alive"), _("Stage")], rows, has_png=False)
    return charts


def _money(value: Decimal | None) -> Decimal:
    """Money to the cent: SQLite's SUM of decimals comes back as ``Decimal('1000')``."""
    return Decimal(value or 0).quantize(Decimal("0.01"))


def _tier_rank(key: str) -> int:
    return TIER_ORDER.index(key) if key in TIER_ORDER else len(TIER_ORDER)


def _num(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def _svg(width: int, height: int, body: str, label: str) -> SafeString:
    return mark_safe(  # every text inside went through escape()
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">{body}</svg>')


def _text(x: float, y: float, s: Any, anchor: str = "start", size: int = 12) -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
            f'fill="#1f2328">{escape(str(s))}</text>')


def _bars_svg(rows: list[list[Any]]) -> SafeString:
    if not rows:
        return _svg(400, 40, _text(10, 24, _("No data yet.")), _("No data yet."))
    top = max(_num(r[1]) for r in rows) or 1.0
    h, w, lw = 26, 520, 150
    body = []
    for i, (label, n, *_rest) in enumerate(rows):
        y = i * h + 4
        bw = (w - lw - 70) * _num(n) / top
        body.append(_text(lw - 6, y + 16, label, "end"))
        body.append(f'<rect x="{lw}" y="{y + 3}" width="{bw:.1f}" height="{h - 8}" '
                    f'fill="{_PALETTE[i % len(_PALETTE)]}"/>')
        body.append(_text(lw + bw + 6, y + 16, f"{int(_num(n)):,}"))
    return _svg(w, len(rows) * h + 8, "".join(body), _("Bar chart"))


def _pyramid_svg(rows: list[list[Any]]) -> SafeString:
    """Tiers stacked from the top (the few valuable) to the base (the many); each band's width
    grows down the pyramid, its label says how many customers and how much value."""
    if not rows:
        return _svg(400, 40, _text(10, 24, _("No data yet.")), _("No data yet."))
    w, band, cx = 520, 40, 200
    n = len(rows)
    body = []
    for i, (label, count, value) in enumerate(rows):
        top_half = 20 + 170 * i / n
        bottom_half = 20 + 170 * (i + 1) / n
        y0, y1 = i * band + 4, (i + 1) * band + 2
        points = (f"{cx - top_half:.1f},{y0} {cx + top_half:.1f},{y0} "
                  f"{cx + bottom_half:.1f},{y1} {cx - bottom_half:.1f},{y1}")
        body.append(f'<polygon points="{points}" fill="{_PALETTE[i % len(_PALETTE)]}" '
                    f'opacity="0.85"/>')
        body.append(_text(cx, (y0 + y1) / 2 + 5, label, "middle"))
        body.append(_text(cx + 200, (y0 + y1) / 2 + 5,
                          f"{int(_num(count)):,} · ¥{_num(value):,.0f}"))
    return _svg(w, n * band + 8, "".join(body), _("Value pyramid"))


def _line_svg(rows: list[list[Any]]) -> SafeString:
    if not rows:
        return _svg(400, 40, _text(10, 24, _("Not scored yet.")), _("Not scored yet."))
    w, h, left, pad = 520, 200, 90, 24
    values = [_num(r[1]) for r in rows]
    lo, hi = min(0.0, *values), max(values) or 1.0
    n = len(rows)

    def xy(i: int, v: float) -> tuple[float, float]:
        x = left + (w - left - pad) * (i / (n - 1) if n > 1 else 0.5)
        return x, h - pad - (h - 2 * pad) * (v - lo) / ((hi - lo) or 1.0)

    pts = [xy(i, v) for i, v in enumerate(values)]
    body = [f'<line x1="{left}" y1="{h - pad}" x2="{w - pad}" y2="{h - pad}" stroke="#d8dee4"/>',
            _text(left - 6, pad + 4, f"¥{hi:,.0f}", "end"),
            _text(left - 6, h - pad, f"¥{lo:,.0f}", "end"),
            '<polyline fill="none" stroke="#b3261e" stroke-width="2" points="'
            + " ".join(f"{x:.1f},{y:.1f}" for x, y in pts) + '"/>']
    body += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="#b3261e"/>' for x, y in pts]
    body.append(_text(pts[0][0], h - 6, rows[0][0], "start", 11))
    if n > 1:
        body.append(_text(pts[-1][0], h - 6, rows[-1][0], "end", 11))
    return _svg(w, h, "".join(body), _("Customer equity by scoring run"))


def _grid_svg(cells: dict[tuple[int, int], int]) -> SafeString:
    size, left, top = 56, 40, 10
    peak = max(cells.values(), default=0) or 1
    body = []
    for row, r in enumerate(range(5, 0, -1)):
        body.append(_text(left - 8, top + row * size + size / 2 + 4, f"R{r}", "end"))
        for col, f in enumerate(range(1, 6)):
            n = cells.get((r, f), 0)
            shade = 0.08 + 0.92 * math.sqrt(n / peak)
            x, y = left + col * size, top + row * size
            body.append(f'<rect x="{x}" y="{y}" width="{size - 2}" height="{size - 2}" '
                        f'fill="#b3261e" fill-opacity="{shade:.2f}"/>')
            body.append(_text(x + size / 2, y + size / 2 + 4, f"{n:,}", "middle", 11))
    for col, f in enumerate(range(1, 6)):
        body.append(_text(left + col * size + size / 2, top + 5 * size + 14, f"F{f}", "middle"))
    return _svg(left + 5 * size + 10, top + 5 * size + 24, "".join(body), _("RFM grid"))


def _sankey_svg(rows: list[list[Any]]) -> SafeString:
    """Two columns of nodes (the older run's tiers left, the newer right), a band per flow
    whose thickness is its share of the customers."""
    if not rows:
        return _svg(480, 40, _text(10, 24, _("Needs two scoring runs.")),
                    _("Needs two scoring runs."))
    w, h, nw, gap = 520, 260, 14, 8
    total = sum(_num(r[2]) for r in rows) or 1.0
    left_keys = list(dict.fromkeys(r[0] for r in rows))
    # Same order on both sides (the rows come sorted from the top tier down).
    right_keys = [k for k in left_keys if any(r[1] == k for r in rows)]
    right_keys += [k for k in dict.fromkeys(r[1] for r in rows) if k not in right_keys]
    usable = h - gap * (max(len(left_keys), len(right_keys)) + 1)

    def layout(keys: list[Any], col: int) -> dict[Any, list[float]]:
        y, out = float(gap), {}
        for k in keys:
            size = usable * sum(_num(r[2]) for r in rows if r[col] == k) / total
            out[k] = [y, size, y]  # top, height, next free y for flows
            y += size + gap
        return out

    left, right = layout(left_keys, 0), layout(right_keys, 1)
    x0, x1 = 130, w - 130
    body = []
    for a, b, n in rows:
        t = usable * _num(n) / total
        ya, yb = left[a][2] + t / 2, right[b][2] + t / 2
        left[a][2] += t
        right[b][2] += t
        mid = (x0 + x1) / 2
        body.append(f'<path d="M{x0 + nw},{ya:.1f} C{mid},{ya:.1f} {mid},{yb:.1f} {x1},{yb:.1f}" '
                    f'fill="none" stroke="{_PALETTE[left_keys.index(a) % len(_PALETTE)]}" '
                    f'stroke-opacity="0.45" stroke-width="{max(t, 1):.1f}">'
                    f'<title>{escape(f"{a} → {b}: {int(_num(n)):,}")}</title></path>')
    for keys, pos, x, anchor, tx in ((left_keys, left, x0, "end", x0 - 6),
                                     (right_keys, right, x1, "start", x1 + nw + 6)):
        for i, k in enumerate(keys):
            top_y, size, _free = pos[k]
            body.append(f'<rect x="{x}" y="{top_y:.1f}" width="{nw}" height="{max(size, 1):.1f}" '
                        f'fill="{_PALETTE[i % len(_PALETTE)]}"/>')
            body.append(_text(tx, top_y + size / 2 + 4, k, anchor))
    return _svg(w, h, "".join(body), _("Tier migration"))


# ---------------------------------------------------------------------------------------------
# PNG export (matplotlib, headless)
# ---------------------------------------------------------------------------------------------


def png(chart: Chart) -> bytes:
    """The chart drawn by matplotlib's Agg backend (no display, no global pyplot state)."""
    import matplotlib
    from matplotlib import font_manager

    # Chinese labels need a CJK font: use the first one installed as a fallback after the
    # default (matplotlib draws each glyph from the first family that has it).
    installed = {f.name for f in font_manager.fontManager.ttflist}
    families = ["DejaVu Sans", *(f for f in _CJK_FONTS if f in installed)]
    with matplotlib.rc_context({"font.family": families}):
        return _png(chart)


_CJK_FONTS = ("Noto Sans CJK SC", "WenQuanYi Zen Hei", "Source Han Sans SC", "Microsoft YaHei",
              "PingFang SC", "SimHei")


def _png(chart: Chart) -> bytes:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4), dpi=100)
    ax = fig.add_subplot()
    rows = chart.rows
    with warnings.catch_warnings():
        # A label in a script the installed fonts lack is drawn as boxes, not an error.
        warnings.filterwarnings("ignore", message=".*Glyph .* missing from.*")
        warnings.filterwarnings("ignore", message=".*[Ff]ont.*not found.*")
        if chart.key == "equity":
            ax.plot([r[0] for r in rows], [_num(r[1]) for r in rows], marker="o",
                    color="#b3261e")
            ax.set_ylabel(chart.columns[1])
        elif chart.key == "rfm":
            grid = [[0.0] * 5 for _i in range(5)]
            for r, f, n in rows:
                grid[5 - int(r)][int(f) - 1] = _num(n)
            ax.imshow(grid, cmap="Reds")
            ax.set_xticks(range(5), [f"F{f}" for f in range(1, 6)])
            ax.set_yticks(range(5), [f"R{r}" for r in range(5, 0, -1)])
            for y in range(5):
                for x in range(5):
                    ax.text(x, y, f"{int(grid[y][x]):,}", ha="center", va="center", fontsize=8)
        elif chart.key == "migration":
            labels = [f"{a} → {b}" for a, b, _n in rows]
            ax.barh(labels, [_num(r[2]) for r in rows], color="#5b8def")
            ax.invert_yaxis()
        else:
            ax.barh([str(r[0]) for r in rows], [_num(r[1]) for r in rows],
                    color=_PALETTE[: len(rows)] or "#b3261e")
            ax.invert_yaxis()
        ax.set_title(chart.title)
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
    return buffer.getvalue()
