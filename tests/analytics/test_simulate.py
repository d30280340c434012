"""The simulator draws what the model describes: its x and P(alive) agree with the formulas."""

from __future__ import annotations

import numpy as np
import pytest

from guanxi.analytics import BGNBD, simulate_bgnbd_transactions

PARAMS = {"r": 0.8, "alpha": 6.0, "a": 0.6, "b": 3.0}


def test_a_seed_reproduces_the_data_exactly() -> None:
    one = simulate_bgnbd_transactions(500, PARAMS, T=20.0, rng=np.random.default_rng(4))
    two = simulate_bgnbd_transactions(500, PARAMS, T=20.0, rng=np.random.default_rng(4))
    other = simulate_bgnbd_transactions(500, PARAMS, T=20.0, rng=np.random.default_rng(5))
    assert np.array_equal(one.time, two.time)
    assert np.array_equal(one.customer, two.customer)
    assert not np.array_equal(one.x, other.x)


def test_the_transaction_log_agrees_with_the_summary() -> None:
    sim = simulate_bgnbd_transactions(2000, PARAMS, T=np.linspace(1, 50, 2000),
                                      rng=np.random.default_rng(6), start_id=100)
    assert sim.customer_ids[0] == 100
    counts = np.bincount(sim.customer - 100, minlength=2000)
    assert np.array_equal(counts, sim.x + 1)
    starts = np.cumsum(counts) - counts
    assert np.all(sim.time[starts] == 0.0)
    last = sim.time[starts + counts - 1]
    assert np.array_equal(last, sim.t_x)
    assert np.all(sim.time <= np.repeat(sim.T, counts))
    order_ok = (np.diff(sim.time) > 0) | (np.diff(sim.customer) > 0)
    assert np.all(order_ok)


def test_simulated_purchases_and_survival_match_the_model() -> None:
    n, T = 40_000, 30.0
    sim = simulate_bgnbd_transactions(n, PARAMS, T=T, rng=np.random.default_rng(8))
    model = BGNBD.from_params(PARAMS)
    # E[X(T)] of a new customer (eq. 9) against the simulated mean.
    assert sim.x.mean() == pytest.approx(float(model.expected_purchases_new(T)),
                                         abs=4 * sim.x.std() / np.sqrt(n))
    # P(alive | x, t_x, T) is a calibrated probability: its mean is the share still alive.
    p = model.p_alive(sim.x, sim.t_x, sim.T)
    assert sim.alive.mean() == pytest.approx(p.mean(), abs=4 * np.sqrt(np.mean(p * (1 - p)) / n))
