"""The demo company: a reproducible, believable business to try guanxi on (``guanxi demo``).

``generate`` draws customers, traits, purchases (BG/NBD and Gamma-Gamma, with parameters that
depend on the traits), memory notes, important dates, interactions, consents and a few planted
duplicates, and writes them with bulk inserts. The same seed always gives the same company.

Import this package only after Django is set up (it writes models).
"""

from __future__ import annotations

from guanxi.demo.errors import DemoAlreadyPresent, DemoErrorCode
from guanxi.demo.selectors import DEMO_SOURCE, demo_present
from guanxi.demo.services import (
    DEMO_USERS,
    DemoSummary,
    DemoUser,
    Progress,
    demo_reset,
    demo_users_ensure,
    generate,
    normalize_locale,
)

__all__ = [
    "DEMO_SOURCE",
    "DEMO_USERS",
    "DemoAlreadyPresent",
    "DemoErrorCode",
    "DemoSummary",
    "DemoUser",
    "Progress",
    "demo_present",
    "demo_reset",
    "demo_users_ensure",
    "generate",
    "normalize_locale",
]
