"""DST create over real HTTP, and the DST list's query count.

A gunicorn started here on a loopback port serves the whole project plus a
trivial JSON view (the baseline, through the same middleware). A robot posts
creates with a one-page base64 PDF, first one at a time (latency), then from
CLIENTS threads at once (throughput); the trivial view is measured the same
way in the same run. Target: creates reach at least a third of the trivial
view's throughput. The list is asked at page sizes 10 and 100 in-process,
counting queries: the two counts must be equal.
"""

import base64
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
THROUGHPUT_REQUESTS = 400
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

    server = _server(port)
    try:
        for n in range(20):  # warm-up: imports, connections, caches
            create(requests, n)
            hello(requests, n)
        trivial_ms = _latencies(hello, LATENCY_REQUESTS)
        create_ms = _latencies(create, LATENCY_REQUESTS)
        trivial_rps = _throughput(hello, THROUGHPUT_REQUESTS)
        create_rps = _throughput(create, THROUGHPUT_REQUESTS)
    finally:
        server.terminate()
        server.wait(timeout=30)

    ratio = create_rps / trivial_rps
    print(
        f"DST create over HTTP (gunicorn, {WORKERS} workers, {CLIENTS} clients, loopback,"
        " SQLite, one-page base64 PDF)"
    )
    for name, samples in (
        ("trivial JSON view", trivial_ms),
        ("POST signature-transactions", create_ms),
    ):
        print(
            f"  {name:<30} median {statistics.median(samples):7.2f} ms"
            f"   p95 {percentile(samples, 95):7.2f} ms"
        )
    print(f"  {'trivial JSON view':<30} {trivial_rps:8.1f} req/s")
    print(
        f"  {'POST signature-transactions':<30} {create_rps:8.1f} req/s"
        f"   {ratio:.2f}x trivial (target >= {TARGET_RATIO:.2f}:"
        f" {'met' if ratio >= TARGET_RATIO else 'MISSED'})"
    )
    counts = _list_queries(token)
    equal = counts[10] == counts[100]
    print(
        f"  DST list queries: page_size=10 {counts[10]}, page_size=100 {counts[100]}"
        f" ({'equal' if equal else 'NOT EQUAL'})"
    )
