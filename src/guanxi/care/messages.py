"""Drafted messages: one Django template string per task kind and language.

A template sees ``name`` (the customer's name), ``occasion`` (the festival or date's label),
``years`` (for anniversaries), ``preference`` (the text of the customer's latest pinned
preference note, empty when none — or when a taboo note mentions it) and ``company``.
Override them per company with ``GUANXI_CARE["templates"][kind][lang]``. A message is
rendered once per occasion, language and preference, and the customer's name is put in
afterwards: write it as ``{{ name }}``, without filters.

Taboos are respected in two ways: a preference that a taboo note mentions is never quoted, and
an occasion a taboo note names ("does not celebrate birthdays", "不过生日") creates no task at
all (see ``services.care_tasks_create``).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from django.template import Context, Engine, Template

from guanxi.care.models import TaskKind

TEMPLATES: dict[str, dict[str, str]] = {
    TaskKind.BIRTHDAY: {
        "en": "Dear {{ name }}, happy birthday! Wishing you health and joy in the year ahead."
              "{% if preference %} We have not forgotten: {{ preference }}.{% endif %}",
        "zh-hans": "{{ name }}，祝您生日快乐！愿新的一岁健康顺意。"
                   "{% if preference %}我们记得您的喜好：{{ preference }}。{% endif %}",
    },
    TaskKind.ANNIVERSARY: {
        "en": "Dear {{ name }}, {% if years %}{{ years }} year{{ years|pluralize }} ago today"
              "{% else %}today{% endif %} — {{ occasion }}. Thank you for your trust.",
        "zh-hans": "{{ name }}，{% if years %}{{ years }}年前的今天{% else %}今天{% endif %}"
                   "是{{ occasion }}。感谢您一路以来的信任！",
    },
    TaskKind.FESTIVAL: {
        "en": "Dear {{ name }}, warm wishes for the {{ occasion }} to you and your family."
              "{% if preference %} (Remember: {{ preference }}){% endif %}",
        "zh-hans": "{{ name }}，{{ occasion }}快乐！祝您和家人阖家幸福、万事如意。"
                   "{% if preference %}（记得：{{ preference }}）{% endif %}",
    },
    TaskKind.THANK_YOU: {
        "en": "Dear {{ name }}, thank you for your first order with us. If anything is not "
              "as you expected, just tell us.",
        "zh-hans": "{{ name }}，感谢您首次选购我们的产品！如有任何不满意，请随时告诉我们。",
    },
}

# Autoescape off: these are text messages for a phone or WeChat, not HTML (the pages escape
# them when they show them).
_ENGINE = Engine(autoescape=False)


def draft(kind: str, lang: str, context: dict[str, Any],
          overrides: dict[str, dict[str, str]] | None = None) -> str:
    """The message for one task, or '' when there is no template for the kind."""
    source = ((overrides or {}).get(kind, {}).get(lang)
              or TEMPLATES.get(kind, {}).get(lang)
              or TEMPLATES.get(kind, {}).get("en"))
    if not source:
        return ""
    return _compiled(source).render(Context(context)).strip()


@lru_cache(maxsize=256)
def _compiled(source: str) -> Template:
    # Compiled once: a festival drafts one message per customer.
    return _ENGINE.from_string(source)
