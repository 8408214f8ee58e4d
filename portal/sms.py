"""Text messages to signers (one-time codes), through the backend SMS_BACKEND names.

- `console`: the message on standard output, for development;
- `file`: one JSON object per line appended to SMS_FILE_PATH,
  `{"to", "text", "sent_at"}` (CONTRACT §1), under an exclusive lock so that
  concurrent writers never interleave their lines;
- `http`: a POST of `{"to", "text"}` as JSON to SMS_HTTP_URL with
  SMS_HTTP_HEADERS, through the outbound guard (portal.outbound).

Messages carry codes: the logs name the backend and the outcome, never the text.
"""

import fcntl
import json
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

logger = logging.getLogger(__name__)

BACKENDS = ("console", "file", "http")
# A gateway's answer is read only to tell success from failure.
MAX_ANSWER_BYTES = 64 * 1024


class SmsFailed(Exception):
    """The message could not be handed to the gateway."""


def send_sms(*, to: str, text: str) -> None:
    backend = settings.SMS_BACKEND
    if backend == "console":
        _console(to, text)
    elif backend == "file":
        _file(to, text)
    elif backend == "http":
        _http(to, text)
    else:
        raise ImproperlyConfigured(f"SMS_BACKEND must be one of {', '.join(BACKENDS)}")
    logger.info("SMS sent through the %s backend", backend)


def _console(to: str, text: str) -> None:
    sys.stdout.write(f"SMS to {to}: {text}\n")
    sys.stdout.flush()


def _file(to: str, text: str) -> None:
    line = json.dumps(
        {"to": to, "text": text, "sent_at": datetime.now(UTC).isoformat()},
        ensure_ascii=False,
    )
    path = Path(settings.SMS_FILE_PATH)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with path.open("a", encoding="utf-8") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                handle.write(line + "\n")
                handle.flush()
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    except OSError as exc:
        raise SmsFailed(f"cannot write to SMS_FILE_PATH: {exc.strerror or exc}") from exc


def _http(to: str, text: str) -> None:
    from portal import outbound

    url = getattr(settings, "SMS_HTTP_URL", "")
    if not url:
        raise ImproperlyConfigured("SMS_BACKEND=http needs SMS_HTTP_URL")
    headers = {"Content-Type": "application/json"}
    headers.update(getattr(settings, "SMS_HTTP_HEADERS", {}) or {})
    try:
        response = outbound.request(
            method="POST",
            url=url,
            headers=headers,
            body=json.dumps({"to": to, "text": text}, ensure_ascii=False).encode(),
            timeout=getattr(settings, "SMS_HTTP_TIMEOUT", 10),
            max_bytes=MAX_ANSWER_BYTES,
        )
    except outbound.OutboundError as exc:
        raise SmsFailed(f"the SMS gateway could not be reached: {type(exc).__name__}") from exc
    if not response.ok:
        raise SmsFailed(f"the SMS gateway answered {response.status}")
