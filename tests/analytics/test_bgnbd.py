"""BG/NBD: known values, the analytic gradient, invariants on extreme inputs, recovery."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from guanxi.analytics import (
    BGNBD,
    ConvergenceWarning,
    InvalidInputError,
    NotFittedError,
    NotIdentifiableError,
    simulate_bgnbd_transactions,
)
from guanxi.analytics._fitting import maximize_log_likelihood
from guanxi.analytics.bgnbd import _Data, _future_purchases_if_alive

CDNOW = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}


def eq10_reference(t: float, x: int, t_x: float, T: float, p: dict[str, float]) -> float:
    """FHL 2005 eq. 10 exactly as printed, in 60-digit arithmetic."""
    mpmath.mp.dps = 60
    r, alpha, a, b = (mpmath.mpf(p[k]) for k in ("r", "alpha", "a", "b"))
    t_, x_, tx_, T_ = (mpmath.mpf(v) for v in (t, x, t_x, T))
    z = t_ / (alpha + T_ + t_)
    power = ((alpha + T_) / (alpha + T_ + t_)) ** (r + x_)
    bracket = 1 - power * mpmath.hyp2f1(r + x_, b + x_, a + b + x_ - 1, z)
    numerator = (a + b + x_ - 1) / (a - 1) * bracket
    odds = a / (b + x_ - 1) * ((alpha + T_) / (alpha + tx_)) ** (r + x_) if x > 0 else 0
    return float(numerator / (1 + odds))


def test_hard_likelihood_case_from_hardies_note() -> None:
    # The naive product form overflows here (Gamma(200.25) ~ 1e372) and gives NaN.
    model = BGNBD.from_params({"r": 0.25, "alpha": 4.0, "a": 0.80, "b": 2.50})
    assert round(float(model.log_likelihood_individual(200, 38, 40)), 4) == 100.7957


@pytest.mark.parametrize(
    ("t", "x", "t_x", "T"),
    [
        (39, 0, 0, 38.86),
        (39, 2, 30.43, 38.86),
        (1e-6, 5, 10, 20),  # tiny horizon: the bracket cancels to 1e-7 in the printed form
        (1000, 200, 38, 40),
        (78, 10_000, 7300, 7300),  # heavy buyer seen today: NaN elsewhere
        (5000, 50, 7300, 7300),
        (1, 1, 0, 0),
        (1e5, 3, 1, 2),  # z within 1e-5 of 1: the scipy fallback
    ],
)
def test_expected_purchases_match_eq10_in_high_precision(
    t: float, x: int, t_x: float, T: float
) -> None:
    model = BGNBD.from_params(CDNOW)
    assert float(model.expected_purchases(t, x, t_x, T)) == pytest.approx(
        eq10_reference(t, x, t_x, T, CDNOW), rel=1e-11
    )


@pytest.mark.parametrize("a", [1.0, 1.0 + 1e-9, 3.5])
def test_expected_purchases_are_finite_through_a_equals_one(a: float) -> None:
    # Eq. 10 divides by a - 1; the series form has no such singularity.
    params = {"r": 0.5, "alpha": 2.0, "a": a, "b": 0.7}
    model = BGNBD.from_params(params)
    # mpmath needs a != 1 too: compare with a point 1e-7 away, where eq. 10 is still smooth.
    reference = {**params, "a": 1.0 + 1e-7} if abs(a - 1.0) < 1e-7 else params
    for args in [(10.0, 0, 0.0, 0.0), (10.0, 3, 2.0, 5.0)]:
        got = float(model.expected_purchases(*args))
        assert np.isfinite(got)
        assert got == pytest.approx(eq10_reference(*args, reference), rel=1e-6)


def test_expected_purchases_new_is_eq9() -> None:
    model = BGNBD.from_params(CDNOW)
    t = np.array([0.0, 1.0, 39.0, 78.0, 520.0])
    expected = [eq10_reference(v, 0, 0.0, 0.0, CDNOW) if v else 0.0 for v in t]
    assert model.expected_purchases_new(t) == pytest.approx(expected, rel=1e-12)
    assert model.expected_purchases_new(39.0).shape == ()


def _random_fit_data(rng: np.random.Generator, *, discrete: bool) -> _Data:
    sim = simulate_bgnbd_transactions(3000, CDNOW, T=rng.uniform(5, 40, 3000), rng=rng)
    t_x, T = sim.t_x, sim.T
    if discrete:
        t_x, T = np.floor(t_x * 7) / 7, np.ceil(T * 7) / 7
    return _Data(sim.x.astype(float), t_x, T, rng.uniform(0.5, 2.0, 3000))


@pytest.mark.parametrize("discrete", [True, False])
def test_analytic_gradient_matches_finite_differences(discrete: bool) -> None:
    rng = np.random.default_rng(7)
    data = _random_fit_data(rng, discrete=discrete)
    for params in ([0.243, 4.414, 0.793, 2.426], [2.0, 0.5, 3.0, 0.6], [0.05, 40.0, 0.2, 9.0]):
        p = np.array(params)
        _, gradient = data.log_likelihood(p)
        numeric = np.empty(4)
        for j in range(4):
            h = 1e-6 * p[j]
            up, down = p.copy(), p.copy()
            up[j] += h
            down[j] -= h
            numeric[j] = (data.log_likelihood(up)[0] - data.log_likelihood(down)[0]) / (2 * h)
        assert gradient == pytest.approx(numeric, rel=1e-6, abs=1e-6 * np.abs(numeric).max())


@pytest.mark.parametrize("discrete", [True, False])
def test_analytic_hessian_matches_finite_differences_of_the_gradient(discrete: bool) -> None:
    rng = np.random.default_rng(17)
    n = 20_000 if discrete else 3000
    T = rng.integers(100, 200, n) / 7 if discrete else rng.uniform(5, 40, n)
    sim = simulate_bgnbd_transactions(n, CDNOW, T=T, rng=rng)
    t_x = np.floor(sim.t_x * 7) / 7 if discrete else sim.t_x
    data = _Data(sim.x.astype(float), t_x, sim.T, None)
    assert data.gather == discrete  # both evaluation paths are covered
    for params in ([0.243, 4.414, 0.793, 2.426], [2.0, 0.5, 3.0, 0.6], [0.05, 40.0, 0.2, 9.0]):
        p = np.array(params)
        numeric = np.empty((4, 4))
        for j in range(4):
            h = 1e-6 * p[j]
            up, down = p.copy(), p.copy()
            up[j] += h
            down[j] -= h
            numeric[:, j] = (data.log_likelihood(up)[1] - data.log_likelihood(down)[1]) / (2 * h)
        assert data.hessian(p) == pytest.approx(numeric, rel=1e-6, abs=1e-6 * np.abs(numeric).max())


def test_a_warm_start_from_a_sample_reaches_the_same_optimum() -> None:
    # Large fits first solve a 50,000-row sample and finish with Newton steps on all rows;
    # here the same path on a smaller data set, against plain L-BFGS-B on all rows.
    rng = np.random.default_rng(23)
    sim = simulate_bgnbd_transactions(20_000, CDNOW, T=rng.integers(100, 300, 20_000) / 7,
                                      rng=rng)
    data = _Data(sim.x.astype(float), np.floor(sim.t_x * 7) / 7, sim.T, None)
    sample = data.sample(500)
    assert sample is not None
    assert sample.rep_x.size < data.rep_x.size // 2
    common = {"total_weight": data.total_weight, "penalizer": 0.0, "max_iter": 1000,
              "tol": 1e-9, "model": "BGNBD"}
    start = np.array([1.0, 10.0, 1.0, 1.0])
    plain = maximize_log_likelihood(data.log_likelihood, start, **common)
    warm = maximize_log_likelihood(data.log_likelihood, start, hessian=data.hessian,
                                   warm_start=sample.log_likelihood, **common)
    assert warm.converged
    assert warm.n_iter < plain.n_iter
    assert warm.params == pytest.approx(plain.params, rel=1e-6)
    assert warm.log_likelihood == pytest.approx(plain.log_likelihood, rel=1e-12)


def test_fit_likelihood_equals_the_sum_of_individual_likelihoods() -> None:
    rng = np.random.default_rng(3)
    sim = simulate_bgnbd_transactions(500, CDNOW, T=30.0, rng=rng)
    model = BGNBD().fit(sim.x, sim.t_x, sim.T)
    total = model.log_likelihood_individual(sim.x, sim.t_x, sim.T).sum()
    assert model.log_likelihood_ == pytest.approx(total, rel=1e-12)


def test_parameters_are_recovered_from_simulated_customers() -> None:
    # Given 20,000 customers drawn with the CDNOW parameters, observed 26 to 39 weeks.
    rng = np.random.default_rng(2005)
    sim = simulate_bgnbd_transactions(20_000, CDNOW, T=rng.uniform(26, 39, 20_000), rng=rng)
    model = BGNBD().fit(sim.x, sim.t_x, sim.T)
    # Then each estimate is within four standard errors of the truth.
    for name, truth in CDNOW.items():
        assert abs(model.params_[name] - truth) < 4 * model.standard_errors_[name], name
    assert model.converged_
    assert model.n_iter_ > 0


# Four kinds of customer are too few to bound a and b: the likelihood keeps rising along the
# ridge where a and b grow together (the drop-out probability fixed), and SciPy 1.16+'s
# L-BFGS-B stops there as ABNORMAL, which fit() reports. The weighted and the repeated data
# take the very same path, which is what this test is about.
@pytest.mark.filterwarnings("ignore::guanxi.analytics.errors.ConvergenceWarning")
def test_weights_are_frequency_weights() -> None:
    x, t_x, T = np.array([0, 1, 3, 0]), np.array([0.0, 5.0, 20.0, 0.0]), np.array([30.0] * 4)
    repeated = BGNBD().fit(np.repeat(x, [3, 1, 2, 1]), np.repeat(t_x, [3, 1, 2, 1]),
                           np.repeat(T, [3, 1, 2, 1]))
    weighted = BGNBD().fit(x, t_x, T, weights=[3, 1, 2, 1])
    for name in CDNOW:
        assert weighted.params_[name] == pytest.approx(repeated.params_[name], rel=1e-6)


@pytest.mark.parametrize(
    ("x", "t_x", "T", "error", "message"),
    [
        ([0, 0, 0], [0, 0, 0], [10, 20, 30], NotIdentifiableError, "no customer made a repeat"),
        ([2], [3.0], [10.0], NotIdentifiableError, "at least two customers"),
        ([1, 0], [5.0, 0.0], [-1.0, 3.0], InvalidInputError, ">= 0"),
        ([1, 0], [5.0, 0.0], [4.0, 3.0], InvalidInputError, "must not exceed T"),
        ([1, 0], [5.0, 1.0], [6.0, 3.0], InvalidInputError, "t_x must be 0"),
        ([1, 0], [np.nan, 0.0], [6.0, 3.0], InvalidInputError, "NaN"),
        ([1.5, 0], [5.0, 0.0], [6.0, 3.0], InvalidInputError, "whole numbers"),
    ],
)
def test_data_that_cannot_identify_the_model_are_refused(
    x: list[float], t_x: list[float], T: list[float], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        BGNBD().fit(x, t_x, T)


def test_errors_are_value_errors_for_callers_that_catch_those() -> None:
    assert issubclass(NotIdentifiableError, ValueError)
    assert issubclass(NotFittedError, AttributeError)


def test_predictions_need_a_fitted_model() -> None:
    with pytest.raises(NotFittedError, match="not fitted"):
        BGNBD().p_alive(1, 2.0, 3.0)


def test_an_exhausted_optimizer_warns_and_says_so() -> None:
    rng = np.random.default_rng(1)
    sim = simulate_bgnbd_transactions(300, CDNOW, T=30.0, rng=rng)
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        model = BGNBD(max_iter=2).fit(sim.x, sim.t_x, sim.T)
    assert not model.converged_


def test_the_grid_evaluation_equals_the_elementwise_one() -> None:
    rng = np.random.default_rng(11)
    sim = simulate_bgnbd_transactions(6000, CDNOW, T=rng.integers(1, 300, 6000) / 7, rng=rng)
    t_x = np.floor(sim.t_x * 7) / 7
    model = BGNBD.from_params(CDNOW)
    horizons = np.array([[4.0], [13.0], [52.0]])
    got = model.expected_purchases(horizons, sim.x, t_x, sim.T)
    params = np.array(list(CDNOW.values()))
    direct = _future_purchases_if_alive(*np.broadcast_arrays(horizons, sim.x, sim.T), params)
    assert got == pytest.approx(model.p_alive(sim.x, t_x, sim.T) * direct, rel=1e-13, abs=0)
    assert got.shape == (3, 6000)


# --- invariants over the whole input space ----------------------------------------------------

parameters = st.fixed_dictionaries({
    "r": st.floats(0.01, 10.0),
    "alpha": st.floats(0.01, 1000.0),
    "a": st.floats(0.05, 10.0),
    "b": st.floats(0.05, 50.0),
})


@st.composite
def customers(draw: st.DrawFn) -> tuple[int, float, float]:
    """(x, t_x, T) up to 10,000 purchases and 20 years in days, t_x at 0, T or in between."""
    T = draw(st.one_of(st.just(0.0), st.just(7300.0), st.floats(0.0, 7300.0)))
    x = draw(st.one_of(st.just(0), st.just(10_000), st.integers(0, 10_000)))
    if x == 0:
        return 0, 0.0, T
    share = draw(st.one_of(st.just(0.0), st.just(1.0), st.just(1e-12), st.floats(0.0, 1.0)))
    return x, min(share * T, T), T


@settings(max_examples=150, deadline=None)
@given(params=parameters, customer=customers(),
       t=st.one_of(st.just(0.0), st.floats(1e-9, 1e4)), later=st.floats(0.0, 1e4))
def test_predictions_are_probabilities_and_monotone_expectations(
    params: dict[str, float], customer: tuple[int, float, float], t: float, later: float
) -> None:
    x, t_x, T = customer
    model = BGNBD.from_params(params)
    alive = float(model.p_alive(x, t_x, T))
    near = float(model.expected_purchases(t, x, t_x, T))
    far = float(model.expected_purchases(t + later, x, t_x, T))
    buys = float(model.p_purchase_within(t, x, t_x, T))
    wait = float(model.expected_time_to_next_purchase(x, t_x, T))
    ll = float(model.log_likelihood_individual(x, t_x, T))

    assert 0.0 <= alive <= 1.0
    assert np.isfinite(near)
    assert np.isfinite(far)
    assert np.isfinite(ll)
    assert near >= 0.0
    assert far >= near * (1 - 1e-9) - 1e-300
    assert 0.0 <= buys <= alive * (1 + 1e-12)
    if alive > 0.5 + 1e-9:
        assert np.isfinite(wait)
        assert wait >= 0.0
        if 0 < wait < 1e12:
            within = float(model.p_purchase_within(wait, x, t_x, T))
            assert within == pytest.approx(0.5, rel=1e-6)
    else:
        assert np.isnan(wait) or alive > 0.5


@settings(max_examples=40, deadline=None)
@given(params=parameters, customer=customers(), t=st.floats(0.0, 1e3))
def test_scalar_results_equal_array_results(
    params: dict[str, float], customer: tuple[int, float, float], t: float
) -> None:
    x, t_x, T = customer
    assume(T > 0)
    model = BGNBD.from_params(params)
    # A population large enough to take the grid path, with our customer in the middle.
    xs = np.full(5000, x)
    xs[::2] = 0
    t_xs = np.where(xs > 0, t_x, 0.0)
    Ts = np.full(5000, T)
    for method, args, many in [
        (model.p_alive, (x, t_x, T), (xs, t_xs, Ts)),
        (model.expected_purchases, (t, x, t_x, T), (t, xs, t_xs, Ts)),
        (model.p_purchase_within, (t, x, t_x, T), (t, xs, t_xs, Ts)),
        (model.expected_time_to_next_purchase, (x, t_x, T), (xs, t_xs, Ts)),
        (model.log_likelihood_individual, (x, t_x, T), (xs, t_xs, Ts)),
    ]:
        one = method(*args)
        assert one.shape == ()
        # Equal to rounding: numpy's vectorized exp/log may differ from its scalar path in the
        # last bit (seen on AVX-512 machines), so a few ulps are allowed, nothing more.
        np.testing.assert_allclose(method(*many)[1], one, rtol=1e-13, atol=0)


@settings(max_examples=40, deadline=None)
@given(params=parameters, x=st.sampled_from([0, 1, 2, 7, 40]),
       T=st.sampled_from([0.0, 1.0, 30.0, 7300.0]), share=st.floats(0.0, 1.0),
       t=st.floats(1e-3, 1e5), whole_a_minus_r=st.booleans())
def test_expected_purchases_match_mpmath_anywhere(
    params: dict[str, float], x: int, T: float, share: float, t: float, whole_a_minus_r: bool
) -> None:
    # a - r whole makes c - a - b an integer in the 1 - z connection formula (scipy: NaN).
    if whole_a_minus_r:
        params = {**params, "a": params["r"] + 1.0}
    assume(abs(params["a"] - 1.0) > 1e-6)  # eq. 10 as printed divides by a - 1
    t_x = share * T if x else 0.0
    got = float(BGNBD.from_params(params).expected_purchases(t, x, t_x, T))
    assert got == pytest.approx(eq10_reference(t, x, t_x, T, params), rel=1e-8)
