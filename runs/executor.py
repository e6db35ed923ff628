"""Run a claimed job: stream the source through the compiled transform into the destination.

Services translate models into engine inputs here; the engine (reader, transform,
connector) never sees a model. Counters and heartbeats are written with narrow UPDATEs.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
import traceback
from collections.abc import Iterable, Iterator

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import close_old_connections, connection
from django.utils import timezone

from credentials.connectors import ConnectorError, LoadPlan, TargetColumn, get_connector
from credentials.services import credential_params
from jobs.errors import SourceError
from jobs.inspection.scan import describe_reading, reader_options
from jobs.reader import open_source
from jobs.services import column_specs, upload_inspect
from jobs.transform import MappingError, compile_transform, transformed
from runs.events import publish, run_log
from runs.models import JobRun, RunStatus
from runs.services import RunAbandoned, run_commit_gate, run_finish

logger = logging.getLogger("etlportal.runs")

PROGRESS_EVERY_ROWS = 5_000
PROGRESS_EVERY_SECONDS = 1.0
LOG_EVERY_SECONDS = 5.0


class Heartbeat(threading.Thread):
    """Proves the worker is alive while a long statement runs, so the reaper leaves the run alone."""

    def __init__(self, run_id: int, interval: float):
        super().__init__(name=f"heartbeat-run-{run_id}", daemon=True)
        self.run_id = run_id
        self.interval = interval
        self._stopped = threading.Event()

    def run(self) -> None:
        try:
            while not self._stopped.wait(self.interval):
                try:
                    JobRun.objects.filter(pk=self.run_id, status=RunStatus.RUNNING).update(heartbeat_at=timezone.now())
                except Exception as exc:  # keep beating; the next one may get through
                    logger.warning("heartbeat for run %s failed: %s", self.run_id, exc)
        finally:
            connection.close()

    def stop(self) -> None:
        self._stopped.set()
        self.join(timeout=self.interval + 5)


class Progress:
    """Counts rows on their way to the destination and reports them, throttled."""

    def __init__(self, run: JobRun, source, total_bytes: int):
        self.run = run
        self.source = source
        self.total_bytes = max(total_bytes, 1)
        self.rows = 0
        self._last_report = 0.0
        self._last_log = time.monotonic()

    def wrap(self, rows: Iterable[tuple[int, tuple]]) -> Iterator[tuple[int, tuple]]:
        for item in rows:
            yield item
            self.rows += 1
            if self.rows % PROGRESS_EVERY_ROWS == 0:
                self.report()
        self.report(force=True)

    def report(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_report < PROGRESS_EVERY_SECONDS:
            return
        self._last_report = now
        fraction = min(self.source.bytes_read / self.total_bytes, 1.0)
        JobRun.objects.filter(pk=self.run.pk, status=RunStatus.RUNNING).update(
            rows_read=self.rows, progress=fraction, heartbeat_at=timezone.now(), phase="load"
        )
        publish(
            self.run.pk,
            {
                "run": {
                    "id": self.run.pk,
                    "status": RunStatus.RUNNING,
                    "phase": "load",
                    "rows_read": self.rows,
                    "progress": fraction,
                }
            },
        )
        if now - self._last_log >= LOG_EVERY_SECONDS:
            self._last_log = now
            run_log(self.run, f"Read {self.rows:,} rows ({fraction:.0%} of the file)", phase="load")


def execute(run_id: int) -> None:
    run = JobRun.objects.select_related("job__source", "job__destination").get(pk=run_id)
    job = run.job
    heartbeat = Heartbeat(run.pk, settings.RUN_HEARTBEAT_INTERVAL)
    heartbeat.start()
    progress = None
    params = None
    source_columns: dict[str, str] = {}
    started = time.monotonic()
    try:
        run_log(run, f"Started on worker {socket.gethostname()}", phase="starting")
        specs = column_specs(job.mappings.order_by("position"))
        source_columns = {spec.destination_column: spec.source_column for spec in specs}
        params = credential_params(job.destination)
        connector = get_connector(params)
        plan = LoadPlan(
            schema=job.schema,
            table=job.table,
            columns=[TargetColumn(s.destination_column, s.column_type.sql, s.nullable) for s in specs],
            strategy=job.load_strategy,
            create_table=job.create_table,
            key_columns=tuple(job.upsert_keys),
            lock_timeout_seconds=settings.LOAD_LOCK_TIMEOUT,
        )
        if job.source is None:
            raise SourceError("the job has no source file")
        inspection = job.source.inspection or upload_inspect(upload=job.source)
        if "columns" not in inspection:  # nothing to load: an empty file, only blank lines, ...
            problem = inspection["problems"][0]
            raise SourceError(problem["reason"], line=problem["line"])
        run_log(run, describe_reading(inspection), phase="load")
        with default_storage.open(job.source.file.name, "rb") as stream:
            source = open_source(
                stream,
                reader_options=reader_options(inspection),
                header=inspection["header"],
                aliases=[column["name"] for column in inspection["columns"]],
                null_markers=inspection["null_markers"],
            )
            transform = compile_transform(
                source.header, specs, aliases=source.aliases, null_markers=source.null_markers
            )
            progress = Progress(run, source, job.source.size)
            run_log(
                run,
                f"Loading {job.source.original_name} ({job.source.size:,} bytes) into "
                f"{job.destination.name}: {job.schema}.{job.table}, {job.load_strategy}",
                phase="load",
            )
            result = connector.load(
                plan,
                progress.wrap(transformed(source.records, transform)),
                on_event=lambda phase, message: run_log(run, message, phase=phase),
                before_commit=lambda: run_commit_gate(run_id=run.pk),
            )
        seconds = time.monotonic() - started
        rate = progress.rows / seconds if seconds > 0 else 0
        run_log(run, f"Wrote {result.rows_written:,} rows in {seconds:.1f} s ({rate:,.0f} rows/s)", phase="done")
        run_finish(
            run_id=run.pk,
            status=RunStatus.SUCCEEDED,
            rows_read=progress.rows,
            rows_written=result.rows_written,
            rows_rejected=0,
            progress=1.0,
        )
    except SourceError as exc:
        _fail(run, progress, exc.reason, line=exc.line, column=exc.column, value=exc.value)
    except ConnectorError as exc:
        # The database names the destination column; the user looks at the file's header.
        column = source_columns.get(exc.column, exc.column)
        _fail(run, progress, exc.message, line=exc.line, column=column, value=exc.value)
    except FileNotFoundError:
        _fail(
            run,
            progress,
            f"The source file {job.source.original_name!r} is missing from storage ({settings.MEDIA_ROOT}).",
        )
    except MappingError as exc:
        _fail(run, progress, f"Invalid job: {exc}")
    except RunAbandoned:
        # Reaped (or cancelled) while loading: the transaction was rolled back; the run says why.
        logger.warning("run %s was no longer running at commit; its load was rolled back", run.pk)
    except SoftTimeLimitExceeded:
        _fail(run, progress, f"Stopped after RUN_TIME_LIMIT ({settings.RUN_TIME_LIMIT} s). Nothing was written.")
    except Exception as exc:
        scrub = params.scrub if params else str
        logger.error("run %s crashed:\n%s", run.pk, scrub(traceback.format_exc()))
        _fail(run, progress, f"Internal error ({type(exc).__name__}): {scrub(str(exc))}")
    finally:
        heartbeat.stop()
        close_old_connections()


def _fail(run: JobRun, progress: Progress | None, message: str, *, line=None, column="", value="") -> None:
    run_finish(
        run_id=run.pk,
        status=RunStatus.FAILED,
        error_message=message,
        error_line=line,
        error_column=column or "",
        error_value=value or "",
        rows_read=progress.rows if progress else 0,
        rows_written=0,
    )
