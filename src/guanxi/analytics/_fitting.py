"""Maximum likelihood on log-parameters, shared by the purchase and spend models (private).

All our models have strictly positive parameters. Optimizing their logarithms removes the
bounds (no iterate can leave the domain, so no NaN from ``gammaln`` of a negative number) and
evens out their scales: alpha is in the time unit (4 in weeks, 30 in days) while a and b are
pure numbers, and a relative step is the natural step for all of them.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.optimize import OptimizeResult, minimize

from ._validation import FloatArray
from .errors import ConvergenceWarning

#: ``(natural parameters) -> (total log-likelihood, its gradient in the natural parameters)``
LogLikelihood = Callable[[FloatArray], tuple[float, FloatArray]]
#: ``(natural parameters) -> Hessian of the total log-likelihood in the natural parameters``
Hessian = Callable[[FloatArray], FloatArray]


@dataclass(frozen=True)
class FitResult:
    params: FloatArray
    log_likelihood: float
    standard_errors: FloatArray
    converged: bool
    n_iter: int


def maximize_log_likelihood(
    log_likelihood: LogLikelihood,
    start: FloatArray,
    *,
    total_weight: float,
    penalizer: float,
    max_iter: int,
    tol: float,
    model: str,
    hessian: Hessian | None = None,
    warm_start: LogLikelihood | None = None,
) -> FitResult:
    """Maximize ``log_likelihood`` over positive parameters; standard errors from its Hessian.

    The optimizer sees the mean negative log-likelihood per customer (so ``tol`` means the
    same for 100 and 10 million customers) plus ``penalizer * sum(params ** 2)``, the L2
    penalty lifetimes uses, which pulls estimates towards 0 on tiny or degenerate data.
    L-BFGS-B gets the analytic gradient, chain-ruled to log space: d/dlog(p) = p * d/dp.
    Standard errors come from ``hessian`` when the model has an analytic one, else from
    finite differences of the gradient.

    With both ``warm_start`` (a cheap approximation of the log-likelihood, e.g. on a sample
    of the rows) and ``hessian``, L-BFGS-B first solves the approximation, and Newton steps
    in a trust region (scipy's ``trust-exact``) finish on the full data: from that close,
    two or three full passes replace the dozen or more a quasi-Newton method needs to
    learn the curvature.
    """

    last: dict[bytes, tuple[float, FloatArray]] = {}

    def evaluate(params: FloatArray) -> tuple[float, FloatArray]:
        # The optimizer's final point is evaluated again for the convergence check and the
        # reported log-likelihood: remember the latest value instead of another data pass.
        key = params.tobytes()
        if key not in last:
            last.clear()
            last[key] = log_likelihood(params)
        return last[key]

    def objective(theta: FloatArray) -> tuple[float, FloatArray]:
        params = _exp(theta)
        if not np.all(np.isfinite(params)):
            return np.inf, np.zeros_like(theta)
        ll, grad = evaluate(params)
        value = -ll / total_weight + penalizer * float(np.sum(params**2))
        gradient = -grad * params / total_weight + 2.0 * penalizer * params**2
        if not np.isfinite(value):
            # Keep the line search away from overflowing corners instead of stopping there.
            return np.inf, np.zeros_like(theta)
        return value, gradient

    def lbfgsb(
        fun: Callable[[FloatArray], tuple[float, FloatArray]], theta: FloatArray, budget: int
    ) -> tuple[FloatArray, OptimizeResult, int]:
        # Near a flat optimum the line search can fail ("ABNORMAL") on rounding noise in f
        # while the gradient is still above tol; a restart from there, with a fresh curvature
        # memory, nearly always finishes in an iteration or two. Two restarts at most.
        used = 0
        for _ in range(3):
            result = minimize(
                fun, theta, jac=True, method="L-BFGS-B",
                options={"maxiter": budget - used, "gtol": tol,
                         "ftol": 1e3 * np.finfo(float).eps},
            )
            theta = np.asarray(result.x, dtype=np.float64)
            used += int(result.nit)
            if result.success or used >= budget:
                break
        return theta, result, used

    theta = np.log(start)
    n_iter = 0
    result: OptimizeResult | None = None
    if warm_start is not None and hessian is not None:
        analytic = hessian

        def approximate(theta: FloatArray) -> tuple[float, FloatArray]:
            params = _exp(theta)
            if not np.all(np.isfinite(params)):
                return np.inf, np.zeros_like(theta)
            ll, grad = warm_start(params)
            value = -ll / total_weight + penalizer * float(np.sum(params**2))
            if not np.isfinite(value):
                return np.inf, np.zeros_like(theta)
            return value, -grad * params / total_weight + 2.0 * penalizer * params**2

        def hess_theta(theta: FloatArray) -> FloatArray:
            # Chain rule to log space: H_theta = P H P + diag(g * p) for f = -LL / W, P = diag(p).
            params = np.exp(theta)
            _, grad = evaluate(params)
            h = np.asarray(analytic(params), dtype=np.float64)
            return np.asarray(
                -(params[:, None] * h * params[None, :] + np.diag(grad * params)) / total_weight
                + np.diag(4.0 * penalizer * params**2),
                dtype=np.float64,
            )

        theta, _, _ = lbfgsb(approximate, theta, max_iter)
        result = minimize(objective, theta, jac=True, hess=hess_theta, method="trust-exact",
                          options={"gtol": tol, "maxiter": max_iter})
        theta = np.asarray(result.x, dtype=np.float64)
        n_iter = int(result.nit)
        if not (result.success and np.all(np.isfinite(theta))):
            theta, result, used = lbfgsb(objective, theta, max_iter)
            n_iter += used
    else:
        theta, result, n_iter = lbfgsb(objective, theta, max_iter)
    _, gradient = objective(theta)
    converged = bool(result.success) or bool(np.max(np.abs(gradient)) <= 10.0 * tol)
    if not converged:
        warnings.warn(
            f"{model}.fit() did not converge ({result.message}); the estimate may be off.",
            ConvergenceWarning,
            stacklevel=3,
        )
    params = np.exp(theta)
    ll, _ = evaluate(params)
    return FitResult(
        params=params,
        log_likelihood=ll,
        standard_errors=standard_errors(log_likelihood, params, hessian),
        converged=converged,
        n_iter=n_iter,
    )


def standard_errors(
    log_likelihood: LogLikelihood, params: FloatArray, analytic: Hessian | None = None
) -> FloatArray:
    """Square roots of the diagonal of the inverse observed information, natural parameters.

    Without an analytic Hessian, it is the central finite difference of the analytic
    gradient, with a relative step of 1e-5 (about the cube root of machine epsilon, the step
    that balances truncation against rounding error for a central difference). It is made
    symmetric before inversion. A singular or indefinite information matrix (a parameter
    the data do not pin down) gives NaN for the affected errors rather than a meaningless
    number.
    """
    k = params.size
    if analytic is not None:
        hessian = -np.asarray(analytic(params), dtype=np.float64)
    else:
        hessian = np.empty((k, k))
        for j in range(k):  # k <= 4 parameters: a loop over parameters, not over customers
            h = 1e-5 * params[j]
            up, down = params.copy(), params.copy()
            up[j] += h
            down[j] -= h
            hessian[:, j] = -(log_likelihood(up)[1] - log_likelihood(down)[1]) / (2.0 * h)
    hessian = 0.5 * (hessian + hessian.T)
    try:
        covariance = np.linalg.inv(hessian)
    except np.linalg.LinAlgError:
        return np.full(k, np.nan)
    variances = np.diag(covariance)
    with np.errstate(invalid="ignore"):
        return np.where(variances > 0, np.sqrt(np.abs(variances)), np.nan)


def _exp(theta: FloatArray) -> FloatArray:
    """Parameters from their logs. A line search may probe absurd steps (log-parameters of
    10^6 were seen with scipy 1.17): those overflow to inf, which the objectives turn into an
    infinite value the search backs away from, without a warning."""
    with np.errstate(over="ignore"):
        return np.exp(theta)
