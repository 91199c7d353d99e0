"""A throwaway redis-server on a free loopback port for tests, and a minimal RESP subscriber."""

import os
import shutil
import socket
import subprocess
import tempfile
import time

from mt import free_port


class Redis:
    def __init__(self):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="mt-redis-")

    def start(self):
        subprocess.run(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--daemonize", "yes",
                        "--dir", self.dir, "--save", "", "--appendonly", "no",
                        "--pidfile", os.path.join(self.dir, "redis.pid"),
                        "--logfile", os.path.join(self.dir, "redis.log")], check=True)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis did not start")

    def stop(self):
        subprocess.run(["redis-cli", "-p", str(self.port), "shutdown", "nosave"], capture_output=True)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                time.sleep(0.05)
            except OSError:
                return

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}"


class Subscriber:
    """Subscribes to channels/patterns and returns (channel, message) pairs."""

    def __init__(self, port, channels=(), patterns=()):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""
        for c in channels:
            self.sock.sendall(f"SUBSCRIBE {c}\r\n".encode())
            self.read()
        for p in patterns:
            self.sock.sendall(f"PSUBSCRIBE {p}\r\n".encode())
            self.read()

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("redis closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _value(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"*":
            return [self._value() for _ in range(int(rest))]
        if kind == b"$":
            n = int(rest)
            while len(self.buf) < n + 2:
                self.buf += self.sock.recv(65536)
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data
        if kind == b":":
            return int(rest)
        return rest

    def read(self, timeout=10):
        self.sock.settimeout(timeout)
        return self._value()

    def message(self, timeout=10):
        """The next published message as (channel, text)."""
        while True:
            v = self.read(timeout)
            if v[0] == b"message":
                return v[1].decode(), v[2].decode()
            if v[0] == b"pmessage":
                return v[2].decode(), v[3].decode()
