"""Row locks for scorecards, always taken before the deal's (deals.lock_objects).

An edit of a scorecard (weights, threshold, criteria) holds its row FOR UPDATE while it recomputes
every deal; an answer holds the same row FOR SHARE while it recomputes its deal. Answers of different
deals never wait for each other, and an answer never computes with weights an edit is replacing, nor
does an edit's recompute miss an answer committed meanwhile. SQLite writes one transaction at a time,
so there the share lock is not needed."""

from django.db import connection

from scorecards.models import Scorecard


def scorecard_for_update(scorecard_id: int) -> Scorecard:
    return Scorecard.objects.select_for_update().select_related("process").get(pk=scorecard_id)


def scorecard_for_share(scorecard_id: int) -> Scorecard:
    if connection.vendor == "postgresql":
        # The ORM has FOR UPDATE only; FOR SHARE lets answers of different deals run side by side.
        table = connection.ops.quote_name(Scorecard._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT id FROM {table} WHERE id = %s FOR SHARE", [scorecard_id])
    # Read after the lock: an edit that committed while we waited is what we compute with.
    return Scorecard.objects.get(pk=scorecard_id)
