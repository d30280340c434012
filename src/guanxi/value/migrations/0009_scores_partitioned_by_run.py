"""PostgreSQL: one partition of the scores table per run (see ``guanxi.value.partitions``).

No change to the models: the parent keeps the table's name and columns. SQLite keeps its
plain table. The latest-values view reads the table, so it is dropped and made again around
the change.
"""

import importlib

from django.db import migrations

_VIEW = importlib.import_module("guanxi.value.migrations.0003_customer_value_view")


def _around_view(schema_editor, change: str) -> None:
    """Run ``partitions.<change>`` with the view dropped (PostgreSQL only)."""
    if schema_editor.connection.vendor != "postgresql":
        return
    from guanxi.value import partitions

    with schema_editor.connection.cursor() as cursor:
        cursor.execute(_VIEW.DROP_VIEW)
        getattr(partitions, change)(cursor)
        cursor.execute(_VIEW.CREATE_VIEW)


def _forward(apps, schema_editor):
    _around_view(schema_editor, "partition_existing")


def _backward(apps, schema_editor):
    _around_view(schema_editor, "unpartition")


class Migration(migrations.Migration):

    dependencies = [
        ('value', '0008_score_history_by_run'),
    ]

    operations = [
        migrations.RunPython(_forward, _backward),
    ]
