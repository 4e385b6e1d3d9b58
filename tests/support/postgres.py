"""A real PostgreSQL server for tests and benchmarks: `initdb` + `pg_ctl` in a temporary folder, on a free
loopback port, with password authentication over TCP (so the URLs carry a password, as in production).

    with postgres_server() as pg:
        url = pg.create_database("t1")     # postgresql://postgres:<password>@127.0.0.1:<port>/t1

PostgreSQL refuses to run as root: as root, the server runs as the `postgres` system user (Debian's package
creates it) through `runuser`; otherwise as the invoking user. `initdb` is found on PATH or in
/usr/lib/postgresql/*/bin (Debian's layout). `find_initdb()` is None when PostgreSQL is not installed
(`.ci/run` installs Debian's `postgresql` then).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support.procs import free_port

SERVICE_USER = "postgres"
ADMIN_USER = "postgres"
# Test settings: durability against an OS crash is not under test (the server is thrown away), speed is.
FAST = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
START_TIMEOUT_S = 60


def find_initdb() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve()
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    return Path(candidates[-1]) if candidates else None


@dataclass
class PostgresServer:
    port: int
    password: str
    data_dir: Path
    bin_dir: Path
    log_path: Path

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{ADMIN_USER}:{self.password}@127.0.0.1:{self.port}/{database}"

    def admin(self, sql: str) -> None:
        """Run one statement (CREATE/DROP DATABASE: outside a transaction) as the superuser."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(sql)

    def create_database(self, name: str) -> str:
        """A new, empty database; returns its URL."""
        self.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.admin(f'CREATE DATABASE "{name}" TEMPLATE template0')
        return self.url(name)


def _as_server_user(argv: list[str]) -> list[str]:
    return ["runuser", "-u", SERVICE_USER, "--", *argv] if os.geteuid() == 0 else argv


def _run(argv: list[str], **kwargs) -> None:
    result = subprocess.run(_as_server_user(argv), capture_output=True, text=True, timeout=START_TIMEOUT_S,
                            **kwargs)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:2])} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")


@contextlib.contextmanager
def postgres_server(settings: dict[str, str] | None = None) -> Iterator[PostgresServer]:
    """Start a throw-away server (FAST settings unless `settings` replaces them); stop and remove it on exit."""
    initdb = find_initdb()
    if initdb is None:
        raise RuntimeError("PostgreSQL is not installed (no initdb on PATH or in /usr/lib/postgresql/*/bin): "
                           "apt-get install -y postgresql")
    bin_dir = initdb.parent
    root = Path(tempfile.mkdtemp(prefix="llm-api-pg-"))
    if os.geteuid() == 0:
        user = pwd.getpwnam(SERVICE_USER)
        os.chown(root, user.pw_uid, user.pw_gid)
    data_dir, pwfile = root / "data", root / "pwfile"
    password = secrets.token_urlsafe(12)
    pwfile.write_text(password + "\n")
    if os.geteuid() == 0:
        os.chown(pwfile, user.pw_uid, user.pw_gid)
    log_path = root / "postgres.log"  # in the folder the server's user owns
    port = free_port()
    options = {"listen_addresses": "127.0.0.1", "port": str(port), "unix_socket_directories": str(root),
               "max_connections": "300", **(FAST if settings is None else settings)}
    try:
        _run([str(initdb), "-D", str(data_dir), "-U", ADMIN_USER, f"--pwfile={pwfile}", "--auth-local=trust",
              "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"])
        with open(data_dir / "postgresql.auto.conf", "a") as conf:
            conf.writelines(f"{key} = '{value}'\n" for key, value in options.items())
        _run([str(bin_dir / "pg_ctl"), "-D", str(data_dir), "-l", str(log_path), "-w", "-t", str(START_TIMEOUT_S),
              "start"])
        try:
            yield PostgresServer(port=port, password=password, data_dir=data_dir, bin_dir=bin_dir,
                                 log_path=log_path)
        finally:
            subprocess.run(_as_server_user([str(bin_dir / "pg_ctl"), "-D", str(data_dir), "-m", "fast", "-w",
                                            "stop"]), capture_output=True, timeout=START_TIMEOUT_S, check=False)
    finally:
        shutil.rmtree(root, ignore_errors=True)
