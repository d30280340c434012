"""Give customers latest values without running the value engine (for page, API, CLI stories).

A customer's latest values are their ``CustomerScore`` row in the latest complete ``ScoreRun``
(read through the ``CustomerValue`` view as ``customer.value``). ``give_value`` writes such a row
into the latest complete run, creating a run dated today when there is none.
"""

from __future__ import annotations

from typing import Any

from guanxi.core import clock
from guanxi.customers.models import Customer
from guanxi.value.models import CustomerScore, RunStatus, ScoreRun
from guanxi.value.selectors import latest_run


def give_value(customer: Customer | int, **fields: Any) -> CustomerScore:
    """Set ``customer``'s latest values (stage ``active`` unless given)."""
    run = latest_run()
    if run is None:
        run = ScoreRun.objects.create(as_of=clock.today(), status=RunStatus.COMPLETE,
                                      created_at=clock.now(), finished_at=clock.now())
    fields.setdefault("lifecycle_stage", "active")
    customer_id = customer if isinstance(customer, int) else customer.pk
    score, _created = CustomerScore.objects.update_or_create(
        run=run, customer_id=customer_id, defaults=fields)
    return score
