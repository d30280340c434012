"""Dated score snapshots: one ``ScoreRun`` per as-of date, one ``CustomerScore`` per customer.

History is kept so segment migration between snapshots can be shown; re-scoring a date replaces
that date's snapshot (a new run is built beside the old one and swapped in one transaction).
"""

from __future__ import annotations

import datetime as dt

from django.db import models
from django.utils.translation import gettext_lazy as _

from guanxi.customers.models import Customer, LifecycleStage, ValueTier


class RunStatus(models.TextChoices):
    BUILDING = "building", _("Building")
    COMPLETE = "complete", _("Complete")
    FAILED = "failed", _("Failed")
    # Superseded by a newer run of the same date; its rows are deleted right after the swap.
    REPLACED = "replaced", _("Replaced")


class RunPath(models.TextChoices):
    FULL = "full", _("Full")
    INCREMENTAL = "incremental", _("Incremental")


class ScoreRun(models.Model):
    as_of = models.DateField(_("as of"))
    status = models.CharField(_("status"), max_length=16, choices=RunStatus.choices,
                              default=RunStatus.BUILDING)
    engine = models.CharField(_("engine"), max_length=16, default="local")
    created_at = models.DateTimeField(_("started"))
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    # {"bgnbd": {"params": {...}, "log_likelihood": ..., "standard_errors": {...}}, ...}
    models_info = models.JSONField(_("fitted models"), default=dict, blank=True)
    settings_used = models.JSONField(_("settings"), default=dict, blank=True)
    timings = models.JSONField(_("seconds per phase"), default=dict, blank=True)
    n_customers = models.PositiveIntegerField(_("customers"), default=0)
    n_buyers = models.PositiveIntegerField(_("customers with purchases"), default=0)
    n_purchases = models.PositiveBigIntegerField(_("purchase days"), default=0)
    equity = models.DecimalField(_("customer equity"), max_digits=18, decimal_places=2,
                                 null=True, blank=True)
    error = models.TextField(_("error"), blank=True)
    # How the run was computed: "full" (orders read and summarized) or "incremental" (the
    # previous run's summaries moved to the new date; see ``services``), and from what:
    # {"from_run": id or None, "fingerprint": {...}} — the fingerprint of the input it saw.
    path = models.CharField(_("path"), max_length=16, default=RunPath.FULL,
                            choices=RunPath.choices)
    source = models.JSONField(_("input"), default=dict, blank=True)

    class Meta:
        ordering = ["-as_of"]
        verbose_name = _("score run")
        verbose_name_plural = _("score runs")
        constraints = [
            # Only one complete snapshot per date; a replacement is built beside it first.
            models.UniqueConstraint(fields=["as_of"], condition=models.Q(status="complete"),
                                    name="score_run_one_complete_per_date"),
        ]

    def __str__(self) -> str:
        return f"{self.as_of} ({self.status})"


class ScoreValues(models.Model):
    """The per-customer figures of one score run; shared by the history and the latest values."""

    lifecycle_stage = models.CharField(_("lifecycle stage"), max_length=16,
                                       choices=LifecycleStage.choices)
    x = models.PositiveIntegerField(_("repeat purchases"), null=True)
    t_x = models.FloatField(null=True)
    T = models.FloatField(null=True)
    recency_days = models.IntegerField(_("days since last purchase"), null=True)
    frequency = models.PositiveIntegerField(_("purchases"), null=True)
    monetary = models.FloatField(_("mean repeat spend"), null=True)
    total_spend = models.DecimalField(_("total spend"), max_digits=16, decimal_places=2,
                                      null=True)
    p_alive = models.FloatField(_("probability alive"), null=True)
    expected_purchases = models.FloatField(_("expected purchases in the period"), null=True)
    p_purchase = models.FloatField(_("P(purchase within the period)"), null=True)
    expected_spend = models.FloatField(_("expected spend per purchase"), null=True)
    clv = models.DecimalField(_("lifetime value"), max_digits=14, decimal_places=2, null=True)
    expected_next_purchase = models.DateField(_("expected next purchase"), null=True)
    first_purchase_at = models.DateTimeField(_("first purchase"), null=True)
    last_purchase_at = models.DateTimeField(_("last purchase"), null=True)
    # Mean and sample standard deviation of the days between purchase days: the customer's own
    # rhythm (null with fewer than 2 purchase days for the mean, fewer than 3 for the spread).
    interval_mean_days = models.FloatField(_("mean days between purchases"), null=True)
    interval_sd_days = models.FloatField(_("spread of days between purchases"), null=True)
    value_tier = models.CharField(_("value tier"), max_length=16, choices=ValueTier.choices,
                                  blank=True)
    rfm_r = models.PositiveSmallIntegerField(null=True)
    rfm_f = models.PositiveSmallIntegerField(null=True)
    rfm_m = models.PositiveSmallIntegerField(null=True)
    rfm_segment = models.CharField(_("RFM segment"), max_length=32, blank=True)

    class Meta:
        abstract = True

    @property
    def rfm_score(self) -> str:
        if self.rfm_r is None or self.rfm_f is None or self.rfm_m is None:
            return ""
        return f"{self.rfm_r}{self.rfm_f}{self.rfm_m}"

    @property
    def scored_on(self) -> dt.date:
        """The as-of date of the run these figures come from."""
        run: ScoreRun = self.run  # type: ignore[attr-defined]  # both subclasses define run
        return run.as_of


class CustomerScore(ScoreValues):
    """One customer in one snapshot. Prospects have a row with only the stage set."""

    # No index of its own: the unique (run, customer) constraint's index starts with run, and
    # every index costs time when a million scores are written. No foreign-key constraint in
    # the database either: PostgreSQL checks one with a trigger per inserted row (3 s per
    # 100,000 scores, more than the insert itself). The rows are only ever written by
    # ``score_all`` from existing ids, and deletes cascade through Django (customers) or the
    # run's explicit DELETE.
    run = models.ForeignKey(ScoreRun, on_delete=models.CASCADE, related_name="scores",
                            db_index=False, db_constraint=False)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="scores",
                                 db_index=False, db_constraint=False)

    class Meta:
        verbose_name = _("customer score")
        verbose_name_plural = _("customer scores")
        constraints = [
            models.UniqueConstraint(fields=["run", "customer"], name="customer_score_unique"),
        ]
        # No (customer, run) index: a run's million rows landed all over it (its pages are the
        # whole history's), which at a million customers and a few runs of history made it the
        # slowest part of a run's write (44 s of writing vs 15 s without it). A customer's own
        # history is read run by run through the (run, customer) unique index instead.
        indexes = [
            # The customer list sorted by CLV reads the latest run's rows in CLV order: 3 ms
            # instead of 240 ms at 100,000 customers (a sort of the whole run), measured; worth
            # its write cost (one more index of the four a run's rows go into).
            models.Index(fields=["run", "clv", "customer"], name="customer_score_run_clv"),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} @ run {self.run_id}"


class CustomerValue(ScoreValues):
    """A customer's latest values: their ``CustomerScore`` row in the latest complete run.

    A read-only SQL view (``value_customervalue``, created by migration 0003), so bringing a new
    run in costs nothing: marking it complete is the swap. Reach it as ``customer.value`` (raises
    ``CustomerValue.DoesNotExist``, an ``AttributeError``, when the customer was never scored:
    ``getattr(customer, "value", None)``) and filter through it as
    ``Customer.objects.filter(value__value_tier="vip")``. "Latest" is the complete run with the
    latest as-of date (the newest such run on a tie).
    """

    customer = models.OneToOneField(Customer, primary_key=True, on_delete=models.DO_NOTHING,
                                    related_name="value", db_constraint=False)
    run = models.ForeignKey(ScoreRun, on_delete=models.DO_NOTHING, related_name="+",
                            db_constraint=False)

    class Meta:
        managed = False
        db_table = "value_customervalue"
        verbose_name = _("customer value")
        verbose_name_plural = _("customer values")

    def __str__(self) -> str:
        return f"{self.customer_id} (run {self.run_id})"
