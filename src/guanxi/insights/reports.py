"""The insights computed on demand: traits, look-alike prospects, key accounts, strategy.

Each function reads through ``insights.selectors`` (access checks included), calls the pure
analytics in ``guanxi.analytics`` and returns plain data that the CLI, the API and the pages
render. Nothing is stored: every report reflects the latest complete scoring run.

**Who may be ranked for outreach (the lawful-basis rule).** A prospect is ranked only if it
has a *granted* consent for the marketing purpose on at least one channel (the latest state in
``customers.Consent``). The others are reported as excluded, with the reason:

- ``profiling_refused``: the prospect objected to profiling (a refused consent with the
  profiling purpose); they are not scored at all;
- ``marketing_withdrawn``: marketing consent was recorded but is withdrawn on every channel;
- ``no_marketing_consent``: no marketing consent was ever recorded.

The model that scores prospects learns from the profile traits only (source, industry, company
size, city tier, income band, kind): a prospect has no first order. The traits report uses the
first order's category and size as well.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from guanxi.accounts.models import User
from guanxi.analytics.errors import AnalyticsError
from guanxi.analytics.keyaccounts import KeyAccountThresholds, key_account_measures
from guanxi.analytics.strategy import StrategyReport, strategy_report
from guanxi.analytics.traits import TraitLift, TraitScores, TraitsModel
from guanxi.core.errors import ValidationFailed
from guanxi.customers.models import IncomeBand, Kind, ValueTier
from guanxi.customers.selectors import can_see_contact_details
from guanxi.insights import selectors
from guanxi.insights.cities import CITY_TIER_LABELS, CityTier
from guanxi.insights.errors import InsightsErrorCode
from guanxi.insights.models import KeyAccountPlan

TIER = "value__value_tier"

#: The seed every report uses for its held-out split: the same data give the same report.
SEED = 20240101


def _feature_label(feature: str) -> str:
    return {
        "source": _("acquisition source"),
        "industry": _("industry"),
        "company_size": _("company size"),
        "city_tier": _("city tier"),
        "income_band": _("income band"),
        "kind": _("kind"),
        "first_category": _("first order's category"),
        "first_order_size": _("first order's size"),
    }.get(feature, feature)


def level_label(feature: str, level: str) -> str:
    """A trait level in words ("first-tier city", "Affluent (富裕)")."""
    if level == "unknown":
        return _("not recorded")
    if feature == "city_tier":
        try:
            return str(CITY_TIER_LABELS[CityTier(level)])
        except ValueError:
            return level
    if feature == "income_band":
        return str(dict(IncomeBand.choices).get(level, level))
    if feature == "kind":
        return str(dict(Kind.choices).get(level, level))
    if feature == "first_order_size":
        return {"high": _("large"), "low": _("small"), "lowest quarter": _("lowest quarter"),
                "second quarter": _("second quarter"), "third quarter": _("third quarter"),
                "top quarter": _("top quarter")}.get(level, level)
    return level


def trait_phrase(feature: str, level: str, low: float | None = None,
                 high: float | None = None) -> str:
    """The customers having a trait, as a noun phrase: "customers acquired through referral"."""
    if level == "unknown":
        return _("customers with no %(trait)s recorded") % {"trait": _feature_label(feature)}
    label = level_label(feature, level)
    if feature == "source":
        return _("customers acquired through %(level)s") % {"level": label}
    if feature == "industry":
        return _("customers in the %(level)s industry") % {"level": label}
    if feature == "company_size":
        return _("customers with company size %(level)s") % {"level": label}
    if feature == "city_tier":
        return _("customers in a %(level)s") % {"level": label}
    if feature == "income_band":
        return _("customers with income %(level)s") % {"level": label}
    if feature == "kind":
        return _("customers of kind %(level)s") % {"level": label}
    if feature == "first_category":
        return _("customers whose first order was mostly %(level)s") % {"level": label}
    if feature == "first_order_size" and low is not None and high is not None:
        return _("customers whose first order was in the %(level)s (¥%(low)s–¥%(high)s)") % {
            "level": label, "low": f"{low:,.0f}", "high": f"{high:,.0f}"}
    return _("customers with %(trait)s %(level)s") % {"trait": _feature_label(feature),
                                                      "level": label}


def tiers_label(tiers: Sequence[str]) -> str:
    names = dict(ValueTier.choices)
    return _(" or ").join(str(names.get(t, t)) for t in tiers)


def trait_sentence(t: TraitLift, top_label: str) -> str:
    """'Customers acquired through referral are 3.1× as likely to become VIP or Key (12% vs
    3.9% of all; 840 customers, 8% of the base).'"""
    phrase = trait_phrase(t.feature, t.level, t.low, t.high)
    return _("%(who)s are %(lift).1f× as likely to become %(top)s (%(rate).0f%% vs %(base).1f%% "
             "overall; %(count)s customers, %(support).0f%% of those scored).") % {
        "who": phrase[:1].upper() + phrase[1:], "lift": t.lift, "top": top_label,
        "rate": 100 * t.rate, "base": 100 * t.base_rate, "count": f"{t.count:,}",
        "support": 100 * t.support}


# -- traits ------------------------------------------------------------------------------------


@dataclasses.dataclass
class TraitsReport:
    top_tiers: tuple[str, ...]
    top_label: str
    n_customers: int
    n_top: int
    base_rate: float
    holdout_auc: float
    top_decile_lift: float
    n_holdout: int
    traits: list[dict[str, Any]]
    model: TraitsModel


def _check_tiers(top_tiers: Sequence[str]) -> tuple[str, ...]:
    allowed = [t for t in ValueTier.values if t]
    tiers = tuple(dict.fromkeys(t.strip() for t in top_tiers if t.strip()))
    bad = [t for t in tiers if t not in allowed]
    if bad or not tiers:
        raise ValidationFailed(InsightsErrorCode.INVALID_TIER,
                               _("Unknown value tier %(tier)r; use %(allowed)s.") % {
                                   "tier": bad[0] if bad else "", "allowed": ", ".join(allowed)},
                               field="top")
    return tiers


def _fit(frame: selectors.TraitFrame, top: npt.NDArray[np.bool_], *, categorical: Sequence[str],
         numeric: Sequence[str] = ()) -> TraitsModel:
    model = TraitsModel(categorical=categorical, numeric=numeric)
    try:
        return model.fit(frame.columns, top, rng=np.random.default_rng(SEED))
    except AnalyticsError as exc:
        raise ValidationFailed(
            InsightsErrorCode.NOT_ENOUGH_DATA,
            _("Not enough scored customers to learn from: %(reason)s Score more customers "
              "(guanxi score) first.") % {"reason": str(exc)}) from None


def traits_report(*, user: User, top_tiers: Sequence[str] = selectors.DEFAULT_TOP_TIERS
                  ) -> TraitsReport:
    """Which acquisition traits distinguish the best customers (aggregates only)."""
    selectors.require_aggregates(user)
    tiers = _check_tiers(top_tiers)
    frame = selectors.profile_traits(selectors.buyers_with_tiers(), extra=(TIER,))
    frame.columns.update(selectors.first_order_traits(frame.ids))
    top = np.isin(frame.columns.pop(TIER), tiers)
    model = _fit(frame, top, categorical=selectors.PROFILE_TRAITS
                 + selectors.FIRST_ORDER_CATEGORICAL, numeric=selectors.FIRST_ORDER_NUMERIC)
    label = tiers_label(tiers)
    traits = [{
        "feature": t.feature, "feature_label": _feature_label(t.feature), "level": t.level,
        "level_label": level_label(t.feature, t.level), "lift": t.lift, "support": t.support,
        "count": t.count, "top": t.top, "rate": t.rate, "p_value": t.p_value,
        "weight": t.weight, "sentence": trait_sentence(t, label),
    } for t in model.distinguishing()]
    return TraitsReport(top_tiers=tiers, top_label=label, n_customers=len(frame),
                        n_top=model.n_top_, base_rate=model.base_rate_,
                        holdout_auc=model.holdout_auc_, top_decile_lift=model.top_decile_lift_,
                        n_holdout=model.n_holdout_, traits=traits, model=model)


# -- look-alike prospects ----------------------------------------------------------------------


@dataclasses.dataclass
class ProspectRanking:
    """Ranked prospects (best first) and the excluded ones with their reason."""

    top_label: str
    ids: npt.NDArray[np.int64]
    probability: npt.NDArray[np.float64]
    scores: TraitScores | None
    excluded_ids: npt.NDArray[np.int64]
    excluded_reason: npt.NDArray[np.str_]
    holdout_auc: float
    show_names: bool
    _phrases: dict[tuple[str, str], str] = dataclasses.field(default_factory=dict, repr=False)

    @property
    def excluded_counts(self) -> dict[str, int]:
        reasons, counts = np.unique(self.excluded_reason, return_counts=True)
        return {str(r): int(c) for r, c in zip(reasons, counts, strict=True)}

    def drivers(self, i: int) -> list[dict[str, Any]]:
        """The (up to) three traits behind the i-th ranked prospect's score, in words."""
        if self.scores is None:
            return []
        out = []
        for j, level, contribution in zip(self.scores.drivers[i], self.scores.levels[i],
                                          self.scores.contributions[i], strict=True):
            if j < 0:
                continue
            feature = self.scores.features[j]
            key = (feature, str(level))
            label = self._phrases.get(key)
            if label is None:  # few distinct traits: each put into words once per export
                label = self._phrases[key] = trait_phrase(feature, str(level))
            out.append({"feature": feature, "level": str(level), "label": label,
                        "contribution": float(contribution)})
        return out

    def rows(self, start: int = 0, stop: int | None = None) -> list[dict[str, Any]]:
        stop = len(self.ids) if stop is None else min(stop, len(self.ids))
        ids = self.ids[start:stop].tolist()
        fields = ("name", "owner__username", "city") if self.show_names else \
            ("owner__username", "city")
        info: dict[int, tuple[Any, ...]] = {}
        for begin in range(0, len(ids), 10_000):  # an export of all: no 1M-id IN list
            info.update(selectors.names_of(ids[begin:begin + 10_000], fields=fields))
        rows = []
        for offset, cid in enumerate(ids):
            i = start + offset
            extra = info.get(cid, ())
            rows.append({
                "rank": i + 1, "id": cid,
                "name": extra[0] if self.show_names and extra else None,
                "owner": extra[-2] if extra else None,
                "city": extra[-1] if extra else "",
                "probability": float(self.probability[i]),
                "drivers": self.drivers(i),
            })
        return rows


EXCLUSION_REASONS = ("profiling_refused", "marketing_withdrawn", "no_marketing_consent")


def exclusion_label(reason: str) -> str:
    return {
        "profiling_refused": _("objected to profiling: not scored"),
        "marketing_withdrawn": _("marketing consent withdrawn on every channel"),
        "no_marketing_consent": _("no marketing consent recorded"),
    }.get(reason, reason)


def lookalike_model(*, top_tiers: Sequence[str] = selectors.DEFAULT_TOP_TIERS
                    ) -> TraitsModel:
    """The model that scores prospects: learnt from every scored buyer, profile traits only."""
    tiers = _check_tiers(top_tiers)
    learners = selectors.profile_traits(selectors.buyers_with_tiers(), extra=(TIER,))
    top = np.isin(learners.columns.pop(TIER), tiers)
    return _fit(learners, top, categorical=selectors.PROFILE_TRAITS)


def prospects_rank(*, user: User, top_tiers: Sequence[str] = selectors.DEFAULT_TOP_TIERS,
                   model: TraitsModel | None = None) -> ProspectRanking:
    """Rank the prospects ``user`` may see by resemblance to the best customers.

    The model (``lookalike_model``, fitted here unless given) learns from every scored buyer,
    company-wide; the ranking covers the user's own prospects, and only those with a lawful
    basis (see module doc).
    """
    tiers = _check_tiers(top_tiers)
    visible = selectors.prospects_visible(user=user)  # the access check, before any work
    if model is None:
        model = lookalike_model(top_tiers=tiers)
    prospects = selectors.profile_traits(visible)
    consent = selectors.consent_state(prospects.ids)
    reason = np.full(len(prospects), "", dtype=object)
    reason[~consent.marketing_recorded] = "no_marketing_consent"
    reason[consent.marketing_recorded & ~consent.marketing_granted] = "marketing_withdrawn"
    reason[consent.profiling_refused] = "profiling_refused"
    eligible = reason == ""
    chosen = selectors.TraitFrame(ids=prospects.ids[eligible], columns={
        k: v[eligible] for k, v in prospects.columns.items()})
    scores = model.score(chosen.columns) if len(chosen) else None
    probability = scores.probability if scores is not None else np.zeros(0)
    # Best first; equal scores keep the id order, so a ranking is reproducible.
    order = np.lexsort((chosen.ids, -probability))
    if scores is not None:
        scores = TraitScores(probability=scores.probability[order], features=scores.features,
                             drivers=scores.drivers[order],
                             contributions=scores.contributions[order],
                             levels=scores.levels[order])
    return ProspectRanking(
        top_label=tiers_label(tiers), ids=chosen.ids[order], probability=probability[order],
        scores=scores, excluded_ids=prospects.ids[~eligible],
        excluded_reason=reason[~eligible].astype(str), holdout_auc=model.holdout_auc_,
        show_names=can_see_contact_details(user))


def ranking_table(ranking: ProspectRanking, *, limit: int | None = None
                  ) -> tuple[list[str], list[list[Any]]]:
    """The export's header and rows (CSV/XLSX); names only for who may see them."""
    header = [_("Rank"), _("Customer id")]
    if ranking.show_names:
        header.append(_("Name"))
    header += [_("Owner"), _("City"), _("Score"), _("Trait 1"), _("Trait 2"), _("Trait 3")]
    table = []
    for row in ranking.rows(0, limit):
        line: list[Any] = [row["rank"], row["id"]]
        if ranking.show_names:
            line.append(row["name"])
        drivers = [d["label"] for d in row["drivers"]] + ["", "", ""]
        line += [row["owner"] or "", row["city"], round(row["probability"], 4), *drivers[:3]]
        table.append(line)
    return header, table


# -- key accounts ------------------------------------------------------------------------------


def key_account_candidates(*, user: User, n_periods: int = 4, today: dt.date | None = None,
                           candidates_only: bool = False, limit: int | None = None,
                           organization_id: int | None = None) -> list[dict[str, Any]]:
    """Organizations the user may see with the seed's three measures, candidates and the best
    scores first (``limit`` of them; one with ``organization_id``). Only the returned rows are
    put into words, so a list of the first hundred of 100,000 organizations stays fast."""
    visible = selectors.organizations_visible(user=user)
    if organization_id is not None:
        visible = visible.filter(pk=organization_id)
    orgs = list(visible.order_by("pk").values_list("pk", "name", "owner__username"))
    if not orgs:
        return []
    ids = [o[0] for o in orgs]
    lines = selectors.account_lines(organizations=visible, n_periods=n_periods, today=today)
    th = KeyAccountThresholds()
    m = key_account_measures(organization=lines.organization, buyer=lines.buyer,
                             category=lines.category, period=lines.period,
                             amount=lines.amount,
                             n_categories_in_catalogue=lines.n_catalogue_categories,
                             n_periods=n_periods, organizations=ids, thresholds=th)
    order = np.lexsort((m.organizations, -m.score, ~m.candidate))
    if candidates_only:
        order = order[m.candidate[order]]
    if limit is not None:
        order = order[:limit]
    shown = [int(i) for i in order]
    plans = dict(KeyAccountPlan.objects.filter(account_id__in=[ids[i] for i in shown])
                 .values_list("account_id", "stage"))
    out: list[dict[str, Any]] = []
    for i in shown:
        pk, name, owner = orgs[i]
        cv = float(m.cv[i])
        out.append({
            "id": pk, "name": name, "owner": owner, "spend": float(m.spend[i]),
            "product_fit": float(m.product_fit[i]), "n_categories": int(m.n_categories[i]),
            "n_catalogue_categories": lines.n_catalogue_categories,
            "central_share": float(m.central_share[i]), "n_buyers": int(m.n_buyers[i]),
            "active_share": float(m.active_share[i]), "cv": cv if np.isfinite(cv) else None,
            "continuity": float(m.continuity[i]), "score": float(m.score[i]),
            "candidate": bool(m.candidate[i]), "plan_stage": plans.get(pk),
            "period_spend": [float(x) for x in m.period_spend[i]],
            "explanation": _key_account_explanation(m, i, lines.n_catalogue_categories,
                                                    n_periods, th),
        })
    return out


def _key_account_explanation(m: Any, i: int, n_catalogue: int, n_periods: int,
                             th: KeyAccountThresholds) -> list[str]:
    fit = _("Product fit: buys %(n)s of the catalogue's %(total)s categories (%(share).0f%%; "
            "%(verdict)s).") % {
        "n": int(m.n_categories[i]), "total": n_catalogue, "share": 100 * m.product_fit[i],
        "verdict": _("fits") if m.product_fit[i] >= th.min_product_fit else _("too narrow")}
    if m.n_buyers[i] == 0:
        mode = _("Purchasing: no purchases yet.")
    elif m.n_buyers[i] == 1:
        mode = _("Purchasing: one buyer places all of the spend (central).")
    else:
        mode = _("Purchasing: the largest of %(n)s buyers places %(share).0f%% of the spend "
                 "(%(verdict)s).") % {
            "n": int(m.n_buyers[i]), "share": 100 * m.central_share[i],
            "verdict": _("central") if m.central_share[i] >= th.min_central_share
            else _("scattered")}
    active = round(float(m.active_share[i]) * n_periods)
    if np.isfinite(m.cv[i]):
        cont = _("Continuity: bought in %(active)s of the last %(n)s years, spend varies by "
                 "%(cv).0f%% year to year (%(verdict)s).") % {
            "active": active, "n": n_periods, "cv": 100 * m.cv[i],
            "verdict": _("steady") if (m.active_share[i] >= th.min_active_share
                                       and m.cv[i] <= th.max_cv) else _("irregular")}
    else:
        cont = _("Continuity: no purchase in the last %(n)s years.") % {"n": n_periods}
    return [fit, mode, cont]


# -- strategy ----------------------------------------------------------------------------------


def strategy_label(code: str) -> str:
    return {
        "undifferentiated": pgettext("strategy", "Undifferentiated (统一化) strategy"),
        "differentiated": pgettext("strategy", "Differentiated (区别型) strategy"),
        "focused": pgettext("strategy", "Focused (聚焦型) strategy"),
    }[code]


def _evidence_sentence(code: str, holds: bool, value: float | None, threshold: float | None,
                       detail: str) -> str:
    v = "—" if value is None else f"{value:.2f}"
    t = "—" if threshold is None else f"{threshold:.2f}"
    yes = _("yes") if holds else _("no")
    texts = {
        "focus_segment_equity_share": _("The most valuable segment (%(detail)s) holds "
                                        "%(pct)s of customer equity (focus needs ≥ %(t)s): "
                                        "%(yes)s."),
        "focus_segment_customer_share": _("…with %(pct)s of the customers (focus needs ≤ "
                                          "%(t)s): %(yes)s."),
        "value_differs": _("Segments differ in value (Kruskal-Wallis p = %(v)s, needs < %(t)s): "
                           "%(yes)s."),
        "sizeable_segments": _("Segments with at least 5%% of the customers: %(v)s (needs ≥ 2):"
                               " %(yes)s."),
        "preferences_differ": _("Segments prefer different categories (Cramér's V = %(v)s, "
                                "needs ≥ %(t)s): %(yes)s."),
        "price_levels_differ": _("Segments pay different price levels (spread of paid/list "
                                 "price = %(v)s, needs ≥ %(t)s): %(yes)s."),
        "value_effect_large": _("The value difference is large (ε² = %(v)s, needs ≥ %(t)s): "
                                "%(yes)s."),
    }
    pct = "—" if value is None else f"{100 * value:.0f}%"
    tpct = "—" if threshold is None else f"{100 * threshold:.0f}%"
    if code in ("focus_segment_equity_share", "focus_segment_customer_share"):
        return texts[code] % {"detail": detail, "pct": pct, "t": tpct, "yes": yes}
    if code == "sizeable_segments":
        return texts[code] % {"v": "—" if value is None else f"{int(value)}", "yes": yes}
    return texts.get(code, code) % {"v": v, "t": t, "yes": yes}


def _report_dict(r: StrategyReport) -> dict[str, Any]:
    return {
        "recommendation": r.recommendation,
        "recommendation_label": strategy_label(r.recommendation),
        "focus_segment": r.focus_segment,
        "segments": [dataclasses.asdict(s) for s in r.segments],
        "value_kruskal_h": r.value_h, "value_p": r.value_p, "value_effect": r.value_effect,
        "preference_chi2": r.preference_chi2, "preference_p": r.preference_p,
        "cramers_v": r.cramers_v, "price_spread": r.price_spread,
        "evidence": [{"code": e.code, "holds": e.holds, "value": e.value,
                      "threshold": e.threshold, "detail": e.detail,
                      "sentence": _evidence_sentence(e.code, e.holds, e.value, e.threshold,
                                                     e.detail)}
                     for e in r.evidence],
    }


def strategy(*, user: User) -> dict[str, Any]:
    """Value concentration, segment heterogeneity and the recommended strategy.

    The recommendation reads the statistical segments when ``guanxi.segments`` has built them
    for the latest run, else the RFM segments; value tiers are cut by value itself (the top
    tier always holds most equity), so they describe concentration but decide nothing.
    """
    selectors.require_aggregates(user)
    data = selectors.strategy_inputs(user=user)
    if len(data.value) == 0:
        raise ValidationFailed(InsightsErrorCode.NOT_SCORED,
                               _("No scored customers yet: run guanxi score first."))
    reports: dict[str, dict[str, Any]] = {}
    concentration: dict[str, Any] = {}
    for key, labels in data.segmentations.items():
        names, cats, table, paid, listed = _aligned(data.category_counts.get(key),
                                                    data.price.get(key))
        r = strategy_report(value=data.value, segment=labels, category_counts=table,
                            categories=cats, segment_names=names, paid=paid, listed=listed)
        reports[key] = _report_dict(r)
        if not concentration:
            concentration = {
                "n_customers": r.n_customers, "total_equity": r.total_equity,
                "top_shares": r.top_shares, "gini": r.gini,
                "pareto": [[float(x), float(y)] for x, y in zip(r.pareto_x, r.pareto_y,
                                                                strict=True)],
            }
    primary = "statistical" if "statistical" in reports else "rfm"
    return {
        "concentration": concentration,
        "basis": primary,
        "recommendation": reports[primary]["recommendation"],
        "recommendation_label": reports[primary]["recommendation_label"],
        "evidence": reports[primary]["evidence"],
        "segmentations": reports,
        "price_basis": _("Price level = amount paid ÷ (quantity × the product's list price), over"
                         " order lines whose product has a list price."),
    }


def _aligned(
    mix: tuple[list[str], list[str], npt.NDArray[np.float64]] | None,
    price: tuple[list[str], npt.NDArray[np.float64], npt.NDArray[np.float64]] | None,
) -> tuple[list[str], list[str], npt.NDArray[np.float64] | None,
           npt.NDArray[np.float64] | None, npt.NDArray[np.float64] | None]:
    """Category-mix rows and price rows on one list of segment names (a segment may have
    lines in categories but no list prices, or the reverse)."""
    names = sorted(set(mix[0] if mix else []) | set(price[0] if price else []))
    pos = {n: i for i, n in enumerate(names)}
    cats: list[str] = mix[1] if mix else []
    table = None
    if mix and cats:
        table = np.zeros((len(names), len(cats)))
        for row, n in enumerate(mix[0]):
            table[pos[n]] = mix[2][row]
    paid = listed = None
    if price and price[0]:
        paid = np.zeros(len(names))
        listed = np.zeros(len(names))
        for n, p, li in zip(*price, strict=True):
            paid[pos[n]] = p
            listed[pos[n]] = li
    return names, cats, table, paid, listed
