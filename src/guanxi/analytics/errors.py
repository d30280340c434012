"""The errors ``guanxi.analytics`` raises on purpose.

::

    AnalyticsError                   base of everything below; catch this at an edge
    ├── InvalidInputError            malformed input: NaN, negative times, t_x > T,
    │   │                            unequal lengths, an unknown time unit ...
    │   │                            (also a ``ValueError``)
    │   └── NotIdentifiableError     well-formed data that cannot identify the model:
    │                                no repeat buyer, fewer than two customers ...
    └── NotFittedError               a prediction asked of a model before ``fit()``
                                     (also an ``AttributeError``, as in scikit-learn)

    ConvergenceWarning               ``fit()`` stopped before the optimizer converged;
                                     the estimate is kept and ``converged_`` is False

The library never imports Django, so these do not carry the CRM's error codes: the Django
edge that calls the library turns them into its own ``ValidationFailed`` with a code.
"""

from __future__ import annotations

__all__ = [
    "AnalyticsError",
    "ConvergenceWarning",
    "InvalidInputError",
    "NotFittedError",
    "NotIdentifiableError",
]


class AnalyticsError(Exception):
    """Base class of every error raised on purpose by ``guanxi.analytics``."""


class InvalidInputError(AnalyticsError, ValueError):
    """The input is malformed: wrong shape, NaN, negative or inconsistent times, bad options."""


class NotIdentifiableError(InvalidInputError):
    """The data are well-formed but cannot identify the model's parameters.

    For example a BG/NBD fit on customers none of whom made a repeat purchase: every
    likelihood term then only says "no purchase since the first", which a low purchase
    rate and a high drop-out probability explain equally well.
    """


class NotFittedError(AnalyticsError, AttributeError):
    """A fitted value was asked of an estimator whose ``fit()`` has not run."""


class ConvergenceWarning(UserWarning):
    """The optimizer stopped (iteration limit, line search) before meeting its tolerance."""
