"""Run a claimed job: stream the source through the compiled transform into the destination.

Services translate models into engine inputs here; the engine (reader, transform,
connector) never sees a model. Counters and heartbeats are written with narrow UPDATEs.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import logging
import socket
import threading
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import close_old_connections, connection
from django.utils import timezone

from credentials.connectors import ConnectorError, LoadPlan, TargetColumn, get_connector
from credentials.connectors.postgresql import PushdownRefused
from credentials.services import credential_params
from jobs.arrowload import ArrowPlan, compile_arrow, eligible
from jobs.arrowload import Refused as ArrowRefused
from jobs.errors import SourceError
from jobs.inspection.scan import describe_reading, reader_options
from jobs.pushdown import NotPushable, Pushdown, RawRowRefused, compile_pushdown
from jobs.reader import open_source
from jobs.services import column_specs, specs_with_detected_formats, upload_inspect
from jobs.transform import MappingError, compile_transform
from runs import memory
from runs.events import printable, publish, run_log
from runs.models import JobRun, RejectedRow, RunStatus
from runs.services import RunAbandoned, run_cancel_requested, run_commit_gate, run_finish

logger = logging.getLogger("etlportal.runs")

PROGRESS_EVERY_ROWS = 5_000
PROGRESS_EVERY_SECONDS = 1.0
LOG_EVERY_SECONDS = 5.0


CANCEL_POLL_SECONDS = 1.0  # how often the watcher looks for a cancel request
SAMPLE_ROWS = 20  # output rows a dry run keeps
DRY_RUN_REJECTS_KEPT = 1000  # a dry run keeps this many rejects (a real run keeps every one within budget)
REJECT_BATCH = 500


class RunCancelled(Exception):
    """Someone asked the run to stop; the load rolls back."""


class Watcher(threading.Thread):
    """Beats the run's heartbeat and watches for a cancel request while the load runs.

    The heartbeat proves the worker is alive while a long statement runs, so the reaper leaves
    the run alone. A cancel sets `cancelled`, which the row stream checks between rows, and
    aborts the database statement in flight through the connector's cancel function.
    """

    def __init__(self, run_id: int, interval: float, also: list[int] | tuple = ()):
        super().__init__(name=f"watch-run-{run_id}", daemon=True)
        self.run_id = run_id
        self.beating = [run_id, *also]  # a pipeline step keeps its pipeline's run alive too
        self.interval = interval
        self.cancelled = threading.Event()
        self._stopped = threading.Event()
        self._abort = None
        self._lock = threading.Lock()

    def register_cancel(self, abort) -> None:
        with self._lock:
            self._abort = abort
        if self.cancelled.is_set():
            abort()

    def run(self) -> None:
        last_beat = time.monotonic()
        try:
            while not self._stopped.wait(min(self.interval, CANCEL_POLL_SECONDS)):
                try:
                    if time.monotonic() - last_beat >= self.interval:
                        JobRun.objects.filter(pk__in=self.beating, status=RunStatus.RUNNING).update(
                            heartbeat_at=timezone.now()
                        )
                        last_beat = time.monotonic()
                    # A pipeline step also stops when its pipeline's run is cancelled.
                    if (
                        not self.cancelled.is_set()
                        and JobRun.objects.filter(pk__in=self.beating, cancel_requested_at__isnull=False).exists()
                    ):
                        self.cancelled.set()
                        with self._lock:
                            abort = self._abort
                        if abort is not None:
                            abort()
                except Exception as exc:  # keep watching; the next beat may get through
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
        self.rejected = 0
        self.fraction: float | None = None
        self.started = time.monotonic()
        self._last_report = 0.0
        self._last_log = time.monotonic()

    def report(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_report < PROGRESS_EVERY_SECONDS:
            return
        self._last_report = now
        if self.fraction is not None:  # set by a path that does not read through `source` (Arrow)
            fraction = self.fraction
        else:
            fraction = min(self.source.bytes_read / self.total_bytes, 1.0)
        elapsed = now - self.started
        rate = self.rows / elapsed if elapsed > 0 else 0.0
        eta = elapsed * (1 - fraction) / fraction if fraction > 0 else None
        JobRun.objects.filter(pk=self.run.pk, status=RunStatus.RUNNING).update(
            rows_read=self.rows,
            rows_rejected=self.rejected,
            progress=fraction,
            heartbeat_at=timezone.now(),
            phase="load",
        )
        publish(
            self.run.pk,
            {
                "run": {
                    "id": self.run.pk,
                    "status": RunStatus.RUNNING,
                    "phase": "load",
                    "rows_read": self.rows,
                    "rows_rejected": self.rejected,
                    "progress": fraction,
                    "rows_per_second": round(rate),
                    "eta_seconds": round(eta) if eta is not None else None,
                }
            },
        )
        if now - self._last_log >= LOG_EVERY_SECONDS:
            self._last_log = now
            run_log(self.run, f"Read {self.rows:,} rows ({fraction:.0%} of the file, {rate:,.0f} rows/s)", phase="load")


@dataclass(frozen=True)
class Budget:
    """The job's error budget: how many rejected rows a run may have and still load the rest."""

    max_rows: int | None
    max_ratio: float | None

    @property
    def none_allowed(self) -> bool:
        return self.max_rows == 0 or (self.max_ratio == 0 and self.max_rows is None)

    def describe(self) -> str:
        limits = []
        if self.max_rows is not None:
            limits.append(f"at most {self.max_rows:,} rows")
        if self.max_ratio is not None:
            limits.append(f"at most {self.max_ratio:.2%} of the rows read")
        return " and ".join(limits) or "no limit"


class BudgetExceeded(Exception):
    def __init__(self, message: str, first: SourceError):
        super().__init__(message)
        self.message = message
        self.first = first


class RowStream:
    """Source records through the compiled transform: good rows out, bad rows kept as rejects.

    Rejects are written to the portal database in batches as they come (not to the destination),
    so they survive a failed run for the user to look at.
    """

    def __init__(
        self,
        run: JobRun,
        records,
        transform,
        progress: Progress,
        budget: Budget,
        watcher,
        *,
        delimiter: str,
        quotechar: str,
        keep_rejects: int | None,
        dry_run: bool = False,
        sample: int = 0,
    ):
        self.run = run
        self.records = records
        self.transform = transform
        self.progress = progress
        self.budget = budget
        self.watcher = watcher
        self.keep_rejects = keep_rejects
        self.stop_over_budget = not dry_run  # a dry run reads on past the budget, to count everything
        self.sample_size = sample
        self.sample: list[tuple] = []
        self.first_reject: SourceError | None = None
        self._pending: list[RejectedRow] = []
        self._kept = 0
        self._dialect = {"delimiter": delimiter, "quotechar": quotechar or '"', "lineterminator": ""}

    def __iter__(self) -> Iterator[tuple[int, tuple]]:
        progress = self.progress
        transform = self.transform
        cancelled = self.watcher.cancelled
        for line, fields in self.records:
            progress.rows += 1
            try:
                values = transform(line, fields)
            except SourceError as exc:
                self._reject(exc, self._raw(fields))
                continue
            if len(self.sample) < self.sample_size:
                self.sample.append(values)
            yield line, values
            if progress.rows % PROGRESS_EVERY_ROWS == 0:
                if cancelled.is_set():
                    raise RunCancelled()
                progress.report()
        self.flush()
        if cancelled.is_set():
            raise RunCancelled()
        progress.report(force=True)

    def reject_ragged(self, error: SourceError) -> None:
        """A record with the wrong number of fields (the reader goes on after it)."""
        self.progress.rows += 1
        self._reject(error, error.value)

    def _raw(self, fields: list[str]) -> str:
        out = io.StringIO()
        csv.writer(out, **self._dialect).writerow(fields)
        return out.getvalue()

    def _reject(self, exc: SourceError, raw: str) -> None:
        if self.watcher.cancelled.is_set():  # a long run of bad rows must not hide a cancel
            raise RunCancelled()
        self.progress.rejected += 1
        if self.first_reject is None:
            self.first_reject = exc
        if self.keep_rejects is None or self._kept < self.keep_rejects:
            self._kept += 1
            self._pending.append(
                RejectedRow(
                    run=self.run,
                    line=exc.line or 0,
                    raw=printable(raw),
                    column=printable(exc.column or ""),
                    value=printable(exc.value or "")[:1000],
                    reason=printable(exc.reason),
                )
            )
            if len(self._pending) >= REJECT_BATCH:
                self.flush()
        if self.stop_over_budget and self.budget.max_rows is not None and self.progress.rejected > self.budget.max_rows:
            self.flush()
            raise self.over_budget()

    def flush(self) -> None:
        if self._pending:
            RejectedRow.objects.bulk_create(self._pending)
            self._pending = []

    def within_ratio(self) -> bool:
        ratio = self.budget.max_ratio
        return ratio is None or self.progress.rejected <= ratio * self.progress.rows

    def check_budget(self) -> None:
        """At the end (before COMMIT): the ratio limit needs the number of rows read."""
        if not self.within_ratio():
            raise self.over_budget()

    def over_budget(self) -> BudgetExceeded:
        first = self.first_reject
        rejected = self.progress.rejected
        return BudgetExceeded(
            f"{rejected:,} row{'s' if rejected != 1 else ''} rejected of {self.progress.rows:,} read, over the job's "
            f"error budget ({self.budget.describe()}). Nothing was written. The first: {first.describe()}.",
            first,
        )


def _plan(job, specs) -> LoadPlan:
    return LoadPlan(
        schema=job.schema,
        table=job.table,
        columns=[TargetColumn(s.destination_column, s.column_type.sql, s.nullable) for s in specs],
        strategy=job.load_strategy,
        create_table=job.create_table,
        key_columns=tuple(job.upsert_keys),
        lock_timeout_seconds=settings.LOAD_LOCK_TIMEOUT,
    )


def _display(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool | int | float | str):
        return value if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def execute(run_id: int) -> None:
    run = JobRun.objects.select_related("job__source", "job__destination").get(pk=run_id)
    job = run.job
    watcher = Watcher(run.pk, settings.RUN_HEARTBEAT_INTERVAL, also=[run.parent_id] if run.parent_id else [])
    watcher.start()
    progress = None
    stream = None
    params = None
    source_columns: dict[str, str] = {}
    started = time.monotonic()
    memory.reset_peak()
    try:
        run_log(run, f"Started on worker {socket.gethostname()}{' (dry run)' if run.dry_run else ''}", phase="starting")
        specs = column_specs(job.mappings.order_by("position"))
        source_columns = {spec.destination_column: spec.source_column for spec in specs}
        params = credential_params(job.destination)
        connector = get_connector(params)
        plan = _plan(job, specs)
        if job.source is None:
            raise SourceError("the job has no source file")
        inspection = job.source.inspection or upload_inspect(upload=job.source)
        if "columns" not in inspection:  # nothing to load: an empty file, only blank lines, ...
            problem = inspection["problems"][0]
            raise SourceError(problem["reason"], line=problem["line"])
        run_log(run, describe_reading(inspection), phase="load")
        specs, notes = specs_with_detected_formats(specs, inspection)
        for note in notes:
            run_log(run, note, phase="load")
        if run.dry_run:
            check = connector.check(plan)
            run_log(run, check.message, phase="prepare")
        options = reader_options(inspection)

        def open_file():
            stream_file = default_storage.open(job.source.file.name, "rb")
            try:
                source = open_source(
                    stream_file,
                    reader_options=options,
                    header=inspection["header"],
                    aliases=[column["name"] for column in inspection["columns"]],
                    null_markers=inspection["null_markers"],
                )
            except BaseException:
                stream_file.close()
                raise
            return stream_file, source

        def on_event(phase: str, message: str) -> None:
            run_log(run, message, phase=phase)

        budget = Budget(job.max_rejected_rows, job.max_rejected_ratio)

        def row_stream(source) -> tuple[RowStream, Progress]:
            progress = Progress(run, source, job.source.size)
            stream = RowStream(
                run,
                source.records,
                transform,
                progress,
                budget,
                watcher,
                delimiter=options["delimiter"],
                quotechar=options["quotechar"],
                keep_rejects=DRY_RUN_REJECTS_KEPT if run.dry_run else None,
                sample=SAMPLE_ROWS if run.dry_run else 0,
                dry_run=run.dry_run,
            )
            source.on_ragged(stream.reject_ragged)
            return stream, progress

        stream_file, source = open_file()
        try:
            copy_text = not run.dry_run and getattr(connector, "accepts_copy_text", False)
            transform = compile_transform(
                source.header,
                specs,
                aliases=source.aliases,
                null_markers=source.null_markers,
                # PostgreSQL takes rows as lines of COPY text: no Python object per value where avoidable.
                output="copy_text" if copy_text else "values",
            )
            if copy_text:
                plan = dataclasses.replace(plan, row_format="copy_text")
            stream, progress = row_stream(source)
            if run.dry_run:
                _dry_run(run, stream, specs, started)
                return
            run_log(
                run,
                f"Loading {job.source.original_name} ({job.source.size:,} bytes) into "
                f"{job.destination.name}: {job.schema}.{job.table}, {job.load_strategy}",
                phase="load",
            )
            result = None
            arrow = _arrow(run, connector, source, specs, inspection)
            pushdown = None if arrow is not None else _pushdown(run, connector, source, specs, inspection)
            if arrow is not None:
                run_log(run, "Fast path: the Arrow reader, values converted a block at a time", phase="load")
                try:
                    # closing(): a failed COPY stops the converting thread before the file closes.
                    with (
                        default_storage.open(job.source.file.name, "rb") as arrow_file,
                        contextlib.closing(
                            arrow.batches(
                                arrow_file,
                                options["delimiter"],
                                on_rows=_counter(progress, watcher, inspection.get("row_count")),
                            )
                        ) as chunks,
                    ):
                        result = connector.load(
                            dataclasses.replace(plan, row_format="arrow_tables"),
                            chunks,
                            on_event=on_event,
                            before_commit=lambda: run_commit_gate(run_id=run.pk),
                            register_cancel=watcher.register_cancel,
                        )
                    progress.report(force=True)
                except (ArrowRefused, PushdownRefused) as exc:
                    run_log(
                        run,
                        f"The fast path cannot load this file as it is ({_clip(str(exc))}); nothing was "
                        "written. Loading again, converting row by row, which names each bad row.",
                        phase="load",
                    )
                    stream, progress = row_stream(source)  # the row path has not read past the header yet
            if pushdown is not None:
                source.on_ragged(None)  # a ragged row sends the load to the row path
                try:
                    result = connector.load_pushdown(
                        plan,
                        pushdown,
                        _raw_lines(source.records, pushdown, progress, watcher),
                        on_event=on_event,
                        before_commit=lambda: run_commit_gate(run_id=run.pk),
                        register_cancel=watcher.register_cancel,
                    )
                except (PushdownRefused, RawRowRefused, SourceError) as exc:
                    reason = _clip(exc.describe() if isinstance(exc, SourceError) else str(exc))
                    run_log(
                        run,
                        f"Not every value converts on the server ({reason}); nothing was written. Loading again, "
                        "converting row by row, which names each bad row.",
                        phase="load",
                    )
                    stream_file.close()
                    stream_file, source = open_file()  # from the top of the file
                    stream, progress = row_stream(source)
            if result is None:

                def before_commit() -> None:
                    stream.check_budget()
                    run_commit_gate(run_id=run.pk)

                result = connector.load(
                    plan,
                    stream,
                    on_event=on_event,
                    before_commit=before_commit,
                    register_cancel=watcher.register_cancel,
                )
        finally:
            stream_file.close()
        seconds = time.monotonic() - started
        rate = progress.rows / seconds if seconds > 0 else 0
        summary = f"Wrote {result.rows_written:,} rows in {seconds:.1f} s ({rate:,.0f} rows/s)"
        if plan.strategy == "UPSERT":
            summary += f": {result.inserted:,} inserted, {result.updated:,} updated, {result.unchanged:,} unchanged"
        if progress.rejected:
            summary += f"; {progress.rejected:,} rows rejected (within the error budget), see the rejects"
        run_log(run, summary, phase="done")
        _finish(
            run,
            status=RunStatus.SUCCEEDED,
            rows_read=progress.rows,
            rows_written=result.rows_written,
            rows_rejected=progress.rejected,
            rows_inserted=result.inserted,
            rows_updated=result.updated,
            rows_unchanged=result.unchanged,
            progress=1.0,
        )
    except BudgetExceeded as exc:
        first = exc.first
        message = first.reason if stream.budget.none_allowed else exc.message
        _fail(run, progress, message, line=first.line, column=first.column, value=first.value)
    except SourceError as exc:
        _fail(run, progress, exc.reason, line=exc.line, column=exc.column, value=exc.value)
    except (RunCancelled, ConnectorError) as exc:
        if watcher.cancelled.is_set() or isinstance(exc, RunCancelled):
            _cancelled(run, progress)
        else:
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
        if watcher.cancelled.is_set() or run_cancel_requested(run_id=run.pk):
            _cancelled(run, progress)
        else:
            # Reaped while loading: the transaction was rolled back; the run says why.
            logger.warning("run %s was no longer running at commit; its load was rolled back", run.pk)
    except SoftTimeLimitExceeded:
        _fail(run, progress, f"Stopped after RUN_TIME_LIMIT ({settings.RUN_TIME_LIMIT} s). Nothing was written.")
    except Exception as exc:
        scrub = params.scrub if params else str
        logger.error("run %s crashed:\n%s", run.pk, scrub(traceback.format_exc()))
        _fail(run, progress, f"Internal error ({type(exc).__name__}): {scrub(str(exc))}")
    finally:
        if stream is not None:
            stream.flush()
        watcher.stop()
        close_old_connections()


def _finish(run: JobRun, **outcome) -> None:
    """run_finish(), once the run's log has the worker process's peak memory during the run."""
    _log_peak_memory(run)
    run_finish(run_id=run.pk, **outcome)


def _log_peak_memory(run: JobRun) -> None:
    """The worker process's peak memory during the run, in its log, however the run ends."""
    peak = memory.peak_mib()
    if peak is None:
        return
    try:
        run_log(run, f"Peak memory of the worker process during the run: {peak:.0f} MiB", phase="done")
    except Exception:  # a figure is not worth failing a run over
        logger.warning("run %s: could not log its peak memory", run.pk, exc_info=True)


def _clip(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def _arrow(run: JobRun, connector, source, specs, inspection: dict) -> ArrowPlan | None:
    """The Arrow path (jobs.arrowload) for a clean, standard UTF-8 file into PostgreSQL."""
    if not settings.LOAD_FAST_PATH or not getattr(connector, "accepts_arrow_tables", False):
        return None
    why = eligible(inspection)
    if why is None:
        try:
            return compile_arrow(source.header, specs, aliases=source.aliases, null_markers=source.null_markers)
        except NotPushable as exc:
            why = str(exc)
    run_log(run, f"Not using the Arrow reader: {why}.", phase="load")
    return None


def _counter(progress: Progress, watcher: Watcher, total_rows: int | None):
    """Count the Arrow path's rows into the run's progress; stop on a cancel."""

    def on_rows(count: int) -> None:
        progress.rows += count
        if total_rows:
            progress.fraction = min(progress.rows / total_rows, 1.0)
        if watcher.cancelled.is_set():
            raise RunCancelled()
        progress.report()

    return on_rows


def _pushdown(run: JobRun, connector, source, specs, inspection: dict) -> Pushdown | None:
    """The fast path's SQL when the destination and every mapping allow it (jobs.pushdown).

    Not tried when the inspection already found what would make it fall back (rows with the
    wrong number of fields, values that do not fit a typed column): the row path reads once.
    """
    if not settings.LOAD_FAST_PATH or not getattr(connector, "accepts_copy_text", False):
        return None
    ragged = [problem["line"] for problem in inspection.get("problems", []) if problem.get("line")]
    if ragged:
        run_log(run, f"Converting row by row: the inspection found problems in rows (line {ragged[0]}).", phase="load")
        return None
    columns = {}
    for column in inspection.get("columns", []):
        columns[column["name"]] = columns[column.get("original_name") or column["name"]] = column
    for spec in specs:
        column = columns.get(spec.source_column)
        if column and column.get("conflict_count") and not spec.column_type.is_text:
            run_log(
                run,
                f"Converting row by row: column {spec.source_column!r} has {column['conflict_count']:,} value(s) "
                "that do not fit its type.",
                phase="load",
            )
            return None
    try:
        return compile_pushdown(source.header, specs, aliases=source.aliases, null_markers=source.null_markers)
    except NotPushable as exc:
        run_log(run, f"Converting row by row: {exc}.", phase="load")
        return None


def _raw_lines(records, pushdown: Pushdown, progress: Progress, watcher: Watcher) -> Iterator[str]:
    """The records as lines of COPY text for the fast path, counted and reported like the row path."""
    render = pushdown.render
    cancelled = watcher.cancelled
    for _, fields in records:
        yield render(fields)
        progress.rows += 1
        if progress.rows % PROGRESS_EVERY_ROWS == 0:
            if cancelled.is_set():
                raise RunCancelled()
            progress.report()
    if cancelled.is_set():
        raise RunCancelled()
    progress.report(force=True)


def _dry_run(run: JobRun, stream: RowStream, specs, started: float) -> None:
    """Everything but the write: read and transform every row, keep a sample and the first rejects."""
    for _ in stream:
        pass
    progress = stream.progress
    sample = {
        "columns": [spec.destination_column for spec in specs],
        "rows": [[_display(value) for value in values] for values in stream.sample],
    }
    seconds = time.monotonic() - started
    counters = {"rows_read": progress.rows, "rows_rejected": progress.rejected, "sample": sample, "progress": 1.0}
    over = (
        stream.budget.max_rows is not None and progress.rejected > stream.budget.max_rows
    ) or not stream.within_ratio()
    if over:
        exc = stream.over_budget()
        first = exc.first
        message = "A real run would fail: " + exc.message.replace(" Nothing was written.", "")
        _finish(
            run,
            status=RunStatus.FAILED,
            error_message=message,
            error_line=first.line,
            error_column=first.column or "",
            error_value=first.value or "",
            **counters,
        )
        return
    run_log(
        run,
        f"Dry run: {progress.rows:,} rows read and transformed in {seconds:.1f} s, {progress.rejected:,} rejected; "
        "nothing was written",
        phase="done",
    )
    _finish(run, status=RunStatus.SUCCEEDED, **counters)


def _cancelled(run: JobRun, progress: Progress | None) -> None:
    _finish(
        run,
        status=RunStatus.CANCELLED,
        error_message="Cancelled while loading; the load was rolled back and nothing was written.",
        rows_read=progress.rows if progress else 0,
        rows_written=0,
        from_statuses=(RunStatus.RUNNING,),
    )


def _fail(run: JobRun, progress: Progress | None, message: str, *, line=None, column="", value="") -> None:
    _finish(
        run,
        status=RunStatus.FAILED,
        error_message=message,
        error_line=line,
        error_column=column or "",
        error_value=value or "",
        rows_read=progress.rows if progress else 0,
        rows_rejected=progress.rejected if progress else 0,
        rows_written=0,
    )
