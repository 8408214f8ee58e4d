"""Signing through the ticket API beside the engine alone, on the same document.

For PAdES-B-B and PAdES-B-T (the in-process TSA, as the ticket path uses it):
(a) the engine alone, `signing.pades.sign_pdf` over the one-page PDF with the
certificate, key, field name, appearance, reason and timestamper the ticket
path uses, and (b) `POST /api/v1/tickets/{ticket}/sign` for a click signature,
through the in-process Django test client (the whole middleware stack; no
HTTP server, so the figure is the application's own cost), with a real Redis
(started here) as the cache the ticket rate limit counts in and as the broker
of whatever the signature schedules, as in production. Each round creates
a fresh DST first, untimed, then measures (a) and (b) in an order that
alternates round by round, so drift hits both alike. Medians, p95 and their
ratio; target: the ticket path within 1.5x the engine alone.

    python -m bench.tickets       (or `make bench`, with the other benchmarks)
"""

import base64
import contextlib
import os
import statistics
import time

SLUG = "bench-tickets"
ROUNDS = 60
WARMUP = 6
TARGET_RATIO = 1.5
PROFILES = {"pades-bes": "B-B", "pades-t": "B-T"}
WHERE = {"page": 1, "position": "rect: 100,100,250,150"}
SIGNER = {"email": "mrossi@mail.com", "first_name": "Mario", "last_name": "Rossi"}
REASON = "Per accettazione"


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def _body(pdf: str, profile: str, n: int) -> dict:
    return {
        "title": f"Bench ticket {n}",
        "generate_report": False,
        "metadata": {"studio_email_disabled": True},
        "documents": [
            {
                "display_name": "Contratto",
                "document": pdf,
                "groups": [
                    [
                        {
                            "signer": SIGNER,
                            "profile": profile,
                            "reason": REASON,
                            "where": WHERE,
                            "constraints": ["certificate__is_simple__exact=true"],
                            "provider_options": {"unlock_mode": "click"},
                        }
                    ]
                ],
            }
        ],
    }


def _setup():
    from accounts import services, tokens

    created = services.organization_create(
        slug=SLUG, name="Bench", admin_username="admin-tickets", admin_password="Bench-Pass-1"
    )
    robot = services.user_create(
        actor=created.admin, organization=created.organization, username="erp", automatic=True
    )
    return tokens.lifetime_token_issue(robot=robot)


class Bench:
    def __init__(self, token: str, pdf: bytes):
        from django.test import Client

        self.robot = Client(headers={"Authorization": f"Token {token}"})
        self.signer = Client()
        self.pdf = pdf
        self.encoded = base64.b64encode(pdf).decode()
        self.count = 0

    def create(self, profile: str) -> str:
        """A fresh DST with one click signature; its ticket."""
        self.count += 1
        response = self.robot.post(
            f"/api/v1/{SLUG}/signature-transactions",
            _body(self.encoded, profile, self.count),
            content_type="application/json",
        )
        if response.status_code != 201:
            raise RuntimeError(f"create answered {response.status_code}: {response.content[:300]}")
        item = response.json()["data"]["documents"][0]["groups"][0][0]
        return item["signature_ticket"].rsplit("/sign/", 1)[1]

    def ticket_sign(self, ticket: str) -> None:
        response = self.signer.post(
            f"/api/v1/tickets/{ticket}/sign",
            {"accepted_clauses": []},
            content_type="application/json",
        )
        if response.status_code != 200:
            raise RuntimeError(f"sign answered {response.status_code}: {response.content[:300]}")

    def engine(self, level: str):
        """The engine alone as the ticket path calls it, inputs prepared once."""
        from portal import trust
        from signing.appearance import parse_where
        from signing.documents import check_pdf
        from signing.pades import sign_pdf
        from signing.pki import Profile, Subject

        name = f"{SIGNER['first_name']} {SIGNER['last_name']}"
        # The certificate the click path signs with (practices.tickets): one
        # per signer, reused while valid, so both paths sign with the same key.
        certificate = trust.certificate_for(
            profile=Profile.SIMPLE,
            subject=Subject(common_name=name, email=SIGNER["email"]),
            owner=f"signer:{SLUG}:{SIGNER['email']}",
        )
        signer = trust.signer(certificate)
        appearance = parse_where(WHERE, document=check_pdf(self.pdf))
        timestamper = trust.timestamper() if level != "B-B" else None

        def sign() -> bytes:
            from datetime import UTC, datetime

            return sign_pdf(
                self.pdf,
                signer=signer,
                field_name="Signature1-1",
                level=level,
                appearance=appearance,
                timestamper=timestamper,
                reason=REASON,
                name=name,
                signed_at=datetime.now(UTC),
            )

        return sign, certificate


def _timed(fn, *args) -> tuple[float, float]:
    """Wall-clock and CPU milliseconds of one call. On a shared machine the CPU
    time (this process's) is the steadier figure: waiting for a core is not in it."""
    start, start_cpu = time.perf_counter(), time.process_time()
    fn(*args)
    return (time.perf_counter() - start) * 1000, (time.process_time() - start_cpu) * 1000


def measure(bench: Bench, profile: str, rounds: int = ROUNDS) -> dict:
    level = PROFILES[profile]
    engine, _ = bench.engine(level)
    samples = {"engine": [], "ticket": [], "engine_cpu": [], "ticket_cpu": []}
    for index in range(WARMUP + rounds):
        ticket = bench.create(profile)  # not timed
        if index % 2:
            ticket_time = _timed(bench.ticket_sign, ticket)
            engine_time = _timed(engine)
        else:
            engine_time = _timed(engine)
            ticket_time = _timed(bench.ticket_sign, ticket)
        if index >= WARMUP:
            samples["engine"].append(engine_time[0])
            samples["engine_cpu"].append(engine_time[1])
            samples["ticket"].append(ticket_time[0])
            samples["ticket_cpu"].append(ticket_time[1])
    return {"profile": profile, "level": level, **samples}


def _key_name(certificate) -> str:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    key = certificate.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA-{key.key_size}"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return {"secp256r1": "P-256"}.get(key.curve.name, key.curve.name)
    return type(key).__name__


def run(rounds: int = ROUNDS) -> list[dict]:
    import subprocess
    from pathlib import Path

    from django.conf import settings
    from django.test import override_settings

    from portal.celery import app as celery_app
    from portal.embedded_redis import EmbeddedRedis
    from tests.signing.pdfs import simple_pdf

    token = _setup()
    bench = Bench(token, simple_pdf(pages=1))
    results = []
    redis = EmbeddedRedis(Path(settings.VAR_DIR) / "bench-tickets-redis", port=0)
    redis.start(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    broker = celery_app.conf.broker_url
    caches = {"default": {**settings.CACHES["default"], "LOCATION": redis.url}}
    # Every round signs from one client address: the limit is lifted, the
    # counting (two Redis round trips per call) is still paid.
    limits = {**settings.RATE_LIMITS, "ticket": (10**9, 60)}
    try:
        celery_app.conf.broker_url = redis.url
        celery_app._pool = None
        celery_app.amqp._producer_pool = None
        with override_settings(ALLOWED_HOSTS=["*"], CACHES=caches, RATE_LIMITS=limits):
            for profile in PROFILES:
                results.append(measure(bench, profile, rounds))
    finally:
        celery_app.conf.broker_url = broker
        celery_app._pool = None
        celery_app.amqp._producer_pool = None
        redis.stop()
    _, certificate = bench.engine("B-B")
    key = _key_name(certificate.certificate)
    print(
        f"Signing through the ticket API (in-process client, click signature, one-page PDF,"
        f" {key}, {rounds} alternating rounds, a fresh DST per round)"
    )
    for result in results:
        engine_p50 = statistics.median(result["engine"])
        ticket_p50 = statistics.median(result["ticket"])
        engine_p95 = percentile(result["engine"], 95)
        ticket_p95 = percentile(result["ticket"], 95)
        ratio = ticket_p50 / engine_p50
        result.update(ratio=ratio, key=key)
        name = result["profile"]
        print(f"  {name:<10} engine   median {engine_p50:7.2f} ms   p95 {engine_p95:7.2f} ms")
        print(
            f"  {name:<10} ticket   median {ticket_p50:7.2f} ms   p95 {ticket_p95:7.2f} ms"
            f"   {ratio:.2f}x engine (p95 {ticket_p95 / engine_p95:.2f}x; target <= {TARGET_RATIO}:"
            f" {'met' if ratio <= TARGET_RATIO else 'MISSED'})"
        )
        engine_cpu = statistics.median(result["engine_cpu"])
        ticket_cpu = statistics.median(result["ticket_cpu"])
        result.update(cpu_ratio=ticket_cpu / engine_cpu)
        print(
            f"  {name:<10} CPU median: engine {engine_cpu:7.2f} ms, ticket {ticket_cpu:7.2f} ms"
            f"   {ticket_cpu / engine_cpu:.2f}x"
        )
    with contextlib.suppress(OSError):
        print(f"  load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return results


def main() -> int:
    """This benchmark alone, set up as `make bench` does."""
    from bench import django_setup

    django_setup()
    run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
