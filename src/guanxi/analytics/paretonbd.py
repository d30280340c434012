"""The Pareto/NBD purchase model (Schmittlein, Morrison & Colombo 1987).

Schmittlein, D. C., Morrison, D. G. & Colombo, R. (1987). Counting your customers: who are
they and what will they do next? *Management Science* 33(1), 1-24 ("SMC" below).
Fader, P. S. & Hardie, B. G. S. (2005). *A note on deriving the Pareto/NBD model and related
expressions* ("the FH note"; its equation numbers are used below).

The story: while alive, a customer buys at a Poisson rate lambda; they die (become inactive
for good) after an exponential lifetime with rate mu, unobserved. Across customers
lambda ~ Gamma(r, alpha) and mu ~ Gamma(s, beta), independent. A customer is summarised by
x (repeat purchases), t_x (time of the last one) and T (time since the first purchase), all
in one time unit.

How the likelihood is evaluated
-------------------------------
The FH note's eq. 18 is ``L = Gamma(r+x) alpha^r beta^s / Gamma(r) * [(alpha+T)^-(r+x)
(beta+T)^-s + s/(r+s+x) A_0]`` with ``A_0`` a difference of two Gauss hypergeometric
functions 2F1(r+s+x, s+1 or r+x; r+s+x+1; z) (eqs. 19-20). Evaluated as written it overflows
(the powers for x in the thousands), subtracts two nearly equal terms when t_x is close to
T, and needs 2F1 with a huge first parameter and z close to 1, where ``scipy.special.hyp2f1``
is unreliable. We never form A_0. Going back to the integral the note starts from
(the individual-level likelihood integrated over the Gamma mixing distributions),
``s/(r+s+x) A_0 = s * int_{t_x}^{T} (alpha+u)^-(r+x) (beta+u)^-(s+1) du``, and integrating the
first term by parts, the bracket becomes a sum of two positive tail integrals::

    bracket = Phi(x, t_x) + Psi(x, T)
    Phi(x, tau) = s       * int_tau^inf (alpha+u)^-(r+x)   (beta+u)^-(s+1) du
    Psi(x, tau) = (r + x) * int_tau^inf (alpha+u)^-(r+x+1) (beta+u)^-s     du

(``Phi(T) + Psi(T) = (alpha+T)^-(r+x) (beta+T)^-s`` is the boundary term). No subtraction is
left anywhere, and each tail integral depends on one (x, tau) pair only, so a fit evaluates
them on the distinct (x, t_x) and (x, T) pairs of the data.

Both are ``J = int_0^inf (d1+t)^-e1 (d2+t)^-e2 dt`` with ``d1 <= d2``. Substituting
``y = d2/(d2+t)`` and applying Euler's transformation (Abramowitz & Stegun 15.3.3) gives::

    J = d1^(1-e1) d2^(-e2) / (e1+e2-1) * S(e2, e1, z),   z = (d2-d1)/d2 in [0, 1),
    S(p, m, z) = 2F1(1, p; p+m; z) = sum_n z^n (p)_n / (p+m)_n = E[1 / (1 - z U)],
    U ~ Beta(p, m).

S lies in [1, 1/(1-z)], so its logarithm never overflows whatever x is; the powers stay as
logarithms. Its series has positive terms whose ratio ``z (p+n)/(p+m+n)`` is below z, so it
converges geometrically and its tail is bounded. It converges slowly only when z is close to
1, i.e. when one of alpha, beta is several times the other and tau is small; for z > 0.7
(``_quadrature``) the integral is split at the point where z falls to 1/2: the tail by the
series, the finite part by Gauss-Legendre in ``u = log(1 + t/d1)``, in which the integrand is
smooth on a scale of 1 whatever its parameters. alpha = beta is the case z = 0 (S = 1): no
limit needs special handling. Gradients are exact derivatives of the same sums.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Self

import numpy as np
import numpy.typing as npt
from scipy.special import digamma, expit, gammaln

from . import _validation as v
from ._base import ParametricModel
from ._fitting import maximize_log_likelihood
from ._validation import BoolArray, FloatArray
from .errors import InvalidInputError, NotIdentifiableError

__all__ = ["ParetoNBD"]

PARAM_NAMES: Final = ("r", "alpha", "s", "beta")

# Series: stop when the bounded remainder is below this fraction of the sum (a quarter ulp).
_SERIES_RTOL: Final = 2.0**-54
# Values with z above this go to the quadrature: near z = 1 the series needs ~40/(1-z) terms,
# while the quadrature costs about as much as 120 terms whatever z is.
_SERIES_MAX_Z: Final = 0.7
# For z <= 0.7 the stopping bound below is met within this many terms (0.7^160 * 161 * 11 *
# log(160) / 0.09 < 1e-20); the quadrature's own tail series has z = 1/2.
_SERIES_MAX_TERMS: Final = 160
# The quadrature drops the part of its range where the integrand is below exp(-_LOG_DROP)
# times its maximum (a relative contribution far below double precision).
_LOG_DROP: Final = 60.0
_PANELS: Final = 16
_GL_U, _GL_W = np.polynomial.legendre.leggauss(8)
# Values handled at once by the quadrature (memory: _CHUNK * _PANELS * 8 nodes).
_CHUNK: Final = 8192


@dataclass(frozen=True)
class _TailIntegral:
    """``J = int_0^inf (dA+t)^-eA (dB+t)^-eB dt`` as ``log J = lead + log_q - log(eA+eB-1)``.

    ``lead = (1 - e1) log d1 - e2 log d2`` holds the powers (large for large x) and ``log_q``
    the bounded rest (``log S`` when the series is used), so that differences of log J at two
    nearby points keep their precision. ``grad`` is d log J / d(eA, eB, dA, dB), shape (4, n).
    """

    lead: FloatArray
    log_q: FloatArray
    log_c: FloatArray
    grad: FloatArray | None

    @property
    def log_j(self) -> FloatArray:
        return self.lead + self.log_q - self.log_c


def _series(
    p: FloatArray, m: FloatArray, z: FloatArray, *, with_grad: bool
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, BoolArray]:
    """``log S(p, m, z)`` by its series, with d log S / d(p, m, z) and a converged mask.

    ``S = sum_n T_n``, ``T_0 = 1``, ``T_n = T_{n-1} z (p+n-1)/(p+m+n-1)``. The ratios increase
    to z, so everything after term n is at most ``T_n z/(1-z)``; the derivative sums carry the
    factors n and ``D_n = sum_k 1/(p+k) - 1/(p+m+k)`` (growing like log n), whence the bound
    used for stopping. ``dS/dz = sum_n n T_{n-1} (p+n-1)/(p+m+n-1)`` avoids dividing by z = 0.
    Converged values leave the working arrays every 8 terms, so the cost follows the slowest
    values still running, not the number of values times the longest series.
    """
    size = p.size
    log_s = np.zeros(size)
    d_p = np.zeros(size)
    d_m = np.zeros(size)
    d_z = np.zeros(size)
    converged = np.zeros(size, dtype=bool)

    idx = np.arange(size)
    pa, qa, za = p.copy(), p + m, z.copy()
    term = np.ones(size)
    total = np.ones(size)
    sum_p = np.zeros(size)
    sum_m = np.zeros(size)
    sum_z = np.zeros(size)
    dp_acc = np.zeros(size)
    dm_acc = np.zeros(size)
    one_minus_z = 1.0 - za
    for n in range(1, _SERIES_MAX_TERMS + 1):
        a = pa + (n - 1)
        q = qa + (n - 1)
        rho = a / q
        if with_grad:
            sum_z += n * term * rho
        term = term * (za * rho)
        total += term
        if with_grad:
            inv_q = 1.0 / q
            dp_acc += 1.0 / a - inv_q
            dm_acc += inv_q
            sum_p += term * dp_acc
            sum_m += term * dm_acc
        if n % 8 == 0 or n == _SERIES_MAX_TERMS:
            bound = term * (n + 1.0) * (1.0 + dp_acc + dm_acc) / (one_minus_z * one_minus_z)
            done = bound <= _SERIES_RTOL * total
            if np.any(done):
                where = idx[done]
                converged[where] = True
                log_s[where] = np.log(total[done])
                if with_grad:
                    d_p[where] = sum_p[done] / total[done]
                    d_m[where] = -sum_m[done] / total[done]
                    d_z[where] = sum_z[done] / total[done]
                keep = ~done
                idx, pa, qa, za = idx[keep], pa[keep], qa[keep], za[keep]
                term, total = term[keep], total[keep]
                sum_p, sum_m, sum_z = sum_p[keep], sum_m[keep], sum_z[keep]
                dp_acc, dm_acc, one_minus_z = dp_acc[keep], dm_acc[keep], one_minus_z[keep]
            if idx.size == 0:
                break
    return log_s, d_p, d_m, d_z, converged


def _phi_u(u: FloatArray, e1: FloatArray, e2: FloatArray, w1: FloatArray) -> FloatArray:
    """Log of the integrand of J in ``u = log(1 + t/d1)``, without the ``lead`` powers.

    ``(d1+t)^-e1 (d2+t)^-e2 dt = d1^(1-e1) d2^-e2 exp(phi(u)) du`` with
    ``phi(u) = (1-e1) u - e2 log(1 + w1 (e^u - 1))`` and ``w1 = d1/d2``; ``log1p``/``expm1``
    keep phi exact near u = 0, where a large e2 (a heavy buyer) makes it steep.
    """
    return np.asarray((1.0 - e1) * u - e2 * np.log1p(w1 * np.expm1(u)), dtype=np.float64)


def _bisect_level(
    lo: FloatArray, hi: FloatArray, level: FloatArray, e1: FloatArray, e2: FloatArray,
    w1: FloatArray,
) -> FloatArray:
    """The u in [lo, hi] where the concave phi crosses ``level`` (phi(lo) >= level > phi(hi)
    or the reverse). It only places the end of the quadrature's range, where the integrand
    is e^-60 of its maximum, so 24 halvings (a 1e-7 fraction of the interval) are plenty."""
    f_lo = _phi_u(lo, e1, e2, w1) - level
    for _ in range(24):
        mid = 0.5 * (lo + hi)
        f_mid = _phi_u(mid, e1, e2, w1) - level
        same = np.sign(f_mid) == np.sign(f_lo)
        lo = np.where(same, mid, lo)
        f_lo = np.where(same, f_mid, f_lo)
        hi = np.where(same, hi, mid)
    return 0.5 * (lo + hi)


def _quadrature(
    e1: FloatArray, e2: FloatArray, d1: FloatArray, d2: FloatArray, gap: FloatArray,
    *, with_grad: bool,
) -> tuple[FloatArray, FloatArray]:
    """``log_q`` and d log J / d(e1, e2, d1, d2) for values whose series is too slow (z > 1/2).

    J is split at ``t1 = d2 - 2 d1``, where the z of the remaining tail is exactly 1/2:

    * the tail ``int_t1^inf`` is J at ``(d1 + t1, d2 + t1) = (gap, 2 gap)`` by the series;
    * the finite part ``int_0^t1`` is Gauss-Legendre (16 panels of 8 nodes) in
      ``u = log(1 + t/d1)`` over ``[0, log(gap/d1)]``. In u the integrand's only
      singularities are a distance pi off the real axis, and its log (phi) is concave, so
      we first cut the range to where phi is within _LOG_DROP of its maximum (bisection),
      which makes the panels fine enough for steep cases (a large e1 or e2).

    The derivative of J is the sum of the derivatives of the two parts with t1 held fixed:
    moving t1 moves the same integrand from one part to the other (Leibniz's rule).
    """
    n = e1.size
    log_q = np.empty(n)
    grad = np.empty((4, n)) if with_grad else np.empty((4, 0))
    for start in range(0, n, _CHUNK):
        sl = slice(start, start + _CHUNK)
        lq, g = _quadrature_chunk(e1[sl], e2[sl], d1[sl], d2[sl], gap[sl], with_grad=with_grad)
        log_q[sl] = lq
        if with_grad:
            grad[:, sl] = g
    return log_q, grad


def _quadrature_chunk(
    e1: FloatArray, e2: FloatArray, d1: FloatArray, d2: FloatArray, gap: FloatArray,
    *, with_grad: bool,
) -> tuple[FloatArray, FloatArray]:
    c = e1 + e2 - 1.0
    w1 = d1 / d2
    log_d1, log_d2, log_gap = np.log(d1), np.log(d2), np.log(gap)
    u_end = log_gap - log_d1  # log(1 + t1/d1), > 0 because gap > d1 when z > 1/2

    # The tail, at z = 1/2 exactly, relative to the lead powers at (d1, d2).
    ls_t, dp_t, dm_t, dz_t, _ = _series(e2, e1, np.full(e1.size, 0.5), with_grad=with_grad)
    log_2z = np.log(2.0) + log_gap - log_d2
    log_q_tail = (1.0 - e1) * u_end - e2 * log_2z + ls_t

    # The range where the finite part's integrand matters.
    y = (1.0 - e1) / e2
    inner = (e1 < 1.0) & (y < 1.0)
    y_safe = np.where(inner, y, 0.5)
    u_peak = np.where(inner, np.clip(u_end + np.log(y_safe) - np.log1p(-y_safe), 0.0, u_end), 0.0)
    phi_max = _phi_u(u_peak, e1, e2, w1)
    level = phi_max - _LOG_DROP
    zero = np.zeros_like(u_end)
    u_hi = np.where(
        _phi_u(u_end, e1, e2, w1) >= level, u_end,
        _bisect_level(u_peak, u_end, level, e1, e2, w1),
    )
    u_lo = np.where(
        _phi_u(zero, e1, e2, w1) >= level, zero,
        _bisect_level(zero, u_peak, level, e1, e2, w1),
    )

    # Composite Gauss-Legendre nodes, shape (n, panels * 8).
    width = (u_hi - u_lo) / _PANELS
    starts = u_lo[:, None] + width[:, None] * np.arange(_PANELS)[None, :]
    u = (starts[:, :, None] + (0.5 * width)[:, None, None] * (1.0 + _GL_U)[None, None, :])
    u = u.reshape(e1.size, -1)
    wts = np.broadcast_to((0.5 * width)[:, None, None] * _GL_W[None, None, :],
                          (e1.size, _PANELS, _GL_U.size)).reshape(e1.size, -1)
    em1 = np.expm1(u)  # t / d1
    ell2 = np.log1p(w1[:, None] * em1)  # log((d2 + t)/d2)
    log_f = (1.0 - e1)[:, None] * u - e2[:, None] * ell2
    top = log_f.max(axis=1)
    weights = wts * np.exp(log_f - top[:, None])
    mass = weights.sum(axis=1)
    log_q_fin = np.log(c) + top + np.log(mass)
    log_q = np.logaddexp(log_q_fin, log_q_tail)
    if not with_grad:
        return log_q, np.empty((4, 0))

    share = expit(log_q_fin - log_q_tail)  # finite part's share of J
    weights /= mass[:, None]
    fin = np.stack([
        -(log_d1 + (weights * u).sum(axis=1)),
        -(log_d2 + (weights * ell2).sum(axis=1)),
        -e1 * (weights / (1.0 + em1)).sum(axis=1) / d1,  # 1/(d1+t) = 1/(d1 e^u)
        -e2 * (weights / (1.0 + w1[:, None] * em1)).sum(axis=1) / d2,  # 1/(d2+t)
    ])
    big_d1, big_d2 = gap, 2.0 * gap
    tail = np.stack([
        -log_gap - 1.0 / c + dm_t,
        -(np.log(2.0) + log_gap) - 1.0 / c + dp_t,
        (1.0 - e1) / big_d1 - dz_t / big_d2,
        -e2 / big_d2 + dz_t * big_d1 / (big_d2 * big_d2),
    ])
    return log_q, share * fin + (1.0 - share) * tail


def _tail_integral(
    e1: FloatArray, e2: FloatArray, d1: FloatArray, d2: FloatArray, gap: FloatArray,
    *, with_grad: bool,
) -> _TailIntegral:
    """``J = int_0^inf (d1+t)^-e1 (d2+t)^-e2 dt`` for ``d1 <= d2``, ``gap = d2 - d1``.

    ``gap`` is passed separately because it is |alpha - beta| exactly, while ``d2 - d1``
    would lose the digits of alpha - beta once t is large.
    """
    log_d1, log_d2 = np.log(d1), np.log(d2)
    c = e1 + e2 - 1.0
    lead = (1.0 - e1) * log_d1 - e2 * log_d2
    z = gap / d2
    easy = np.flatnonzero(z <= _SERIES_MAX_Z)
    if easy.size == z.size:
        log_s, d_p, d_m, d_z, ok = _series(e2, e1, z, with_grad=with_grad)
    else:  # the rest is marked not converged and goes to the quadrature below
        log_s, d_p, d_m, d_z = (np.zeros(z.size) for _ in range(4))
        ok = np.zeros(z.size, dtype=bool)
        parts = _series(e2[easy], e1[easy], z[easy], with_grad=with_grad)
        for whole, part in zip((log_s, d_p, d_m, d_z, ok), parts, strict=True):
            whole[easy] = part
    grad: FloatArray | None = None
    if with_grad:
        grad = np.stack([
            -log_d1 - 1.0 / c + d_m,
            -log_d2 - 1.0 / c + d_p,
            (1.0 - e1) / d1 - d_z / d2,
            -e2 / d2 + d_z * d1 / (d2 * d2),
        ])
    if not np.all(ok):
        slow = np.flatnonzero(~ok)
        lq, g = _quadrature(e1[slow], e2[slow], d1[slow], d2[slow], gap[slow],
                            with_grad=with_grad)
        log_s[slow] = lq
        if grad is not None:
            grad[:, slow] = g
    return _TailIntegral(lead=lead, log_q=log_s, log_c=np.log(c), grad=grad)


def _unique_pairs(
    a: FloatArray, b: FloatArray
) -> tuple[FloatArray, FloatArray, npt.NDArray[np.intp]]:
    """Distinct (a, b) pairs and, for every input position, the index of its pair."""
    order = np.lexsort((b, a))
    a_s, b_s = a[order], b[order]
    new = np.empty(a.size, dtype=bool)
    new[:1] = True
    new[1:] = (a_s[1:] != a_s[:-1]) | (b_s[1:] != b_s[:-1])
    inverse = np.empty(a.size, dtype=np.intp)
    inverse[order] = np.cumsum(new) - 1
    return a_s[new], b_s[new], inverse


def _integral(
    x: FloatArray, tau: FloatArray, params: FloatArray, *, psi: bool, with_grad: bool
) -> tuple[_TailIntegral, FloatArray, FloatArray | None]:
    """Phi(x, tau) (``psi=False``) or Psi(x, tau) (``psi=True``) of the module docstring.

    Returns the tail integral J, the log of its prefactor (log s, or log(r + x)) and, if
    asked, d log(Phi or Psi) / d(r, alpha, s, beta), shape (4, n). The power with the
    nearer singularity (the smaller of alpha + tau, beta + tau) is J's ``e1``.
    """
    r, alpha, s, beta = (float(p) for p in params)
    e_a = r + x + (1.0 if psi else 0.0)  # exponent on (alpha + u)
    e_b = np.full_like(x, s if psi else s + 1.0)  # exponent on (beta + u)
    d_a, d_b = alpha + tau, beta + tau
    gap = np.full_like(x, abs(alpha - beta))
    a_near = alpha <= beta
    if a_near:
        ti = _tail_integral(e_a, e_b, d_a, d_b, gap, with_grad=with_grad)
    else:
        ti = _tail_integral(e_b, e_a, d_b, d_a, gap, with_grad=with_grad)
    log_pref = np.log(r + x) if psi else np.full_like(x, np.log(s))
    grad = None
    if ti.grad is not None:
        g = ti.grad if a_near else ti.grad[[1, 0, 3, 2]]
        grad = np.stack([
            g[0] + (1.0 / (r + x) if psi else 0.0),
            g[2],
            g[1] + (0.0 if psi else 1.0 / s),
            g[3],
        ])
    return ti, log_pref, grad


def _log_value(x: FloatArray, tau: FloatArray, params: FloatArray, *, psi: bool) -> FloatArray:
    """log Phi(x, tau) or log Psi(x, tau) for arrays of one shape, on their distinct pairs."""
    xu, tu, inverse = _unique_pairs(x.ravel(), tau.ravel())
    ti, log_pref, _ = _integral(xu, tu, params, psi=psi, with_grad=False)
    return np.asarray((log_pref + ti.log_j)[inverse].reshape(x.shape), dtype=np.float64)


def _log_bracket(
    x: FloatArray, t_x: FloatArray, T: FloatArray, params: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """``log(Phi(x, t_x) + Psi(x, T))`` (the likelihood's bracket) and ``log Psi(x, T)``."""
    log_phi = _log_value(x, t_x, params, psi=False)
    log_psi = _log_value(x, T, params, psi=True)
    return np.logaddexp(log_phi, log_psi), log_psi


def _log_alive_term(x: FloatArray, T: FloatArray, params: FloatArray) -> FloatArray:
    """``log[(alpha+T)^-(r+x) (beta+T)^-s]``: the bracket's 'still alive at T' part."""
    r, alpha, s, beta = params
    return np.asarray(-(r + x) * np.log(alpha + T) - s * np.log(beta + T), dtype=np.float64)


def _mean_lifetime_factor(s: float, log_ratio: FloatArray) -> FloatArray:
    """``(1 - q^(s-1)) / (s-1)`` with ``log q = log_ratio <= 0``; ``-log q`` at s = 1.

    It is E[(1 - exp(-mu t)) / mu] / (beta + T) for mu ~ Gamma(s, beta + T), with
    ``q = (beta+T)/(beta+T+t)``. ``expm1`` keeps it exact for s near 1 and for small t,
    where the textbook form (FH note eq. 41) divides two vanishing numbers.
    """
    a = s - 1.0
    if a == 0.0:
        return np.asarray(-log_ratio, dtype=np.float64)
    return np.asarray(-np.expm1(a * log_ratio) / a, dtype=np.float64)


class _Data:
    """Distinct (x, t_x, T) rows of a fit, their weights and the pair indices, made once.

    Phi depends on (x, t_x) only and Psi on (x, T) only, so each is evaluated on its own
    distinct pairs (far fewer than the rows on day- or week-resolution data) and gathered;
    the rows themselves are deduplicated too (the log-likelihood is a weighted sum). Every
    column is coded by its distinct values first, so each deduplication is one integer sort.
    """

    def __init__(self, x: FloatArray, t_x: FloatArray, T: FloatArray, w: FloatArray) -> None:
        keep = w > 0
        x, t_x, T, w = x[keep], t_x[keep], T[keep], w[keep]
        x_values, x_code = np.unique(x, return_inverse=True)
        tx_values, tx_code = np.unique(t_x, return_inverse=True)
        T_values, T_code = np.unique(T, return_inverse=True)
        n_tx, n_T = np.int64(tx_values.size), np.int64(T_values.size)
        phi_key = x_code.astype(np.int64) * n_tx + tx_code
        psi_key = x_code.astype(np.int64) * n_T + T_code
        # (x, t_x) and T codes: a row key below n_x * n_tx * n_T <= 1e18 for any real data.
        phi_pairs, phi_of_row = np.unique(phi_key, return_inverse=True)
        psi_pairs, psi_of_row = np.unique(psi_key, return_inverse=True)
        rows, row_of_customer = np.unique(phi_of_row.astype(np.int64) * n_T + T_code,
                                          return_inverse=True)
        self.w = np.bincount(row_of_customer, weights=w)
        first = np.zeros(rows.size, dtype=np.intp)
        first[row_of_customer] = np.arange(x.size)  # any customer of each row will do
        self.phi_index = phi_of_row[first]
        self.psi_index = psi_of_row[first]
        self.phi_x, self.phi_tau = x_values[phi_pairs // n_tx], tx_values[phi_pairs % n_tx]
        self.psi_x, self.psi_tau = x_values[psi_pairs // n_T], T_values[psi_pairs % n_T]
        self.x_values = x_values
        self.w_by_x = np.bincount(x_code, weights=w, minlength=x_values.size)
        self.total_weight = float(w.sum())

    def log_likelihood(self, params: FloatArray) -> tuple[float, FloatArray]:
        """Total weighted log-likelihood (FH note eq. 18) and its gradient in (r, alpha, s, beta).

        An optimizer's trial step can leave the region where the model is numerically
        meaningful (a parameter of 1e-300 or 1e300); such a point gets -inf and a zero
        gradient, which makes the line search step back, instead of warnings or NaN.
        """
        params = np.asarray(params, dtype=np.float64)
        if not np.all((params > 0) & np.isfinite(params)):  # exp() under- or overflowed
            return -np.inf, np.zeros(4)
        with np.errstate(all="ignore"):
            ll, grad = self._log_likelihood(params)
        if not (np.isfinite(ll) and np.all(np.isfinite(grad))):
            return -np.inf, np.zeros(4)
        return ll, grad

    def _log_likelihood(self, params: FloatArray) -> tuple[float, FloatArray]:
        r, alpha, s, beta = (float(p) for p in params)
        ti_phi, pref_phi, g_phi = _integral(self.phi_x, self.phi_tau, params, psi=False,
                                            with_grad=True)
        ti_psi, pref_psi, g_psi = _integral(self.psi_x, self.psi_tau, params, psi=True,
                                            with_grad=True)
        assert g_phi is not None
        assert g_psi is not None
        log_phi = (pref_phi + ti_phi.log_j)[self.phi_index]
        log_psi = (pref_psi + ti_psi.log_j)[self.psi_index]
        log_b = np.logaddexp(log_phi, log_psi)
        share_phi = expit(log_phi - log_psi)  # Phi / (Phi + Psi), overflow-free

        total = self.total_weight
        xv, wx = self.x_values, self.w_by_x
        ll = (
            float(np.dot(self.w, log_b))
            + float(np.dot(wx, gammaln(r + xv)))
            + total * (-gammaln(r) + r * np.log(alpha) + s * np.log(beta))
        )
        c_phi = np.bincount(self.phi_index, weights=self.w * share_phi,
                            minlength=self.phi_x.size)
        c_psi = np.bincount(self.psi_index, weights=self.w * (1.0 - share_phi),
                            minlength=self.psi_x.size)
        grad = g_phi @ c_phi + g_psi @ c_psi
        grad[0] += float(np.dot(wx, digamma(r + xv))) + total * (np.log(alpha) - digamma(r))
        grad[1] += total * r / alpha
        grad[2] += total * np.log(beta)
        grad[3] += total * s / beta
        return ll, np.asarray(grad, dtype=np.float64)


@dataclass(frozen=True)
class _PsiStep:
    """Psi at tau0 and how much of it is left at tau1 >= tau0 (see ``_psi_step``).

    ``log_psi`` = log Psi(x, tau0); ``log_share`` = log of Psi(x, tau0) over the 'alive at
    tau0' term ``(alpha+tau0)^-(r+x) (beta+tau0)^-s``; ``step`` = log Psi(tau1) - log Psi(tau0)
    and ``drop`` = 1 - Psi(tau1)/Psi(tau0), each accurate in its own right.
    """

    log_psi: FloatArray
    log_share: FloatArray
    step: FloatArray
    drop: FloatArray


def _psi_step(x: FloatArray, tau0: FloatArray, tau1: FloatArray, params: FloatArray) -> _PsiStep:
    """Psi(x, tau0) and its change to tau1 >= tau0, for probabilities of "a purchase between".

    Taking the change as the difference of two log Psi of size r x log T would leave only
    absolute precision, and none when tau1 is close to tau0. Instead:

    * the powers' part is differenced exactly, ``(1-e1) log1p(h/d1) - e2 log1p(h/d2)`` with
      ``h = tau1 - tau0``, and only the bounded ``log_q`` parts are subtracted;
    * for a short window (``h`` times the integrand's log-slope at most 1) the decrease
      ``Psi(tau0) - Psi(tau1) = (r+x) int_tau0^tau1 (alpha+u)^-(r+x+1) (beta+u)^-s du`` is
      integrated directly (16-point Gauss-Legendre; the integrand is analytic within
      distance d1 >= h of the window and varies by at most a factor e over it), relative to
      the same powers, so a window of 1e-9 still gets 15 digits.
    """
    r, alpha, s, beta = (float(p) for p in params)
    shape = x.shape
    x, tau0, tau1 = x.ravel(), tau0.ravel(), tau1.ravel()
    x0, t0, i0 = _unique_pairs(x, tau0)
    x1, t1, i1 = _unique_pairs(x, tau1)
    ti0, pref0, _ = _integral(x0, t0, params, psi=True, with_grad=False)
    ti1, _, _ = _integral(x1, t1, params, psi=True, with_grad=False)
    e_alpha, e_beta = r + x + 1.0, np.full_like(x, s)
    a_near = alpha <= beta
    if a_near:
        e1, e2, d1, d2 = e_alpha, e_beta, alpha + tau0, beta + tau0
    else:
        e1, e2, d1, d2 = e_beta, e_alpha, beta + tau0, alpha + tau0
    c = e1 + e2 - 1.0
    log_q0 = ti0.log_q[i0]
    h = tau1 - tau0
    step = (1.0 - e1) * np.log1p(h / d1) - e2 * np.log1p(h / d2) + ti1.log_q[i1] - log_q0
    step = np.minimum(step, 0.0)  # Psi decreases; only rounding could say otherwise
    drop = -np.expm1(step)

    short = np.flatnonzero(h * (e1 / d1 + e2 / d2) <= 1.0)
    if short.size:
        hs, d1s, d2s = h[short], d1[short], d2[short]
        nodes, weights = np.polynomial.legendre.leggauss(16)
        u = 0.5 * hs[:, None] * (1.0 + nodes[None, :])
        log_f = (-e1[short, None] * np.log1p(u / d1s[:, None])
                 - e2[short, None] * np.log1p(u / d2s[:, None]))
        integral = 0.5 * hs * (np.exp(log_f) @ weights)
        # drop = (r+x) int / Psi(tau0), with Psi(tau0) = (r+x) d1^(1-e1) d2^-e2 Q / C and
        # the integrand's powers at tau0 being d1^-e1 d2^-e2: the powers cancel exactly.
        drop_s = np.minimum(c[short] * integral / d1s * np.exp(-log_q0[short]), 1.0)
        drop[short] = drop_s
        step[short] = np.log1p(-drop_s)

    # Psi(tau0) / alive term = (r+x) Q / C, times d1/d2 when beta's side is the nearer one.
    log_share = np.log(r + x) - np.log(c) + log_q0 + (0.0 if a_near else np.log(d1 / d2))
    log_psi0 = (pref0 + ti0.log_j)[i0]
    return _PsiStep(log_psi=log_psi0.reshape(shape), log_share=log_share.reshape(shape),
                    step=step.reshape(shape), drop=drop.reshape(shape))


class ParetoNBD(ParametricModel):
    """Pareto/NBD model of repeat purchasing (Schmittlein, Morrison & Colombo 1987).

    Parameters
    ----------
    penalizer : float, default 0.0
        Weight of the L2 penalty ``penalizer * (r² + alpha² + s² + beta²)`` added to the
        mean negative log-likelihood per customer (the convention of lifetimes). 0 is plain
        maximum likelihood, which is what the literature reports.
    max_iter : int, default 1000
        Iteration limit of the optimizer.
    tol : float, default 1e-9
        Gradient tolerance (on the mean log-likelihood per customer, in log-parameters).

    Attributes
    ----------
    params_ : dict[str, float]
        Maximum likelihood estimates ``r``, ``alpha`` (purchase rate ~ Gamma(r, alpha)) and
        ``s``, ``beta`` (death rate ~ Gamma(s, beta)); alpha and beta in the data's time unit.
    standard_errors_ : dict[str, float]
        Asymptotic standard errors: square roots of the diagonal of the inverse Hessian of
        the negative log-likelihood in the natural parameters; NaN where it is singular.
    log_likelihood_ : float
        The maximized total log-likelihood in the data's time unit (-9595.0 on the CDNOW
        sample in weeks).
    converged_ : bool
        Whether the optimizer met its tolerance.
    n_iter_ : int
        Optimizer iterations used.
    n_customers_ : int
        Rows (customers) the model was fitted on.

    Notes
    -----
    Every prediction broadcasts its arguments against each other; scalars give 0-d arrays
    equal to the corresponding elements of an array call. The numerical method (tail
    integrals through a bounded hypergeometric series, with a quadrature where z is near 1)
    is described in the module docstring; it stays finite and accurate for x in the tens of
    thousands, t_x = T, t_x near 0 and alpha = beta.

    Examples
    --------
    >>> model = ParetoNBD().fit(summary.x, summary.t_x, summary.T)  # doctest: +SKIP
    >>> model.p_alive(summary.x, summary.t_x, summary.T)  # doctest: +SKIP
    """

    PARAM_NAMES = PARAM_NAMES
    LABEL = "Pareto/NBD"

    def fit(
        self,
        x: npt.ArrayLike,
        t_x: npt.ArrayLike,
        T: npt.ArrayLike,
        *,
        weights: npt.ArrayLike | None = None,
    ) -> Self:
        """Maximum likelihood estimates of (r, alpha, s, beta) from one row per customer.

        The log-likelihood (FH note eq. 18, evaluated as described in the module docstring)
        is summed over the distinct (x, t_x, T) rows, each weighted by how many customers
        share it (times ``weights``): the same likelihood, far fewer evaluations. The
        optimizer is L-BFGS-B on the log-parameters with the analytic gradient.

        Parameters
        ----------
        x, t_x, T : array_like, 1-d
            Repeat purchases, time of the last repeat purchase, time since the first
            purchase (one time unit; t_x = 0 when x = 0).
        weights : array_like, optional
            Non-negative frequency weights, one per row.

        Returns
        -------
        ParetoNBD
            ``self``, fitted.

        Raises
        ------
        NotIdentifiableError
            The data cannot identify the model: fewer than two customers, no repeat buyer,
            NaN, negative times, t_x > T, x = 0 with t_x != 0, non-integer x or bad weights.
            (It is also an ``InvalidInputError`` and a ``ValueError``.)
        """
        try:
            xf, txf, Tf = v.customer_arrays(x, t_x, T)
            v.fit_rows("ParetoNBD", xf, txf, Tf)
            w = v.weights_for(xf.size, weights)
        except NotIdentifiableError:
            raise
        except InvalidInputError as exc:
            raise NotIdentifiableError(f"ParetoNBD.fit(): {exc}") from exc
        if not np.any((xf > 0) & (w > 0)):
            raise NotIdentifiableError(
                "ParetoNBD.fit(): no customer made a repeat purchase, so the purchase rate "
                "and the death rate cannot be told apart."
            )
        data = _Data(xf, txf, Tf, w)
        mean_rate = float(np.dot(w, xf) / max(float(np.dot(w, Tf)), 1e-300))
        # Gamma shapes 1 and the observed mean repeat-purchase rate for both rates: alpha =
        # beta makes every tail integral a plain power (z = 0), and the scale follows the
        # data's time unit, so days and weeks start in the same basin.
        scale = 1.0 / max(mean_rate, 1e-12)
        start = np.array([1.0, scale, 1.0, scale])
        result = maximize_log_likelihood(
            data.log_likelihood,
            start,
            total_weight=data.total_weight,
            penalizer=self.penalizer,
            max_iter=self.max_iter,
            tol=self.tol,
            model="ParetoNBD",
        )
        return self._store_fit(result, n_customers=int(xf.size))

    def log_likelihood_individual(
        self, x: npt.ArrayLike, t_x: npt.ArrayLike, T: npt.ArrayLike
    ) -> FloatArray:
        """Log-likelihood of each customer's (x, t_x, T) (FH note eq. 18).

        ``log Gamma(r+x) - log Gamma(r) + r log alpha + s log beta + log(Phi(x, t_x) +
        Psi(x, T))``. When the customer most likely made no purchase in (t_x, T] the same
        value is taken relative to the 'alive at t_x' term, ``bracket = (alpha+t_x)^-(r+x)
        (beta+t_x)^-s - (Psi(t_x) - Psi(T))``, with the difference from
        ``_psi_step``: then a log-likelihood near 0 (x = 0 and a tiny T) keeps its
        relative precision instead of being a cancellation of terms of size r log alpha.

        Parameters
        ----------
        x, t_x, T : array_like
            Repeat purchases, time of the last one, time since the first purchase (the
            model's time unit); broadcast against each other.

        Returns
        -------
        ndarray of float64
            One value per customer (0-d for scalar input).
        """
        r, alpha, s, beta = params = self._params()
        xf, txf, Tf = v.customer_arrays(x, t_x, T)
        with np.errstate(all="ignore"):
            log_b, _ = _log_bracket(xf, txf, Tf, params)
            direct = gammaln(r + xf) - gammaln(r) + r * np.log(alpha) + s * np.log(beta) + log_b
            psi = _psi_step(xf, txf, Tf, params)
            # y = (Psi(t_x) - Psi(T)) / alive-at-t_x term, in [0, 1).
            y = np.exp(psi.log_share) * psi.drop
            relative = (
                gammaln(r + xf) - gammaln(r)
                - r * np.log1p(txf / alpha) - xf * np.log(alpha + txf) - s * np.log1p(txf / beta)
                + np.log1p(-np.minimum(y, 0.5))
            )
        return np.asarray(np.where(y <= 0.5, relative, direct), dtype=np.float64)

    def p_alive(self, x: npt.ArrayLike, t_x: npt.ArrayLike, T: npt.ArrayLike) -> FloatArray:
        """Probability that the customer is still alive at T (FH note eqs. 36-37).

        ``P(alive) = (alpha+T)^-(r+x) (beta+T)^-s / (Phi(x, t_x) + Psi(x, T))``: the share of
        the likelihood bracket that comes from "alive at T". Both are logs, so heavy buyers
        with t_x = T (where other implementations divide infinities) are ordinary numbers.

        Parameters
        ----------
        x, t_x, T : array_like
            Repeat purchases, time of the last one, time since the first purchase (the
            model's time unit); broadcast against each other.

        Returns
        -------
        ndarray of float64
            P(alive) in [0, 1], broadcast shape.
        """
        params = self._params()
        xf, txf, Tf = v.customer_arrays(x, t_x, T)
        with np.errstate(all="ignore"):
            log_b, _ = _log_bracket(xf, txf, Tf, params)
            p = np.exp(np.minimum(_log_alive_term(xf, Tf, params) - log_b, 0.0))
        return np.asarray(p, dtype=np.float64)

    def expected_purchases(
        self, t: npt.ArrayLike, x: npt.ArrayLike, t_x: npt.ArrayLike, T: npt.ArrayLike
    ) -> FloatArray:
        """Expected repeat purchases in (T, T + t] given (x, t_x, T) (FH note eq. 41).

        ``P(alive) * (r+x)/(alpha+T) * E[(1 - exp(-mu t))/mu]`` with mu | alive ~
        Gamma(s, beta+T), i.e. ``P(alive) (r+x)(beta+T) / ((alpha+T)(s-1)) * [1 -
        ((beta+T)/(beta+T+t))^(s-1)]``, whose bracket is taken with ``expm1`` so that s = 1
        (where it becomes a logarithm) and small t are exact. Broadcasts.

        Parameters
        ----------
        t : array_like
            Horizon after T (the model's time unit), >= 0.
        x, t_x, T : array_like
            Repeat purchases, time of the last one, time since the first purchase; all four
            arguments broadcast against each other.

        Returns
        -------
        ndarray of float64
            Expected purchases, >= 0, broadcast shape.
        """
        r, alpha, s, beta = params = self._params()
        tf = v.horizon("t", t)
        xf, txf, Tf = v.customer_arrays(x, t_x, T)
        tf, xf, txf, Tf = v.broadcast(t=tf, x=xf, t_x=txf, T=Tf)
        with np.errstate(all="ignore"):
            log_b, _ = _log_bracket(xf, txf, Tf, params)
            alive = np.exp(np.minimum(_log_alive_term(xf, Tf, params) - log_b, 0.0))
            life = _mean_lifetime_factor(s, -np.log1p(tf / (beta + Tf)))
            out = alive * (r + xf) / (alpha + Tf) * (beta + Tf) * life
        return np.asarray(out, dtype=np.float64)

    def expected_purchases_new(self, t: npt.ArrayLike) -> FloatArray:
        """Expected repeat purchases of a new customer in (0, t] after the first (FH note eq. 27).

        ``E[X(t)] = r beta / (alpha (s-1)) * [1 - (beta/(beta+t))^(s-1)]``, the bracket via
        ``expm1`` as in :meth:`expected_purchases` (it is that formula for x = t_x = T = 0).

        Parameters
        ----------
        t : array_like
            Horizon after the first purchase (the model's time unit), >= 0.

        Returns
        -------
        ndarray of float64
            E[X(t)], same shape as ``t``.
        """
        r, alpha, s, beta = self._params()
        tf = v.horizon("t", t)
        with np.errstate(all="ignore"):
            out = r / alpha * beta * _mean_lifetime_factor(s, -np.log1p(tf / beta))
        return np.asarray(out, dtype=np.float64)

    def p_purchase_within(
        self, t: npt.ArrayLike, x: npt.ArrayLike, t_x: npt.ArrayLike, T: npt.ArrayLike
    ) -> FloatArray:
        """Probability of at least one purchase in (T, T + t] given (x, t_x, T).

        A purchase at T + w needs the customer alive then, so with the posterior of
        (lambda, mu) the density of the first purchase after T is
        ``(r+x) (alpha+T+w)^-(r+x+1) (beta+T+w)^-s / bracket``; integrated over (0, t]::

            P = (Psi(x, T) - Psi(x, T + t)) / (Phi(x, t_x) + Psi(x, T)).

        It is P(alive) times the probability of buying before dying within the window. The
        difference is Psi(T) times the relative decrease from ``_psi_step``, which keeps its
        digits for small t.

        Parameters
        ----------
        t : array_like
            Horizon after T (the model's time unit), >= 0.
        x, t_x, T : array_like
            Repeat purchases, time of the last one, time since the first purchase; all four
            arguments broadcast against each other.

        Returns
        -------
        ndarray of float64
            Probabilities in [0, P(alive)], broadcast shape.
        """
        params = self._params()
        tf = v.horizon("t", t)
        xf, txf, Tf = v.customer_arrays(x, t_x, T)
        tf, xf, txf, Tf = v.broadcast(t=tf, x=xf, t_x=txf, T=Tf)
        with np.errstate(all="ignore"):
            log_b, log_psi_T = _log_bracket(xf, txf, Tf, params)
            drop = _psi_step(xf, Tf, Tf + tf, params).drop
            p = np.exp(np.minimum(log_psi_T - log_b, 0.0)) * drop
        return np.asarray(np.clip(p, 0.0, 1.0), dtype=np.float64)

    def expected_time_to_next_purchase(
        self, x: npt.ArrayLike, t_x: npt.ArrayLike, T: npt.ArrayLike
    ) -> FloatArray:
        """Median time from T to the next purchase, or NaN when that median does not exist.

        The same definition as :meth:`BGNBD.expected_time_to_next_purchase`: the next
        purchase may never come (the customer may be dead, or die before buying), so its
        waiting time W has an improper distribution, ``P(W <= w) = p_purchase_within(w)``,
        which rises to ``P(ever) = Psi(x, T) / bracket`` = P(alive) times the chance of
        buying again before dying. We report the w at which a next purchase has happened
        with probability 1/2, the root of ``Psi(x, T + w) = Psi(x, T) - bracket / 2``. It
        exists only when P(ever) > 1/2, hence never when P(alive) <= 1/2: otherwise "more
        likely never than ever" and the result is NaN. The time is in the model's unit,
        counted from T.

        The root is found by Newton's method on ``log Psi(x, T + w)`` against ``log w``,
        started from the same median with the death rate set to 0 (a lower bound: dying can
        only prevent purchases), and kept in a shrinking bracket.

        Parameters
        ----------
        x, t_x, T : array_like
            Repeat purchases, time of the last one, time since the first purchase (the
            model's time unit); broadcast against each other.

        Returns
        -------
        ndarray of float64
            Median waiting time in the model's unit, NaN where it does not exist.
        """
        params = self._params()
        xf, txf, Tf = v.customer_arrays(x, t_x, T)
        shape = xf.shape
        xf, txf, Tf = xf.ravel(), txf.ravel(), Tf.ravel()
        out = np.full(xf.size, np.nan)
        with np.errstate(all="ignore"):
            log_b, log_psi_T = _log_bracket(xf, txf, Tf, params)
            log_ever = log_psi_T - log_b
            idx = np.flatnonzero(log_ever > np.log(0.5))
            if idx.size:
                out[idx] = _median_wait(xf[idx], Tf[idx], log_ever[idx], log_b[idx], params)
        return np.asarray(out.reshape(shape), dtype=np.float64)


def _median_wait(
    x: FloatArray, T: FloatArray, log_ever: FloatArray, log_b: FloatArray, params: FloatArray
) -> FloatArray:
    """Solve ``step(w) = log(1 - 1/(2 P(ever)))`` for w, where step(w) = log Psi(T+w) - log Psi(T).

    ``d step / d log w = -w (r+x) (alpha+T+w)^-(r+x+1) (beta+T+w)^-s / Psi(T+w)``. Newton in
    ``log w`` with a bracket [lo, hi] that every evaluation tightens; a step that leaves the
    bracket is replaced by bisection (in log w, or doubling while hi is unknown).
    """
    r, alpha, s, beta = (float(p) for p in params)
    target = np.log1p(-0.5 * np.exp(-log_ever))
    alive = np.exp(np.minimum(_log_alive_term(x, T, params) - log_b, 0.0))
    # Median with no death: P(alive) (1 - ((alpha+T)/(alpha+T+w))^(r+x)) = 1/2; P(alive) >=
    # P(ever) > 1/2 so it exists, and it is a lower bound for the root.
    w0 = (alpha + T) * np.expm1(-np.log1p(-0.5 / alive) / (r + x))
    y = np.log(np.maximum(w0, 1e-300))
    lo = np.full(x.size, -np.inf)
    hi = np.full(x.size, np.inf)
    out = np.empty(x.size)
    active = np.arange(x.size)
    for _ in range(200):
        w = np.exp(y)
        psi = _psi_step(x[active], T[active], T[active] + w, params)
        step = psi.step
        tau = T[active] + w
        log_psi_w = psi.log_psi + step
        log_density = (np.log(r + x[active]) - (r + x[active] + 1.0) * np.log(alpha + tau)
                       - s * np.log(beta + tau))
        slope = -np.exp(y + log_density - log_psi_w)  # d step / d log w, < 0
        g = step - target[active]
        # g decreases in w: g > 0 means the root is to the right.
        lo = np.where(g > 0, np.maximum(lo, y), lo)
        hi = np.where(g <= 0, np.minimum(hi, y), hi)
        y_new = y - g / slope
        outside = ~((y_new > lo) & (y_new < hi)) | ~np.isfinite(y_new)
        fallback = np.where(np.isfinite(hi) & np.isfinite(lo), 0.5 * (lo + hi),
                            np.where(np.isfinite(hi), hi - 1.0, lo + 1.0))
        y_new = np.where(outside, fallback, y_new)
        done = np.abs(y_new - y) <= 1e-13 * np.maximum(1.0, np.abs(y))
        out[active[done]] = np.exp(y_new[done])
        keep = ~done
        active, y, lo, hi = active[keep], y_new[keep], lo[keep], hi[keep]
        if active.size == 0:
            break
    out[active] = np.exp(y)
    return out
