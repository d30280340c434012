"""Small formatting helpers for the pages: money and probabilities, per the active locale."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import template
from django.utils import formats
from django.utils.translation import gettext_lazy as _

register = template.Library()

_SYMBOLS = {"CNY": "¥", "USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "HKD": "HK$"}


@register.filter
def money(amount: Decimal | str | None, currency: str = "CNY") -> str:
    """``1234.5`` → ``¥1,234.50`` with the locale's separators; empty stays empty."""
    if amount is None or amount == "":
        return ""
    value = Decimal(str(amount))
    sign = "-" if value < 0 else ""
    number = formats.number_format(abs(value), 2, use_l10n=True, force_grouping=True)
    return f"{sign}{_SYMBOLS.get(currency, currency + ' ')}{number}"


@register.filter
def percent(value: float | None) -> str:
    """``0.873`` → ``87%``."""
    if value is None:
        return ""
    return formats.number_format(round(float(value) * 100), 0, use_l10n=True) + "%"


@register.filter
def get_item(mapping: Any, key: Any) -> Any:
    try:
        return mapping[key]
    except (KeyError, IndexError, TypeError):
        return None


@register.filter
def channel_label(value: str) -> str:
    """The translated name of an interaction or consent channel (``phone`` → 电话)."""
    from guanxi.customers.models import Channel, ConsentChannel

    labels = {**dict(ConsentChannel.choices), **dict(Channel.choices)}
    return str(labels.get(value, value))


@register.filter
def purpose_label(value: str) -> str:
    from guanxi.customers.models import ConsentPurpose

    return str(dict(ConsentPurpose.choices).get(value, value))


@register.filter
def signed_percent(value: float | None) -> str:
    """A change in a probability, in percentage points with its sign: ``0.031`` → ``+3%``."""
    if value is None:
        return ""
    points = round(float(value) * 100)
    sign = "+" if points > 0 else "−" if points < 0 else "±"
    return sign + formats.number_format(abs(points), 0, use_l10n=True) + "%"


# The value engine's RFM segment codes (guanxi.analytics.rfm.RFM_SEGMENTS), named for people.
_SEGMENT_LABELS = {
    "champions": _("Champions"),
    "loyal": _("Loyal customers"),
    "potential_loyalists": _("Potential loyalists"),
    "new": _("New customers"),
    "promising": _("Promising"),
    "need_attention": _("Need attention"),
    "about_to_sleep": _("About to sleep"),
    "at_risk": _("At risk"),
    "cant_lose": _("Can't lose them"),
    "hibernating": _("Hibernating"),
    "lost": _("Lost"),
}


@register.filter
def segment_label(code: str | None) -> str:
    """``potential_loyalists`` → "Potential loyalists" (translated); unknown codes as they are."""
    if not code:
        return ""
    return str(_SEGMENT_LABELS.get(code, code))


@register.filter
def stage_label(code: str | None) -> str:
    """A lifecycle stage code → its translated name (``active`` → 活跃), as
    ``get_lifecycle_stage_display`` would say it. That method rebuilds the field's choices on
    each call (~40 µs): on a list of fifty customers the labels cost more than the rows."""
    from guanxi.customers.models import LifecycleStage

    return _choice_label(LifecycleStage, code)


@register.filter
def tier_label(code: str | None) -> str:
    """A value tier code → its translated name, like ``get_value_tier_display``."""
    from guanxi.customers.models import ValueTier

    return _choice_label(ValueTier, code)


_CHOICE_LABELS: dict[type, dict[str, Any]] = {}


def _choice_label(choices: Any, code: str | None) -> str:
    if not code:
        return ""
    labels = _CHOICE_LABELS.get(choices)
    if labels is None:  # lazy labels: translated when rendered, in the request's language
        labels = _CHOICE_LABELS[choices] = dict(choices.choices)
    return str(labels.get(code, code))
