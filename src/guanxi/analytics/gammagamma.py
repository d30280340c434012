"""The Gamma-Gamma model of spend per transaction (Colombo & Jiang 1999; Fader, Hardie & Lee 2005).

Colombo, R. & Jiang, W. (1999). A stochastic RFM model. *Journal of Interactive Marketing*
13(3), 2-12. Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). RFM and CLV: using iso-value
curves for customer base analysis. *Journal of Marketing Research* 42(4), 415-430; equation
numbers below are from Fader & Hardie's note *The Gamma-Gamma model of monetary value*
(2013), which restates that model.

The story: a customer's spends are Gamma(p, nu) with a customer-specific scale nu, and across
customers nu ~ Gamma(q, gamma). A customer with x transactions of mean value m then has mean
spend E[M] = p / nu, and the model shrinks m towards the population mean the less we know.
Spend is assumed independent of the purchase process, which is what lets CLV multiply the
two models' predictions.
"""

from __future__ import annotations

from typing import Final, Self

import numpy as np
import numpy.typing as npt
from scipy.special import digamma, gammaln, polygamma

from . import _validation as v
from ._base import ParametricModel
from ._fitting import maximize_log_likelihood
from ._validation import FloatArray, dot
from .errors import InvalidInputError, NotIdentifiableError

__all__ = ["GammaGamma"]

PARAM_NAMES: Final = ("p", "q", "gamma")


class _Data:
    """Customers with x > 0; everything that depends on x alone is computed per distinct x."""

    def __init__(self, x: FloatArray, m: FloatArray, w: FloatArray) -> None:
        self.x, self.m, self.w = x, m, w
        self.x_values, self.x_index = np.unique(x, return_inverse=True)
        self.w_by_x = np.bincount(self.x_index, weights=w)
        self.wx = w * x
        self.total_weight = float(w.sum())
        # Parameter-free pieces of the log-density, summed once.
        self.sum_wx_log_xm = dot(self.wx, np.log(x * m))
        self.sum_w_log_m = dot(w, np.log(m))

    def log_likelihood(self, params: FloatArray) -> tuple[float, FloatArray]:
        """Total log-likelihood and its gradient in (p, q, gamma).

        The note's marginal density of the mean spend m of x transactions is::

            f(m | p, q, gamma, x) = Gamma(px + q) / (Gamma(px) Gamma(q))
                                    * gamma^q m^(px - 1) x^(px) / (gamma + m x)^(px + q),

        taken in logs with ``gammaln`` (Gamma(px) overflows at px ~ 171, reached by any
        customer with a few dozen purchases).
        """
        p, q, gamma = params
        xv = self.x_values
        log_gx = np.log(gamma + self.m * self.x)
        per_x = gammaln(p * xv + q) - gammaln(p * xv) - gammaln(q) + q * np.log(gamma)
        ll = (
            dot(self.w_by_x, per_x)
            + p * self.sum_wx_log_xm
            - self.sum_w_log_m
            - dot(self.w * (p * self.x + q), log_gx)
        )
        psi_pxq = digamma(p * xv + q)
        grad_p = (
            dot(self.w_by_x, xv * (psi_pxq - digamma(p * xv)))
            + self.sum_wx_log_xm
            - dot(self.wx, log_gx)
        )
        grad_q = (
            dot(self.w_by_x, psi_pxq - digamma(q))
            + self.total_weight * np.log(gamma)
            - dot(self.w, log_gx)
        )
        grad_gamma = self.total_weight * q / gamma - dot(
            self.w, (p * self.x + q) / (gamma + self.m * self.x)
        )
        return ll, np.array([grad_p, grad_q, grad_gamma])

    def hessian(self, params: FloatArray) -> FloatArray:
        """Analytic Hessian of the total log-likelihood in (p, q, gamma), for standard errors."""
        p, q, gamma = params
        xv, W = self.x_values, self.total_weight
        tri_pxq = polygamma(1, p * xv + q)
        inv = 1.0 / (gamma + self.m * self.x)
        pp = dot(self.w_by_x, xv**2 * (tri_pxq - polygamma(1, p * xv)))
        pq = dot(self.w_by_x, xv * tri_pxq)
        pg = -dot(self.wx, inv)
        qq = dot(self.w_by_x, tri_pxq) - W * float(polygamma(1, q))
        qg = W / gamma - dot(self.w, inv)
        gg = -W * q / gamma**2 + dot(self.w * (p * self.x + q), inv**2)
        return np.array([[pp, pq, pg], [pq, qq, qg], [pg, qg, gg]], dtype=np.float64)


class GammaGamma(ParametricModel):
    """Gamma-Gamma model of the mean spend per transaction.

    Parameters
    ----------
    penalizer : float, default 0.0
        L2 penalty ``penalizer * (p² + q² + gamma²)`` on the mean negative log-likelihood.
    max_iter : int, default 1000
        Iteration limit of the optimizer.
    tol : float, default 1e-9
        Gradient tolerance on the mean log-likelihood per customer, in log-parameters.

    Attributes
    ----------
    params_ : dict[str, float]
        Maximum likelihood estimates ``p``, ``q``, ``gamma``.
    standard_errors_ : dict[str, float]
        Asymptotic standard errors (inverse observed information); NaN where singular.
    log_likelihood_ : float
        Maximized total log-likelihood.
    converged_ : bool
        Whether the optimizer met its tolerance.
    n_iter_ : int
        Optimizer iterations used.
    n_customers_ : int
        Customers with x > 0 the model was fitted on.
    """

    PARAM_NAMES = PARAM_NAMES
    LABEL = "Gamma-Gamma"

    def fit(
        self, x: npt.ArrayLike, m: npt.ArrayLike, *, weights: npt.ArrayLike | None = None
    ) -> Self:
        """Maximum likelihood estimates of (p, q, gamma) from repeat buyers.

        Parameters
        ----------
        x : array_like, 1-d
            Transactions behind each mean (repeat purchases in a CustomerSummary).
        m : array_like, 1-d
            Mean spend of those transactions (``CustomerSummary.monetary``).
        weights : array_like, optional
            Non-negative frequency weights.

        Rows with x = 0 are skipped: they carry no spend information (the model describes
        the mean of x >= 1 transactions, and the literature fits it on repeat buyers only),
        so a whole ``CustomerSummary`` can be passed as it is.

        Raises
        ------
        InvalidInputError
            NaN, negative x, or a repeat buyer with a mean spend <= 0.
        NotIdentifiableError
            Fewer than two customers with x > 0.
        """
        xf, mf = v.broadcast(x=v.as_float("x", x), m=v.as_float("m", m))
        if xf.ndim != 1:
            raise InvalidInputError("GammaGamma.fit() takes 1-d arrays (one row per customer).")
        w = v.weights_for(xf.size, weights)
        if np.any(xf < 0) or np.any(xf != np.floor(xf)):
            raise InvalidInputError("x must be whole numbers >= 0.")
        buyers = (xf > 0) & (w > 0)
        if np.any(mf[buyers] <= 0):
            raise InvalidInputError(
                "Mean spend m must be > 0 for customers with x > 0 (the model is for positive "
                "amounts; drop refunds-only customers first)."
            )
        if np.count_nonzero(buyers) < 2:
            raise NotIdentifiableError(
                "GammaGamma.fit() needs at least two customers with a repeat purchase."
            )
        data = _Data(xf[buyers], mf[buyers], w[buyers])
        # Method-of-moments flavoured start: spend shape p = 1 and a prior mean spend p
        # gamma / (q - 1) equal to the observed mean, with q = 2 (finite prior mean).
        mean_m = float(np.average(data.m, weights=data.w))
        start = np.array([1.0, 2.0, mean_m])
        result = maximize_log_likelihood(
            data.log_likelihood,
            start,
            total_weight=data.total_weight,
            penalizer=self.penalizer,
            max_iter=self.max_iter,
            tol=self.tol,
            model="GammaGamma",
            hessian=data.hessian,
        )
        return self._store_fit(result, n_customers=int(np.count_nonzero(buyers)))

    def expected_spend(self, x: npt.ArrayLike, m: npt.ArrayLike) -> FloatArray:
        """Posterior mean spend per transaction given x transactions of mean m (note eq. 5).

        ``E[M | p, q, gamma, x, m] = p (gamma + x m) / (p x + q - 1)``, a weighted average of
        the population mean ``p gamma / (q - 1)`` and the customer's own mean m, with weight
        ``p x / (p x + q - 1)`` on m. For x = 0 it is the population mean (m is ignored).
        Where it does not exist (q <= 1 and x = 0: the Gamma prior on nu has no finite
        inverse mean) the result is NaN.
        """
        p, q, gamma = self._params()
        xf, mf = v.broadcast(x=v.as_float("x", x), m=v.as_float("m", m))
        if np.any(xf < 0):
            raise InvalidInputError("x must be >= 0.")
        mf = np.where(xf > 0, mf, 0.0)
        denominator = p * xf + q - 1.0
        safe = np.where(denominator > 0, denominator, 1.0)
        return np.asarray(
            np.where(denominator > 0, p * (gamma + xf * mf) / safe, np.nan), dtype=np.float64
        )

    def expected_spend_new(self) -> float:
        """Mean spend per transaction of a customer we know nothing about: p gamma / (q - 1)."""
        return float(self.expected_spend(0.0, 0.0))
