"""DST create over real HTTP, and the DST list's query count.

A gunicorn started here on a loopback port serves the whole project plus a
trivial JSON view (the baseline, through the same middleware). A robot posts
creates with a one-page base64 PDF, first one at a time (latency), then from
CLIENTS threads at once (throughput); the trivial view is measured the same
way in the same run, in ROUNDS rounds of one baseline run then one create
run. Target: creates reach at least a third of the trivial view's throughput
(the median of the rounds' ratios). Where /proc is, each run also reports the
server's CPU per request, which the ratio of throughputs hides among the
waits. The list is asked at page sizes 10 and 100 in-process,
counting queries: the two counts must be equal.
"""

import base64
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from django.db import connection
from django.http import JsonResponse
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import include, path

SLUG = "bench-dst"
WORKERS = 2  # gunicorn processes
CLIENTS = 4  # concurrent client threads
LATENCY_REQUESTS = 100
THROUGHPUT_REQUESTS = 400  # creates per round, about 3.5 s
# Baseline requests per round: about as long a run as the creates', since a
# 400-request baseline run lasted one second and a neighbour's burst moved it
# by a fifth.
BASELINE_REQUESTS = 1200
ROUNDS = 5  # throughput rounds, each a baseline run then a create run
TARGET_RATIO = 1 / 3


def trivial(request):
    return JsonResponse({"ok": True})


def __getattr__(name: str):
    # Built on first use: gunicorn imports this module before Django is set up.
    if name == "urlpatterns":
        return [path("bench/trivial", trivial), path("", include("portal.urls"))]
    raise AttributeError(name)


def wsgi():
    """The gunicorn application: the project's, with the trivial view beside it."""
    import django
    from django.conf import settings

    django.setup()
    settings.ROOT_URLCONF = __name__
    from django.core.wsgi import get_wsgi_application

    return get_wsgi_application()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _server(port: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "PORT": str(port),
        "BASE_URL": f"http://127.0.0.1:{port}",
        "DJANGO_SETTINGS_MODULE": "portal.settings",
    }
    gunicorn = Path(sys.executable).with_name("gunicorn")
    process = subprocess.Popen(
        [
            *(str(gunicorn), f"{__name__}:wsgi()", "--bind", f"127.0.0.1:{port}"),
            *("--workers", str(WORKERS), "--log-level", "warning"),
        ],
        env=env,
        cwd=Path(__file__).resolve().parents[1],
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/bench/trivial", timeout=10).ok:
                return process
        except requests.RequestException:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("gunicorn did not start")


def _body(pdf: str, n: int) -> dict:
    return {
        "title": f"Bench {n}",
        "metadata": {"studio_email_disabled": True},
        "documents": [
            {
                "display_name": "Contratto",
                "document": pdf,
                "groups": [
                    [
                        {
                            "signer": {
                                "email": f"s{n}@mail.com",
                                "first_name": "Mario",
                                "last_name": "Rossi",
                            },
                            "profile": "pades-bes",
                            "where": {"page": 1, "position": "rect: 100,100,250,150"},
                            "constraints": ["certificate__is_simple__exact=true"],
                        }
                    ]
                ],
            }
        ],
    }


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def _latencies(call, count: int) -> list[float]:
    session = requests.Session()
    samples = []
    for n in range(count):
        start = time.perf_counter()
        call(session, n)
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def _throughput(call, count: int) -> float:
    """Requests per second with CLIENTS threads, `count` requests in all."""
    per_client = count // CLIENTS

    def client(index: int) -> None:
        session = requests.Session()
        for n in range(per_client):
            call(session, 100_000 * (index + 1) + n)

    start = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(client, range(CLIENTS)))
    return per_client * CLIENTS / (time.perf_counter() - start)


def _setup():
    from accounts import services, tokens

    created = services.organization_create(
        slug=SLUG, name="Bench", admin_username="admin", admin_password="Bench-Pass-1"
    )
    robot = services.user_create(
        actor=created.admin, organization=created.organization, username="erp", automatic=True
    )
    return robot, tokens.lifetime_token_issue(robot=robot)


def _list_queries(token: str) -> dict[int, int]:
    client = Client(headers={"Authorization": f"Token {token}"})
    counts = {}
    with override_settings(ALLOWED_HOSTS=["*"]):
        for size in (10, 100):
            with CaptureQueriesContext(connection) as queries:
                response = client.get(f"/api/v1/{SLUG}/signature-transactions?page_size={size}")
            assert response.status_code == 200, response.content
            assert len(response.json()["data"]) == size
            counts[size] = len(queries)
    return counts


def _server_cpu(server: subprocess.Popen) -> float | None:
    """CPU seconds used so far by gunicorn's processes (Linux /proc), else None."""
    pids = [server.pid]
    try:
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                with contextlib.suppress(OSError):
                    stat = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
                    if int(stat[1]) == server.pid:
                        pids.append(int(entry))
        total = 0
        for pid in pids:
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(stat[11]) + int(stat[12])  # utime, stime
    except (OSError, IndexError, ValueError):
        return None
    return total / os.sysconf("SC_CLK_TCK")


def _measured(server: subprocess.Popen, call, count: int) -> tuple[float, float | None]:
    """(requests per second, server CPU ms per request) of one throughput run."""
    before = _server_cpu(server)
    rps = _throughput(call, count)
    after = _server_cpu(server)
    cpu = None if before is None or after is None else (after - before) / count * 1000
    return rps, cpu


def run() -> None:
    from tests.signing.pdfs import simple_pdf

    robot, token = _setup()
    pdf = base64.b64encode(simple_pdf(pages=1)).decode()
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Token {token}"}
    create_url = f"{base}/api/v1/{SLUG}/signature-transactions"

    def create(session: requests.Session, n: int) -> None:
        response = session.post(create_url, json=_body(pdf, n), headers=headers, timeout=30)
        if response.status_code != 201:
            raise RuntimeError(f"create answered {response.status_code}: {response.text[:300]}")

    def hello(session: requests.Session, n: int) -> None:
        session.get(f"{base}/bench/trivial", timeout=30).raise_for_status()

    load_before = os.getloadavg()
    server = _server(port)
    rounds: list[tuple[tuple[float, float | None], tuple[float, float | None]]] = []
    try:
        for n in range(20):  # warm-up: imports, connections, caches
            create(requests, n)
            hello(requests, n)
        trivial_ms = _latencies(hello, LATENCY_REQUESTS)
        create_ms = _latencies(create, LATENCY_REQUESTS)
        # Rounds of one baseline run then one create run, paired: on a shared
        # machine a single baseline run (a second or two) catches a neighbour's
        # burst or misses it, and moved the ratio by a third between two runs.
        for _ in range(ROUNDS):
            baseline = _measured(server, hello, BASELINE_REQUESTS)
            rounds.append((baseline, _measured(server, create, THROUGHPUT_REQUESTS)))
    finally:
        server.terminate()
        server.wait(timeout=30)
    load_after = os.getloadavg()

    trivial_rps = statistics.median(t[0] for t, _ in rounds)
    create_rps = statistics.median(c[0] for _, c in rounds)
    ratio = statistics.median(c[0] / t[0] for t, c in rounds)
    print(
        f"DST create over HTTP (gunicorn, {WORKERS} workers, {CLIENTS} clients, loopback,"
        " SQLite, one-page base64 PDF)"
    )
    print(
        "  load average before {:.2f} {:.2f} {:.2f}, after {:.2f} {:.2f} {:.2f}".format(
            *load_before, *load_after
        )
    )
    for name, samples in (
        ("trivial JSON view", trivial_ms),
        ("POST signature-transactions", create_ms),
    ):
        print(
            f"  {name:<30} median {statistics.median(samples):7.2f} ms"
            f"   p95 {percentile(samples, 95):7.2f} ms"
        )
    for number, ((t_rps, t_cpu), (c_rps, c_cpu)) in enumerate(rounds, 1):
        cpu = ""
        if t_cpu is not None and c_cpu is not None:
            cpu = f"   server CPU/request {t_cpu:5.2f} ms vs {c_cpu:5.2f} ms"
        print(
            f"  round {number}: trivial {t_rps:7.1f} req/s, create {c_rps:6.1f} req/s,"
            f" {c_rps / t_rps:.2f}x{cpu}"
        )
    print(f"  {'trivial JSON view':<30} {trivial_rps:8.1f} req/s (median of {ROUNDS} rounds)")
    print(
        f"  {'POST signature-transactions':<30} {create_rps:8.1f} req/s"
        f"   {ratio:.2f}x trivial, median of the rounds' ratios (target >= {TARGET_RATIO:.2f}:"
        f" {'met' if ratio >= TARGET_RATIO else 'MISSED'})"
    )
    counts = _list_queries(token)
    equal = counts[10] == counts[100]
    print(
        f"  DST list queries: page_size=10 {counts[10]}, page_size=100 {counts[100]}"
        f" ({'equal' if equal else 'NOT EQUAL'})"
    )


def main() -> int:
    """This benchmark alone (`python -m bench.practices`), set up as `make bench` does."""
    from bench import django_setup

    django_setup()
    # Through the package, so that gunicorn and the URLconf name this module
    # bench.practices rather than __main__.
    from bench import practices

    practices.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
