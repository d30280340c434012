"""Segments: saved rules, frozen lists, statistical clusters, and who was in which segment when.

- ``Segment`` is what a marketer names and talks about. A *dynamic* segment is a rule (a JSON tree,
  see ``guanxi.segments.rules``) re-evaluated on every scoring run; a *static* one is a frozen list
  of customers (``SegmentMember``); a *statistical* one was found by a ``Segmentation``.
- ``SegmentMembership`` is the dated snapshot: for every complete score run, which customers were
  in which segment (with a probability for statistical segments). Migration between segments is
  read from two of these snapshots.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from guanxi.customers.models import Customer
from guanxi.value.models import ScoreRun


class SegmentKind(models.TextChoices):
    DYNAMIC = "dynamic", _("Dynamic (rule)")
    STATIC = "static", _("Static (frozen list)")
    STATISTICAL = "statistical", _("Statistical")


class SegmentationCriterion(models.TextChoices):
    BIC = "bic", _("BIC of a Gaussian mixture")
    SILHOUETTE = "silhouette", _("Silhouette")


class SegmentationStatus(models.TextChoices):
    BUILDING = "building", _("Building")
    COMPLETE = "complete", _("Complete")
    FAILED = "failed", _("Failed")


class Segmentation(models.Model):
    """One statistical build: the chosen number of segments and what is needed to assign others."""

    created_at = models.DateTimeField(_("created"))
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    # The score run whose values were clustered; kept (as null) when that run is replaced.
    run = models.ForeignKey(ScoreRun, verbose_name=_("score run"), null=True, blank=True,
                            on_delete=models.SET_NULL, related_name="segmentations")
    n_segments = models.PositiveSmallIntegerField(_("segments"), null=True, blank=True)
    n_customers = models.PositiveIntegerField(_("customers"), default=0)
    criterion = models.CharField(_("criterion"), max_length=16,
                                 choices=SegmentationCriterion.choices,
                                 default=SegmentationCriterion.BIC)
    # {"6": -12345.6, "7": ...}: the criterion for every number of segments tried.
    criterion_values = models.JSONField(_("criterion per number of segments"), default=dict,
                                        blank=True)
    features = models.JSONField(_("features"), default=list, blank=True)
    # Scaler and mixture parameters: enough to assign a new customer without refitting.
    model = models.JSONField(_("fitted model"), default=dict, blank=True)
    settings_used = models.JSONField(_("settings"), default=dict, blank=True)
    timings = models.JSONField(_("seconds per phase"), default=dict, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=SegmentationStatus.choices,
                              default=SegmentationStatus.BUILDING)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("segmentation")
        verbose_name_plural = _("segmentations")

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} ({self.status})"


class Segment(models.Model):
    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=16, choices=SegmentKind.choices,
                            default=SegmentKind.DYNAMIC)
    description = models.TextField(_("description"), blank=True)
    # The rule of a dynamic segment (``{"all": [...]}``...); empty for the other kinds.
    definition = models.JSONField(_("rule"), default=dict, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("created by"),
                                   null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(_("created"))
    updated_at = models.DateTimeField(_("updated"))
    is_active = models.BooleanField(_("active"), default=True)

    # Statistical segments only.
    segmentation = models.ForeignKey(Segmentation, verbose_name=_("segmentation"), null=True,
                                     blank=True, on_delete=models.SET_NULL,
                                     related_name="segments")
    suggested_name = models.CharField(_("suggested name"), max_length=200, blank=True)
    # A person chose the name: re-runs keep it instead of the newly suggested one.
    renamed = models.BooleanField(_("renamed by a person"), default=False)
    # {"size": ..., "equity_share": ..., "mean_clv": ..., "rfm": {...}, "traits": [...]}
    profile = models.JSONField(_("profile"), default=dict, blank=True)
    # The segment's centre in the standardized feature space, to match segments across re-runs.
    centroid = models.JSONField(_("centroid"), default=list, blank=True)

    class Meta:
        ordering = ["name", "id"]
        verbose_name = _("segment")
        verbose_name_plural = _("segments")

    def __str__(self) -> str:
        return self.name


class SegmentMember(models.Model):
    """A customer on a static segment's frozen list."""

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="members")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE,
                                 related_name="segment_lists", db_index=False)
    added_at = models.DateTimeField(_("added"))
    added_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                 on_delete=models.SET_NULL, related_name="+")

    class Meta:
        verbose_name = _("segment member")
        verbose_name_plural = _("segment members")
        constraints = [
            models.UniqueConstraint(fields=["segment", "customer"], name="segment_member_unique"),
        ]
        # A customer's lists (360 page) and the cascade when a customer is deleted.
        indexes = [models.Index(fields=["customer"], name="segment_member_customer")]

    def __str__(self) -> str:
        return f"{self.customer_id} in {self.segment_id}"


class SegmentMembership(models.Model):
    """A customer in a segment in one score run's snapshot.

    About 15 rows per customer per run (1M customers: 15M rows), written set-based by
    ``services.snapshot_write`` and the statistical build. Only two indexes: the unique
    (run, segment, customer) one serves "members of a segment in a run" and the migration's
    per-run reads; (customer, run) serves a customer's history and the delete cascade.
    """

    # No database foreign-key constraints: checking three of them for each of 15M rows per run
    # doubled the time of a snapshot. The rows are written from existing runs, segments and
    # customers, and Django's delete cascades (runs, segments, customers) still remove them.
    run = models.ForeignKey(ScoreRun, on_delete=models.CASCADE, related_name="memberships",
                            db_index=False, db_constraint=False)
    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="memberships",
                                db_index=False, db_constraint=False)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="memberships",
                                 db_index=False, db_constraint=False)
    # Statistical segments: the mixture's membership probability; null for rule segments.
    probability = models.FloatField(_("probability"), null=True, blank=True)
    # The statistical segment with the highest probability for this customer in this run.
    is_primary = models.BooleanField(_("primary"), default=False)

    class Meta:
        verbose_name = _("segment membership")
        verbose_name_plural = _("segment memberships")
        constraints = [
            models.UniqueConstraint(fields=["run", "segment", "customer"],
                                    name="segment_membership_unique"),
        ]
        # No index on segment alone: deleting a segment (rare) scans its memberships once, while
        # every snapshot would pay for that index on 15M rows.
        indexes = [
            models.Index(fields=["customer", "run"], name="segment_membership_customer"),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} in {self.segment_id} @ run {self.run_id}"


# The order-history windows kept per customer in ``OrderStats`` (days before the run's date).
ORDER_WINDOWS = (30, 90, 180, 365)


class OrderStats(models.Model):
    """Per customer, purchases (count and amount) in the last 30/90/180/365 days and ever.

    Refreshed from the orders for every score run that becomes the latest (one grouped
    ``INSERT ... SELECT``), so "spent more than 5,000 in the last 365 days" is a lookup in a
    one-row-per-customer table instead of summing ten million orders on every count. Windows end
    with the date of the run ``OrderStatsRun`` names; other periods are summed from the orders.
    A customer with no purchases has no row (zero).
    """

    # A cache rewritten whole from the orders: no database constraints to check per row (the
    # deferred checks cost as much as the insert); Django's delete cascades still apply.
    customer = models.OneToOneField(Customer, primary_key=True, on_delete=models.CASCADE,
                                    related_name="order_stats", db_constraint=False)
    spent_30 = models.DecimalField(max_digits=16, decimal_places=2, default=0)
    spent_90 = models.DecimalField(max_digits=16, decimal_places=2, default=0)
    spent_180 = models.DecimalField(max_digits=16, decimal_places=2, default=0)
    spent_365 = models.DecimalField(max_digits=16, decimal_places=2, default=0)
    spent_all = models.DecimalField(max_digits=16, decimal_places=2, default=0)
    orders_30 = models.PositiveIntegerField(default=0)
    orders_90 = models.PositiveIntegerField(default=0)
    orders_180 = models.PositiveIntegerField(default=0)
    orders_365 = models.PositiveIntegerField(default=0)
    orders_all = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("order statistics")
        verbose_name_plural = _("order statistics")

    def __str__(self) -> str:
        return f"order statistics of customer {self.customer_id}"


class CategoryStats(models.Model):
    """Per customer and product category, the last purchase of that category up to a run's date.

    Written with ``OrderStats`` (same run), so "bought tea in the last 90 days" is a lookup in a
    small table rather than a join of every order line with its order.
    """

    # No database constraints, as for ``OrderStats``.
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE,
                                 related_name="category_stats", db_index=False,
                                 db_constraint=False)
    category = models.CharField(max_length=100)
    last_bought_at = models.DateTimeField()

    class Meta:
        verbose_name = _("category statistics")
        verbose_name_plural = _("category statistics")
        constraints = [
            models.UniqueConstraint(fields=["customer", "category"],
                                    name="category_stats_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.category}"


class OrderStatsRun(models.Model):
    """The score run whose date ``OrderStats`` and ``CategoryStats`` end with: one row or none.

    Kept once rather than on every row: moving the totals to the next day then rewrites only
    the customers with purchases in the days that left a window (a few thousand), not every
    row. No row (or its run deleted with it) means the totals serve no run and rules sum the
    orders instead.
    """

    run = models.OneToOneField(ScoreRun, on_delete=models.CASCADE, related_name="+")

    class Meta:
        verbose_name = _("order statistics run")
        verbose_name_plural = _("order statistics runs")

    def __str__(self) -> str:
        return f"order statistics of run {self.run_id}"
