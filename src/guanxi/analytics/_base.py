"""What every maximum-likelihood model here shares: settings, learned attributes, from_params."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Self

import numpy as np

from . import _validation as v
from ._fitting import FitResult
from ._validation import FloatArray
from .errors import InvalidInputError, NotFittedError


class ParametricModel:
    """Base of BGNBD, ParetoNBD and GammaGamma (scikit-learn's contract: settings in
    ``__init__``, learned values ending in ``_`` set by ``fit``)."""

    #: The parameters under their literature names, in the optimizer's order.
    PARAM_NAMES: ClassVar[tuple[str, ...]]
    #: The model's name in messages ("BG/NBD").
    LABEL: ClassVar[str]

    params_: dict[str, float]
    standard_errors_: dict[str, float]
    log_likelihood_: float
    converged_: bool
    n_iter_: int
    n_customers_: int

    def __init__(self, *, penalizer: float = 0.0, max_iter: int = 1000, tol: float = 1e-9) -> None:
        self.penalizer = penalizer
        self.max_iter = max_iter
        self.tol = tol

    @classmethod
    def from_params(cls, params: Mapping[str, float]) -> Self:
        """A model with known parameters (stored earlier, or for simulation), without fitting.

        Only ``params_`` is set; the fit diagnostics are NaN, ``converged_`` is False and the
        counts are 0.
        """
        values = v.as_float("params", [params[name] for name in cls.PARAM_NAMES])
        if np.any(values <= 0):
            names = ", ".join(cls.PARAM_NAMES)
            raise InvalidInputError(f"{cls.LABEL} parameters {names} must all be > 0.")
        model = cls()
        model.params_ = dict(zip(cls.PARAM_NAMES, map(float, values), strict=True))
        model.standard_errors_ = dict.fromkeys(cls.PARAM_NAMES, float("nan"))
        model.log_likelihood_ = float("nan")
        model.converged_ = False
        model.n_iter_ = 0
        model.n_customers_ = 0
        return model

    def _store_fit(self, result: FitResult, *, n_customers: int) -> Self:
        """Keep an optimizer result as the learned attributes; returns self for ``fit``."""
        self.params_ = dict(zip(self.PARAM_NAMES, map(float, result.params), strict=True))
        self.standard_errors_ = dict(
            zip(self.PARAM_NAMES, map(float, result.standard_errors), strict=True)
        )
        self.log_likelihood_ = result.log_likelihood
        self.converged_ = result.converged
        self.n_iter_ = result.n_iter
        self.n_customers_ = n_customers
        return self

    def _params(self) -> FloatArray:
        if not hasattr(self, "params_"):
            raise NotFittedError(
                f"This {type(self).__name__} is not fitted yet: call fit() or from_params()."
            )
        return np.array([self.params_[name] for name in self.PARAM_NAMES])
