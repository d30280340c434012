"""What every maximum-likelihood model here shares: settings, learned attributes, from_params."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Self

import numpy as np

from . import _validation as v
from .errors import InvalidInputError


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
