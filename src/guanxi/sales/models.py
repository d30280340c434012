"""Products and orders: the purchase history the value engine learns from."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from guanxi.customers.models import Customer


class Product(models.Model):
    sku = models.CharField(_("SKU"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=200)
    category = models.CharField(_("category"), max_length=100, blank=True, db_index=True)
    unit_price = models.DecimalField(_("unit price"), max_digits=12, decimal_places=2, null=True,
                                     blank=True)
    currency = models.CharField(_("currency"), max_length=3, default="CNY")

    class Meta:
        verbose_name = _("product")
        verbose_name_plural = _("products")

    def __str__(self) -> str:
        return f"{self.sku} {self.name}"


class OrderStatus(models.TextChoices):
    PLACED = "placed", _("Placed")
    PAID = "paid", _("Paid")
    SHIPPED = "shipped", _("Shipped")
    COMPLETED = "completed", _("Completed")
    REFUNDED = "refunded", _("Refunded")
    CANCELLED = "cancelled", _("Cancelled")


# Orders in these states do not count as purchases for value, RFM or the models.
NOT_A_PURCHASE = (OrderStatus.REFUNDED, OrderStatus.CANCELLED)


class Order(models.Model):
    # Unique through ``order_external_id_unique`` (Meta), not ``unique=True``: on PostgreSQL
    # that would add a second, ``varchar_pattern_ops`` index for LIKE searches, which nothing
    # runs on order numbers (only exact and ``= ANY`` lookups) and every imported row paid for.
    external_id = models.CharField(_("order number"), max_length=128)
    # No index of its own: ``order_customer_time`` (customer, placed_at) serves it.
    customer = models.ForeignKey(Customer, verbose_name=_("customer"), on_delete=models.PROTECT,
                                 related_name="orders", db_index=False)
    placed_at = models.DateTimeField(_("placed at"))
    channel = models.CharField(_("channel"), max_length=32, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=OrderStatus.choices,
                              default=OrderStatus.COMPLETED)
    total = models.DecimalField(_("total"), max_digits=14, decimal_places=2)
    currency = models.CharField(_("currency"), max_length=3, default="CNY")

    class Meta:
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        indexes = [models.Index(fields=["customer", "placed_at"], name="order_customer_time")]
        constraints = [models.UniqueConstraint(fields=["external_id"],
                                               name="order_external_id_unique")]

    def __str__(self) -> str:
        return self.external_id


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(Product, null=True, blank=True, on_delete=models.PROTECT,
                                related_name="order_lines")
    quantity = models.DecimalField(_("quantity"), max_digits=12, decimal_places=3, default=1)
    amount = models.DecimalField(_("amount"), max_digits=14, decimal_places=2)

    class Meta:
        verbose_name = _("order line")
        verbose_name_plural = _("order lines")

    def __str__(self) -> str:
        return f"{self.order_id}: {self.quantity} × {self.product_id}"
