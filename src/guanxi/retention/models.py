"""Churn alerts and replenishment reminders: what the daily run raises and people act on.

Both are *episodes*: at most one open alert per customer and one open replenishment per
(customer, item). The daily run opens them, closes them when the customer buys again, and
leaves the rest alone, so running it twice on the same day changes nothing.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from guanxi.customers.models import Customer
from guanxi.sales.models import Product


class AlertStatus(models.TextChoices):
    OPEN = "open", _("Open")
    WON_BACK = "won_back", _("Won back")
    LOST = "lost", _("Lost")
    DISMISSED = "dismissed", _("Dismissed")


class AlertReason(models.TextChoices):
    LATE = "late", _("Late against their own rhythm")
    LOW_P_ALIVE = "low_p_alive", _("Probably no longer active")


class Severity(models.TextChoices):
    CRITICAL = "critical", _("Critical")
    HIGH = "high", _("High")
    MEDIUM = "medium", _("Medium")
    LOW = "low", _("Low")


SEVERITY_ORDER = {Severity.CRITICAL: 0, Severity.HIGH: 1, Severity.MEDIUM: 2, Severity.LOW: 3}


def _days(value: float | int | None) -> int:
    return round(value) if value is not None else 0


class ChurnAlert(models.Model):
    """A customer late against their own rhythm (or probably gone), from raise to outcome."""

    customer = models.ForeignKey(Customer, verbose_name=_("customer"), on_delete=models.CASCADE,
                                 related_name="churn_alerts")
    # The customer's rep when the alert was raised (the customer's owner may change later).
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("owner"), null=True,
                              blank=True, on_delete=models.SET_NULL, related_name="+")
    raised_on = models.DateField(_("raised on"))
    reason_code = models.CharField(_("reason"), max_length=16, choices=AlertReason.choices)
    # Numbers the reason sentence is built from, so it can be rendered in any language later.
    reason_params = models.JSONField(default=dict, blank=True)
    expected_interval_days = models.FloatField(_("usual interval (days)"), null=True, blank=True)
    late_after_days = models.FloatField(_("late after (days)"), null=True, blank=True)
    # The episode: the last purchase day when raised. A purchase after it closes the alert as
    # won back; no second alert is raised for the same last purchase (even after a dismissal).
    last_purchase_on = models.DateField(_("last purchase on"))
    days_since_last = models.IntegerField(_("days since the last purchase"))
    p_alive = models.FloatField(_("probability alive"), null=True, blank=True)
    value_at_stake = models.DecimalField(_("value at stake"), max_digits=14, decimal_places=2,
                                         null=True, blank=True)
    severity = models.CharField(_("severity"), max_length=16, choices=Severity.choices)
    # Continuous ranking key behind the severity (value at stake × how late), larger = worse.
    priority = models.FloatField(_("priority"), default=0.0)
    status = models.CharField(_("status"), max_length=16, choices=AlertStatus.choices,
                              default=AlertStatus.OPEN)
    closed_on = models.DateField(_("closed on"), null=True, blank=True)
    closed_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("closed by"),
                                  null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="+")
    # What the person wrote when closing it; for a won-back alert, the day of the new purchase
    # (ISO), put in words by ``outcome``.
    outcome_note = models.TextField(_("outcome"), blank=True)

    class Meta:
        verbose_name = _("churn alert")
        verbose_name_plural = _("churn alerts")
        ordering = ["-priority", "-id"]
        constraints = [
            # One episode at a time: no second alert while the first one is open.
            models.UniqueConstraint(fields=["customer"], condition=models.Q(status="open"),
                                    name="churn_alert_one_open_per_customer"),
        ]
        indexes = [
            models.Index(fields=["status", "owner"], name="churn_alert_status_owner"),
            models.Index(fields=["customer", "raised_on"], name="churn_alert_customer"),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.status} @ {self.raised_on}"

    @property
    def reason(self) -> str:
        """The reason in words, in the active language."""
        return alert_reason_text(self.reason_code, self.reason_params)

    @property
    def outcome(self) -> str:
        """The outcome in words: a won-back alert keeps the day of the new purchase."""
        if self.status == AlertStatus.WON_BACK and self.outcome_note:
            return gettext("bought again on %(day)s") % {"day": self.outcome_note}
        return self.outcome_note


def alert_reason_text(code: str, params: dict[str, Any]) -> str:
    since = _days(params.get("days_since_last"))
    since_text = ngettext("%(n)d day since the last order", "%(n)d days since the last order",
                          since) % {"n": since}
    if code == AlertReason.LOW_P_ALIVE:
        return gettext("probably no longer buying (P(alive) %(p)d%%); %(since)s") % {
            "p": round(100 * float(params.get("p_alive") or 0.0)), "since": since_text}
    every = _days(params.get("interval_days"))
    every_text = ngettext("usually orders every %(n)d day", "usually orders every %(n)d days",
                          every) % {"n": every}
    return gettext("%(rhythm)s; %(since)s") % {"rhythm": every_text, "since": since_text}


class ReplenishmentStatus(models.TextChoices):
    OPEN = "open", _("Due")
    BOUGHT = "bought", _("Bought again")
    DISMISSED = "dismissed", _("Dismissed")


class Replenishment(models.Model):
    """A customer expected to run out of a product (or category) they buy again and again."""

    customer = models.ForeignKey(Customer, verbose_name=_("customer"), on_delete=models.CASCADE,
                                 related_name="replenishments")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("owner"), null=True,
                              blank=True, on_delete=models.SET_NULL, related_name="+")
    product = models.ForeignKey(Product, verbose_name=_("product"), null=True, blank=True,
                                on_delete=models.CASCADE, related_name="+")
    # Set when the item is a category (the customer rotates products within it).
    category = models.CharField(_("category"), max_length=100, blank=True)
    # "p:<product id>" or "c:<category>": one key for the uniqueness rule (a NULL product would
    # make every category row distinct in PostgreSQL's eyes).
    item_key = models.CharField(max_length=120)
    created_on = models.DateField(_("created on"))
    last_bought_on = models.DateField(_("last bought on"))
    due_on = models.DateField(_("expected to run out on"))
    interval_days = models.FloatField(_("usual interval (days)"))
    quantity_per_day = models.FloatField(_("use per day"), null=True, blank=True)
    last_quantity = models.DecimalField(_("last quantity"), max_digits=12, decimal_places=3,
                                        null=True, blank=True)
    times_bought = models.PositiveIntegerField(_("times bought"))
    # Expected value of the next purchase of this item (mean spend on it per purchase).
    value = models.DecimalField(_("value"), max_digits=14, decimal_places=2, default=0)
    status = models.CharField(_("status"), max_length=16, choices=ReplenishmentStatus.choices,
                              default=ReplenishmentStatus.OPEN)
    closed_on = models.DateField(_("closed on"), null=True, blank=True)
    closed_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("closed by"),
                                  null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="+")

    class Meta:
        verbose_name = _("replenishment")
        verbose_name_plural = _("replenishments")
        ordering = ["due_on", "-value", "id"]
        constraints = [
            models.UniqueConstraint(fields=["customer", "item_key"],
                                    condition=models.Q(status="open"),
                                    name="replenishment_one_open_per_item"),
        ]
        indexes = [models.Index(fields=["status", "due_on"], name="replenishment_due")]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.item_name} due {self.due_on}"

    @property
    def item_name(self) -> str:
        if self.product_id is not None and self.product is not None:
            return self.product.name
        return self.category

    @property
    def reason(self) -> str:
        every = _days(self.interval_days)
        text = ngettext("buys %(item)s about every %(n)d day",
                        "buys %(item)s about every %(n)d days", every) % {
            "item": self.item_name, "n": every}
        return gettext("%(rhythm)s; last on %(last)s, runs out around %(due)s") % {
            "rhythm": text, "last": self.last_bought_on.isoformat(),
            "due": self.due_on.isoformat()}
