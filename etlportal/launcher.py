"""`make run`: the whole product on one machine, from nothing but Python.

Starts an embedded Redis when REDIS_URL is unset, migrates, makes sure an admin user
exists, then runs the web server (daphne: HTTP and websockets), one Celery worker and
Celery beat, prints the URL, and stops every process it started on Ctrl-C.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from etlportal import localsecrets
from etlportal.envvars import env_bool
from etlportal.netcheck import database_problem, redis_problem, tcp_error

BASE_DIR = Path(__file__).resolve().parent.parent
STOP_GRACE_SECONDS = 15


def say(message: str) -> None:
    print(f"[make run] {message}", flush=True)


def fail(message: str) -> None:
    print(f"[make run] {message}", file=sys.stderr, flush=True)
    raise SystemExit(1)


class Child:
    def __init__(self, name: str, command: list[str], env: dict[str, str]):
        self.name = name
        self.process = subprocess.Popen(
            command,
            cwd=BASE_DIR,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            start_new_session=True,  # its own process group: Ctrl-C reaches us, we stop it in order
        )
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self.process.stdout:
            sys.stdout.write(f"{self.name:>6} | {line}")
            sys.stdout.flush()

    def signal_group(self, signum: int) -> None:
        try:
            os.killpg(self.process.pid, signum)
        except ProcessLookupError:
            pass


def manage(env: dict[str, str], *args: str, capture: bool = False) -> str:
    stdout = subprocess.PIPE if capture else None
    result = subprocess.run([sys.executable, "manage.py", *args], cwd=BASE_DIR, env=env, stdout=stdout, text=True)
    if result.returncode != 0:
        if capture:
            print(result.stdout, end="")
        fail(f"'manage.py {' '.join(args)}' failed (exit code {result.returncode}); see the messages above.")
    return result.stdout.strip() if capture else ""


def wait_until_serving(url: str, children: list[Child], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for child in children:
            if child.process.poll() is not None:
                raise RuntimeError(f"{child.name} exited with code {child.process.returncode} while starting")
        try:
            with urllib.request.urlopen(url + "healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"the web server did not answer at {url} within {timeout:g} s")


def stop_all(children: list[Child]) -> None:
    for child in reversed(children):
        if child.process.poll() is None:
            child.signal_group(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for child in children:
        remaining = max(deadline - time.monotonic(), 0.1)
        try:
            child.process.wait(remaining)
        except subprocess.TimeoutExpired:
            say(f"{child.name} did not stop within {STOP_GRACE_SECONDS} s; killing it")
            child.signal_group(signal.SIGKILL)
            child.process.wait()


def main() -> None:
    env = os.environ.copy()
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("DJANGO_SETTINGS_MODULE", "etlportal.settings")
    data_dir = Path(env.get("DATA_DIR") or BASE_DIR / "data").resolve()
    env["DATA_DIR"] = str(data_dir)
    secrets = localsecrets.load_or_create(data_dir / "secrets.env")
    for name in localsecrets.SECRET_NAMES:
        if not env.get(name):
            env[name] = secrets[name]

    host = env.get("HOST", "").strip() or "127.0.0.1"
    try:
        port = int(env.get("PORT", "").strip() or 8000)
    except ValueError:
        fail(f"PORT must be a number, got {env['PORT']!r}.")
    if tcp_error(host if host != "0.0.0.0" else "127.0.0.1", port, timeout=0.5) is None:
        fail(
            f"Port {port} on {host} is already in use (another 'make run'?). "
            f"Start on another one: PORT={port + 1} make run"
        )

    if env.get("REDIS_URL", "").strip():
        problem = redis_problem(env["REDIS_URL"])
        if problem:
            fail(problem)
    problem = database_problem(env.get("DATABASE_URL", ""))
    if problem:
        fail(problem)

    children: list[Child] = []
    embedded_redis = None
    stopping = False

    def on_signal(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        if not env.get("REDIS_URL", "").strip():
            from etlportal.embedded import EmbeddedRedis

            persist = env_bool("EMBEDDED_REDIS_PERSIST", environ=env)
            embedded_redis = EmbeddedRedis(persist_dir=data_dir / "redis" if persist else None)
            env["REDIS_URL"] = embedded_redis.start(start_new_session=True, stdout=subprocess.DEVNULL)
            say(f"Embedded Redis on {env['REDIS_URL']}" + (" (persisted in data/redis)" if persist else ""))

        say("Applying database migrations")
        manage(env, "migrate", "--noinput", "-v", "0")
        manage(env, "collectstatic", "--noinput", "-v", "0")
        admin_note = manage(env, "ensure_admin", capture=True)

        python = sys.executable
        concurrency = env.get("WORKER_CONCURRENCY", "").strip() or "2"
        log_level = env.get("LOG_LEVEL", "").strip().lower() or "info"
        children.append(
            Child("web", [python, "-m", "daphne", "-b", host, "-p", str(port), "etlportal.asgi:application"], env)
        )
        children.append(
            Child(
                "worker",
                [
                    python,
                    "-m",
                    "celery",
                    "-A",
                    "etlportal",
                    "worker",
                    "-l",
                    "info",
                    "-c",
                    concurrency,
                    "-n",
                    "worker@%h",
                ],
                env,
            )
        )
        children.append(
            Child("beat", [python, "-m", "celery", "-A", "etlportal", "beat", "-l", log_level, "--pidfile="], env)
        )

        shown_host = "127.0.0.1" if host == "0.0.0.0" else host
        url = f"http://{shown_host}:{port}/"
        wait_until_serving(url, children)
        say(f"ETL Portal is running at {url}  (admin: {url}admin/, API docs: {url}api/docs/). Press Ctrl-C to stop.")
        if admin_note:
            say(admin_note)

        while not stopping:
            for child in children:
                if child.process.poll() is not None:
                    raise RuntimeError(f"{child.name} exited with code {child.process.returncode}")
            time.sleep(0.5)
        say("Stopping")
    except RuntimeError as exc:
        say(f"{exc}; stopping everything")
        exit_code = 1
    else:
        exit_code = 0
    finally:
        stop_all(children)
        if embedded_redis:
            embedded_redis.stop()
    say("Stopped")
    raise SystemExit(exit_code)


if __name__ == "__main__":
    main()
