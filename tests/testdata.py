"""Where the shared data sets live, and how tests ask for them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


def shared_data_file(*parts: str) -> Path:
    """A data set from ../shared/data: CI must have it; elsewhere its tests skip, saying why."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        reason = f"data set {path} is missing (it lives in ../shared/data beside the repo)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return path
