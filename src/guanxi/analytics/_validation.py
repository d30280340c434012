"""Input checks shared by the estimators (private: the public names live in ``__init__``).

Every public function converts its inputs here, once, so that the numerical code behind it
can assume finite float64 arrays of one shape and never re-check.
"""

from __future__ import annotations

from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt

from .errors import InvalidInputError, NotIdentifiableError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
TimeUnit = Literal["week", "day"]

DAYS_PER_UNIT: Final[dict[str, int]] = {"week": 7, "day": 1}
DAYS_PER_YEAR: Final[float] = 365.25


def dot(a: npt.NDArray[Any], b: npt.NDArray[Any]) -> float:
    """Sum of products of two 1-d arrays, without BLAS.

    ``a @ b`` calls OpenBLAS ``ddot``, which for long vectors wakes its thread pool. On a busy
    machine (a web server, a CI runner, two cores shared with other work) those threads spin
    and fight the caller for the CPU: we measured one dot product of 1e5 values at 9 ms
    instead of 0.03 ms, and every scipy call after it slowed down as well. ``einsum`` sums
    in its own single-threaded loop, and a likelihood evaluation does a dozen of these.
    """
    return float(np.einsum("i,i->", a, b))


def days_per_unit(time_unit: str) -> int:
    """Days in one model time unit, or :class:`InvalidInputError` for an unknown unit."""
    try:
        return DAYS_PER_UNIT[time_unit]
    except KeyError:
        raise InvalidInputError(
            f"time_unit must be 'week' or 'day', not {time_unit!r}."
        ) from None


def as_float(name: str, value: npt.ArrayLike) -> FloatArray:
    """``value`` as a float64 array; NaN and infinity are refused with the argument's name."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{name} must be numeric: {exc}") from None
    if not np.all(np.isfinite(array)):
        raise InvalidInputError(f"{name} contains NaN or infinite values.")
    return array


def broadcast(**arrays: FloatArray) -> tuple[FloatArray, ...]:
    """Broadcast the named arrays against each other, naming them if their shapes clash."""
    try:
        return tuple(np.broadcast_arrays(*arrays.values()))
    except ValueError:
        shapes = ", ".join(f"{k}{v.shape}" for k, v in arrays.items())
        raise InvalidInputError(f"Shapes do not broadcast: {shapes}.") from None


def customer_arrays(
    x: npt.ArrayLike, t_x: npt.ArrayLike, T: npt.ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Check one (x, t_x, T) record per customer and broadcast the three arrays.

    The rules are the models' own: x is a whole number of repeat purchases, the last repeat
    purchase lies in [0, T], and without a repeat purchase t_x is 0.
    """
    xf, txf, Tf = broadcast(x=as_float("x", x), t_x=as_float("t_x", t_x), T=as_float("T", T))
    if np.any(xf < 0) or np.any(xf != np.floor(xf)):
        raise InvalidInputError("x (repeat purchases) must be whole numbers >= 0.")
    if np.any(txf < 0) or np.any(Tf < 0):
        raise InvalidInputError("t_x and T must be >= 0 (times since the first purchase).")
    if np.any(txf > Tf):
        raise InvalidInputError("t_x (time of the last repeat purchase) must not exceed T.")
    if np.any((xf == 0) & (txf != 0)):
        raise InvalidInputError("t_x must be 0 for customers without a repeat purchase (x = 0).")
    return xf, txf, Tf


def horizon(name: str, t: npt.ArrayLike) -> FloatArray:
    """A prediction horizon: finite and >= 0."""
    tf = as_float(name, t)
    if np.any(tf < 0):
        raise InvalidInputError(f"{name} must be >= 0.")
    return tf


def weights_for(n: int, weights: npt.ArrayLike | None) -> FloatArray:
    """Frequency weights (how many customers each row stands for); ones when not given."""
    if weights is None:
        return np.ones(n)
    w = as_float("weights", weights)
    if w.shape != (n,):
        raise InvalidInputError(f"weights must have one value per customer ({n}), not {w.shape}.")
    if np.any(w < 0) or not np.any(w > 0):
        raise InvalidInputError("weights must be >= 0 and not all zero.")
    return w


def fit_rows(name: str, *arrays: FloatArray) -> None:
    """A fit needs 1-d rows and at least two customers to estimate anything."""
    for a in arrays:
        if a.ndim != 1:
            raise InvalidInputError(f"{name}.fit() takes 1-d arrays (one row per customer).")
    if arrays[0].size < 2:
        raise NotIdentifiableError(
            f"{name}.fit() needs at least two customers; got {arrays[0].size}."
        )


def distinct_rows(
    x: FloatArray, t_x: FloatArray, T: FloatArray, weights: FloatArray | None
) -> tuple[tuple[FloatArray, IntArray], tuple[FloatArray, IntArray], tuple[FloatArray, IntArray],
           FloatArray]:
    """The distinct (x, t_x, T) rows, coded by the distinct values of each column.

    Fitting over distinct rows instead of customers is exact (the log-likelihood is a
    weighted sum) and cheaper: summaries built from calendar days repeat the same rows, and
    every x = 0 row shares its T with many others. Coding each column by its distinct values
    also lets the fit evaluate ``log(alpha + T)`` once per distinct T, not once per row.

    Returns ``((x_values, x_code), (t_x_values, t_x_code), (T_values, T_code), weight)``,
    where ``x_values[x_code]`` etc. are the distinct rows and ``weight`` is the number of
    customers (or the sum of ``weights``) behind each.
    """
    x_values, x_code = distinct_values(x)
    t_values, t_code = distinct_values(t_x)
    T_values, T_code = distinct_values(T)
    n_t, n_T = t_values.size, T_values.size
    # One int64 key per row makes the deduplication a single integer sort (np.lexsort on
    # three float columns is several times slower). Each code is below 2**21 for up to two
    # million distinct values per column; beyond that, fall back to lexsort on the codes.
    if x_values.size * n_t * n_T < 2**62:
        key = (x_code.astype(np.int64) * n_t + t_code) * n_T + T_code
        if weights is None:
            distinct, counts = np.unique(key, return_counts=True)
            weight = counts.astype(np.float64)
        else:
            order = np.argsort(key)
            sorted_key = key[order]
            first = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1]])
            distinct = sorted_key[first]
            weight = np.add.reduceat(weights[order], first)
        T_code, rest = distinct % n_T, distinct // n_T
        t_code, x_code = rest % n_t, rest // n_t
    else:  # pragma: no cover - needs more than 2**62 possible rows
        order = np.lexsort((T_code, t_code, x_code))
        w = np.ones(x.size) if weights is None else weights
        codes = np.stack([x_code[order], t_code[order], T_code[order]])
        first = np.flatnonzero(np.r_[True, np.any(codes[:, 1:] != codes[:, :-1], axis=0)])
        x_code, t_code, T_code = codes[:, first]
        weight = np.add.reduceat(w[order], first)
    return (
        (x_values, x_code.astype(np.int64)),
        (t_values, t_code.astype(np.int64)),
        (T_values, T_code.astype(np.int64)),
        weight,
    )


# Grids that summaries built from a transaction log fall on: whole numbers (counts, days, whole
# weeks) and sevenths (days expressed in weeks).
_GRID_SCALES = (1.0, 7.0)
_GRID_MAX = 1 << 24


def distinct_values(v: FloatArray) -> tuple[FloatArray, IntArray]:
    """``np.unique(v, return_inverse=True)``, in linear time when ``v`` lies on a grid.

    When every value is exactly ``k / scale`` for a whole ``k`` (checked, not assumed), the
    distinct values come from a ``bincount`` over ``k`` instead of a sort: at a million
    customers that is a few milliseconds instead of ~70 ms per column. Anything else (times
    measured to the second, say) takes the sort.
    """
    if v.size:
        for scale in _GRID_SCALES:
            k = np.rint(v * scale)
            low, high = float(k.min()), float(k.max())
            if low < 0 or high >= _GRID_MAX or not np.array_equal(k / scale, v):
                continue
            whole = k.astype(np.int64)
            present = np.bincount(whole, minlength=int(high) + 1) > 0
            code_of = np.cumsum(present, dtype=np.int64) - 1
            return np.flatnonzero(present) / scale, code_of[whole]
    values, codes = np.unique(v, return_inverse=True)
    return values, codes.reshape(-1)
