"""Indexes that keep customer search fast at a million customers.

- ``external_id_value``: search by an external id without knowing its source system.
- PostgreSQL only: trigram (pg_trgm) GIN indexes, so ``name ILIKE '%term%'`` and
  ``phone LIKE '%digits'`` use an index instead of reading the whole table. Prefix searches
  (pinyin, initials, short names) use the ``*_like`` indexes Django already creates.
  ``pg_trgm`` is a trusted extension (PostgreSQL 13+): the database owner may create it.
"""

from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

TRIGRAM_INDEXES = (
    "CREATE INDEX IF NOT EXISTS customer_name_trgm ON customers_customer "
    "USING gin (upper(name::text) gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS customer_phone_trgm ON customers_customer "
    "USING gin (phone gin_trgm_ops)",
)


def create_trigram_indexes(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for sql in TRIGRAM_INDEXES:
        schema_editor.execute(sql)


def drop_trigram_indexes(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("DROP INDEX IF EXISTS customer_name_trgm")
    schema_editor.execute("DROP INDEX IF EXISTS customer_phone_trgm")


class Migration(migrations.Migration):
    dependencies = [("customers", "0001_initial")]

    operations = [
        migrations.AddIndex(
            model_name="externalid",
            index=models.Index(fields=["value"], name="external_id_value"),
        ),
        migrations.RunPython(create_trigram_indexes, drop_trigram_indexes),
    ]
