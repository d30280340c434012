"""Models of the insights domain: the key-account plan (大客户计划).

The traits model, the look-alike ranking and the strategy report are computed on demand from
the latest scoring run and are not stored: they are cheap enough (seconds at a million
customers) and a stored copy would go stale with the next run.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from guanxi.customers.models import Customer


class KeyAccountStage(models.TextChoices):
    """The seed's three stages of key-account marketing, in order."""

    BUILD = "build", _("Build the relationship")
    STABILIZE = "stabilize", _("Stabilize the relationship")
    STRENGTHEN = "strengthen", _("Strengthen the relationship")


STAGE_ORDER = (KeyAccountStage.BUILD, KeyAccountStage.STABILIZE, KeyAccountStage.STRENGTHEN)


class KeyAccountPlan(models.Model):
    """One plan per organization we manage as a key account."""

    account = models.OneToOneField(Customer, verbose_name=_("account"), on_delete=models.CASCADE,
                                   related_name="key_account_plan")
    stage = models.CharField(_("stage"), max_length=16, choices=KeyAccountStage.choices,
                             default=KeyAccountStage.BUILD)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("owner"), null=True,
                              blank=True, on_delete=models.SET_NULL, related_name="+")
    goals = models.TextField(_("goals"), blank=True)
    notes = models.TextField(_("notes"), blank=True)
    next_review_on = models.DateField(_("next review"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"))
    updated_at = models.DateTimeField(_("updated"))

    class Meta:
        ordering = ["next_review_on", "pk"]
        verbose_name = _("key-account plan")
        verbose_name_plural = _("key-account plans")

    def __str__(self) -> str:
        return f"{self.account_id}: {self.stage}"


# The label of the customers' event type this app writes (``EventType.KEY_ACCOUNT_PLAN_CHANGED``,
# declared in guanxi.customers): named here too so this app's catalog translates it on the
# customer's timeline.
EVENT_LABEL = _("Key-account plan changed")
