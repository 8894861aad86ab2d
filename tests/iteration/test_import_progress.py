"""The history import job's progress while its transaction is open: the files are read inside it (the
database copies the new deals' tags meanwhile), so the progress goes through a connection of its own
and the page sees it before the commit."""

import pytest
from django.db import DEFAULT_DB_ALIAS, connections

from deals.models import DealTag
from iteration import history_import_write
from iteration.history_import import history_import_execute
from iteration.models import HistoryImport, JobStatus
from tests.iteration.test_history_import import DEALS, DEALS_HEADER, HISTORY, HISTORY_HEADER, csv

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


def _as_the_page_sees_it(import_id: int) -> tuple:
    """The job's row read through another connection, as the progress page polling it would."""
    other = connections.create_connection(DEFAULT_DB_ALIAS)
    try:
        with other.cursor() as cursor:
            cursor.execute(
                f"SELECT status, progress, phase FROM {HistoryImport._meta.db_table} WHERE id = %s",
                [import_id],
            )
            return cursor.fetchone()
    finally:
        other.close()


def test_the_progress_is_visible_while_the_import_writes(org, process, rep, monkeypatch):
    job = HistoryImport.objects.create(
        organization=org,
        process=process,
        deals_filename="deals.csv",
        history_filename="history.csv",
        deals_data=csv(DEALS_HEADER, DEALS),
        history_data=csv(HISTORY_HEADER, HISTORY),
    )
    seen = []
    run = history_import_write.ImportWriter.run

    def spy(self):
        # The files are read, the new deals' tags copied; the deals are about to be written.
        seen.append((_as_the_page_sees_it(job.id), DealTag.objects.filter(organization=org).count()))
        return run(self)

    monkeypatch.setattr(history_import_write.ImportWriter, "run", spy)

    done = history_import_execute(import_id=job.id)

    assert seen == [((JobStatus.RUNNING, 80, "Writing 3 deals and 6 stage entries"), 4)]
    assert (done.status, done.progress, done.phase) == (JobStatus.SUCCEEDED, 100, "Done")
    assert _as_the_page_sees_it(job.id) == (JobStatus.SUCCEEDED, 100, "Done")


def test_a_refused_history_file_leaves_no_tag_copied_while_it_was_read(org, process, rep):
    job = HistoryImport.objects.create(
        organization=org,
        process=process,
        deals_filename="deals.csv",
        history_filename="history.csv",
        deals_data=csv(DEALS_HEADER, DEALS),
        history_data=csv(HISTORY_HEADER, [*HISTORY, "D-3,Demo,2024-02-05T10:00:00Z"]),
    )

    done = history_import_execute(import_id=job.id)

    assert done.status == JobStatus.FAILED and done.errors[0]["line"] == 8
    assert not DealTag.objects.exists()
    assert _as_the_page_sees_it(job.id)[:2] == (JobStatus.FAILED, 100)
