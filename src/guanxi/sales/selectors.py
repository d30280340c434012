"""Reads of orders, limited to the customers the user may see (see customers.selectors)."""

from __future__ import annotations

from django.db.models import QuerySet

from guanxi.accounts.models import User
from guanxi.core.errors import NotFound
from guanxi.customers.selectors import customers_visible
from guanxi.sales.errors import SalesErrorCode
from guanxi.sales.models import Order


def orders_visible(*, user: User) -> QuerySet[Order]:
    """Orders of customers the user may see, merged tombstones included (history stays)."""
    visible = customers_visible(user=user, include_merged=True)
    if visible.query.where:
        return Order.objects.filter(customer__in=visible.values("pk"))
    return Order.objects.all()


def order_list(*, user: User, customer_id: int | None = None,
               status: str | None = None) -> QuerySet[Order]:
    qs = orders_visible(user=user)
    if customer_id is not None:
        qs = qs.filter(customer_id=customer_id)
    if status:
        qs = qs.filter(status=status)
    return qs


def access_order(*, user: User, order_id: int) -> Order:
    """An order the user may see; one they may not is reported as not found."""
    try:
        return orders_visible(user=user).get(pk=order_id)
    except Order.DoesNotExist:
        raise NotFound(SalesErrorCode.ORDER_NOT_FOUND,
                       f"Order {order_id} does not exist.") from None
