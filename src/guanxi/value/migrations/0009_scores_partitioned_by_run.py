"""PostgreSQL: one partition of the scores table per run (see ``guanxi.value.partitions``).

No change to the models: the parent keeps the table's name and columns. SQLite keeps its
plain table. The latest-values view reads the table, so it is dropped and made again around
the change.
"""

import importlib

from django.db import migrations

_VIEW = importlib.import_module("guanxi.value.migrations.0003_customer_value_view")


def _forward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    from guanxi.value import partitions

    with schema_editor.connection.cursor() as cursor:
        cursor.execute(_VIEW.DROP_VIEW)
        partitions.partition_existing(cursor)
        cursor.execute(_VIEW.CREATE_VIEW)


def _backward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    from guanxi.value import partitions

    with schema_editor.connection.cursor() as cursor:
        cursor.execute(_VIEW.DROP_VIEW)
        partitions.unpartition(cursor)
        cursor.execute(_VIEW.CREATE_VIEW)


class Migration(migrations.Migration):

    dependencies = [
        ('value', '0008_score_history_by_run'),
    ]

    operations = [
        migrations.RunPython(_forward, _backward),
    ]
