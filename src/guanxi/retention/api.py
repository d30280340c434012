"""``/api/v1/`` endpoints of the retention domain."""

from ninja import Router

router = Router(tags=["retention"])
