"""`python -m portal.run`, the supervisor behind `make run`, started for real.

It must bring up the embedded Redis, the web server, a worker and beat, answer
/healthz with everything ok, and on SIGTERM stop every process it started.
"""

import contextlib
import http.client
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.urls import reverse

from portal.embedded_redis import free_loopback_port
from portal.management.commands.demo import DEFAULT_PASSWORD

BASE_DIR = Path(__file__).resolve().parents[2]
READY_TIMEOUT = 90.0
STOP_TIMEOUT = 30.0
CHILDREN_GONE_TIMEOUT = 20.0


def get(port: int, path: str) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _stat(pid: int) -> tuple[str, str, int] | None:
    """(state, start time, parent pid) of a live process, None when gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    return fields[0], fields[19], int(fields[1])


def descendants(root: int) -> dict[int, tuple[str, str]]:
    """{pid: (start time, command line)} of every live process below `root`."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))):
            parents[int(entry.name)] = stat
    found, frontier = {}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, (state, started, ppid) in parents.items():
            if ppid == parent and pid not in found and state != "Z":
                try:
                    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
                except OSError:
                    continue
                found[pid] = (started, cmdline.decode(errors="replace"))
                frontier.append(pid)
    return found


def alive(pid: int, started: str) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[1] == started and stat[0] != "Z"


@pytest.mark.integration
def test_run_starts_everything_answers_healthz_and_stops_everything_on_sigterm(tmp_path):
    port = free_loopback_port()
    var_dir = tmp_path / "var"
    env = {
        key: value
        for key, value in os.environ.items()
        if key
        not in {"REDIS_URL", "DATABASE_URL", "BASE_URL", "SECRET_KEY", "KEK", "BIND", "TMPDIR"}
    }
    env.update({"PORT": str(port), "VAR_DIR": str(var_dir), "DEMO": "1"})
    env.pop("DEMO_PASSWORD", None)
    log_path = tmp_path / "run.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "portal.run"],
            cwd=BASE_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def output() -> str:
        return log_path.read_text(errors="replace")

    try:
        health = None
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            assert process.poll() is None, f"portal.run exited early:\n{output()}"
            try:
                status, body = get(port, "/healthz")
                health = (status, json.loads(body))
                if status == 200:
                    break
            except (OSError, ValueError):
                pass
            time.sleep(0.5)
        assert health == (
            200,
            {"status": "ok", "database": "ok", "broker": "ok", "worker": "ok"},
        ), f"last /healthz: {health}\n{output()}"

        home, _ = get(port, "/")
        login, _ = get(port, reverse("accounts-login"))
        assert home in (200, 301, 302, 303, 307, 308)
        assert login == 200

        # The banner: the URL and the demo logins.
        deadline = time.monotonic() + 10
        while "Press Ctrl-C to stop" not in output() and time.monotonic() < deadline:
            time.sleep(0.2)
        printed = output()
        assert f"http://127.0.0.1:{port}/" in printed
        for username in ("admin", "instructor", "signer"):
            assert f"demo          {username}" in printed
        assert DEFAULT_PASSWORD in printed
        assert "lifetime token:" in printed and "client_secret " in printed

        # The embedded Redis lives in VAR_DIR, on a socket.
        assert (var_dir / "redis.sock").is_socket()
        assert (var_dir / "db.sqlite3").is_file()

        children = descendants(process.pid)
        commands = " ".join(cmd for _, cmd in children.values())
        programs = ("gunicorn", "celery -A portal worker", "celery -A portal beat", "redis-server")
        for program in programs:
            assert program in commands, commands

        process.send_signal(signal.SIGTERM)
        assert process.wait(STOP_TIMEOUT) == 0, output()

        deadline = time.monotonic() + CHILDREN_GONE_TIMEOUT
        while time.monotonic() < deadline:
            left = {pid: cmd for pid, (started, cmd) in children.items() if alive(pid, started)}
            if not left:
                break
            time.sleep(0.2)
        assert not left, f"still running after SIGTERM: {left}"
        assert not (var_dir / "redis.sock").exists()
    finally:
        if process.poll() is None:
            leftovers = descendants(process.pid)
            process.kill()
            process.wait()
            for pid, (started, _) in leftovers.items():
                if alive(pid, started):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
