"""Reads and access checks of the retention domain.

Alerts and replenishments follow the customers' visibility rules
(``guanxi.customers.selectors.customers_visible``): a rep sees those of their own customers, a
manager the team's, an admin all. Analysts see them too (names and numbers, never contact
details); closing one needs the right to change the customer (``can_change_customer``).
"""

from __future__ import annotations

import datetime as dt

from django.db.models import QuerySet

from guanxi.accounts.models import User
from guanxi.core import clock
from guanxi.core.errors import NotFound, PermissionDenied
from guanxi.customers.selectors import can_change_customer, customers_visible
from guanxi.retention.errors import RetentionErrorCode
from guanxi.retention.models import (
    AlertStatus,
    ChurnAlert,
    Replenishment,
    ReplenishmentStatus,
)

#: Days past its run-out day a reminder stays on the due list (also used when raising them).
STALE_DAYS = 30


def _visible_alerts(*, user: User) -> QuerySet[ChurnAlert]:
    return ChurnAlert.objects.filter(
        customer__in=customers_visible(user=user).values("pk")
    ).select_related("customer", "owner", "closed_by")


def alert_list(*, user: User, status: str | None = None, owner: User | None = None,
               severity: str | None = None) -> QuerySet[ChurnAlert]:
    """Alerts the user may see, the worst first; ``status`` None means every status."""
    qs = _visible_alerts(user=user)
    if status:
        qs = qs.filter(status=status)
    if owner is not None:
        qs = qs.filter(owner=owner)
    if severity:
        qs = qs.filter(severity=severity)
    return qs.order_by("-priority", "-id")


def alerts_open(*, user: User, as_of: dt.date | None = None) -> QuerySet[ChurnAlert]:
    """Open churn alerts on customers ``user`` may see, ranked by value at stake × lateness.

    ``as_of`` (default today) leaves out alerts raised after that day. Each row has
    ``customer``, ``owner``, ``reason`` (words), ``value_at_stake``, ``severity``, ``priority``.
    """
    day = as_of or clock.today()
    return alert_list(user=user, status=AlertStatus.OPEN).filter(raised_on__lte=day)


def access_alert(*, user: User, alert_id: int, write: bool = False) -> ChurnAlert:
    """An alert the user may see (and, with ``write``, close); others are "not found"."""
    try:
        alert = _visible_alerts(user=user).get(pk=alert_id)
    except ChurnAlert.DoesNotExist:
        raise NotFound(RetentionErrorCode.ALERT_NOT_FOUND,
                       f"Alert {alert_id} does not exist.") from None
    if write and not can_change_customer(user, alert.customer):
        raise PermissionDenied(RetentionErrorCode.READ_ONLY,
                               "You may view this alert but not close it.")
    return alert


def replenishments_due(*, user: User, as_of: dt.date | None = None,
                       within_days: int = 7) -> QuerySet[Replenishment]:
    """Open replenishments of visible customers that run out by ``as_of + within_days``.

    Overdue ones are included (they are the most urgent) for up to ``STALE_DAYS``. Each row
    has ``customer``, ``product`` / ``category`` (``item_name``), ``due_on``, ``reason``
    (words) and ``value``.
    """
    day = as_of or clock.today()
    return (
        Replenishment.objects.filter(
            status=ReplenishmentStatus.OPEN,
            due_on__lte=day + dt.timedelta(days=within_days),
            # Overdue ones are the most urgent, until they go stale (see services.STALE_DAYS).
            due_on__gte=day - dt.timedelta(days=STALE_DAYS),
            created_on__lte=day,
            customer__in=customers_visible(user=user).values("pk"),
        )
        .select_related("customer", "owner", "product")
        .order_by("due_on", "-value", "id")
    )


def access_replenishment(*, user: User, replenishment_id: int,
                         write: bool = False) -> Replenishment:
    try:
        item = Replenishment.objects.select_related("customer", "product").get(
            pk=replenishment_id, customer__in=customers_visible(user=user).values("pk"))
    except Replenishment.DoesNotExist:
        raise NotFound(RetentionErrorCode.REPLENISHMENT_NOT_FOUND,
                       f"Replenishment {replenishment_id} does not exist.") from None
    if write and not can_change_customer(user, item.customer):
        raise PermissionDenied(RetentionErrorCode.READ_ONLY,
                               "You may view this reminder but not close it.")
    return item
