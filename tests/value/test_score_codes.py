"""The label columns of a score run as codes: every value comes back, prospects last."""

from __future__ import annotations

import numpy as np
import pytest

from guanxi.value.services import _codes


@pytest.mark.parametrize("values", [
    np.array(["loyal", "lost", "loyal", "", "champions", "lost"]),
    np.array([str(i) for i in np.random.default_rng(3).integers(0, 600, 3000)]),  # > 256
    np.array([], dtype=str),
])
def test_codes_give_back_every_value_and_the_prospects_label(values: np.ndarray) -> None:
    codes, labels = _codes(values, "prospect", 2)
    assert len(codes) == len(values) + 2
    assert [labels[c] for c in codes[:len(values)]] == values.tolist()
    assert [labels[c] for c in codes[len(values):]] == ["prospect", "prospect"]
    assert len(set(labels)) == len(labels)
