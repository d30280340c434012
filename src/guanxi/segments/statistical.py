"""Statistical segments: cluster the scored customers and store who belongs where, per run.

``segmentation_build`` reads the value features of one complete score run (``CustomerScore``:
CLV, P(alive), purchases, recency, spend, tenure, regularity) and the customers' profile traits
straight into numpy arrays (one streamed query, no per-customer objects), fits
:class:`guanxi.analytics.segmentation.ValueSegmentation`, and then, in one transaction:

- stores a ``Segmentation`` (criterion per number of segments, scaler and mixture, timings);
- keeps the statistical ``Segment`` rows stable: a new segment that matches a previous one
  (Hungarian matching on centroids) *is* that segment and keeps its name (a person's rename
  always survives); a new one is created under its suggested name; previous ones that match
  nothing are retired (``is_active=False``), their history kept;
- writes the run's ``SegmentMembership`` rows: every customer in their primary segment, and in
  each other segment whose membership probability reaches ``probability_floor`` (COPY on
  PostgreSQL).

After scoring
-------------
Every complete *latest* score run is segmented right after it is stored (receiver of
``guanxi.value.signals.score_run_completed``), so each dated snapshot carries statistical
memberships and migration between them can be shown. Settings, in Django settings::

    GUANXI_SEGMENTS_STATISTICAL = {"after_scoring": "inline", "k_range": (6, 10)}

====================  ==========  ==========================================================
setting               default     meaning
====================  ==========  ==========================================================
``after_scoring``     ``task``    segment each new latest run: ``task`` in the background
                                  worker (scoring is not slowed: about 30 s more for 1M
                                  customers), ``inline`` in the scoring process right after
                                  the run is stored, ``off`` (or False) never
``k_range``           (6, 10)     numbers of segments tried
``criterion``         ``bic``     ``bic`` or ``silhouette``
``cluster_traits``    ()          profile traits clustered on besides value (e.g. city_tier)
``probability_floor``  0.10       smallest membership probability stored besides the primary
``sample_size``       60000       customers the mixtures are fitted on
``min_customers``     200         fewer scored buyers: no segmentation after scoring (a build
                                  asked for explicitly refuses with a clear error)
``match_threshold``   0.75        largest centroid distance (standard units) at which a new
                                  segment continues an old one and keeps its name
====================  ==========  ==========================================================
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt
from django.conf import settings
from django.db import connection, transaction
from django.db.models import FloatField, Func, Q
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_tasks import task

from guanxi.accounts.models import Role, User
from guanxi.analytics.errors import AnalyticsError
from guanxi.analytics.segmentation import (
    SegmentationData,
    SegmentDescription,
    ValueSegmentation,
)
from guanxi.core import clock
from guanxi.core.arrays import Kind, read_columns
from guanxi.core.errors import NotFound, PermissionDenied, ValidationFailed
from guanxi.segments.models import (
    Segment,
    Segmentation,
    SegmentationCriterion,
    SegmentationStatus,
    SegmentKind,
    SegmentMembership,
)
from guanxi.value.models import CustomerScore, RunStatus, ScoreRun
from guanxi.value.selectors import latest_run

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]


class SegmentationErrorCode(StrEnum):
    NO_SCORES = "segmentation_no_scores"
    NOT_ENOUGH_CUSTOMERS = "segmentation_not_enough_customers"
    INVALID_SETTINGS = "segmentation_invalid_settings"
    NOT_FOUND = "segmentation_not_found"
    NOT_ALLOWED = "segmentation_not_allowed"


@dataclasses.dataclass(frozen=True)
class StatisticalSettings:
    after_scoring: str | bool = "task"
    k_range: tuple[int, int] = (6, 10)
    criterion: str = SegmentationCriterion.BIC.value
    cluster_traits: tuple[str, ...] = ()
    probability_floor: float = 0.10
    sample_size: int = 60_000
    min_customers: int = 200
    match_threshold: float = 0.75


def statistical_settings() -> StatisticalSettings:
    """The defaults above, overridden by ``GUANXI_SEGMENTS_STATISTICAL``."""
    given = dict(getattr(settings, "GUANXI_SEGMENTS_STATISTICAL", {}) or {})
    unknown = set(given) - {f.name for f in dataclasses.fields(StatisticalSettings)}
    if unknown:
        raise ValidationFailed(SegmentationErrorCode.INVALID_SETTINGS,
                               f"Unknown GUANXI_SEGMENTS_STATISTICAL settings: "
                               f"{', '.join(sorted(unknown))}.")
    if given.get("after_scoring", True) not in (True, False, "task", "inline", "off"):
        raise ValidationFailed(SegmentationErrorCode.INVALID_SETTINGS,
                               "GUANXI_SEGMENTS_STATISTICAL after_scoring is task, inline or "
                               "off.")
    if "k_range" in given:
        given["k_range"] = tuple(given["k_range"])
    if "cluster_traits" in given:
        given["cluster_traits"] = tuple(given["cluster_traits"])
    return StatisticalSettings(**given)


# -- the profile traits -----------------------------------------------------------------------

#: Traits read for each customer: (name, Customer field). ``city_tier`` is derived from city.
TRAITS: tuple[tuple[str, str], ...] = (
    ("source", "customer__source"), ("income_band", "customer__income_band"),
    ("city_tier", "customer__city"), ("kind", "customer__kind"),
    ("industry", "customer__industry"), ("company_size", "customer__company_size"),
    ("gender", "customer__gender"),
)
TRAIT_NAMES = tuple(name for name, _field in TRAITS)

TRAIT_LABELS = {
    "source": gettext_lazy("acquisition source"), "income_band": gettext_lazy("income band"),
    "city_tier": gettext_lazy("city tier"), "kind": gettext_lazy("kind"),
    "industry": gettext_lazy("industry"), "company_size": gettext_lazy("company size"),
    "gender": gettext_lazy("gender"),
}

# The words a trait value takes in a segment's name; English here (the stored suggested name),
# translated when a page shows it (see ``display_name``).
_PHRASES: dict[tuple[str, str], Any] = {
    ("city_tier", "tier1"): gettext_lazy("first-tier cities"),
    ("city_tier", "new_tier1"): gettext_lazy("new first-tier cities"),
    ("city_tier", "tier2"): gettext_lazy("second-tier cities"),
    ("city_tier", "other"): gettext_lazy("smaller cities"),
    ("source", "referral"): gettext_lazy("referred"),
    ("source", "store"): gettext_lazy("from the shops"),
    ("source", "online_ads"): gettext_lazy("from online ads"),
    ("source", "wechat"): gettext_lazy("from WeChat"),
    ("source", "trade_show"): gettext_lazy("from trade shows"),
    ("source", "website"): gettext_lazy("from the website"),
    ("income_band", "affluent"): gettext_lazy("affluent"),
    ("income_band", "comfortable"): gettext_lazy("comfortably off"),
    ("income_band", "basic"): gettext_lazy("on basic incomes"),
    ("kind", "organization"): gettext_lazy("organizations"),
    ("kind", "person"): gettext_lazy("individuals"),
    ("gender", "f"): gettext_lazy("mostly women"),
    ("gender", "m"): gettext_lazy("mostly men"),
}
_VALUE_LEVELS = {
    "top": gettext_lazy("top-value"), "high": gettext_lazy("high-value"),
    "mid": gettext_lazy("mid-value"), "low": gettext_lazy("low-value"),
}
_BEHAVIOURS = {
    "regulars": gettext_lazy("regulars"), "occasional": gettext_lazy("occasional buyers"),
    "newcomers": gettext_lazy("newcomers"), "one-off": gettext_lazy("one-off buyers"),
    "at-risk": gettext_lazy("at risk"), "lapsed": gettext_lazy("lapsed"),
}


def trait_phrase(trait: str, value: str) -> str:
    """A trait value in words of the active language ("first-tier cities")."""
    phrase = _PHRASES.get((trait, value))
    if phrase is not None:
        return str(phrase)
    return f"{TRAIT_LABELS.get(trait, trait)}: {value}"


def display_name(segment: Segment) -> str:
    """The name to show: a person's name as given; a suggested one in the active language."""
    parts = (segment.profile or {}).get("name_parts")
    if segment.kind != SegmentKind.STATISTICAL or segment.renamed or not parts:
        return segment.name
    name = _("%(value)s %(behaviour)s") % {
        "value": _VALUE_LEVELS.get(parts.get("value_level", ""), parts.get("value_level", "")),
        "behaviour": _BEHAVIOURS.get(parts.get("behaviour", ""), parts.get("behaviour", "")),
    }
    trait = parts.get("trait")
    if trait:
        name = _("%(name)s, %(trait)s") % {"name": name, "trait": trait_phrase(*trait)}
    suffix = parts.get("suffix")
    return f"{name} {suffix}" if suffix else name


def _city_tiers(cities: npt.NDArray[Any]) -> npt.NDArray[np.str_]:
    """City names to tiers, one lookup per distinct city (a million rows hold a few hundred)."""
    try:
        from guanxi.insights.cities import city_tier
    except ImportError:  # the insights app provides the mapping; without it, no tier trait
        return np.full(len(cities), "", dtype=object).astype(str)
    distinct, inverse = np.unique(cities.astype(str), return_inverse=True)
    tiers = np.array([str(city_tier(c).value) if c else "" for c in distinct.tolist()] or [""])
    return tiers[inverse.reshape(-1)] if len(distinct) else np.zeros(0, dtype=str)


# -- reading the features ---------------------------------------------------------------------

class _Epoch(Func):
    """Seconds since 1970 of a stored datetime, computed by the database.

    A million ``datetime`` objects (parsed from text on SQLite) and their ``timestamp()`` cost
    seconds in Python; the database hands back plain floats instead.
    """

    output_field = FloatField()

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(compiler, connection,
                           template="EXTRACT(EPOCH FROM %(expressions)s)::float8", **extra)

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        # Django stores UTC text there ("2026-06-30 04:00:00[.ffffff]"), which SQLite reads.
        # '%%%%s': the template's own formatting, then the backend's placeholder pass, each
        # turn '%%' into '%', leaving strftime's '%s'.
        return self.as_sql(compiler, connection,
                           template="CAST(strftime('%%%%s', %(expressions)s) AS REAL)", **extra)


_VALUE_COLUMNS = ("customer_id", "clv_f", "p_alive", "frequency", "recency_days", "monetary",
                  "first_epoch", "interval_mean_days", "interval_sd_days",
                  "rfm_r", "rfm_f", "rfm_m")


def segmentation_data(*, run: ScoreRun,
                      progress: Progress | None = None
                      ) -> tuple[npt.NDArray[np.int64], SegmentationData]:
    """The customer ids and features of a run's scored buyers (active customers only).

    One query joined to the customers, read as packed columns and sorted by customer id.
    Prospects (no purchase) have no value features and are not segmented.
    """
    qs = (CustomerScore.objects.filter(run=run, frequency__gte=1, customer__is_active=True)
          .annotate(clv_f=Cast("clv", FloatField()), first_epoch=_Epoch("first_purchase_at"))
          .values_list(*_VALUE_COLUMNS, *(field for _name, field in TRAITS)))
    n_values = len(_VALUE_COLUMNS)
    # Packed columns (``core.arrays``): a million rows of 19 values without a Python object
    # each; the traits come back as codes of their few distinct values.
    floats_: list[Kind] = ["float"] * (n_values - 1)
    texts: list[Kind] = ["text"] * len(TRAITS)
    kinds: list[Kind] = ["int", *floats_, *texts]
    columns = read_columns(qs, kinds, groups=4)
    order = np.argsort(columns[0], kind="stable")
    columns = [c[order] for c in columns]
    if progress:
        progress("read", len(order), len(order))

    def floats(i: int) -> npt.NDArray[np.float64]:
        return columns[i].astype(np.float64)

    ids = columns[0]
    # Tenure counts from the first purchase to the end of the run's day; a datetime's epoch
    # seconds are time-zone free, so the company zone only enters through the as-of day.
    end = dt.datetime.combine(run.as_of + dt.timedelta(days=1), dt.time(),
                              tzinfo=timezone.get_default_timezone()).timestamp()
    first = floats(6)
    tenure = np.maximum((end - first) / 86400.0, 0.0)
    mean_gap, sd_gap = floats(7), floats(8)
    with np.errstate(divide="ignore", invalid="ignore"):
        cv = np.where(mean_gap > 0, sd_gap / mean_gap, np.nan)
    rfm = np.column_stack([floats(9), floats(10), floats(11)]) if len(ids) else None
    traits: dict[str, npt.ArrayLike] = {
        name: (_city_tiers(columns[n_values + j]) if name == "city_tier"
               else columns[n_values + j])
        for j, (name, _field) in enumerate(TRAITS)}
    data = SegmentationData(
        clv=floats(1), p_alive=floats(2), frequency=floats(3), recency_days=floats(4),
        monetary=floats(5), tenure_days=tenure, interval_cv=cv, traits=traits,
        rfm=None if rfm is None or np.isnan(rfm).all() else np.nan_to_num(rfm, nan=0.0),
    )
    return ids, data


# -- the build --------------------------------------------------------------------------------


def segmentation_build(
    *,
    run: ScoreRun | None = None,
    k_range: tuple[int, int] | None = None,
    criterion: str | None = None,
    cluster_traits: Sequence[str] | None = None,
    user: User | None = None,
    seed: int | None = None,
    progress: Progress | None = None,
) -> Segmentation:
    """Segment the customers of ``run`` (the latest complete run by default); see the module.

    ``seed`` defaults to the run's id: building again from the same scores (from the page, the
    API or the CLI, none of which picks a seed) gives the same segments.

    Raises ``ValidationFailed`` for bad settings, no complete run, or too few scored buyers.
    """
    cfg = statistical_settings()
    low, high = tuple(k_range or cfg.k_range)
    criterion = criterion or cfg.criterion
    traits = tuple(cluster_traits if cluster_traits is not None else cfg.cluster_traits)
    if not 2 <= low <= high <= 30:
        raise ValidationFailed(SegmentationErrorCode.INVALID_SETTINGS,
                               _("The number of segments must be a range like 6-10, "
                                 "between 2 and 30."), field="k_range")
    if criterion not in SegmentationCriterion.values:
        raise ValidationFailed(SegmentationErrorCode.INVALID_SETTINGS,
                               _("The criterion must be bic or silhouette."), field="criterion")
    unknown = [t for t in traits if t not in TRAIT_NAMES]
    if unknown:
        raise ValidationFailed(
            SegmentationErrorCode.INVALID_SETTINGS,
            _("Unknown traits: %(traits)s (known: %(known)s).")
            % {"traits": ", ".join(unknown), "known": ", ".join(TRAIT_NAMES)},
            field="traits")
    if run is None:
        run = latest_run()
    if run is None or run.status != RunStatus.COMPLETE:
        raise ValidationFailed(SegmentationErrorCode.NO_SCORES,
                               _("There is no complete scoring run to segment: score the "
                                 "customers first (guanxi value score)."))
    if seed is None:
        seed = run.pk

    timings: dict[str, float] = {}
    started = time.perf_counter()
    ids, data = segmentation_data(run=run, progress=progress)
    timings["read"] = round(time.perf_counter() - started, 3)
    minimum = max(cfg.min_customers, 2 * high)
    if len(ids) < minimum:
        raise ValidationFailed(
            SegmentationErrorCode.NOT_ENOUGH_CUSTOMERS,
            _("Only %(n)d customers with purchases are scored; at least %(min)d are needed "
              "to find segments.") % {"n": len(ids), "min": minimum})

    now = clock.now()
    used = {"k_range": [low, high], "criterion": criterion, "cluster_traits": list(traits),
            "probability_floor": cfg.probability_floor, "sample_size": cfg.sample_size,
            "match_threshold": cfg.match_threshold, "seed": seed}
    segmentation = Segmentation.objects.create(
        created_at=now, created_by=user, run=run, criterion=criterion, settings_used=used,
        status=SegmentationStatus.BUILDING)
    try:
        t0 = time.perf_counter()
        model = ValueSegmentation(
            k_range=(low, high), criterion=criterion,  # type: ignore[arg-type]  # checked above
            cluster_traits=traits, sample_size=cfg.sample_size,
            random_state=np.random.default_rng(seed),
        ).fit(data)
        described = model.describe(data, trait_phrases={
            key: str(_english(phrase)) for key, phrase in _PHRASES.items()})
        timings["fit"] = round(time.perf_counter() - t0, 3)
        if progress:
            progress("fit", 1, 1)
        t0 = time.perf_counter()
        with transaction.atomic():
            segments = _keep_segments(model, described, segmentation=segmentation, now=now,
                                      threshold=cfg.match_threshold)
            n_rows = _write_memberships(run=run, segments=segments, ids=ids, model=model,
                                        floor=cfg.probability_floor)
            timings["write"] = round(time.perf_counter() - t0, 3)
            segmentation.status = SegmentationStatus.COMPLETE
            segmentation.finished_at = clock.now()
            segmentation.n_segments = model.n_segments_
            segmentation.n_customers = len(ids)
            segmentation.criterion_values = {str(k): v
                                             for k, v in model.criterion_values_.items()}
            segmentation.features = list(model.feature_names_)
            segmentation.model = _model_json(model)
            segmentation.timings = {**timings, "memberships": n_rows,
                                    "total": round(time.perf_counter() - started, 3)}
            segmentation.save()
    except AnalyticsError as exc:
        _fail(segmentation, exc)
        raise ValidationFailed(SegmentationErrorCode.NOT_ENOUGH_CUSTOMERS, str(exc)) from exc
    except BaseException as exc:
        _fail(segmentation, exc)
        raise
    return segmentation


def _english(phrase: Any) -> str:
    from django.utils import translation

    with translation.override("en"):
        return str(phrase)


def _fail(segmentation: Segmentation, exc: BaseException) -> None:
    segmentation.status = SegmentationStatus.FAILED
    segmentation.error = f"{type(exc).__name__}: {exc}"
    segmentation.finished_at = clock.now()
    segmentation.save(update_fields=["status", "error", "finished_at"])


def _model_json(model: ValueSegmentation) -> dict[str, Any]:
    mixture = model._mixture
    order = model._order
    return {
        "feature_names": model.feature_names_,
        "mean": model.mean_.tolist(), "scale": model.scale_.tolist(),
        "weights": model.weights_.tolist(),
        "means": mixture.means_[order].tolist(),
        "covariances": mixture.covariances_[order].tolist(),
        "covariance_type": mixture.covariance_type,
        "trait_levels": model.trait_levels_, "converged": model.converged_,
    }


def _profile(desc: SegmentDescription) -> dict[str, Any]:
    return {
        "size": desc.size, "share": desc.share, "equity_share": desc.equity_share,
        "mean_clv": round(desc.mean_clv, 2), "median_frequency": desc.median_frequency,
        "median_recency_days": desc.median_recency_days, "mean_p_alive": desc.mean_p_alive,
        "typical_rfm": desc.typical_rfm, "value_level": desc.value_level,
        "behaviour": desc.behaviour,
        "traits": [dataclasses.asdict(t) for t in desc.traits],
        "z": desc.profile,
        "name_parts": {
            "value_level": desc.value_level, "behaviour": desc.behaviour,
            "trait": [desc.name_trait.trait, desc.name_trait.value] if desc.name_trait
            else None,
            "suffix": f"({desc.name_number})" if desc.name_number else "",
        },
    }


def _keep_segments(model: ValueSegmentation, described: list[SegmentDescription], *,
                   segmentation: Segmentation, now: dt.datetime,
                   threshold: float) -> list[Segment]:
    """One ``Segment`` per found segment, continuing the previous ones that match."""
    previous = list(Segment.objects.select_for_update()
                    .filter(kind=SegmentKind.STATISTICAL, is_active=True).order_by("id"))
    centroids = [p.centroid if isinstance(p.centroid, dict) else {} for p in previous]
    matched = model.match(centroids, threshold=threshold)
    segments: list[Segment] = []
    continued: set[int] = set()
    for desc, old in zip(described, matched.tolist(), strict=True):
        if old >= 0:
            segment = previous[old]
            continued.add(segment.pk)
            # The name stays: a person's rename always, a suggested one because the segment
            # is the same (a name that changed every run would mean nothing to anyone).
        else:
            segment = Segment(kind=SegmentKind.STATISTICAL, name=desc.suggested_name,
                              created_at=now, created_by=segmentation.created_by)
        segment.segmentation = segmentation
        segment.suggested_name = desc.suggested_name
        segment.profile = _profile(desc)
        segment.centroid = desc.centroid
        segment.updated_at = now
        segment.description = ""
        segment.save()
        segments.append(segment)
    retired = [p.pk for p in previous if p.pk not in continued]
    if retired:
        Segment.objects.filter(pk__in=retired).update(is_active=False, updated_at=now)
    return segments


def _write_memberships(*, run: ScoreRun, segments: list[Segment], ids: npt.NDArray[np.int64],
                       model: ValueSegmentation, floor: float) -> int:
    """The run's statistical memberships: primary, plus each probability >= ``floor``."""
    SegmentMembership.objects.filter(
        run=run, segment__kind=SegmentKind.STATISTICAL).delete()
    proba = model.proba_
    keep = proba >= floor
    keep[np.arange(len(ids)), model.labels_] = True
    rows, cols = np.nonzero(keep)
    segment_ids = np.array([s.pk for s in segments], dtype=np.int64)
    customer = ids[rows]
    segment = segment_ids[cols]
    probability = proba[rows, cols].astype(np.float64)
    primary = cols == model.labels_[rows]
    if connection.vendor == "postgresql":
        _copy_memberships(run.pk, segment, customer, probability, primary)
    else:
        table = connection.ops.quote_name(SegmentMembership._meta.db_table)
        sql = (f"INSERT INTO {table} (run_id, segment_id, customer_id, probability, is_primary)"
               " VALUES (%s, %s, %s, %s, %s)")
        step = 50_000
        with connection.cursor() as cursor:
            for lo in range(0, len(customer), step):
                hi = lo + step
                cursor.executemany(sql, list(zip(
                    [run.pk] * len(customer[lo:hi]), segment[lo:hi].tolist(),
                    customer[lo:hi].tolist(), probability[lo:hi].round(4).tolist(),
                    primary[lo:hi].tolist(), strict=True)))
    return len(customer)


def _copy_memberships(run_id: int, segment: npt.NDArray[np.int64],
                      customer: npt.NDArray[np.int64], probability: npt.NDArray[np.float64],
                      primary: npt.NDArray[np.bool_]) -> None:
    """Binary COPY straight into the table: fixed-width columns, written by numpy at once."""
    fields = (("run_id", ">i8"), ("segment_id", ">i8"), ("customer_id", ">i8"),
              ("probability", ">f8"), ("is_primary", "?"))
    layout: list[tuple[str, str]] = [("n", ">i2")]
    for name, fmt in fields:
        layout += [(f"{name}_len", ">i4"), (name, fmt)]
    records = np.zeros(len(customer), dtype=np.dtype(layout))
    records["n"] = len(fields)
    values = {"run_id": run_id, "segment_id": segment, "customer_id": customer,
              "probability": probability.round(4), "is_primary": primary}
    for name, fmt in fields:
        records[f"{name}_len"] = np.dtype(fmt).itemsize
        records[name] = values[name]
    header = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
    table = connection.ops.quote_name(SegmentMembership._meta.db_table)
    columns = ", ".join(name for name, _fmt in fields)
    with connection.cursor() as cursor:
        with cursor.cursor.copy(
                f"COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.write(header)
            step = 200_000
            for lo in range(0, len(records), step):
                copy.write(records[lo:lo + step].tobytes())
            copy.write(b"\xff\xff")
        cursor.execute(f"ANALYZE {table}")


# -- reads ------------------------------------------------------------------------------------


def latest_segmentation() -> Segmentation | None:
    """The newest complete statistical build."""
    return (Segmentation.objects.filter(status=SegmentationStatus.COMPLETE)
            .order_by("-finished_at", "-id").first())


def access_segmentation(*, segmentation_id: int) -> Segmentation:
    try:
        return Segmentation.objects.get(pk=segmentation_id)
    except Segmentation.DoesNotExist:
        raise NotFound(SegmentationErrorCode.NOT_FOUND,
                       _("Segmentation %(id)d does not exist.") % {"id": segmentation_id}
                       ) from None


def segmentation_summary(segmentation: Segmentation) -> dict[str, Any]:
    """A JSON-able account of a build and its segments (for the CLI and the API)."""
    segments = Segment.objects.filter(segmentation=segmentation, kind=SegmentKind.STATISTICAL,
                                      is_active=True).order_by("id")
    rows = sorted(segments, key=lambda s: -float((s.profile or {}).get("mean_clv", 0)))
    return {
        "id": segmentation.pk, "status": segmentation.status,
        "created_at": segmentation.created_at.isoformat(),
        "finished_at": segmentation.finished_at.isoformat() if segmentation.finished_at
        else None,
        "run_id": segmentation.run_id,
        "as_of": segmentation.run.as_of.isoformat() if segmentation.run else None,
        "criterion": segmentation.criterion,
        "criterion_values": segmentation.criterion_values,
        "n_segments": segmentation.n_segments, "n_customers": segmentation.n_customers,
        "features": segmentation.features, "timings": segmentation.timings,
        "error": segmentation.error,
        "segments": [{
            "id": s.pk, "name": s.name, "display_name": display_name(s),
            "suggested_name": s.suggested_name, "renamed": s.renamed,
            **{key: (s.profile or {}).get(key) for key in (
                "size", "share", "equity_share", "mean_clv", "median_frequency",
                "median_recency_days", "mean_p_alive", "typical_rfm")},
            "traits": [{**t, "phrase": trait_phrase(t["trait"], t["value"])}
                       for t in (s.profile or {}).get("traits", [])],
        } for s in rows],
    }


# -- after scoring ----------------------------------------------------------------------------


def segmentation_after_scoring(*, run: ScoreRun) -> None:
    """Segment each new latest run, when configured; never lets scoring fail because of it.

    Connected to ``score_run_completed`` in ``guanxi.segments.signals`` (after the rule
    segments' snapshot).
    """
    cfg = statistical_settings()
    setting = cfg.after_scoring
    mode = "task" if setting is True else "off" if setting is False else str(setting)
    if mode == "off":
        return
    latest = latest_run()
    if latest is None or latest.pk != run.pk:
        return  # a re-score of a past date: its snapshot keeps what it had
    buyers = CustomerScore.objects.filter(Q(run=run) & Q(frequency__gte=1)).count()
    if buyers < max(cfg.min_customers, 2 * cfg.k_range[1]):
        log.info("Statistical segmentation skipped: %d scored buyers", buyers)
        return
    if mode == "task":
        segmentation_build_task.enqueue(
            k_range=list(cfg.k_range), criterion=cfg.criterion,
            cluster_traits=list(cfg.cluster_traits), seed=run.pk, run_id=run.pk)
        return
    try:
        segmentation_build(run=run, seed=run.pk)
    except Exception:
        # Scoring has committed; a failed segmentation is recorded on its Segmentation row
        # and logged, and the next run tries again.
        log.exception("Statistical segmentation after scoring run %s failed", run.pk)


# -- who may build, and the background task ----------------------------------------------------


def can_build_segments(user: User) -> bool:
    """Admins, managers and analysts start builds (a build changes everyone's segments)."""
    return user.is_admin_role or user.role in (Role.MANAGER, Role.ANALYST)


def check_can_build(user: User) -> None:
    if not can_build_segments(user):
        raise PermissionDenied(SegmentationErrorCode.NOT_ALLOWED,
                               _("Only administrators, managers and analysts may build "
                                 "statistical segments."))


@task()
def segmentation_build_task(*, k_range: list[int], criterion: str, cluster_traits: list[str],
                            user_id: int | None = None, seed: int | None = None,
                            run_id: int | None = None) -> dict[str, Any]:
    """``segmentation_build`` in the background worker (started by the API, the pages, and
    after each scoring run for that run)."""
    user = User.objects.filter(pk=user_id).first() if user_id else None
    run = None
    if run_id is not None:
        run = ScoreRun.objects.filter(pk=run_id, status=RunStatus.COMPLETE).first()
        if run is None:  # replaced by a re-score before the worker got to it
            return {"segmentation_id": None, "skipped": f"run {run_id} is gone"}
    segmentation = segmentation_build(run=run, k_range=(k_range[0], k_range[1]),
                                      criterion=criterion, cluster_traits=cluster_traits,
                                      user=user, seed=seed)
    return {"segmentation_id": segmentation.pk, "n_segments": segmentation.n_segments,
            "n_customers": segmentation.n_customers}
