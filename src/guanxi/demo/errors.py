"""Error codes of the demo generator."""

from __future__ import annotations

from enum import StrEnum

from guanxi.core.errors import Conflict


class DemoErrorCode(StrEnum):
    ALREADY_PRESENT = "demo_already_present"
    TOO_SMALL = "demo_too_small"
    UNKNOWN_LOCALE = "demo_unknown_locale"


class DemoAlreadyPresent(Conflict):
    def __init__(self) -> None:
        super().__init__(DemoErrorCode.ALREADY_PRESENT,
                         "Demo data already present; use --reset to regenerate.")
