"""Gamma-Gamma: gradient, posterior mean, recovery on simulated spend, refusals."""

from __future__ import annotations

import numpy as np
import pytest

from guanxi.analytics import GammaGamma, InvalidInputError, NotFittedError, NotIdentifiableError
from guanxi.analytics.gammagamma import _Data

TRUTH = {"p": 6.25, "q": 3.74, "gamma": 15.44}


def simulate_spend(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """x ~ 1 + Poisson(3) transactions per customer, each Gamma(p, nu), nu ~ Gamma(q, gamma)."""
    x = 1 + rng.poisson(3.0, n)
    nu = rng.gamma(TRUTH["q"], 1.0 / TRUTH["gamma"], n)
    # The mean of x Gamma(p, nu) spends is Gamma(p x, nu x).
    m = rng.gamma(TRUTH["p"] * x, 1.0 / (nu * x))
    return x, m


def test_analytic_gradient_matches_finite_differences() -> None:
    rng = np.random.default_rng(5)
    x, m = simulate_spend(2000, rng)
    data = _Data(x.astype(float), m, rng.uniform(0.5, 2.0, x.size))
    for params in ([6.25, 3.74, 15.44], [0.5, 1.2, 300.0], [40.0, 20.0, 2.0]):
        p = np.array(params)
        _, gradient = data.log_likelihood(p)
        numeric = np.empty(3)
        for j in range(3):
            h = 1e-6 * p[j]
            up, down = p.copy(), p.copy()
            up[j] += h
            down[j] -= h
            numeric[j] = (data.log_likelihood(up)[0] - data.log_likelihood(down)[0]) / (2 * h)
        assert gradient == pytest.approx(numeric, rel=1e-6, abs=1e-6 * np.abs(numeric).max())


def test_analytic_hessian_matches_finite_differences_of_the_gradient() -> None:
    rng = np.random.default_rng(6)
    x, m = simulate_spend(2000, rng)
    data = _Data(x.astype(float), m, rng.uniform(0.5, 2.0, x.size))
    for params in ([6.25, 3.74, 15.44], [0.5, 1.2, 300.0], [40.0, 20.0, 2.0]):
        p = np.array(params)
        numeric = np.empty((3, 3))
        for j in range(3):
            h = 1e-6 * p[j]
            up, down = p.copy(), p.copy()
            up[j] += h
            down[j] -= h
            numeric[:, j] = (data.log_likelihood(up)[1] - data.log_likelihood(down)[1]) / (2 * h)
        assert data.hessian(p) == pytest.approx(numeric, rel=1e-6, abs=1e-6 * np.abs(numeric).max())


def test_parameters_are_recovered_from_simulated_spend() -> None:
    rng = np.random.default_rng(1999)
    x, m = simulate_spend(20_000, rng)
    model = GammaGamma().fit(x, m)
    for name, truth in TRUTH.items():
        assert abs(model.params_[name] - truth) < 4 * model.standard_errors_[name], name


def test_expected_spend_shrinks_towards_the_population_mean() -> None:
    model = GammaGamma.from_params(TRUTH)
    p, q, gamma = TRUTH.values()
    population = p * gamma / (q - 1)
    assert model.expected_spend_new() == pytest.approx(population)
    # x = 0: the population mean, whatever m says.
    assert float(model.expected_spend(0, 1000.0)) == pytest.approx(population)
    # The posterior mean lies between the population mean and the customer's own mean,
    # and moves towards the customer's mean as x grows.
    spends = model.expected_spend([1, 5, 50, 5000], 100.0)
    assert np.all((spends > population) & (spends < 100.0))
    assert np.all(np.diff(spends) > 0)
    assert float(model.expected_spend(3, 20.0)) == pytest.approx(p * (gamma + 60) / (3 * p + q - 1))


def test_population_mean_does_not_exist_when_q_is_at_most_one() -> None:
    model = GammaGamma.from_params({"p": 2.0, "q": 0.8, "gamma": 10.0})
    assert np.isnan(model.expected_spend(0, 0.0))
    assert np.isfinite(model.expected_spend(1, 10.0))


def test_one_time_buyers_are_skipped_and_bad_spend_refused() -> None:
    x, m = simulate_spend(200, np.random.default_rng(8))
    with_one_timers = GammaGamma().fit(np.r_[x, 0, 0], np.r_[m, 0.0, 0.0])
    assert with_one_timers.n_customers_ == 200
    assert with_one_timers.params_ == GammaGamma().fit(x, m).params_
    with pytest.raises(InvalidInputError, match="> 0"):
        GammaGamma().fit([1, 2], [10.0, -5.0])
    with pytest.raises(NotIdentifiableError, match="at least two"):
        GammaGamma().fit([0, 3], [0.0, 5.0])
    with pytest.raises(NotFittedError):
        GammaGamma().expected_spend(1, 1.0)
