"""The BG/NBD purchase model (Fader, Hardie & Lee 2005).

Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). "Counting your customers" the easy way:
an alternative to the Pareto/NBD model. *Marketing Science* 24(2), 275-284. Equation numbers
below are that paper's; "the P(alive) note" is Fader, Hardie & Lee (2008), *Computing P(alive)
using the BG/NBD model*, and "the numerical-error note" is Hardie's note on evaluating the
BG/NBD likelihood without overflow.

The story: while alive, a customer buys at a Poisson rate lambda; after each repeat purchase
they drop out for good with probability p. Across customers lambda ~ Gamma(r, alpha) and
p ~ Beta(a, b). A customer is summarised by x (repeat purchases), t_x (time of the last one)
and T (time since the first purchase), all in one time unit.
"""

from __future__ import annotations

import copy
from typing import Final, Self

import numpy as np
import numpy.typing as npt
from scipy.special import betaln, digamma, expit, exprel, gammaln, hyp2f1, polygamma

from . import _validation as v
from ._base import ParametricModel
from ._fitting import maximize_log_likelihood
from ._validation import FloatArray, dot
from .errors import NotIdentifiableError

__all__ = ["BGNBD"]

PARAM_NAMES: Final = ("r", "alpha", "a", "b")

# Series terms summed for the Gauss hypergeometric function before handing the (rare)
# unconverged values to scipy; see _future_purchases_if_alive.
_MAX_SERIES_TERMS: Final = 4000


def _log_likelihood_rows(
    params: FloatArray, x: FloatArray, t_x: FloatArray, T: FloatArray
) -> FloatArray:
    """Log-likelihood of each row (FHL 2005 eq. 6), without overflow.

    Eq. 6 is a sum of two products of Gamma and Beta functions::

        L = B(a, b+x)/B(a, b) G(r+x) alpha^r / (G(r) (alpha+T)^(r+x))
            + [x > 0] B(a+1, b+x-1)/B(a, b) G(r+x) alpha^r / (G(r) (alpha+t_x)^(r+x)).

    The naive product overflows (Gamma(r + x) for x = 200 is ~1e372) and returns NaN, so,
    as the numerical-error note recommends, we work in logs. Factoring out the first term
    leaves ``log L = log(first) + log1p(exp(delta))`` where ``delta`` is the log ratio of the
    second term to the first. Because B(a+1, b+x-1) / B(a, b+x) = a / (b+x-1), delta is
    exactly the log odds of having dropped out (``_log_odds_dropped``), and
    ``logaddexp(0, delta)`` evaluates the sum for any size of either term.
    """
    r, alpha, a, b = params
    first = (
        gammaln(r + x) - gammaln(r) + r * np.log(alpha)
        + betaln(a, b + x) - betaln(a, b)
        - (r + x) * np.log(alpha + T)
    )
    delta = _log_odds_dropped(x, t_x, T, params)
    return np.asarray(first + np.logaddexp(0.0, delta), dtype=np.float64)


class _Data:
    """The distinct (x, t_x, T) rows of a fit and everything about them that is fixed.

    The log-likelihood is split (see ``_log_likelihood_rows``) into a part that depends on
    x alone or on T alone, summed over the few distinct values of x and of T with
    precomputed weights, and the drop-out term ``log1p(exp(delta))``, the only one that
    needs a pass over rows, and only over rows with x > 0. An optimizer step then costs a
    dozen vector operations on the distinct repeat-buyer rows and no special function on
    more than a few hundred values.
    """

    def __init__(
        self, x: FloatArray, t_x: FloatArray, T: FloatArray, weights: FloatArray | None
    ) -> None:
        (self.x_values, x_code), (self.t_values, t_code), (self.T_values, T_code), w = (
            v.distinct_rows(x, t_x, T, weights)
        )
        x_row = self.x_values[x_code]
        self.total_weight = float(w.sum())
        self.w_by_x = np.bincount(x_code, weights=w, minlength=self.x_values.size)
        self.w_by_T = np.bincount(T_code, weights=w, minlength=self.T_values.size)
        self.wx_by_T = np.bincount(T_code, weights=w * x_row, minlength=self.T_values.size)
        repeat = x_row > 0
        self.rep_x_code, self.rep_t_code = x_code[repeat], t_code[repeat]
        self.rep_T_code = T_code[repeat]
        self.rep_x, self.rep_w = x_row[repeat], w[repeat]
        self.rep_T, self.rep_t = self.T_values[self.rep_T_code], self.t_values[self.rep_t_code]
        # Times measured in whole days take a few hundred values: take log(alpha + T) per
        # value and gather. Continuous times are nearly all distinct: compute per row.
        self.gather = self.T_values.size + self.t_values.size <= max(self.rep_x.size // 8, 64)

    def sample(self, rows: int) -> _Data | None:
        """A cheap stand-in for a warm start: about ``rows`` of the repeat-buyer rows.

        Every k-th distinct row is kept (rows are sorted by x, t_x, T, so every part of the
        data is represented, and no randomness is involved) and their weights are scaled to
        the same total; the per-x and per-T parts stay exact. None when the data are small
        enough to fit directly.
        """
        step = self.rep_x.size // rows
        if step < 2:
            return None
        kept = copy.copy(self)
        chosen = slice(step // 2, None, step)
        for name in ("rep_x_code", "rep_t_code", "rep_T_code", "rep_x", "rep_T", "rep_t"):
            setattr(kept, name, getattr(self, name)[chosen])
        w = self.rep_w[chosen]
        kept.rep_w = w * (self.rep_w.sum() / w.sum())
        return kept

    def log_likelihood(self, params: FloatArray) -> tuple[float, FloatArray]:
        """Total weighted log-likelihood and its analytic gradient in (r, alpha, a, b)."""
        r, alpha, a, b = params
        xv, tv, Tv = self.x_values, self.t_values, self.T_values
        log_alpha_T = np.log(alpha + Tv)
        # Rows with x = 0 have no drop-out term; evaluate b + x - 1 at x = 1 there (it
        # would be negative for b < 1) and never use the value.
        b_x1 = b + np.maximum(xv, 1.0) - 1.0
        per_x = gammaln(r + xv) - gammaln(r) + r * np.log(alpha) + betaln(a, b + xv) - betaln(a, b)
        rT_weight = r * self.w_by_T + self.wx_by_T  # sum of w (r + x) per distinct T
        ll = dot(self.w_by_x, per_x) - dot(rT_weight, log_alpha_T)

        # log((alpha + T) / (alpha + t_x)) >= 0 of each repeat-buyer row.
        if self.gather:
            log_ratio = log_alpha_T[self.rep_T_code] - np.log(alpha + tv)[self.rep_t_code]
        else:
            log_ratio = np.log(alpha + self.rep_T) - np.log(alpha + self.rep_t)
        rx = r + self.rep_x
        delta = (np.log(a) - np.log(b_x1))[self.rep_x_code] + rx * log_ratio
        # softplus(delta) = log1p(exp(delta)) = max(delta, 0) + log1p(exp(-|delta|)): one
        # exp that cannot overflow, reused below for the logistic function (np.logaddexp
        # and scipy's expit would each redo it).
        e = np.exp(-np.abs(delta))
        ll += dot(self.rep_w, np.maximum(delta, 0.0) + np.log1p(e))

        # d softplus(delta) = expit(delta) d delta: the probability of having dropped out.
        inv_1pe = 1.0 / (1.0 + e)
        ws = self.rep_w * np.where(delta >= 0.0, inv_1pe, e * inv_1pe)
        wsrx = ws * rx
        psi_abx = digamma(a + b + xv)
        grad_r = (
            dot(self.w_by_x, digamma(r + xv) - digamma(r) + np.log(alpha))
            - dot(self.w_by_T, log_alpha_T)
            + dot(ws, log_ratio)
        )
        inv_T = 1.0 / (alpha + Tv)
        if self.gather:
            inv_t = 1.0 / (alpha + tv)
            d_ratio = (
                dot(np.bincount(self.rep_T_code, weights=wsrx, minlength=Tv.size), inv_T)
                - dot(np.bincount(self.rep_t_code, weights=wsrx, minlength=tv.size), inv_t)
            )
        else:
            d_ratio = dot(wsrx, 1.0 / (alpha + self.rep_T) - 1.0 / (alpha + self.rep_t))
        grad_alpha = self.total_weight * r / alpha - dot(rT_weight, inv_T) + d_ratio
        # d delta / da = 1/a and d delta / db = -1/(b + x - 1), from delta's log a - log(b+x-1).
        grad_a = dot(self.w_by_x, digamma(a + b) - psi_abx) + ws.sum() / a
        grad_b = dot(
            self.w_by_x, digamma(b + xv) - digamma(b) + digamma(a + b) - psi_abx
        ) - dot(np.bincount(self.rep_x_code, weights=ws, minlength=xv.size), 1.0 / b_x1)
        return ll, np.array([grad_r, grad_alpha, grad_a, grad_b], dtype=np.float64)

    def hessian(self, params: FloatArray) -> FloatArray:
        """Analytic Hessian of the total log-likelihood in (r, alpha, a, b).

        One pass over the rows instead of the eight gradient evaluations a central-difference
        Hessian needs; it gives the standard errors and lets the optimizer take Newton steps.
        With s = expit(delta) and g = d delta / d theta, the drop-out term contributes
        ``sum w [s (1 - s) g g' + s d2 delta]``; the per-x and per-T parts are trigamma terms
        and powers of 1 / (alpha + T).
        """
        r, alpha, a, b = params
        xv, tv, Tv = self.x_values, self.t_values, self.T_values
        W = self.total_weight
        b_x1 = b + np.maximum(xv, 1.0) - 1.0
        beta_x = 1.0 / b_x1  # -d delta / db, per distinct x
        inv_T, inv_t = 1.0 / (alpha + Tv), 1.0 / (alpha + tv)
        rT_weight = r * self.w_by_T + self.wx_by_T
        tri_abx = polygamma(1, a + b + xv)
        tri_ab = float(polygamma(1, a + b))
        h = np.zeros((4, 4))
        # Parts that depend on x alone or T alone.
        h[0, 0] = dot(self.w_by_x, polygamma(1, r + xv)) - W * float(polygamma(1, r))
        h[0, 1] = W / alpha - dot(self.w_by_T, inv_T)
        h[1, 1] = -W * r / alpha**2 + dot(rT_weight, inv_T**2)
        h[2, 2] = dot(self.w_by_x, tri_ab - tri_abx)
        h[2, 3] = h[2, 2]
        h[3, 3] = dot(self.w_by_x, polygamma(1, b + xv) - float(polygamma(1, b)) + tri_ab
                      - tri_abx)

        # The drop-out term over the repeat-buyer rows.
        if self.gather:
            log_ratio = np.log(alpha + Tv)[self.rep_T_code] - np.log(alpha + tv)[self.rep_t_code]
            diff1 = inv_T[self.rep_T_code] - inv_t[self.rep_t_code]
            diff2 = (inv_T**2)[self.rep_T_code] - (inv_t**2)[self.rep_t_code]
        else:
            iT, it = 1.0 / (alpha + self.rep_T), 1.0 / (alpha + self.rep_t)
            log_ratio = np.log(alpha + self.rep_T) - np.log(alpha + self.rep_t)
            diff1, diff2 = iT - it, iT**2 - it**2
        rx = r + self.rep_x
        delta = (np.log(a) - np.log(b_x1))[self.rep_x_code] + rx * log_ratio
        s = expit(delta)
        ws = self.rep_w * s
        q = ws * (1.0 - s)
        g_alpha = rx * diff1
        code, n_x = self.rep_x_code, xv.size
        q_by_x = np.bincount(code, weights=q, minlength=n_x)
        ws_by_x = np.bincount(code, weights=ws, minlength=n_x)
        h[0, 0] += dot(q, log_ratio**2)
        h[0, 1] += dot(q, log_ratio * g_alpha) + dot(ws, diff1)
        h[0, 2] += dot(q, log_ratio) / a
        h[0, 3] -= dot(np.bincount(code, weights=q * log_ratio, minlength=n_x), beta_x)
        h[1, 1] += dot(q, g_alpha**2) - dot(ws, rx * diff2)
        h[1, 2] += dot(q, g_alpha) / a
        h[1, 3] -= dot(np.bincount(code, weights=q * g_alpha, minlength=n_x), beta_x)
        h[2, 2] += (q_by_x.sum() - ws_by_x.sum()) / a**2
        h[2, 3] -= dot(q_by_x, beta_x) / a
        h[3, 3] += dot(q_by_x + ws_by_x, beta_x**2)
        return np.triu(h) + np.triu(h, 1).T


def _future_purchases_if_alive(
    t: FloatArray, x: FloatArray, T: FloatArray, params: FloatArray
) -> FloatArray:
    """E[purchases in (T, T + t] | alive at T, x, T]: eq. 10 without its P(alive) factor.

    Eq. 10's numerator is ``C/B * [1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; C; z)]``
    with ``B = a - 1``, ``C = a + b + x - 1`` and ``z = t / (alpha + T + t)``. As written it is
    hard to evaluate: for large x the 2F1 is huge (its c - a - b = a - 1 - r - x is very
    negative) and multiplied by a tiny power, and the bracket cancels to 0 for small t.

    Euler's transformation 2F1(a, b; c; z) = (1 - z)^(c-a-b) 2F1(c-a, c-b; c; z) (Abramowitz
    & Stegun 15.3.3) absorbs the power and leaves ``(1-z)^B 2F1(A, B; C; z)`` with
    ``A = a + b - 1 - r``: the two upper parameters no longer grow with x, and the growing
    lower one only speeds convergence. Writing ``L = log(1 - z) = -log1p(t / (alpha + T))``::

        C/B [1 - (1-z)^B F] = -C L exprel(B L) - (1-z)^B sum_{n>=1} v_n,
        v_1 = A z,  v_{n+1} = v_n (A + n)(B + n) z / ((C + n)(n + 1)),

    where ``sum v_n = C (F - 1) / B``. Dividing by B *before* summing removes the apparent
    singularity at a = 1, ``exprel`` keeps the first part accurate for tiny t, and no term
    ever needs Gamma(x). The series converges geometrically in z; the rare values with z
    near 1 (horizons far beyond the customer's history) that have not converged after
    ``_MAX_SERIES_TERMS`` terms go to ``_far_horizon``.
    """
    r, alpha, a, b = params
    t, x, T = np.broadcast_arrays(t, x, T)
    A, B = a + b - 1.0 - r, a - 1.0
    C = a + b + x - 1.0
    log_1mz = -np.log1p(t / (alpha + T))
    z = -np.expm1(log_1mz)
    lead = -C * log_1mz * exprel(B * log_1mz)
    series, slow = _euler_series(A, B, C, z)
    result = np.asarray(lead - np.exp(B * log_1mz) * series, dtype=np.float64)
    if slow.size:
        flat = result.reshape(-1)  # a view: result is a fresh contiguous array
        flat[slow] = _far_horizon(t.ravel()[slow], x.ravel()[slow], T.ravel()[slow], params)
    return result


def _future_purchases_if_alive_grid(
    t: FloatArray, x: FloatArray, T: FloatArray, params: FloatArray
) -> FloatArray:
    """``_future_purchases_if_alive`` broadcast over t, x, T, evaluated once per distinct input.

    The value depends on (t, x, T) only, and a customer base has few distinct (x, T) pairs
    (x is a small count, T a whole number of days) and usually one or a dozen horizons t. So
    instead of summing the series for every customer we sum it on the grid of distinct t
    times distinct (x, T) pairs and gather: for a million customers and a 12-step CLV grid
    that is tens of thousands of series instead of thirteen million.
    """
    shape = np.broadcast_shapes(t.shape, x.shape, T.shape)
    size = int(np.prod(shape))
    if size < 4096 or t.size > size // 8:
        tb, xb, Tb = np.broadcast_arrays(t, x, T)
        return _future_purchases_if_alive(tb, xb, Tb, params)
    t_values, t_code = np.unique(t, return_inverse=True)
    xb, Tb = np.broadcast_arrays(x, T)
    x_flat, T_flat = xb.ravel(), Tb.ravel()
    T_values, T_code = v.distinct_values(np.ascontiguousarray(T_flat, dtype=np.float64))
    if float(x_flat.max()) * T_values.size >= 2.0**62:  # absurd counts: no integer key
        tb, xb, Tb = np.broadcast_arrays(t, x, T)
        return _future_purchases_if_alive(tb, xb, Tb, params)
    # x is a validated whole number: it is its own code, no sort needed.
    x_code = x_flat.astype(np.int64)
    pairs, pair_code = np.unique(x_code * T_values.size + T_code, return_inverse=True)
    if t_values.size * pairs.size > size // 2:
        tb, xb, Tb = np.broadcast_arrays(t, x, T)
        return _future_purchases_if_alive(tb, xb, Tb, params)
    pair_x = (pairs // T_values.size).astype(np.float64)
    pair_T = T_values[pairs % T_values.size]
    grid = _future_purchases_if_alive(t_values[:, None], pair_x[None, :], pair_T[None, :], params)
    # Advanced indexing broadcasts the two code arrays to the full shape.
    return np.asarray(
        grid[t_code.reshape(t.shape), pair_code.reshape(xb.shape)], dtype=np.float64
    ).reshape(shape)


def _euler_series(
    A: float, B: float, C: FloatArray, z: FloatArray
) -> tuple[FloatArray, npt.NDArray[np.intp]]:
    """``C (2F1(A, B; C; z) - 1) / B`` by its power series, vectorized over C and z.

    Only the values not yet converged stay in the working arrays, so the cost is set by the
    slowest few values, not by the number of customers times the longest series. Returns
    the sums and the flat indices of the values that did not converge (left as NaN).
    """
    flat_c, flat_z = C.ravel(), z.ravel()
    total = A * flat_z
    active = np.flatnonzero(total != 0.0)
    term = total[active]
    ca, za = flat_c[active], flat_z[active]
    acc = term.copy()
    eps = np.finfo(np.float64).eps
    n = 1
    while active.size and n < _MAX_SERIES_TERMS:
        ratio = (A + n) * (B + n) * za / ((ca + n) * (n + 1.0))
        term = term * ratio
        acc += term
        n += 1
        # The ratio tends to z < 1, so once it is below 1 the tail is bounded by a geometric
        # series: stop when that bound is under half an ulp of the running sum.
        rho = np.maximum(np.abs(ratio), za)
        done = (rho < 1.0) & (np.abs(term) * rho <= 0.5 * eps * np.abs(acc) * (1.0 - rho))
        # Compacting the working arrays costs a pass; do it every 8 terms, not every term.
        if (n % 8 == 0 or np.all(done)) and np.any(done):
            total[active[done]] = acc[done]
            keep = ~done
            active, term, acc, ca, za = active[keep], term[keep], acc[keep], ca[keep], za[keep]
    total[active] = np.nan
    return total.reshape(C.shape), active


def _far_horizon(t: FloatArray, x: FloatArray, T: FloatArray, params: FloatArray) -> FloatArray:
    """``_future_purchases_if_alive`` for z so close to 1 that the power series is too slow.

    There ``scipy.special.hyp2f1`` is the right tool: it switches to the 1 - z connection
    formulas (Abramowitz & Stegun 15.3.6), which converge fast near z = 1, and after Euler's
    transformation its parameters are moderate. We evaluate ``C/B [1 - (1-z)^B F]``
    directly: for z near 1 the power (1-z)^B is far from 1 unless B is, so nothing cancels.

    Those formulas have removable singularities where d = C - A - B = x + r - a + 1 is an
    integer (the two terms have poles that cancel; scipy returns NaN on the exact integer,
    which happens whenever a - r is a whole number), and our form has one at B = 0 or C = 0.
    The expectation itself is smooth in ``a`` there, so within 1e-5 of such a point we take
    symmetric averages at ``a +/- h`` and ``a +/- 2h`` (h = 2e-5) and extrapolate them to
    h = 0 (Richardson): the error is O(h^4), and the cancellation at a distance of 1e-5
    costs about eps / 1e-5 ~ 1e-11.
    """
    r, alpha, a, b = params
    log_1mz = -np.log1p(t / (alpha + T))
    z = -np.expm1(log_1mz)

    def at(a_: float) -> FloatArray:
        B = a_ - 1.0
        C = a_ + b + x - 1.0
        F = hyp2f1(a_ + b - 1.0 - r, B, C, z)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            return np.asarray(C / B * (1.0 - np.exp(B * log_1mz) * F), dtype=np.float64)

    d = x + r - a + 1.0
    C = a + b + x - 1.0
    risky = (abs(a - 1.0) < 1e-5) | (np.abs(d - np.round(d)) < 1e-5) | (np.abs(C) < 1e-5)
    value = np.full(t.shape, np.nan) if np.all(risky) else at(a)
    risky |= ~np.isfinite(value)
    if np.any(risky):
        h = 2e-5
        near = 0.5 * (at(a + h)[risky] + at(a - h)[risky])
        wide = 0.5 * (at(a + 2 * h)[risky] + at(a - 2 * h)[risky])
        value[risky] = (4.0 * near - wide) / 3.0  # Richardson: the h^2 errors cancel
    return value


def _log_odds_dropped(
    x: FloatArray, t_x: FloatArray, T: FloatArray, params: FloatArray
) -> FloatArray:
    """log[P(dropped out) / P(alive)] given (x, t_x, T); -inf for x = 0 (the P(alive) note).

    ``((alpha + T) / (alpha + t_x))^(r + x)`` overflows for heavy buyers with an old last
    purchase, so it stays a log; ``log1p`` keeps the ratio exact when t_x is close to T.
    """
    r, alpha, a, b = params
    has_repeat = x > 0
    x_safe = np.where(has_repeat, x, 1.0)
    log_odds = (
        np.log(a)
        - np.log(b + x_safe - 1.0)
        + (r + x_safe) * np.log1p((T - t_x) / (alpha + t_x))
    )
    return np.where(has_repeat, log_odds, -np.inf)


class BGNBD(ParametricModel):
    """Beta-geometric/NBD model of repeat purchasing (Fader, Hardie & Lee 2005).

    Parameters
    ----------
    penalizer : float, default 0.0
        Weight of the L2 penalty ``penalizer * (r² + alpha² + a² + b²)`` added to the mean
        negative log-likelihood per customer (the convention of lifetimes). 0 is plain
        maximum likelihood, which is what the literature reports.
    max_iter : int, default 1000
        Iteration limit of the optimizer.
    tol : float, default 1e-9
        Gradient tolerance (on the mean log-likelihood per customer, in log-parameters).

    Attributes
    ----------
    params_ : dict[str, float]
        Maximum likelihood estimates ``r``, ``alpha``, ``a``, ``b`` (alpha in the time unit
        of the data).
    standard_errors_ : dict[str, float]
        Asymptotic standard errors of the same, from the inverse observed information
        (numerical Hessian of the analytic gradient); NaN where it is singular.
    log_likelihood_ : float
        The maximized total log-likelihood, in the original time unit (comparable with the
        literature: -9582.4 on the CDNOW sample in weeks).
    converged_ : bool
        Whether the optimizer met its tolerance.
    n_iter_ : int
        Optimizer iterations used.
    n_customers_ : int
        Rows (customers) the model was fitted on.

    Examples
    --------
    >>> model = BGNBD().fit(summary.x, summary.t_x, summary.T)  # doctest: +SKIP
    >>> model.p_alive(summary.x, summary.t_x, summary.T)  # doctest: +SKIP
    """

    PARAM_NAMES = PARAM_NAMES
    LABEL = "BG/NBD"

    def fit(
        self,
        x: npt.ArrayLike,
        t_x: npt.ArrayLike,
        T: npt.ArrayLike,
        *,
        weights: npt.ArrayLike | None = None,
    ) -> Self:
        """Maximum likelihood estimates of (r, alpha, a, b) from one row per customer.

        The likelihood (eq. 6) is summed over the distinct (x, t_x, T) rows, each weighted
        by how many customers share it (times ``weights``). The optimizer is L-BFGS-B on the
        log-parameters with the analytic gradient.

        Parameters
        ----------
        x, t_x, T : array_like, 1-d
            Repeat purchases, time of the last repeat purchase, time since the first
            purchase (same time unit; t_x = 0 when x = 0).
        weights : array_like, optional
            Non-negative frequency weights, one per row.

        Raises
        ------
        InvalidInputError
            NaN, negative times, t_x > T, x = 0 with t_x != 0, bad weights.
        NotIdentifiableError
            Fewer than two customers, or no customer with a repeat purchase.
        """
        xf, txf, Tf = v.customer_arrays(x, t_x, T)
        v.fit_rows("BGNBD", xf, txf, Tf)
        w = v.weights_for(xf.size, weights)
        if not np.any((xf > 0) & (w > 0)):
            raise NotIdentifiableError(
                "BGNBD.fit(): no customer made a repeat purchase, so the purchase rate and the "
                "drop-out probability cannot be told apart."
            )
        data = _Data(xf, txf, Tf, None if weights is None else w)
        mean_rate = v.dot(w, xf) / max(v.dot(w, Tf), 1e-12)
        # Start from a Gamma with shape 1 and the observed mean repeat-purchase rate, and a
        # uniform Beta: the same basin as the literature's estimates for every time unit.
        start = np.array([1.0, 1.0 / max(mean_rate, 1e-12), 1.0, 1.0])
        result = maximize_log_likelihood(
            data.log_likelihood,
            start,
            total_weight=data.total_weight,
            penalizer=self.penalizer,
            max_iter=self.max_iter,
            tol=self.tol,
            model="BGNBD",
            hessian=data.hessian,
            warm_start=None if (sample := data.sample(50_000)) is None else sample.log_likelihood,
        )
        return self._store_fit(result, n_customers=int(xf.size))

    def log_likelihood_individual(
        self, x: npt.ArrayLike, t_x: npt.ArrayLike, T: npt.ArrayLike
    ) -> FloatArray:
        """Log-likelihood of each customer's (x, t_x, T) under the fitted parameters (eq. 6)."""
        params = self._params()
        xf, txf, Tf = v.customer_arrays(x, t_x, T)
        return _log_likelihood_rows(params, xf, txf, Tf)

    def p_alive(self, x: npt.ArrayLike, t_x: npt.ArrayLike, T: npt.ArrayLike) -> FloatArray:
        """Probability that the customer is still alive at T (FHL 2008, the P(alive) note).

        ``P(alive) = 1 / (1 + [x > 0] a / (b + x - 1) ((alpha + T) / (alpha + t_x))^(r + x))``,
        evaluated as the logistic function of the log odds so that it neither overflows for
        heavy buyers who went quiet nor rounds badly when t_x = T.
        """
        params = self._params()
        xf, txf, Tf = v.customer_arrays(x, t_x, T)
        return np.asarray(expit(-_log_odds_dropped(xf, txf, Tf, params)), dtype=np.float64)

    def expected_purchases(
        self, t: npt.ArrayLike, x: npt.ArrayLike, t_x: npt.ArrayLike, T: npt.ArrayLike
    ) -> FloatArray:
        """Expected repeat purchases in (T, T + t] given (x, t_x, T) (eq. 10).

        Computed as P(alive) times the expectation for a customer known to be alive; see
        ``_future_purchases_if_alive`` for how the hypergeometric term is kept stable.
        Broadcasts; scalar inputs give a 0-d array.
        """
        params = self._params()
        tf = v.horizon("t", t)
        xf, txf, Tf = v.customer_arrays(x, t_x, T)
        v.broadcast(t=tf, x=xf)  # a clear error now rather than a numpy one later
        alive = expit(-_log_odds_dropped(xf, txf, Tf, params))
        future = _future_purchases_if_alive_grid(tf, xf, Tf, params)
        return np.asarray(alive * future, dtype=np.float64)

    def expected_purchases_new(self, t: npt.ArrayLike) -> FloatArray:
        """Expected repeat purchases of a new customer in (0, t] after the first (eq. 9).

        Eq. 9 is eq. 10 for x = t_x = T = 0 (a customer who just made a first purchase is
        alive by definition), so it shares that stable evaluation.
        """
        params = self._params()
        tf = v.horizon("t", t)
        zero = np.zeros(())
        return np.asarray(
            _future_purchases_if_alive_grid(tf, zero, zero, params) + np.zeros_like(tf),
            dtype=np.float64,
        )

    def p_purchase_within(
        self, t: npt.ArrayLike, x: npt.ArrayLike, t_x: npt.ArrayLike, T: npt.ArrayLike
    ) -> FloatArray:
        """Probability of at least one purchase in (T, T + t] given (x, t_x, T).

        A customer who is alive at T buys again before T + t unless their Poisson process
        stays silent; drop-out only happens right after a purchase, so it cannot intervene.
        Given alive and the data, lambda ~ Gamma(r + x, alpha + T) (Bayes on eq. 6's first term)::

            P = P(alive) * (1 - ((alpha + T) / (alpha + T + t))^(r + x)),

        the power taken as ``-expm1(-(r + x) log1p(t / (alpha + T)))`` for accuracy at small t.
        """
        r, alpha, _, _ = params = self._params()
        tf = v.horizon("t", t)
        xf, txf, Tf = v.customer_arrays(x, t_x, T)
        tf, xf, txf, Tf = v.broadcast(t=tf, x=xf, t_x=txf, T=Tf)
        alive = expit(-_log_odds_dropped(xf, txf, Tf, params))
        silent = -np.expm1(-(r + xf) * np.log1p(tf / (alpha + Tf)))
        return np.asarray(alive * silent, dtype=np.float64)

    def expected_time_to_next_purchase(
        self, x: npt.ArrayLike, t_x: npt.ArrayLike, T: npt.ArrayLike
    ) -> FloatArray:
        """Median time from T to the next purchase, or NaN when that median does not exist.

        The next purchase may never come (the customer may have dropped out), so its waiting
        time W has an improper distribution: ``P(W <= w) = p_purchase_within(w)``, which
        tends to P(alive) as w grows. We report its median, the w at which a next purchase
        has happened with probability 1/2::

            w = (alpha + T) * ((1 - 1/(2 P(alive)))^(-1/(r + x)) - 1).

        It exists only when P(alive) > 1/2; otherwise "more likely never than ever" and the
        result is NaN. This is the rule, not a cut-off chosen by us: below 1/2 no finite
        date is more likely than not to have seen the next purchase. The time is in the
        model's unit, counted from T.
        """
        r, alpha, _, _ = params = self._params()
        xf, txf, Tf = v.customer_arrays(x, t_x, T)
        alive = expit(-_log_odds_dropped(xf, txf, Tf, params))
        defined = alive > 0.5
        half_over_alive = np.where(defined, 0.5 / np.where(defined, alive, 1.0), 0.0)
        # expm1/log1p keep full precision when P(alive) is near 1 and the median is short.
        median = (alpha + Tf) * np.expm1(-np.log1p(-half_over_alive) / (r + xf))
        return np.asarray(np.where(defined, median, np.nan), dtype=np.float64)
