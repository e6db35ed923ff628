"""dbt commands, as a worker runs them. Plain Python: no models (runs.pipelines builds the inputs).

The pains this module exists to remove, and how:

- A hand-kept profiles.yml: the profile is generated for each run from the credential, into the
  run's own temporary directory. The password is never written to it: the profile reads
  `{{ env_var('DBT_ENV_SECRET_PASSWORD') }}`, and dbt scrubs DBT_ENV_SECRET_* values from its logs.
- Environment variables that never reach dbt, or leak into it: the subprocess gets an explicit,
  minimal environment (PATH, HOME, locale, dbt's own settings), nothing inherited.
- Logs and artifacts written into a read-only project: dbt runs on a copy of the project in the
  run's temporary directory, with --target-path and --log-path there too; `dbt deps` installs
  packages into the copy. The project directory is only read.
- Silent, unkillable runs: output is streamed line by line to the caller; a cancel sends SIGINT
  (dbt cancels its queries on the database), then SIGKILL after a grace period.
- "It failed" with no detail: target/run_results.json is parsed into per-node results (model,
  test, seed, snapshot; status, time, rows affected, failures, message).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

# The credential's libpq options dbt-postgres's profile takes (the others it has no key for).
DBT_POSTGRES_OPTIONS = (
    "connect_timeout", "keepalives_idle", "sslcert", "sslkey", "sslrootcert", "application_name",
)  # fmt: skip
PROFILE = "etlportal"
TARGET = "prod"
PASSWORD_VARIABLE = "DBT_ENV_SECRET_PASSWORD"
CANCEL_GRACE_SECONDS = 10
COMMANDS_WITH_SELECTION = {"build", "run", "test", "seed", "snapshot"}
COMMANDS_WITH_FULL_REFRESH = {"build", "run", "seed"}
SKIPPED_WHEN_COPYING = {"target", "logs", "dbt_packages", ".git", "__pycache__"}


class DbtError(Exception):
    """The command could not run at all (no project, dbt missing): one sentence."""


@dataclass(frozen=True)
class DbtTarget:
    """Where dbt connects: a credential's facts, as dbt-postgres or dbt-duckdb want them."""

    kind: str  # postgresql, redshift, duckdb
    schema: str
    database: str = ""  # a database name, or the DuckDB file's path
    host: str = ""
    port: int | None = None
    username: str = ""
    password: str = field(default="", repr=False)
    sslmode: str = "prefer"
    threads: int = 4
    options: dict = field(default_factory=dict)  # the credential's libpq options (never secrets)


@dataclass(frozen=True)
class DbtCommandSpec:
    command: str  # build, run, test, seed, snapshot, deps
    select: str = ""
    exclude: str = ""
    full_refresh: bool = False
    vars: dict = field(default_factory=dict)


@dataclass
class NodeResult:
    unique_id: str
    name: str
    resource_type: str
    status: str
    execution_time: float
    rows_affected: int | None
    failures: int | None
    message: str


@dataclass
class DbtOutcome:
    returncode: int
    results: list[NodeResult]
    seconds: float
    cancelled: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.cancelled

    def summary(self) -> str:
        """What went wrong, in one sentence naming the nodes (empty when all went well)."""
        bad = [r for r in self.results if r.status in ("error", "fail")]
        if not bad:
            return "" if self.ok else f"dbt exited with code {self.returncode}"
        parts = []
        for result in bad[:5]:
            if result.resource_type == "test" and result.failures is not None and result.status == "fail":
                parts.append(f"test {result.name} failed with {result.failures} failing row(s)")
            else:
                parts.append(f"{result.resource_type} {result.name}: {result.status} ({_first_line(result.message)})")
        more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
        return "; ".join(parts) + more


def _first_line(text: str) -> str:
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return line if len(line) <= 200 else line[:200] + "…"


# -- the profile ------------------------------------------------------------------------------
def profile(target: DbtTarget) -> dict:
    """profiles.yml's content for the target; the password only as an env_var() reference."""
    if target.kind == "duckdb":
        # No files but the database: a model cannot read_text()/COPY/ATTACH the worker's files
        # (the generated keys, other users' uploads or DuckDB files); DuckDB refuses to turn
        # external access back on while the database is open.
        output = {
            "type": "duckdb",
            "path": target.database,
            "schema": target.schema,
            "threads": target.threads,
            "settings": {"enable_external_access": False},
        }
    elif target.kind in ("postgresql", "redshift"):
        # Redshift speaks PostgreSQL's protocol: dbt-postgres serves it where dbt-redshift is
        # not installed (dbt-redshift's Redshift-only features are then unavailable).
        output = {
            "type": "postgres",
            "host": target.host or "localhost",
            "port": target.port or (5439 if target.kind == "redshift" else 5432),
            "user": target.username,
            "password": "{{ env_var('" + PASSWORD_VARIABLE + "', '') }}",
            "dbname": target.database,
            "schema": target.schema,
            "threads": target.threads,
            "sslmode": target.sslmode or "prefer",
        }
        for name in DBT_POSTGRES_OPTIONS:
            if name in target.options and target.options[name] not in ("", None):
                value = target.options[name]
                output[name] = int(value) if name in ("connect_timeout", "keepalives_idle") else str(value)
    else:
        raise DbtError(f"dbt cannot run against a {target.kind} destination")
    return {PROFILE: {"target": TARGET, "outputs": {TARGET: output}}}


def environment(*, home: Path, profiles_dir: Path, password: str) -> dict[str, str]:
    """The subprocess's whole environment: nothing else from the worker's reaches dbt."""
    env = {
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "DBT_PROFILES_DIR": str(profiles_dir),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_USE_COLORS": "false",
        "DBT_PARTIAL_PARSE": "false",
    }
    if password:
        env[PASSWORD_VARIABLE] = password
    return env


def arguments(
    spec: DbtCommandSpec, *, project_dir: Path, profiles_dir: Path, work: Path, own_profile: bool = False
) -> list[str]:
    """dbt's command line; with own_profile, the project's profiles.yml picks the profile and target."""
    if spec.command not in COMMANDS_WITH_SELECTION | {"deps"}:
        raise DbtError(f"unknown dbt command {spec.command!r}")
    args = [
        spec.command,
        "--project-dir",
        str(project_dir),
        "--profiles-dir",
        str(profiles_dir),
        "--log-path",
        str(work / "logs"),
    ]
    if spec.command == "deps":
        return args
    args += ["--target-path", str(work / "target")]
    if not own_profile:
        args += ["--profile", PROFILE, "--target", TARGET]
    if spec.select.strip():
        args += ["--select", *spec.select.split()]
    if spec.exclude.strip():
        args += ["--exclude", *spec.exclude.split()]
    if spec.full_refresh and spec.command in COMMANDS_WITH_FULL_REFRESH:
        args.append("--full-refresh")
    if spec.vars:
        args += ["--vars", json.dumps(spec.vars)]
    return args


# dbt's own command-line entry point, started with Python's default SIGINT handling: a Celery pool
# process ignores SIGINT, and an ignored signal stays ignored across exec, so dbt run as a plain
# executable from a worker would never see the cancel and never cancel its queries.
LAUNCHER = (
    "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "sys.argv[0] = 'dbt'; from dbt.cli.main import cli; sys.exit(cli())"
)


def dbt_command_line() -> list[str]:
    import importlib.util

    if importlib.util.find_spec("dbt.cli") is None:
        raise DbtError("dbt is not installed next to the worker's Python (pip install dbt-core dbt-postgres)")
    return [sys.executable, "-c", LAUNCHER]


# -- running ----------------------------------------------------------------------------------
def copy_project(source: Path, destination: Path) -> Path:
    """A writable copy of the project, without what a run makes (target, logs, packages)."""
    if not (source / "dbt_project.yml").is_file():
        raise DbtError(f"{source} is not a dbt project: it has no dbt_project.yml")
    shutil.copytree(source, destination, ignore=lambda _dir, names: [n for n in names if n in SKIPPED_WHEN_COPYING])
    return destination


# dbt_project.yml settings naming folders: all must stay inside the project.
PATH_SETTINGS = (
    "model-paths", "seed-paths", "test-paths", "analysis-paths", "macro-paths", "snapshot-paths",
    "docs-paths", "asset-paths", "function-paths", "packages-install-path", "target-path", "log-path",
    "clean-targets",
)  # fmt: skip


def project_problems(project_dir: Path) -> list[str]:
    """Why this project must not run here: folders outside it, Python models. Empty when it may.

    A project is code the worker runs; these are the ways it could reach beyond its own folder
    and warehouse (other users' uploads, the worker's files) that dbt itself allows.
    """
    try:
        config = yaml.safe_load((project_dir / "dbt_project.yml").read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        return [f"dbt_project.yml cannot be read: {exc}"]
    if not isinstance(config, dict):
        return ["dbt_project.yml is not a mapping of settings."]
    problems = []
    for setting in PATH_SETTINGS:
        value = config.get(setting)
        for path in [value] if isinstance(value, str) else value if isinstance(value, list) else []:
            text = str(path)
            if text.startswith(("/", "~", "\\")) or ".." in Path(text).parts or "{{" in text:
                problems.append(f"{setting} {text!r} points outside the project; only folders inside it are allowed.")
    model_paths = config.get("model-paths") or ["models"]
    python_models = sorted(
        str(path.relative_to(project_dir))
        for folder in (model_paths if isinstance(model_paths, list) else [model_paths])
        if not problems and (project_dir / str(folder)).is_dir()
        for path in (project_dir / str(folder)).rglob("*.py")
    )
    if python_models:
        problems.append(
            f"Python files ({', '.join(python_models[:3])}{' …' if len(python_models) > 3 else ''}) are not "
            "allowed: a Python model runs arbitrary code on the worker. Use SQL models."
        )
    return problems


def has_packages(project_dir: Path) -> bool:
    return (project_dir / "packages.yml").is_file() or (project_dir / "dependencies.yml").is_file()


def run_command(
    spec: DbtCommandSpec,
    *,
    project_dir: Path,
    target: DbtTarget,
    on_line: Callable[[str], None],
    should_stop: Callable[[], bool] = lambda: False,
    project_profiles: bool = False,
    work_root: str | None = None,
) -> DbtOutcome:
    """Run one dbt command on a copy of the project; `dbt deps` first when it has packages."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="etlportal-dbt-", dir=work_root) as temporary:
        work = Path(temporary)
        copy = copy_project(project_dir, work / "project")
        problems = project_problems(copy)
        if problems:
            raise DbtError(" ".join(problems))
        profiles_dir = work / "profiles"
        profiles_dir.mkdir()
        if project_profiles and (copy / "profiles.yml").is_file():
            shutil.copy(copy / "profiles.yml", profiles_dir / "profiles.yml")
        else:
            (profiles_dir / "profiles.yml").write_text(yaml.safe_dump(profile(target), sort_keys=False))
        env = environment(home=work, profiles_dir=profiles_dir, password=target.password)
        scrub = _scrubber(target.password)
        if spec.command != "deps" and has_packages(copy):
            on_line("The project has packages: running dbt deps first")
            deps_args = arguments(DbtCommandSpec("deps"), project_dir=copy, profiles_dir=profiles_dir, work=work)
            deps = _subprocess(
                [*dbt_command_line(), *deps_args], cwd=copy, env=env, on_line=lambda line: on_line(scrub(line)),
                should_stop=should_stop,
            )  # fmt: skip
            if deps.returncode != 0 or deps.cancelled:
                return DbtOutcome(deps.returncode, [], time.monotonic() - started, deps.cancelled)
        own_profile = project_profiles and (copy / "profiles.yml").is_file()
        args = arguments(spec, project_dir=copy, profiles_dir=profiles_dir, work=work, own_profile=own_profile)
        command = [*dbt_command_line(), *args]
        on_line("$ dbt " + " ".join(args).replace(str(work), "<run dir>"))
        process = _subprocess(
            command, cwd=copy, env=env, on_line=lambda line: on_line(scrub(line)), should_stop=should_stop
        )
        results = read_results(work / "target" / "run_results.json")
    return DbtOutcome(process.returncode, results, time.monotonic() - started, process.cancelled)


@dataclass
class _Finished:
    returncode: int
    cancelled: bool


def _subprocess(command, *, cwd: Path, env: dict, on_line, should_stop) -> _Finished:
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        errors="replace",
        bufsize=1,
        start_new_session=True,  # its own process group: a signal reaches dbt's threads and children
    )
    lines: list[str] = []
    done = threading.Event()
    lock = threading.Lock()

    def read() -> None:
        for line in process.stdout:
            with lock:
                lines.append(line.rstrip("\n"))
        done.set()

    reader = threading.Thread(target=read, name="dbt-output", daemon=True)
    reader.start()
    try:
        return _follow(process, lines, lock, done, reader, on_line=on_line, should_stop=should_stop)
    finally:
        # Whatever stopped us (a time limit, a failed log write), dbt must not outlive its run:
        # SIGINT cancels its queries, SIGKILL follows if it does not stop.
        if process.poll() is None:
            _signal(process, signal.SIGINT)
            try:
                process.wait(timeout=CANCEL_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                _signal(process, signal.SIGKILL)
                process.wait()


def _follow(process, lines, lock, done, reader, *, on_line, should_stop) -> _Finished:
    cancelled = False
    interrupted_at = None
    while True:
        finished = done.wait(0.25)
        with lock:
            pending, lines[:] = list(lines), []
        for line in pending:
            on_line(line)
        if finished and process.poll() is not None:
            break
        if not cancelled and should_stop():
            cancelled = True
            interrupted_at = time.monotonic()
            on_line("Cancel requested: sending SIGINT to dbt (it cancels its queries on the database)")
            _signal(process, signal.SIGINT)
        elif cancelled and time.monotonic() - interrupted_at > CANCEL_GRACE_SECONDS and process.poll() is None:
            on_line(f"dbt still running {CANCEL_GRACE_SECONDS} s after SIGINT: sending SIGKILL")
            _signal(process, signal.SIGKILL)
            interrupted_at = float("inf")
        if finished and process.poll() is None:
            process.wait(timeout=5)
    reader.join(timeout=5)
    return _Finished(process.wait(), cancelled)


def _signal(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass


def _scrubber(password: str) -> Callable[[str], str]:
    if not password or len(password) < 3:
        return lambda line: line
    return lambda line: line.replace(password, "********")


def read_results(path: Path) -> list[NodeResult]:
    """run_results.json's nodes; none when dbt wrote none (it failed before running any)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    results = []
    for item in data.get("results", []):
        unique_id = item.get("unique_id", "")
        parts = unique_id.split(".")
        adapter = item.get("adapter_response") or {}
        results.append(
            NodeResult(
                unique_id=unique_id,
                name=parts[2] if len(parts) > 2 else unique_id,
                resource_type=parts[0] if parts else "",
                status=str(item.get("status", "")),
                execution_time=float(item.get("execution_time") or 0.0),
                rows_affected=_count(adapter.get("rows_affected")),
                failures=item.get("failures"),
                message=item.get("message") or "",
            )
        )
    return results


def _count(value) -> int | None:
    """A row count, or None: PostgreSQL reports -1 for statements without one (a view's CREATE)."""
    return value if isinstance(value, int) and value >= 0 else None
