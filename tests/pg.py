"""A PostgreSQL server for the test run.

Order of preference:
1. `HOTLINE_TEST_PG_URL` (a superuser URL such as postgresql://postgres@127.0.0.1:5432/postgres);
2. a server on 127.0.0.1:5432 that lets `postgres` in without a password (CI machines and
   developers' machines here have one; Debian's own `main` cluster asks for a password on TCP,
   so on a machine where the package was just installed the next option is taken);
3. a throwaway cluster started from Debian's PostgreSQL binaries on a free loopback port with its
   own data directory, stopped and deleted at the end (`make test` installs the package when it
   is missing). `HOTLINE_TEST_PG=local` forces this path.

Never a skip: when none of these works, the database tests fail and say why.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


class PostgresUnavailable(RuntimeError):
    pass


def port_answers(host: str, port: int, timeout: float = 0.5) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=timeout):
        return True
    return False


def default_server_usable() -> bool:
    """Does 127.0.0.1:5432 answer and let `postgres` in without a password?"""
    if not port_answers("127.0.0.1", 5432):
        return False

    async def probe() -> bool:
        import asyncpg

        try:
            conn = await asyncpg.connect(DEFAULT_SERVER, timeout=5)
        except (TimeoutError, OSError, asyncpg.PostgresError):
            return False
        await conn.close()
        return True

    return asyncio.run(probe())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _pg_bin() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                        key=lambda p: int(Path(p).parts[-3]))
    if candidates:
        return Path(candidates[-1]).parent
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise PostgresUnavailable(
        "no PostgreSQL server on 127.0.0.1:5432 and no PostgreSQL binaries to start one: "
        "run `make test` (it installs Debian's postgresql package) or set HOTLINE_TEST_PG_URL"
    )


@dataclass
class LocalCluster:
    """initdb + pg_ctl in a temporary folder. PostgreSQL refuses to run as root, so as root
    the cluster belongs to the `postgres` system user that Debian's package creates."""

    bin: Path = field(default_factory=_pg_bin)
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="hotline-pg-")))
    port: int = field(default_factory=free_port)

    def _run(self, *args: str) -> None:
        command = [str(a) for a in args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if result.returncode != 0:
            output = result.stdout + result.stderr
            raise PostgresUnavailable(f"{' '.join(command)} failed:\n{output}")

    def start(self) -> str:
        data = self.root / "data"
        if os.geteuid() == 0:
            uid = pwd.getpwnam("postgres").pw_uid
            os.chown(self.root, uid, -1)
        self._run(self.bin / "initdb", "-D", data, "-U", "postgres", "--auth=trust",
                  "--encoding=UTF8", "--locale=C.UTF-8")
        options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
        self._run(self.bin / "pg_ctl", "-D", data, "-o", options, "-l", self.root / "log",
                  "-w", "-t", "60", "start")
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._run(self.bin / "pg_ctl", "-D", self.root / "data", "-m", "immediate", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


if __name__ == "__main__":
    # scripts/ensure-postgres: exit 0 when the default server can be used as is.
    sys.exit(0 if default_server_usable() else 1)
