"""Integration tests against a real Celery worker that shares the test database.

pytest-django's SQLite test database lives in memory, out of reach of a worker
subprocess. When any collected test uses `integration_db`, the session's test
database becomes a file instead (decided at collection, before pytest-django
creates it), and `integration_database_url` is that file as a DATABASE_URL for
the worker. On PostgreSQL (DATABASE_URL=postgres://... for the session) it is
the test database pytest-django created on that server. `PostgresCluster`
starts a private PostgreSQL server for such a session.

A conftest takes what it needs from here, hook included:

    from tests.integration import *  # noqa: F403

Tests using the worker are `@pytest.mark.integration` and transactional: the
worker only sees what the test process has committed.
"""

import base64
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from celery import Celery

from portal.celery import app as celery_app
from portal.embedded_redis import EmbeddedRedis, free_loopback_port

__all__ = [
    "CeleryWorker",
    "PostgresCluster",
    "integration_broker",
    "integration_database_url",
    "integration_db",
    "integration_redis",
    "pytest_collection_modifyitems",
]

BASE_DIR = Path(__file__).resolve().parents[1]
SHARED_DB_FIXTURE = "integration_db"


def pytest_collection_modifyitems(session, config, items):
    """A file-based SQLite test database when some test shares it with a worker."""
    if not any(SHARED_DB_FIXTURE in getattr(item, "fixturenames", ()) for item in items):
        return
    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"] != "django.db.backends.sqlite3":
        return
    test = database.setdefault("TEST", {})
    if test.get("NAME"):
        return
    directory = tempfile.mkdtemp(prefix="sigillo-itest-")
    config.add_cleanup(lambda: shutil.rmtree(directory, ignore_errors=True))
    test["NAME"] = os.path.join(directory, "test.sqlite3")


def _database_url(settings_dict: dict) -> str:
    engine = settings_dict["ENGINE"]
    if engine == "django.db.backends.sqlite3":
        return f"sqlite:///{settings_dict['NAME']}"
    if engine == "django.db.backends.postgresql":
        password = f":{settings_dict['PASSWORD']}" if settings_dict.get("PASSWORD") else ""
        port = f":{settings_dict['PORT']}" if settings_dict.get("PORT") else ""
        return (
            f"postgres://{settings_dict['USER']}{password}@{settings_dict['HOST']}{port}"
            f"/{settings_dict['NAME']}"
        )
    raise RuntimeError(f"no worker DATABASE_URL for {engine}")


@pytest.fixture(scope="session")
def integration_database_url(django_db_setup, django_db_blocker) -> str:
    """DATABASE_URL of the session's test database, for a worker to use."""
    from django.db import connection

    with django_db_blocker.unblock():
        if connection.vendor == "sqlite" and connection.is_in_memory_db():
            pytest.fail(
                "the test database is in memory: import pytest_collection_modifyitems "
                "from tests.integration into the conftest"
            )
        return _database_url(connection.settings_dict)


@pytest.fixture
def integration_db(transactional_db, integration_database_url) -> str:
    """Committed data the worker sees; returns the worker's DATABASE_URL."""
    return integration_database_url


@pytest.fixture(scope="session")
def integration_redis(tmp_path_factory):
    """A Redis server on a free loopback port for the session."""
    server = EmbeddedRedis(tmp_path_factory.mktemp("itest-redis"), port=0)
    server.start(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    yield server
    server.stop()


@pytest.fixture
def integration_broker(integration_redis, settings):
    """This process's Celery app publishes to `integration_redis` during the test."""
    before = (celery_app.conf.broker_url, celery_app.conf.task_always_eager)

    def use(url: str, eager: bool) -> None:
        celery_app.conf.broker_url = url
        celery_app.conf.task_always_eager = eager
        # Connection and producer pools are per app, built for the old URL.
        celery_app._pool = None
        celery_app.amqp._producer_pool = None

    settings.CELERY_BROKER_URL = integration_redis.url
    use(integration_redis.url, False)
    yield integration_redis
    use(*before)


def _answers_ping(broker_url: str, hostname: str) -> bool:
    probe = Celery("itest-probe", broker=broker_url, set_as_current=False)
    try:
        return bool(probe.control.ping(destination=[hostname], timeout=0.5))
    except Exception:
        return False
    finally:
        probe.close()


@dataclass
class CeleryWorker:
    """`celery -A portal worker` (with beat when `beat`) as a subprocess."""

    broker_url: str
    database_url: str
    var_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    beat: bool = True
    concurrency: int = 4
    process: subprocess.Popen | None = None
    hostname: str = ""

    @property
    def log_path(self) -> Path:
        return self.var_dir / "worker.log"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self, ready_timeout: float = 60.0) -> "CeleryWorker":
        return self.launch().wait_ready(ready_timeout)

    def launch(self) -> "CeleryWorker":
        """Start the process without waiting for it (see wait_ready)."""
        from django.conf import settings

        self.var_dir.mkdir(parents=True, exist_ok=True)
        self.hostname = f"itest-{uuid.uuid4().hex[:8]}@{socket.gethostname()}"
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "VAR_DIR": str(self.var_dir),
            "REDIS_URL": self.broker_url,
            "DATABASE_URL": self.database_url,
            # Shared so the worker unseals what the tests sealed.
            "SECRET_KEY": settings.SECRET_KEY,
            "KEK": base64.b64encode(settings.KEK).decode(),
            "PYTHONUNBUFFERED": "1",
            **self.env,
        }
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "portal",
            "worker",
            "--pool",
            "threads",
            "--concurrency",
            str(self.concurrency),
            "--hostname",
            self.hostname,
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel",
            "INFO",
        ]
        if self.beat:
            command += ["--beat", "--schedule", str(self.var_dir / "celerybeat-schedule")]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                cwd=BASE_DIR,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def wait_ready(self, ready_timeout: float = 60.0) -> "CeleryWorker":
        deadline = time.monotonic() + ready_timeout
        while not _answers_ping(self.broker_url, self.hostname):
            if self.process.poll() is not None:
                pytest.fail(f"the worker exited with {self.process.returncode}:\n{self.log()}")
            if time.monotonic() > deadline:
                self.kill()
                pytest.fail(f"the worker did not answer a ping:\n{self.log()}")
            time.sleep(0.2)
        return self

    def kill(self) -> None:
        """SIGKILL, as an out-of-memory killer or a pulled plug would."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self, timeout: float = 20.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()


POSTGRES_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


def postgres_binary(name: str) -> str | None:
    """A PostgreSQL server program: on PATH, or where Debian's postgresql puts it."""
    found = shutil.which(name)
    if found:
        return found
    for directory in POSTGRES_BIN_DIRS:
        if (directory / name).is_file():
            return str(directory / name)
    return None


class PostgresCluster:
    """A private PostgreSQL server: initdb in a temporary directory, a loopback
    port, trust authentication for the superuser `postgres`. The server refuses
    to run as root, so as root it runs as the `postgres` system user."""

    def __init__(self) -> None:
        self.initdb = postgres_binary("initdb")
        self.pg_ctl = postgres_binary("pg_ctl")
        self.directory = Path(tempfile.mkdtemp(prefix="sigillo-pg-"))
        self.data = self.directory / "data"
        self.port = free_loopback_port()
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            self.as_user = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self.directory, "postgres", "postgres")

    @classmethod
    def missing(cls) -> str | None:
        """Why a cluster cannot start here, or None."""
        if not (postgres_binary("initdb") and postgres_binary("pg_ctl")):
            return "PostgreSQL's initdb and pg_ctl are not installed (apt-get install postgresql)"
        if os.geteuid() == 0:
            import pwd

            try:
                pwd.getpwnam("postgres")
            except KeyError:
                return "running as root and there is no postgres user to run the server as"
        return None

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/sigillo"

    def _run(self, *args: str) -> None:
        subprocess.run(
            [*self.as_user, *args],
            check=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=self.directory,
        )

    def start(self) -> "PostgresCluster":
        self._run(
            self.initdb,
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--no-sync",
        )
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} "
            f"-c unix_socket_directories={self.directory} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            self.pg_ctl,
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.directory / "server.log"),
            "-w",
            "start",
        )
        return self

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run(self.pg_ctl, "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.directory, ignore_errors=True)


def pytest_on_postgresql(*args: str) -> subprocess.CompletedProcess:
    """Run `pytest -q ARGS` in a fresh session against a private PostgreSQL server.

    pytest-django keeps one test database per session, so PostgreSQL needs a
    session of its own. Skips, saying why, when this session already runs on
    PostgreSQL or Debian's postgresql is not installed."""
    from django.conf import settings

    if settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        pytest.skip("this session already runs on PostgreSQL")
    reason = PostgresCluster.missing()
    if reason:
        pytest.skip(reason)
    cluster = PostgresCluster().start()
    try:
        return subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
            cwd=BASE_DIR,
            env={**os.environ, "DATABASE_URL": cluster.url},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        cluster.stop()
