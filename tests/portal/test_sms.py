"""SMS backends (portal.sms): the file backend's JSON lines (CONTRACT §1), the
console, and the http backend against a loopback receiver."""

import json
import logging
import socket
import threading
from datetime import datetime

import pytest

from portal import sms
from tests.servers import WebhookReceiver

CODE_TEXT = "482913 is your code to sign “Contratto”. It expires in 5 minutes."


def lines(path) -> list[dict]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def test_file_backend_appends_exactly_the_contract_json_lines(settings, tmp_path):
    settings.SMS_BACKEND = "file"
    settings.SMS_FILE_PATH = str(tmp_path / "spool" / "sms.jsonl")

    sms.send_sms(to="+393331234567", text=CODE_TEXT)
    sms.send_sms(to="+393339999999", text="second")

    first, second = lines(settings.SMS_FILE_PATH)
    assert list(first) == ["to", "text", "sent_at"]
    assert (first["to"], first["text"]) == ("+393331234567", CODE_TEXT)
    assert (second["to"], second["text"]) == ("+393339999999", "second")
    sent_at = datetime.fromisoformat(first["sent_at"])
    assert sent_at.utcoffset() is not None
    with open(settings.SMS_FILE_PATH, encoding="utf-8") as handle:
        raw = handle.read()
    assert raw.count("\n") == 2 and raw.endswith("\n")
    assert "“Contratto”" in raw  # UTF-8, not escaped


def test_concurrent_writers_never_interleave_lines(settings, tmp_path):
    settings.SMS_BACKEND = "file"
    settings.SMS_FILE_PATH = str(tmp_path / "sms.jsonl")
    text = "x" * 20000  # far beyond what a single write is guaranteed to keep whole

    def writer(n: int) -> None:
        for i in range(20):
            sms.send_sms(to=f"+39{n}{i:03d}", text=f"{n}:{i}:{text}")

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    written = lines(settings.SMS_FILE_PATH)
    assert len(written) == 120
    assert {m["text"].split(":", 2)[2] for m in written} == {text}
    assert len({m["to"] for m in written}) == 120


def test_console_backend_prints_the_message(settings, capsys):
    settings.SMS_BACKEND = "console"
    sms.send_sms(to="+393331234567", text=CODE_TEXT)
    assert capsys.readouterr().out == f"SMS to +393331234567: {CODE_TEXT}\n"


def test_http_backend_posts_json_to_the_gateway(settings, caplog):
    settings.SMS_BACKEND = "http"
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    settings.SMS_HTTP_HEADERS = {"Authorization": "Bearer gateway-key"}
    caplog.set_level(logging.DEBUG)
    with WebhookReceiver() as receiver:
        settings.SMS_HTTP_URL = receiver.url("/send")

        sms.send_sms(to="+393331234567", text=CODE_TEXT)

        (request,) = receiver.wait_for(1)
    assert (request.method, request.path) == ("POST", "/send")
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Authorization"] == "Bearer gateway-key"
    assert json.loads(request.body) == {"to": "+393331234567", "text": CODE_TEXT}
    assert "482913" not in caplog.text


def test_http_backend_failures_raise(settings):
    settings.SMS_BACKEND = "http"
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    with WebhookReceiver() as receiver:
        settings.SMS_HTTP_URL = receiver.url("/send")
        receiver.fail(times=1, status=503)
        with pytest.raises(sms.SmsFailed, match="503"):
            sms.send_sms(to="+39333", text="t")

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    settings.SMS_HTTP_URL = f"http://127.0.0.1:{closed}/send"
    with pytest.raises(sms.SmsFailed, match="could not be reached"):
        sms.send_sms(to="+39333", text="t")


def test_http_backend_respects_the_private_network_guard(settings):
    settings.SMS_BACKEND = "http"
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    with WebhookReceiver() as receiver:
        settings.SMS_HTTP_URL = receiver.url("/send")
        with pytest.raises(sms.SmsFailed):
            sms.send_sms(to="+39333", text="t")
        assert receiver.requests == []


def test_the_file_backend_logs_no_text(settings, caplog):
    settings.SMS_BACKEND = "file"
    caplog.set_level(logging.DEBUG)
    sms.send_sms(to="+393331234567", text=CODE_TEXT)
    assert "482913" not in caplog.text
    assert "file backend" in caplog.text
