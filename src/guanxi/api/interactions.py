"""``/api/v1/customers/{id}/interactions``: calls, visits, messages with a customer."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from ninja import Query, Router, Status

from guanxi.api.customers import ERRORS, user_of
from guanxi.api.notes import PageParams
from guanxi.api.schemas import InteractionIn, InteractionOut, InteractionPageOut
from guanxi.core.pagination import keyset_page
from guanxi.customers.models import Interaction
from guanxi.customers.selectors import access_customer
from guanxi.customers.services import interaction_log

router = Router(tags=["interactions"])


@router.get("/customers/{customer_id}/interactions",
            response={200: InteractionPageOut, **ERRORS})
def list_interactions(request: HttpRequest, customer_id: int,
                      page: Query[PageParams]) -> dict[str, Any]:
    customer = access_customer(user=user_of(request), customer_id=customer_id)
    result = keyset_page(Interaction.objects.filter(customer=customer), after=page.after,
                         limit=page.limit)
    return {"items": result.items, "next": result.next_cursor}


@router.post("/customers/{customer_id}/interactions", response={201: InteractionOut, **ERRORS})
def log_interaction(request: HttpRequest, customer_id: int,
                    payload: InteractionIn) -> Status[Interaction]:
    user = user_of(request)
    customer = access_customer(user=user, customer_id=customer_id, write=True)
    occurred_at = payload.occurred_at
    if occurred_at is not None and timezone.is_naive(occurred_at):
        # A time without an offset is read as the company's local time, the way staff write it.
        occurred_at = timezone.make_aware(occurred_at)
    interaction = interaction_log(actor=user, customer=customer, channel=payload.channel,
                                  direction=payload.direction, subject=payload.subject,
                                  outcome=payload.outcome, occurred_at=occurred_at,
                                  external_id=payload.external_id)
    return Status(201, interaction)
