"""Trigram indexes for the deal and account search (PostgreSQL only).

The search is `UPPER(name) LIKE UPPER('%q%')` (Django's `icontains` on PostgreSQL): a B-tree cannot
serve a pattern that starts with %, a trigram GIN index on the same expression can. Without them a
search reads every deal of the org (0.5 s at 100k deals). On other databases (SQLite) this migration
does nothing: the indexes are not part of the models, so `makemigrations` never sees them.
"""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations

INDEXES = {
    # deals.selectors.deal_search: the deal-name half.
    "deal_name_trgm": "deals_deal",
    # deals.selectors.deal_search (the account-name half) and the account list's search.
    "account_name_trgm": "deals_account",
}


def create_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, table in INDEXES.items():
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin ((UPPER(name::text)) gin_trgm_ops)"
        )


def drop_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [
        ("deals", "0005_stage_rollups"),
    ]

    operations = [
        # CREATE EXTENSION IF NOT EXISTS pg_trgm; a no-op on other databases.
        TrigramExtension(),
        migrations.RunPython(create_indexes, drop_indexes),
    ]
