"""portal.outbound, the one chokepoint for server-side HTTP, against real servers
on loopback (tests/servers.py).

Traffic goes to loopback only. Refusals are shown by pointing the guard at a
loopback listener with the allow-list off and checking that nothing arrived;
names other than localhost are answered by a replaced `outbound.resolve`, and
the C resolver is fenced off for anything else (see `no_real_dns`).
"""

import ipaddress
import logging
import socket
import tempfile
import threading
import time

import pytest

from portal import outbound
from portal.outbound import (
    BadRedirect,
    Credentials,
    OutboundError,
    Refused,
    TimedOut,
    TooLarge,
    Unreachable,
)
from tests.servers import (
    DocumentServer,
    PrivateCA,
    ServerAuth,
    SilentListener,
    WebhookReceiver,
)

PDF = b"%PDF-1.7\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"
LIMIT = 1_000_000


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


IPV6 = _has_ipv6_loopback()


def _numeric(host) -> bool:
    try:
        ipaddress.ip_address(str(host).strip("[]").split("%")[0])
        return True
    except ValueError:
        pass
    try:
        socket.inet_aton(str(host))
        return True
    except OSError:
        return False


@pytest.fixture(autouse=True)
def no_real_dns(monkeypatch):
    """No test may ask a DNS server anything: only numeric hosts and localhost
    (from /etc/hosts) reach the C resolver."""
    real = socket.getaddrinfo

    def fenced(host, *args, **kwargs):
        if host is not None and host != "localhost" and not _numeric(host):
            raise socket.gaierror(socket.EAI_NONAME, f"tests resolve no real names ({host})")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fenced)


@pytest.fixture(autouse=True)
def loopback_allowed(settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.0/8", "::1/128"]
    return settings


@pytest.fixture
def allow(settings):
    def allow(*cidrs: str) -> None:
        settings.OUTBOUND_ALLOWED_NETWORKS = list(cidrs)

    return allow


@pytest.fixture
def names(monkeypatch):
    """names({"docs.example": ["127.0.0.1"]}) makes outbound.resolve answer from
    the table (a list of answers is used one per call, the last one repeating);
    `names.calls` lists the hosts asked."""

    class Names:
        def __init__(self) -> None:
            self.calls: list[str] = []

        def __call__(self, table):
            def resolve(host, port):
                self.calls.append(host)
                answers = table[host]
                if answers and isinstance(answers[0], list):
                    return answers.pop(0) if len(answers) > 1 else answers[0]
                return answers

            monkeypatch.setattr(outbound, "resolve", resolve)

    return Names()


def get(url, **kwargs):
    kwargs.setdefault("max_bytes", LIMIT)
    kwargs.setdefault("timeout", 5)
    return outbound.request(method=kwargs.pop("method", "GET"), url=url, **kwargs)


# -- servers -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def docs():
    server = DocumentServer()
    server.add("/doc.pdf", PDF)
    server.add("/error", b"boom", status=500, content_type="text/plain")
    server.add("/exact", b"x" * 1000)
    server.redirect("/old", "/doc.pdf")
    server.redirect("/r1", "/r2")
    server.redirect("/r2", "/r3")
    server.redirect("/r3", "/doc.pdf")
    server.redirect("/see-other", "/echo", status=303)
    server.redirect("/temporary", "/echo", status=307)
    server.add("/echo", b"echo")
    server.redirect("/to-file", "file:///etc/passwd")
    server.redirect("/to-userinfo", "/doc.pdf")  # rewritten per test with the port
    server.add("/cookie", b"", status=302, headers={"Location": "/echo", "Set-Cookie": "s=1"})
    server.dribble("/dribble", b"x" * 200, interval=0.1)
    server.dribble("/dribble-head", b"x" * 10, interval=0.1, headers_too=True)
    server.hang("/hang")
    with server:
        yield server


@pytest.fixture
def served(docs):
    docs.reset()
    return docs


@pytest.fixture
def listener():
    """A fresh server that only answers GET / (to count what reaches it)."""
    server = DocumentServer()
    server.add("/", b"reached")
    with server:
        yield server


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    return PrivateCA(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def tls_docs(ca):
    server = DocumentServer(tls=ca.issue("docs", dns=("localhost", "docs.example")))
    server.add("/doc.pdf", PDF)
    with server:
        yield server


@pytest.fixture(scope="module")
def mtls_docs(ca):
    server = DocumentServer(tls=ca.issue("mtls", dns=("localhost",)), client_ca=ca.cert_path)
    server.add("/doc.pdf", PDF)
    with server:
        yield server


def controlled(server, allow) -> None:
    """Prove nothing reached `server` so far: one allowed request afterwards must
    be its first connection (the listen queue is first in, first out)."""
    allow("127.0.0.0/8", "::1/128")
    assert get(server.url("/")).body == b"reached"
    assert server.connections == 1
    assert len(server.requests) == 1


# -- requests and responses ------------------------------------------------------------------


def test_get_returns_status_headers_body_and_the_final_url(served):
    response = get(served.url("/doc.pdf"))

    assert response.status == 200
    assert response.ok
    assert response.body == PDF
    assert response.headers["content-type"] == "application/pdf"
    assert response.url == served.url("/doc.pdf")
    (seen,) = served.requests
    assert seen.method == "GET"
    assert seen.headers["User-Agent"] == "Sigillo/1.0"
    assert seen.headers["Host"] == f"127.0.0.1:{served.port}"


def test_post_sends_the_body_and_the_callers_headers(served):
    response = get(
        served.url("/echo?x=1"),
        method="post",
        headers={"Content-Type": "application/json", "X-Robot": "r2"},
        body=b'{"a": 1}',
    )

    assert response.status == 200
    (seen,) = served.requests
    assert (seen.method, seen.path, seen.body) == ("POST", "/echo?x=1", b'{"a": 1}')
    assert seen.headers["Content-Type"] == "application/json"
    assert seen.headers["X-Robot"] == "r2"
    assert "Cookie" not in seen.headers


def test_callers_cannot_set_host_or_framing_headers(served):
    get(
        served.url("/echo"),
        method="POST",
        body=b"12345",
        headers={"Host": "intranet", "Content-Length": "1", "Transfer-Encoding": "chunked"},
    )

    (seen,) = served.requests
    assert seen.headers["Host"] == f"127.0.0.1:{served.port}"
    assert seen.headers["Content-Length"] == "5"
    assert "Transfer-Encoding" not in seen.headers
    assert seen.body == b"12345"


def test_a_header_that_would_split_the_request_is_refused(served):
    with pytest.raises(Refused):
        get(served.url("/echo"), headers={"X-Robot": "r2\r\nX-Injected: 1"})
    with pytest.raises(Refused):
        get(served.url("/echo"), headers={"X-Bad\r\nName": "1"})
    assert served.requests == []


def test_an_error_status_is_a_response_not_an_exception(served):
    response = get(served.url("/error"))
    assert (response.status, response.ok, response.body) == (500, False, b"boom")


def test_proxies_from_the_environment_are_ignored(served, monkeypatch):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{port}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)

    assert get(served.url("/doc.pdf")).body == PDF


def test_cookies_are_not_carried_to_the_next_hop(served):
    response = get(served.url("/cookie"), redirects=1)

    assert response.body == b"echo"
    assert [r.path for r in served.requests] == ["/cookie", "/echo"]
    assert "Cookie" not in served.requests[1].headers


def test_a_closed_port_is_unreachable():
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()

    with pytest.raises(Unreachable, match="refused"):
        get(f"http://127.0.0.1:{port}/")


def test_a_name_that_does_not_resolve_is_unreachable(monkeypatch):
    def fail(host, port):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(outbound, "resolve", fail)

    with pytest.raises(Unreachable, match="cannot resolve nowhere.example"):
        get("http://nowhere.example/")


def test_methods_that_are_not_plain_requests_are_refused():
    for method in ("CONNECT", "TRACE", "GET /x", ""):
        with pytest.raises(Refused, match="method"):
            outbound.request(method=method, url="http://127.0.0.1:9/", max_bytes=1)


# -- authentication -------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["basic", "digest", "digest-sha256"])
def auth_docs(request):
    mode, _, algorithm = request.param.partition("-")
    auth = ServerAuth(mode, "robot", "pässword", algorithm="SHA-256" if algorithm else "MD5")
    server = DocumentServer(auth=auth)
    server.add("/doc.pdf", PDF)
    with server:
        yield server


def test_http_authentication_succeeds_with_the_right_password(auth_docs):
    auth_docs.reset()
    credentials = Credentials(username="robot", password="pässword", mode=auth_docs.auth.mode)

    response = get(auth_docs.url("/doc.pdf"), auth=credentials)

    assert (response.status, response.body) == (200, PDF)
    if auth_docs.auth.mode == "digest":
        # The challenge and the answer travel over one pinned connection.
        assert [r.headers.get("Authorization", "")[:6] for r in auth_docs.requests] == [
            "",
            "Digest",
        ]
        assert auth_docs.connections == 1


def test_a_wrong_password_is_a_401_response(auth_docs):
    credentials = Credentials(username="robot", password="wrong", mode=auth_docs.auth.mode)

    response = get(auth_docs.url("/doc.pdf"), auth=credentials)

    assert response.status == 401
    assert response.body == b"authentication required"


def test_no_credentials_is_a_401_response(auth_docs):
    assert get(auth_docs.url("/doc.pdf")).status == 401


def test_digest_challenge_round_trip_uses_the_address_checked_once(names, allow):
    auth = ServerAuth("digest", "robot", "secret")
    with (
        DocumentServer(auth=auth) as server,
        SilentListener(host="127.0.0.2", port=server.port) as elsewhere,
    ):
        server.add("/doc.pdf", PDF)
        allow("127.0.0.1/32", "127.0.0.2/32")
        # A rebinding resolver: any second lookup would lead to the silent listener.
        names({"docs.example": [["127.0.0.1"], ["127.0.0.2"]]})

        response = get(
            f"http://docs.example:{server.port}/doc.pdf",
            auth=Credentials(username="robot", password="secret", mode="digest"),
        )

        assert response.status == 200
        assert names.calls == ["docs.example"]
        assert len(server.requests) == 2
        assert elsewhere.connections == 0


def test_a_digest_challenge_is_read_within_the_size_limit():
    auth = ServerAuth("digest", "robot", "secret", challenge_body=b"x" * 200_000)
    with DocumentServer(auth=auth) as server:
        server.add("/doc.pdf", PDF)
        credentials = Credentials(username="robot", password="secret", mode="digest")

        with pytest.raises(TooLarge):
            get(server.url("/doc.pdf"), auth=credentials, max_bytes=100_000)
        assert get(server.url("/doc.pdf"), auth=credentials, max_bytes=200_000).body == PDF


def test_credentials_do_not_show_their_secrets():
    credentials = Credentials(
        username="robot", password="s3cret", client_cert_pem="CERT", client_key_pem="KEY-PEM"
    )
    assert "s3cret" not in repr(credentials)
    assert "KEY-PEM" not in repr(credentials)
    with pytest.raises(ValueError):
        Credentials(username="robot", mode="ntlm")
    with pytest.raises(ValueError):
        Credentials(client_cert_pem="CERT")


def test_logs_name_method_host_and_outcome_but_no_secrets(served, caplog):
    caplog.set_level(logging.DEBUG, logger="portal.outbound")

    get(
        served.url("/echo?token=url-SECRET"),
        method="POST",
        headers={"X-Api-Key": "header-SECRET"},
        body=b"body-SECRET",
        auth=Credentials(username="robot", password="password-SECRET"),
    )
    with pytest.raises(BadRedirect):
        get(
            served.url("/old?token=url-SECRET"),
            auth=Credentials(username="r", password="pw-SECRET"),
        )

    assert "POST 127.0.0.1: 200" in caplog.text
    assert "GET 127.0.0.1: BadRedirect" in caplog.text
    assert "SECRET" not in caplog.text


# -- TLS --------------------------------------------------------------------------------------


def test_tls_is_verified_against_the_given_ca_and_sends_the_name_as_sni(tls_docs, ca):
    tls_docs.reset()

    response = get(tls_docs.url("/doc.pdf", host="localhost"), verify=str(ca.cert_path))

    assert response.body == PDF
    assert tls_docs.requests[0].server_name == "localhost"


def test_tls_verification_is_on_by_default(tls_docs):
    with pytest.raises(Unreachable, match="certificate"):
        get(tls_docs.url("/doc.pdf", host="localhost"))


def test_a_certificate_for_another_name_fails(tls_docs, ca):
    # The certificate names localhost and docs.example, not 127.0.0.1.
    with pytest.raises(Unreachable, match="(?i)mismatch"):
        get(tls_docs.url("/doc.pdf", host="127.0.0.1"), verify=str(ca.cert_path))


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_verification_can_be_turned_off(tls_docs):
    assert get(tls_docs.url("/doc.pdf", host="127.0.0.1"), verify=False).body == PDF


def test_client_certificate_opens_the_door(mtls_docs, ca, monkeypatch, tmp_path):
    mtls_docs.reset()
    client = ca.issue("robot-client", client=True)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))

    response = get(
        mtls_docs.url("/doc.pdf", host="localhost"),
        verify=str(ca.cert_path),
        auth=Credentials(client_cert_pem=client.cert_pem, client_key_pem=client.key_pem),
    )

    assert response.body == PDF
    assert mtls_docs.requests[-1].client_cert_cn == "robot-client"
    assert list(scratch.iterdir()) == []  # the PEMs were written, loaded and removed


def test_without_a_client_certificate_tls_fails(mtls_docs, ca):
    with pytest.raises(Unreachable):
        get(mtls_docs.url("/doc.pdf", host="localhost"), verify=str(ca.cert_path))


def test_a_client_certificate_from_another_ca_fails(mtls_docs, ca, tmp_path):
    stranger = PrivateCA(tmp_path / "stranger").issue("intruder", client=True)
    with pytest.raises(Unreachable):
        get(
            mtls_docs.url("/doc.pdf", host="localhost"),
            verify=str(ca.cert_path),
            auth=Credentials(client_cert_pem=stranger.cert_pem, client_key_pem=stranger.key_pem),
        )


def test_an_unusable_client_key_is_an_outbound_error(mtls_docs, ca):
    client = ca.issue("robot-client", client=True)
    with pytest.raises(OutboundError, match="client certificate or key"):
        get(
            mtls_docs.url("/doc.pdf", host="localhost"),
            verify=str(ca.cert_path),
            auth=Credentials(client_cert_pem=client.cert_pem, client_key_pem="not a key"),
        )


# -- size -----------------------------------------------------------------------------------


def test_a_body_of_exactly_max_bytes_is_accepted_one_more_is_not(served):
    assert len(get(served.url("/exact"), max_bytes=1000).body) == 1000
    with pytest.raises(TooLarge, match="announced 1000 bytes"):
        get(served.url("/exact"), max_bytes=999)


@pytest.mark.parametrize("framing", ["length", "close", "chunked"])
def test_a_huge_body_stops_at_the_limit(framing):
    size = 64 * 1024 * 1024
    with DocumentServer() as server:
        server.huge("/huge", size, framing=framing)

        with pytest.raises(TooLarge):
            get(server.url("/huge"), max_bytes=100_000)

        assert server.routes["/huge"].sent < size // 2


# -- the total deadline --------------------------------------------------------------------


def _timed(call) -> float:
    started = time.monotonic()
    with pytest.raises(TimedOut):
        call()
    return time.monotonic() - started


def test_a_server_dribbling_its_body_is_cut_at_the_deadline(served):
    # One byte every 0.1 s: a per-read timeout alone would wait 20 s.
    assert _timed(lambda: get(served.url("/dribble"), timeout=1)) < 2


def test_a_server_dribbling_its_headers_is_cut_at_the_deadline(served):
    assert _timed(lambda: get(served.url("/dribble-head"), timeout=1)) < 2


def test_a_server_that_never_answers_is_cut_at_the_deadline(served):
    assert _timed(lambda: get(served.url("/hang"), timeout=1)) < 2


def test_a_tls_handshake_that_never_comes_is_cut_at_the_deadline():
    with SilentListener() as silent:
        assert _timed(lambda: get(silent.url(scheme="https"), timeout=1)) < 2
        assert silent.connections == 1


def test_a_slow_resolver_counts_against_the_deadline(monkeypatch):
    release = threading.Event()

    def slow(host, port):
        release.wait(10)
        return ["127.0.0.1"]

    monkeypatch.setattr(outbound, "resolve", slow)
    try:
        assert _timed(lambda: get("http://slow.example/", timeout=1)) < 2
    finally:
        release.set()


# -- redirects --------------------------------------------------------------------------------


def test_a_same_host_redirect_is_followed_when_allowed(served):
    response = get(served.url("/old"), redirects=1)

    assert response.body == PDF
    assert response.url == served.url("/doc.pdf")
    assert [r.path for r in served.requests] == ["/old", "/doc.pdf"]


def test_redirects_are_not_followed_by_default(served):
    with pytest.raises(BadRedirect, match="at most 0"):
        get(served.url("/old"))
    assert [r.path for r in served.requests] == ["/old"]


def test_a_redirect_to_another_host_is_refused(served):
    served.redirect("/elsewhere", served.url("/doc.pdf", host="localhost"))

    with pytest.raises(BadRedirect, match="another host"):
        get(served.url("/elsewhere"), redirects=5)
    assert [r.path for r in served.requests] == ["/elsewhere"]


def test_a_redirect_to_another_port_is_refused(served, listener):
    served.redirect("/other-port", listener.url("/"))

    with pytest.raises(BadRedirect):
        get(served.url("/other-port"), redirects=5)
    assert listener.connections == 0


def test_too_many_redirects_are_refused(served):
    with pytest.raises(BadRedirect, match="at most 2"):
        get(served.url("/r1"), redirects=2)
    assert get(served.url("/r1"), redirects=3).body == PDF


def test_a_redirect_out_of_http_is_refused(served):
    served.redirect("/to-userinfo", f"http://user:pw@127.0.0.1:{served.port}/doc.pdf")

    with pytest.raises(Refused, match="scheme 'file'"):
        get(served.url("/to-file"), redirects=1)
    with pytest.raises(Refused, match="credentials"):
        get(served.url("/to-userinfo"), redirects=1)


def test_a_redirect_to_a_malformed_url_is_refused(served):
    served.redirect("/malformed", "http://[::1/doc.pdf")
    with pytest.raises(BadRedirect, match="invalid URL"):
        get(served.url("/malformed"), redirects=1)


def test_see_other_turns_a_post_into_a_get_and_307_keeps_it(served):
    get(served.url("/see-other"), method="POST", body=b"payload", redirects=1)
    get(served.url("/temporary"), method="POST", body=b"payload", redirects=1)

    hops = [(r.method, r.path, r.body) for r in served.requests]
    assert hops == [
        ("POST", "/see-other", b"payload"),
        ("GET", "/echo", b""),
        ("POST", "/temporary", b"payload"),
        ("POST", "/echo", b"payload"),
    ]


def test_every_hop_is_checked_again_by_the_guard(names, allow):
    with (
        DocumentServer() as first,
        SilentListener(host="127.0.0.2", port=first.port) as second,
    ):
        first.redirect("/old", "/new")
        allow("127.0.0.1/32")  # 127.0.0.2 is outside the allow-list
        names({"docs.example": [["127.0.0.1"], ["127.0.0.2"]]})

        with pytest.raises(Refused, match="resolves to 127.0.0.2"):
            get(f"http://docs.example:{first.port}/old", redirects=1)

        assert names.calls == ["docs.example", "docs.example"]
        assert [r.path for r in first.requests] == ["/old"]
        assert second.connections == 0


# -- the guard --------------------------------------------------------------------------------

SPELLINGS = [
    "127.0.0.1",
    "localhost",
    "[::ffff:127.0.0.1]",
    "2130706433",
    "0177.0.0.1",
    "127.1",
    "0x7f.1",
]


@pytest.mark.parametrize("host", SPELLINGS)
def test_loopback_in_any_spelling_is_refused_and_nothing_arrives(host, listener, allow):
    allow()

    with pytest.raises(Refused, match="outside OUTBOUND_ALLOWED_NETWORKS"):
        get(f"http://{host}:{listener.port}/")

    controlled(listener, allow)


@pytest.mark.parametrize("host", SPELLINGS)
def test_loopback_in_any_spelling_works_when_allowed(host, listener):
    response = get(f"http://{host}:{listener.port}/")

    assert response.body == b"reached"
    assert listener.requests[0].headers["Host"] == f"{host}:{listener.port}"


@pytest.mark.skipif(not IPV6, reason="no IPv6 loopback")
def test_ipv6_loopback_is_refused_unless_allowed(allow):
    with DocumentServer(host="::1") as server:
        server.add("/", b"reached")
        allow("127.0.0.0/8")

        with pytest.raises(Refused):
            get(server.url("/"))
        assert server.connections == 0

        allow("::1/128")
        assert get(server.url("/")).body == b"reached"
        assert server.connections == 1


@pytest.mark.parametrize(
    "url, message",
    [
        ("file:///etc/passwd", "scheme 'file'"),
        ("ftp://127.0.0.1/x", "scheme 'ftp'"),
        ("gopher://127.0.0.1:70/", "scheme 'gopher'"),
        ("//127.0.0.1/", "scheme '\\(none\\)'"),
        ("http://user:pw@127.0.0.1/", "credentials"),
        ("http://user@127.0.0.1/", "credentials"),
        ("http://127.0.0.1:0/", "bad port"),
        ("http://127.0.0.1:99999/", "bad port"),
        ("http://127.0.0.1:http/", "bad port"),
        ("http:///path", "no host"),
        ("http://[fe80::1%25eth0]/", "not valid"),
        ("http://exa mple.com/", "not valid"),
        ("http://.example.com/", "not valid"),
    ],
)
def test_urls_that_can_never_be_fetched_are_refused(url, message, names):
    names({})  # any resolution would fail the test with a KeyError
    with pytest.raises(Refused, match=message):
        get(url)
    with pytest.raises(Refused):
        outbound.validate_url(url)
    assert names.calls == []


@pytest.mark.parametrize("answers", [["127.0.0.2", "127.0.0.1"], ["127.0.0.1", "127.0.0.2"]])
def test_a_name_with_one_forbidden_address_among_several_is_refused(answers, names, allow):
    with (
        DocumentServer(host="127.0.0.2") as allowed,
        SilentListener(host="127.0.0.1", port=allowed.port) as forbidden,
    ):
        allowed.add("/", b"reached")
        allow("127.0.0.2/32")
        names({"mixed.example": answers})

        with pytest.raises(Refused, match="resolves to 127.0.0.1"):
            get(f"http://mixed.example:{allowed.port}/")

        assert allowed.connections == 0
        assert forbidden.connections == 0


def test_the_connection_goes_to_the_checked_address_under_the_urls_name(names, listener):
    names({"docs.example": ["127.0.0.1"]})

    response = get(f"http://docs.example:{listener.port}/")

    assert response.body == b"reached"
    assert response.url == f"http://docs.example:{listener.port}/"
    assert listener.requests[0].headers["Host"] == f"docs.example:{listener.port}"
    assert names.calls == ["docs.example"]  # and `no_real_dns` saw no second lookup


def test_tls_to_a_pinned_address_verifies_the_urls_name(names, tls_docs, ca):
    tls_docs.reset()
    names({"docs.example": ["127.0.0.1"], "other.example": ["127.0.0.1"]})

    response = get(f"https://docs.example:{tls_docs.port}/doc.pdf", verify=str(ca.cert_path))

    assert response.body == PDF
    assert tls_docs.requests[0].server_name == "docs.example"
    with pytest.raises(Unreachable, match="(?i)mismatch"):
        get(f"https://other.example:{tls_docs.port}/doc.pdf", verify=str(ca.cert_path))


@pytest.mark.parametrize(
    "address",
    [
        "0.0.0.0",
        "10.1.2.3",
        "100.64.0.1",
        "127.0.0.1",
        "169.254.169.254",
        "172.16.0.1",
        "192.168.1.1",
        "224.0.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "::",
        "::1",
        "fe80::1",
        "fc00::1",
        "ff02::1",
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
        "2002:7f00:1::1",  # 6to4 around 127.0.0.1
        "64:ff9b::a00:1",  # NAT64 around 10.0.0.1
    ],
)
def test_non_public_addresses_are_not_allowed(address, allow):
    allow()
    assert not outbound.address_allowed(address)


def test_public_addresses_are_allowed_and_the_allow_list_opens_private_ones(allow):
    allow()
    # Classification only: nothing is sent to these.
    assert outbound.address_allowed("192.0.32.10")
    assert outbound.address_allowed("2001:500:88:200::10")
    assert not outbound.address_allowed("10.1.2.3")
    allow("10.0.0.0/8")
    assert outbound.address_allowed("10.1.2.3")
    assert outbound.address_allowed("::ffff:10.1.2.3")
    assert not outbound.address_allowed("192.168.1.1")


def test_odd_ipv4_spellings_resolve_to_what_they_mean_without_dns(monkeypatch):
    def no_dns(*args, **kwargs):
        raise AssertionError("numeric hosts need no resolver")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    for spelling in ("2130706433", "0177.0.0.1", "127.1", "0x7f.1", "0x7f000001"):
        assert outbound.resolve(spelling, 80) == ["127.0.0.1"]
    assert outbound.resolve("::ffff:127.0.0.1", 80) == ["::ffff:7f00:1"]


# -- the test servers themselves ------------------------------------------------------------


def test_the_webhook_receiver_fails_hangs_and_recovers():
    with WebhookReceiver() as receiver:
        receiver.fail(times=1, status=503)
        receiver.hang(times=1)

        assert get(receiver.url("/hook"), method="POST", body=b"1").status == 503
        with pytest.raises(TimedOut):
            get(receiver.url("/hook"), method="POST", body=b"2", timeout=0.5)
        receiver.recover()
        assert get(receiver.url("/hook"), method="POST", body=b"3").status == 200

        assert [r.body for r in receiver.wait_for(3)] == [b"1", b"2", b"3"]
