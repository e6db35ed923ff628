"""Progress is written while a load streams: counters on the run, log lines, live messages."""

from __future__ import annotations

import pytest

from runs import executor
from runs.models import JobRun, RunEvent
from tests.factories import make_job

pytestmark = pytest.mark.django_db


class FakeSourceCounter:
    """Stands in for the CSV source's byte counter: the rows below come from a list."""

    def __init__(self, total: int):
        self.total = total
        self.bytes_read = 0


def test_counters_and_log_lines_are_written_every_few_thousand_rows(alice, monkeypatch):
    monkeypatch.setattr(executor, "PROGRESS_EVERY_SECONDS", 0)
    monkeypatch.setattr(executor, "LOG_EVERY_SECONDS", 0)
    run = JobRun.objects.create(job=make_job(alice), status="RUNNING")
    source = FakeSourceCounter(total=1200)
    progress = executor.Progress(run, source, total_bytes=1200)

    def records():
        for line in range(2, 12_002):
            source.bytes_read = line // 10
            yield line, [str(line)]

    stream = executor.RowStream(
        run,
        records(),
        lambda line, fields: (int(fields[0]),),
        progress,
        executor.Budget(max_rows=0, max_ratio=None),
        executor.Watcher(run.pk, interval=1),  # not started: only its cancel flag is read
        delimiter=",",
        quotechar='"',
        keep_rejects=None,
    )
    # The report for the 5,000th row is written when the next row is asked for.
    checkpoints = {}
    for index, _ in enumerate(stream, start=1):
        if index in (5_001, 10_001):
            checkpoints[index] = JobRun.objects.values_list("rows_read", flat=True).get(pk=run.pk)

    run.refresh_from_db()
    assert checkpoints == {5_001: 5_000, 10_001: 10_000}
    assert run.rows_read == 12_000
    assert run.progress == 1.0
    messages = list(RunEvent.objects.filter(run=run).values_list("message", flat=True))
    assert [message.split(", ")[0] for message in messages[:2]] == [
        "Read 5,000 rows (42% of the file",
        "Read 10,000 rows (83% of the file",
    ]
    assert all(message.endswith(" rows/s)") for message in messages[:2])
