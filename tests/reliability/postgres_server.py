"""A throwaway PostgreSQL server (Debian's postgresql 15 binaries) on 127.0.0.1, owned by a
test session: initdb into a temp folder, start on a free port, create databases, stop."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def missing_reason() -> str | None:
    """Why the PostgreSQL profile cannot run here, or None."""
    if not (PG_BIN / "initdb").is_file():
        return f"PostgreSQL binaries not found in {PG_BIN} (apt-get install postgresql)"
    for module in ("psycopg2", "dagster_postgres"):
        try:
            __import__(module)
        except ImportError:
            return f"{module} not installed (pip install -e '.[dev]')"
    return None


class PostgresServer:
    def __init__(self, port: int) -> None:
        self.port = port
        # Not under pytest's 0700 tmp tree: the server runs as `postgres` and must reach it.
        self.root = Path(tempfile.mkdtemp(prefix="rmops-pg-"))
        self.data = self.root / "data"
        self.as_postgres = os.geteuid() == 0  # initdb refuses to run as root

    def _run(self, *args: str) -> None:
        command = " ".join(shlex.quote(a) for a in args)
        full = ["su", "postgres", "-s", "/bin/sh", "-c", command] if self.as_postgres else [
            "/bin/sh", "-c", command]  # fmt: skip
        done = subprocess.run(full, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {done.stderr[-2000:] or done.stdout[-2000:]}")

    def start(self) -> None:
        if self.as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
        self._run(str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres")
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-o", options,
                  "-l", str(self.root / "log"), "-w", "start")  # fmt: skip

    def stop(self) -> None:
        try:
            self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        # psycopg2 named explicitly: SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3.
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import sqlalchemy as sa

        engine = sa.create_engine(self.url(), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        finally:
            engine.dispose()
        return self.url(name)
