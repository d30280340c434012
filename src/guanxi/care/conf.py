"""The care calendar's settings: defaults here, overridden per company by ``GUANXI_CARE``.

``GUANXI_CARE`` is read from Django settings if defined there, else from the environment
variable of the same name, as JSON::

    GUANXI_CARE='{"festivals": {"lantern": null, "christmas": {"gregorian": [12, 25],
                  "label": "Christmas", "label_zh": "圣诞节"}}, "festival_tiers": ["vip", "key"]}'

========================  ===================  =================================================
setting                   default              meaning
========================  ===================  =================================================
``country``               ``"CN"``             whose public-holiday table ``{"holiday": name}``
                                               festivals are looked up in (``holidays`` package)
``festivals``             see ``FESTIVALS``    festivals, merged into the defaults by code;
                                               ``null`` switches a default off. Each has one of
                                               ``holiday`` (English name in the table),
                                               ``lunar`` ``[month, day]`` or ``gregorian``
                                               ``[month, day]``, plus ``label`` / ``label_zh``
``festival_tiers``        ``null``             value tiers that get festival greetings; ``null``
                                               = every customer who has bought at least once
``birthdays``             ``true``             birthday tasks (profile birthday and important
                                               dates of kind birthday, lunar ones included)
``anniversaries``         ``true``             first-purchase anniversaries and the important
                                               dates of kind anniversary / custom
``thank_you_after_days``  ``1``                the thank-you task is due this many days after a
                                               customer's first purchase; ``null`` = none
``language``              ``"auto"``           language of drafted messages: ``auto`` (Chinese
                                               for customers in CN/HK/MO/TW/SG, else English),
                                               ``en`` or ``zh-hans``
``channels``              wechat, sms, email,  order in which a consented channel is picked
                          phone, mail
``templates``             ``{}``               ``{kind: {lang: "Django template"}}`` overriding
                                               the drafted messages (see ``care.messages``)
========================  ===================  =================================================
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

from django.conf import settings

from guanxi.care.errors import CareErrorCode
from guanxi.core.errors import ValidationFailed

# Festival codes → how to find the day. Spring Festival, Dragon Boat, Mid-Autumn, National
# Day and New Year come from the ``holidays`` package's China table (which also knows the
# state's adjusted dates); it has no Lantern Festival (not a day off), so that one is computed
# from the lunar calendar (the 15th of the first month).
FESTIVALS: dict[str, dict[str, Any]] = {
    "new_year": {"holiday": "New Year's Day", "label": "New Year", "label_zh": "元旦"},
    "spring_festival": {"holiday": "Chinese New Year (Spring Festival)",
                        "label": "Spring Festival", "label_zh": "春节"},
    "lantern": {"lunar": [1, 15], "label": "Lantern Festival", "label_zh": "元宵节"},
    "dragon_boat": {"holiday": "Dragon Boat Festival", "label": "Dragon Boat Festival",
                    "label_zh": "端午节"},
    "mid_autumn": {"holiday": "Mid-Autumn Festival", "label": "Mid-Autumn Festival",
                   "label_zh": "中秋节"},
    "national_day": {"holiday": "National Day", "label": "National Day", "label_zh": "国庆节"},
}

CHANNELS = ("wechat", "sms", "email", "phone", "mail")
LANGUAGES = ("auto", "en", "zh-hans")


@dataclasses.dataclass(frozen=True)
class CareSettings:
    country: str = "CN"
    festivals: dict[str, dict[str, Any]] = dataclasses.field(
        default_factory=lambda: dict(FESTIVALS))
    festival_tiers: list[str] | None = None
    birthdays: bool = True
    anniversaries: bool = True
    thank_you_after_days: int | None = 1
    language: str = "auto"
    channels: tuple[str, ...] = CHANNELS
    templates: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)


def _invalid(message: str) -> ValidationFailed:
    return ValidationFailed(CareErrorCode.INVALID_SETTINGS, f"GUANXI_CARE: {message}",
                            field="GUANXI_CARE")


def care_settings(overrides: dict[str, Any] | None = None) -> CareSettings:
    """The effective settings; raises ValidationFailed naming what is wrong."""
    raw: Any = overrides
    if raw is None:
        raw = getattr(settings, "GUANXI_CARE", None)
    if raw is None:
        env = os.environ.get("GUANXI_CARE", "").strip()
        try:
            raw = json.loads(env) if env else {}
        except json.JSONDecodeError as exc:
            raise _invalid(f"not valid JSON ({exc.msg}).") from None
    if not isinstance(raw, dict):
        raise _invalid("expected a JSON object.")
    known = {f.name for f in dataclasses.fields(CareSettings)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise _invalid(f"unknown setting {unknown[0]!r}.")
    values = dict(raw)
    festivals = dict(FESTIVALS)
    for code, spec in (values.pop("festivals", None) or {}).items():
        if spec is None:
            festivals.pop(code, None)
            continue
        if not isinstance(spec, dict) or sum(k in spec for k in
                                             ("holiday", "lunar", "gregorian")) != 1:
            raise _invalid(f"festival {code!r} needs exactly one of holiday, lunar, gregorian.")
        festivals[code] = {"label": code.replace("_", " ").title(), **spec}
    language = values.get("language", "auto")
    if language not in LANGUAGES:
        raise _invalid(f"language must be one of {', '.join(LANGUAGES)}.")
    channels = tuple(values.pop("channels", CHANNELS))
    if not set(channels) <= set(CHANNELS):
        raise _invalid(f"channels must be among {', '.join(CHANNELS)}.")
    return CareSettings(festivals=festivals, channels=channels, **values)
