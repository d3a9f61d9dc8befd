"""A private PostgreSQL for tests: its own cluster in a temp dir, on a free port, started and stopped by the
fixture (FACTS: initdb and pg_ctl as user postgres, about 2 s). Skips when no PostgreSQL binaries exist."""

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.ports import free_port


def pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent if found else None


def _as_postgres(args: list[str]) -> None:
    cmd = args if os.geteuid() != 0 else ["runuser", "-u", "postgres", "--", *args]
    subprocess.run(cmd, check=True, capture_output=True, timeout=60)


class PrivatePostgres:
    def __init__(self) -> None:
        binaries = pg_bin()
        if binaries is None:
            raise RuntimeError("no PostgreSQL binaries")
        self.bin = binaries
        # Not under pytest's temp dir: that is private to root, and the server runs as postgres.
        self.base = Path(tempfile.mkdtemp(prefix="nightwatch-pg-"))
        self.dir = self.base / "data"
        self.port = free_port()

    def start(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.base, "postgres")
        _as_postgres([str(self.bin / "initdb"), "-D", str(self.dir), "-A", "trust", "-U", "postgres", "--no-sync"])
        pg_ctl = [str(self.bin / "pg_ctl"), "-D", str(self.dir), "-o", self._opts(), "-w"]
        _as_postgres([*pg_ctl, "-l", str(self.dir / "log"), "start"])

    def _opts(self) -> str:
        return f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"

    def restart(self) -> None:
        """Stop at once (as a crash would) and start again on the same port."""
        _as_postgres([str(self.bin / "pg_ctl"), "-D", str(self.dir), "-m", "immediate", "-w", "stop"])
        pg_ctl = [str(self.bin / "pg_ctl"), "-D", str(self.dir), "-o", self._opts(), "-w"]
        _as_postgres([*pg_ctl, "-l", str(self.dir / "log"), "start"])

    def stop(self) -> None:
        try:
            _as_postgres([str(self.bin / "pg_ctl"), "-D", str(self.dir), "-m", "immediate", "-w", "stop"])
        finally:
            shutil.rmtree(self.base, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        _as_postgres([str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name])
        return self.url(name)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PrivatePostgres]:
    if pg_bin() is None:
        pytest.skip("PostgreSQL is not installed")
    pg = PrivatePostgres()
    pg.start()
    try:
        yield pg
    finally:
        pg.stop()
