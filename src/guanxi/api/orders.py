"""``/api/v1/orders``: the purchase history, limited to customers the user may see."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from ninja import Query, Router, Schema, Status
from pydantic import Field

from guanxi.api.customers import ERRORS, user_of
from guanxi.api.schemas import OrderIn, OrderOut, OrderPageOut
from guanxi.core.pagination import MAX_PAGE_SIZE, keyset_page
from guanxi.customers.selectors import access_customer
from guanxi.sales.models import Order, OrderStatus
from guanxi.sales.selectors import access_order, order_list
from guanxi.sales.services import order_create

router = Router(tags=["orders"])


class OrderFilters(Schema):
    customer_id: int | None = None
    status: OrderStatus | None = None
    after: int | None = Field(None, description="The `next` cursor of the previous page.")
    limit: int = Field(50, ge=1, le=MAX_PAGE_SIZE)


@router.get("/orders", response={200: OrderPageOut, **ERRORS})
def list_orders(request: HttpRequest, filters: Query[OrderFilters]) -> dict[str, Any]:
    qs = order_list(user=user_of(request), customer_id=filters.customer_id,
                    status=filters.status)
    page = keyset_page(qs, after=filters.after, limit=filters.limit)
    return {"items": page.items, "next": page.next_cursor}


@router.get("/orders/{order_id}", response={200: OrderOut, **ERRORS})
def get_order(request: HttpRequest, order_id: int) -> Order:
    return access_order(user=user_of(request), order_id=order_id)


@router.post("/orders", response={201: OrderOut, **ERRORS})
def create_order(request: HttpRequest, payload: OrderIn) -> Status[Order]:
    user = user_of(request)
    customer = access_customer(user=user, customer_id=payload.customer_id, write=True)
    placed_at = payload.placed_at
    if timezone.is_naive(placed_at):
        # A time without an offset is read as the company's local time, the way shops export.
        placed_at = timezone.make_aware(placed_at)
    order = order_create(actor=user, customer=customer, placed_at=placed_at,
                         total=payload.total, currency=payload.currency,
                         external_id=payload.external_id, channel=payload.channel,
                         status=payload.status)
    return Status(201, order)
