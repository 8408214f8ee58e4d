"""The supervisor behind `make run`: the whole of Sigillo in the foreground.

    python -m portal.run

Prepares the database (migrate, collectstatic, the demo organization unless
DEMO=0), starts the embedded Redis when REDIS_URL is unset, then runs
gunicorn, a Celery worker and Celery beat as children. Ctrl-C or SIGTERM stops
them all, Redis last so the worker can finish talking to it; if any child
dies, the others are stopped and the exit status is 1.

Each child runs in its own process group, so a Ctrl-C in the terminal reaches
only this process, which then stops the children in order; the children also
get SIGTERM from the kernel if this process is killed outright (Linux).

Everything written at run time lives in VAR_DIR (SQLite, media, keys, the
Redis socket and snapshot, the beat schedule, temporary files).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from portal.embedded_redis import EmbeddedRedis, EmbeddedRedisError

BASE_DIR = Path(__file__).resolve().parent.parent
TRUTHY = {"1", "true", "yes", "on"}
STOP_TIMEOUT = 15.0
WEB_READY_TIMEOUT = 60.0
PR_SET_PDEATHSIG = 1


class SetupFailed(Exception):
    pass


class Interrupted(Exception):
    pass


def say(message: str) -> None:
    print(f"sigillo: {message}", file=sys.stderr, flush=True)


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in TRUTHY


def _die_with_parent_hook():
    """A preexec_fn that asks Linux to SIGTERM the child when this process dies."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None
    parent = os.getpid()

    def hook():
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return hook


def _gunicorn_supports(setting: str) -> bool:
    try:
        from gunicorn.config import KNOWN_SETTINGS
    except ImportError:
        return False
    return any(s.name == setting for s in KNOWN_SETTINGS)


class Supervisor:
    def __init__(self, environ: dict[str, str]):
        env = dict(environ)
        self.var_dir = Path(env.get("VAR_DIR") or BASE_DIR / "var").resolve()
        self.port = env.get("PORT") or "8000"
        if not self.port.isdigit() or not 0 < int(self.port) < 65536:
            raise SetupFailed(f"PORT must be a TCP port number, not {self.port!r}")
        self.bind = env.get("BIND") or "127.0.0.1"
        self.base_url = (env.get("BASE_URL") or f"http://127.0.0.1:{self.port}").rstrip("/")
        self.demo = _truthy(env.get("DEMO", "1"))
        self.embedded_redis = not env.get("REDIS_URL")
        self.log_level = (env.get("LOG_LEVEL") or "INFO").upper()

        env["VAR_DIR"] = str(self.var_dir)
        env["PORT"] = self.port
        env["DJANGO_SETTINGS_MODULE"] = "portal.settings"
        env["PYTHONUNBUFFERED"] = "1"
        env.setdefault("TMPDIR", str(self.var_dir / "tmp"))
        self.env = env

        self.python = sys.executable
        self.redis: EmbeddedRedis | None = None
        self.children: dict[str, subprocess.Popen] = {}
        self.stopping = False
        self.force = False
        self.stop_requested_at = 0.0
        self.interruptible = True
        self.exit_code = 0
        self._preexec = _die_with_parent_hook()

    # signals

    def _on_signal(self, signum, _frame):
        if self.stopping:
            # A second Ctrl-C: do not wait any longer. The same stop request
            # often arrives twice at once (make forwards SIGTERM, and tools
            # like timeout also signal the whole process group): not that.
            if time.monotonic() - self.stop_requested_at > 1.0:
                self.force = True
            return
        self.stopping = True
        self.stop_requested_at = time.monotonic()
        say(f"received {signal.Signals(signum).name}, stopping")
        if self.interruptible:
            raise Interrupted

    # steps

    def _manage(self, *args: str, capture: bool = False) -> str:
        result = subprocess.run(  # noqa: S603 (fixed argv)
            [self.python, "manage.py", *args],
            cwd=BASE_DIR,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if capture else None,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise SetupFailed(f"manage.py {args[0]} failed with status {result.returncode}")
        return result.stdout or ""

    def _check_port_free(self) -> None:
        family = socket.AF_INET6 if ":" in self.bind else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((self.bind.strip("[]"), int(self.port)))
            except OSError as exc:
                raise SetupFailed(f"cannot listen on {self.bind}:{self.port}: {exc}") from exc

    def _start_redis(self) -> None:
        self.redis = EmbeddedRedis(self.var_dir, persist=True)
        try:
            url = self.redis.start(process_group=0, preexec_fn=self._preexec)
        except EmbeddedRedisError as exc:
            raise SetupFailed(f"embedded Redis: {exc}") from exc
        self.env["REDIS_URL"] = url
        where = self.redis.socket_path if self.redis.use_socket else url
        say(f"embedded Redis listening on {where}")

    def _spawn(self, name: str, args: list[str]) -> None:
        self.children[name] = subprocess.Popen(  # noqa: S603 (fixed argv)
            args,
            cwd=BASE_DIR,
            env=self.env,
            stdin=subprocess.DEVNULL,
            process_group=0,
            preexec_fn=self._preexec,
        )

    def _web_command(self) -> list[str]:
        bind = self.bind
        if ":" in bind and not bind.startswith("["):
            bind = f"[{bind}]"
        workers = self.env.get("WEB_CONCURRENCY") or str(min(4, max(2, os.cpu_count() or 2)))
        args = [
            self.python,
            "-m",
            "gunicorn",
            "portal.wsgi:application",
            "--bind",
            f"{bind}:{self.port}",
            "--workers",
            workers,
            "--worker-class",
            "gthread",
            "--threads",
            self.env.get("WEB_THREADS") or "4",
            "--timeout",
            "120",
            "--graceful-timeout",
            "10",
            "--worker-tmp-dir",
            self.env["TMPDIR"],
            "--access-logfile",
            "-",
        ]
        # Newer gunicorns open a control socket in the home directory: two
        # instances would share it, and nothing may be written outside VAR_DIR.
        if _gunicorn_supports("control_socket_disable"):
            args.append("--no-control-socket")
        return args

    def _celery(self, *args: str) -> list[str]:
        return [self.python, "-m", "celery", "-A", "portal", *args, "--loglevel", self.log_level]

    def _start_services(self) -> None:
        self._spawn("web", self._web_command())
        self._spawn(
            "worker",
            self._celery(
                "worker",
                "--concurrency",
                self.env.get("CELERY_CONCURRENCY") or "2",
                "--hostname",
                f"sigillo-{self.port}@%h",
                "--without-gossip",
                "--without-mingle",
            ),
        )
        self._spawn(
            "beat", self._celery("beat", "--schedule", str(self.var_dir / "celerybeat-schedule"))
        )

    def _dead_child(self) -> str | None:
        for name, process in self.children.items():
            if process.poll() is not None:
                return name
        return None

    def _wait_for_web(self) -> bool:
        # A wildcard bind is reached through loopback.
        wildcard = {"0.0.0.0": "127.0.0.1", "::": "::1", "[::]": "::1"}  # noqa: S104
        host = wildcard.get(self.bind, self.bind)
        deadline = time.monotonic() + WEB_READY_TIMEOUT
        while time.monotonic() < deadline and not self.stopping:
            if self._dead_child():
                return False
            try:
                with socket.create_connection((host.strip("[]"), int(self.port)), timeout=1):
                    return True
            except OSError:
                time.sleep(0.2)
        return False

    def _banner(self, demo_output: str) -> None:
        lines = [
            "",
            f"Sigillo is running at {self.base_url}/",
            f"  API:      {self.base_url}/api/  (documentation: {self.base_url}/api/docs)",
            f"  health:   {self.base_url}/healthz",
            f"  VAR_DIR:  {self.var_dir}",
            "  broker:   " + ("embedded Redis" if self.embedded_redis else "REDIS_URL"),
        ]
        if demo_output.strip():
            lines += ["", demo_output.rstrip()]
        lines += ["", "Press Ctrl-C to stop.", ""]
        print("\n".join(lines), flush=True)

    def _supervise(self) -> None:
        while not self.stopping:
            name = self._dead_child()
            if name:
                code = self.children[name].returncode
                say(f"{name} exited with status {code}; stopping the rest")
                self.exit_code = 1
                self.stopping = True
                break
            time.sleep(0.2)

    def _stop_children(self) -> None:
        running = {n: p for n, p in self.children.items() if p.poll() is None}
        # Beat and the web first is a nicety; all get the signal at once so the
        # whole stop stays within STOP_TIMEOUT.
        for process in running.values():
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while time.monotonic() < deadline and not self.force:
            if all(p.poll() is not None for p in running.values()):
                break
            time.sleep(0.1)
        for name, process in running.items():
            if process.poll() is None:
                say(f"{name} did not stop in time, killing it")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def run(self) -> int:
        previous = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            try:
                self.var_dir.mkdir(parents=True, exist_ok=True)
                Path(self.env["TMPDIR"]).mkdir(parents=True, exist_ok=True)
                self._check_port_free()
                if self.embedded_redis:
                    self._start_redis()
                say("applying migrations")
                self._manage("migrate", "--noinput", "-v", "0")
                self._manage("collectstatic", "--noinput", "-v", "0")
                demo_output = self._manage("demo", capture=True) if self.demo else ""
                self.interruptible = False
                if not self.stopping:
                    self._start_services()
                ready = self._wait_for_web()
                if not self.stopping:
                    if not ready and not self._dead_child():
                        say(f"the web server is not answering on port {self.port} yet")
                    if not self._dead_child():
                        self._banner(demo_output)
                self._supervise()
            except Interrupted:
                pass
            except SetupFailed as exc:
                say(str(exc))
                self.exit_code = 1
            self.interruptible = False
            self.stopping = True
            self._stop_children()
        finally:
            if self.redis is not None:
                self.redis.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        say("stopped")
        return self.exit_code


def main() -> int:
    try:
        supervisor = Supervisor(dict(os.environ))
    except SetupFailed as exc:
        say(str(exc))
        return 1
    return supervisor.run()


if __name__ == "__main__":
    sys.exit(main())
