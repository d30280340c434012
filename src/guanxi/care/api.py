"""``/api/v1/`` endpoints of the care domain."""

from ninja import Router

router = Router(tags=["care"])
