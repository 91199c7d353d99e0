"""A throwaway PostgreSQL 15 for integration tests: initdb in a temp directory owned by the
postgres user, listening on a free loopback port (and a socket in /tmp), stopped and removed
by stop(). Needs root (the server refuses to run as root, so it runs as postgres via runuser).

    with Postgres() as pg:
        pg.createdb("monkeytown")
        url = pg.url("monkeytown")
        pg.query("monkeytown", "SELECT 1")   # -> [["1"]]
"""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

PG_BIN = "/usr/lib/postgresql/15/bin"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def available():
    """Whether PostgreSQL 15 can be started here; installs the package once if it is missing."""
    if os.geteuid() != 0:
        return False
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for step in (["apt-get", "install", "-y", "-qq", "postgresql"], ["apt-get", "update", "-qq"],
                 ["apt-get", "install", "-y", "-qq", "postgresql"]):
        if os.path.exists(os.path.join(PG_BIN, "initdb")):
            break
        subprocess.run(step, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return os.path.exists(os.path.join(PG_BIN, "initdb")) and shutil.which("runuser") is not None


class Postgres:
    def __init__(self, port=None):
        self.port = port or free_port()
        self.tmp = tempfile.mkdtemp(prefix="mt-pg-")
        self.data = os.path.join(self.tmp, "data")
        self.log = os.path.join(self.tmp, "postgres.log")
        shutil.chown(self.tmp, "postgres", "postgres")

    def _as_postgres(self, *args, check=True):
        return subprocess.run(["runuser", "-u", "postgres", "--", *args], check=check,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def init(self):
        self._as_postgres(f"{PG_BIN}/initdb", "-D", self.data, "-A", "trust", "-U", "postgres",
                          "--no-sync", "-E", "UTF8", "--locale", "C")
        return self

    def start(self):
        opts = f"-p {self.port} -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off"
        self._as_postgres(f"{PG_BIN}/pg_ctl", "-D", self.data, "-l", self.log, "-o", opts,
                          "-w", "-t", "30", "start")
        return self

    def stop(self, mode="fast"):
        self._as_postgres(f"{PG_BIN}/pg_ctl", "-D", self.data, "-m", mode, "-w", "stop",
                          check=False)

    def remove(self):
        self.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def pids(self):
        """The postmaster and its children (backends, checkpointer, ...)."""
        with open(os.path.join(self.data, "postmaster.pid")) as f:
            main = int(f.readline())
        kids = subprocess.run(["pgrep", "-P", str(main)], stdout=subprocess.PIPE, text=True).stdout.split()
        return [main] + [int(k) for k in kids]

    def freeze(self):
        """SIGSTOP every process of the cluster: connections stay open, nothing answers."""
        self.frozen = self.pids()
        for pid in self.frozen:
            os.kill(pid, signal.SIGSTOP)

    def thaw(self):
        for pid in getattr(self, "frozen", []):
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        self.frozen = []

    def url(self, db):
        return f"postgres://postgres@127.0.0.1:{self.port}/{db}"

    def psql(self, db, sql, check=True):
        """Runs sql with psql -At; returns its output (stripped)."""
        r = subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                            "-d", db, "-v", "ON_ERROR_STOP=1", "-Atc", sql],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if check and r.returncode != 0:
            raise RuntimeError(f"psql failed: {r.stderr}")
        return r.stdout.strip()

    def query(self, db, sql):
        """Rows of sql as lists of strings (columns split on '|')."""
        out = self.psql(db, sql)
        return [line.split("|") for line in out.splitlines()] if out else []

    def createdb(self, db):
        self.psql("postgres", f'CREATE DATABASE "{db}"')

    def wait_ready(self, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            r = subprocess.run([f"{PG_BIN}/pg_isready", "-h", "127.0.0.1", "-p", str(self.port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if r.returncode == 0:
                return True
            time.sleep(0.1)
        return False

    def __enter__(self):
        return self.init().start()

    def __exit__(self, *exc):
        self.remove()
