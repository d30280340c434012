"""guanxi.analytics: customer-base analysis on numpy and scipy alone.

From transaction lines to the numbers a CRM acts on: per-customer summaries (RFM and the
(x, t_x, T) of the buy-till-you-die literature), the BG/NBD and Pareto/NBD purchase models,
the Gamma-Gamma spend model, lifetime value with discounting, value tiers, RFM segments, and
the checks that tell whether a model predicts (holdout report, tracking plot).

This package is a library: it imports numpy and scipy only (matplotlib lazily, to draw), never
Django or the rest of guanxi, and a test guards that. Estimators follow scikit-learn's contract:
``__init__`` stores settings, ``fit()`` returns ``self``, learned values end in ``_``, and
randomness comes only from an explicit ``numpy.random.Generator``.

Errors: see :mod:`guanxi.analytics.errors` for the tree; catch :class:`AnalyticsError`.
"""

from .bgnbd import BGNBD
from .check import HoldoutReport, TrackingCurve, holdout_report, plot_tracking, tracking_curve
from .clv import DEFAULT_TIERS, customer_equity, customer_lifetime_value, value_tiers
from .errors import (
    AnalyticsError,
    ConvergenceWarning,
    InvalidInputError,
    NotFittedError,
    NotIdentifiableError,
)
from .gammagamma import GammaGamma
from .paretonbd import ParetoNBD
from .rfm import RFM_SEGMENTS, rfm_scores, rfm_segments
from .simulate import BGNBDSimulation, simulate_bgnbd_transactions
from .summaries import CustomerSummary, PartialSummary, summarize_transactions

__all__ = [
    "BGNBD",
    "DEFAULT_TIERS",
    "RFM_SEGMENTS",
    "AnalyticsError",
    "BGNBDSimulation",
    "ConvergenceWarning",
    "CustomerSummary",
    "GammaGamma",
    "HoldoutReport",
    "InvalidInputError",
    "NotFittedError",
    "NotIdentifiableError",
    "ParetoNBD",
    "PartialSummary",
    "TrackingCurve",
    "customer_equity",
    "customer_lifetime_value",
    "holdout_report",
    "plot_tracking",
    "rfm_scores",
    "rfm_segments",
    "simulate_bgnbd_transactions",
    "summarize_transactions",
    "tracking_curve",
    "value_tiers",
]
