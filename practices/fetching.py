"""A document given by `document_uri`: fetched by a task through the outbound
chokepoint (portal.outbound) with the creating robot's headers and
authentication, overridden by the document's document_uri_options; checked;
stored as revision 0. The practice becomes pending when every document is
there, or is cancelled with the contract's reason.
"""

import json

from django.conf import settings
from django.db import transaction

from practices import audit
from practices.audit import SYSTEM_ACTOR
from practices.models import Document, Practice, Revision, SignatureRequest
from practices.services import (
    document_uri_options_read,
    original_content_type,
    pending_announce,
    practice_for_update,
    practice_mark_cancelled,
    revision_files_delete,
    revision_new,
)
from practices.validation import (
    InvalidField,
    check_document_bytes,
    max_document_bytes,
    recheck_placements,
)


class FetchFailed(Exception):
    """The document could not be fetched or is not signable; `reason` is the
    practice's cancel reason. `transient` failures may succeed on a retry."""

    def __init__(self, reason: str, detail: str, *, transient: bool = False):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.transient = transient


def _fetch_request(document: Document) -> dict:
    """The outbound call for `document`: the creating robot's requestHeaders and
    authentication, overridden by the document's document_uri_options."""
    from accounts.services import robot_configuration_read
    from portal.outbound import Credentials

    headers: dict[str, str] = {}
    auth: dict[str, str] = {}
    creator = document.practice.created_by
    if creator.automatic:
        configuration = robot_configuration_read(robot=creator)
        for name, values in configuration["requestHeaders"].items():
            values = [values] if isinstance(values, str) else values
            headers[name] = ", ".join(values)
        robot_auth = configuration["authentication"]
        auth = {
            "username": robot_auth.get("username", ""),
            "password": robot_auth.get("password", ""),
            "mode": robot_auth.get("authMode") or "basic",
            "client_cert_pem": _pem(robot_auth.get("clientCert", "")),
            "client_key_pem": _pem(robot_auth.get("clientKey", "")),
        }
    options = document_uri_options_read(document=document)
    for name, values in (options.get("headers") or {}).items():
        # A document's header replaces the robot's of the same name, whatever its case.
        for existing in [h for h in headers if h.lower() == name.lower()]:
            del headers[existing]
        headers[name] = ", ".join([values] if isinstance(values, str) else values)
    if options.get("auth_username") is not None:
        auth.update(username=options["auth_username"], password=options.get("auth_password", ""))
    elif options.get("auth_password") is not None:
        auth["password"] = options["auth_password"]
    if options.get("auth_mode"):
        auth["mode"] = options["auth_mode"]
    if options.get("client_cert"):
        auth["client_cert_pem"] = _pem(options["client_cert"])
        auth["client_key_pem"] = _pem(options.get("client_key", ""))
    body = options.get("body")
    if isinstance(body, dict | list):
        body = json.dumps(body).encode()
        if not any(h.lower() == "content-type" for h in headers):
            headers["Content-Type"] = "application/json"
    elif isinstance(body, str):
        body = body.encode()
    credentials = None
    if auth.get("username") or auth.get("client_cert_pem"):
        credentials = Credentials(
            username=auth.get("username", ""),
            password=auth.get("password", ""),
            mode=auth.get("mode", "basic"),
            client_cert_pem=auth.get("client_cert_pem", ""),
            client_key_pem=auth.get("client_key_pem", ""),
        )
    method = (options.get("method") or ("POST" if body is not None else "GET")).upper()
    return {"method": method, "headers": headers, "body": body, "auth": credentials}


def _pem(value: str) -> str:
    from accounts.credentials import pem_text

    text = pem_text(value or "")
    return text + "\n" if text and not text.endswith("\n") else text


def _download(document: Document) -> bytes:
    from portal import outbound

    call = _fetch_request(document)
    try:
        response = outbound.request(
            url=document.document_uri,
            timeout=settings.DOCUMENT_FETCH_TIMEOUT,
            max_bytes=max_document_bytes(),
            redirects=settings.DOCUMENT_FETCH_REDIRECTS,
            verify=settings.DOCUMENT_FETCH_CA_BUNDLE or True,
            **call,
        )
    except outbound.TooLarge as exc:
        raise FetchFailed(Practice.Reason.INVALID_DOCUMENT, str(exc)) from exc
    except (outbound.Unreachable, outbound.TimedOut) as exc:
        raise FetchFailed(
            Practice.Reason.CANNOT_DOWNLOAD_DOCUMENT, str(exc), transient=True
        ) from exc
    except outbound.OutboundError as exc:
        raise FetchFailed(Practice.Reason.CANNOT_DOWNLOAD_DOCUMENT, str(exc)) from exc
    if not response.ok:
        raise FetchFailed(
            Practice.Reason.CANNOT_DOWNLOAD_DOCUMENT,
            f"the server answered {response.status}",
            transient=response.status >= 500 or response.status in (408, 425, 429),
        )
    if not response.body:
        raise FetchFailed(Practice.Reason.INVALID_DOCUMENT, "the server sent an empty document")
    return response.body


def _checked(document: Document, data: bytes) -> None:
    try:
        info = check_document_bytes(data, family=document.family, path="document")
    except InvalidField as exc:
        raise FetchFailed(exc.reason, exc.message) from exc
    if info is not None:
        misplaced = recheck_placements(list(document.requests.all()), info)
        if misplaced is not None:
            request, why = misplaced
            raise FetchFailed(
                Practice.Reason.INVALID_DOCUMENT,
                f"the signature of {request.signer_email} does not fit the document: {why}",
            )


def document_fetch(*, document: Document, final_attempt: bool = True) -> None:
    """Fetch `document`'s URI through the outbound guard, check it and store it
    as revision 0. When every document of the practice is there, it becomes
    pending; a failure cancels it with CANNOT_DOWNLOAD_DOCUMENT,
    INVALID_DOCUMENT or PROTECTED_DOCUMENT. A transient failure that is not the
    final attempt raises FetchFailed for the task to retry."""
    document = Document.objects.select_related(
        "practice__organization", "practice__created_by"
    ).get(pk=document.pk)
    if document.practice.status != Practice.Status.WAITING or document.revisions.exists():
        return
    try:
        data = _download(document)
        _checked(document, data)
    except FetchFailed as failure:
        if failure.transient and not final_attempt:
            raise
        _fetch_failed(document, failure)
        return
    _fetched(document, data)


def _fetch_failed(document: Document, failure: FetchFailed) -> None:
    with transaction.atomic():
        practice = practice_for_update(practice=document.practice)
        if practice.status != Practice.Status.WAITING:
            return
        practice_mark_cancelled(
            practice=practice,
            reason=failure.reason,
            actor=SYSTEM_ACTOR,
            kind="document.fetch_failed",
            data={"document": str(document.id), "detail": failure.detail[:500]},
        )


def _fetched(document: Document, data: bytes) -> None:
    written: list[str] = []
    try:
        with transaction.atomic():
            practice = practice_for_update(practice=document.practice)
            if (
                practice.status != Practice.Status.WAITING
                or Revision.objects.filter(document=document).exists()
            ):
                return
            revision = revision_new(
                document=document,
                number=0,
                data=data,
                content_type=original_content_type(document.family),
                written=written,
            )
            revision.save(force_insert=True)
            entries = [
                audit.Entry(
                    kind="document.fetched",
                    data={"document": str(document.id), "revision": 0, "size": revision.size},
                    revision_sha256=revision.sha256,
                )
            ]
            documents = list(practice.documents.all())
            ready = set(
                Revision.objects.filter(document__practice=practice, number=0).values_list(
                    "document_id", flat=True
                )
            )
            if all(d.id in ready for d in documents):
                practice.status = Practice.Status.PENDING
                practice.save(update_fields=["status", "updated"])
                entries.append(audit.Entry(kind="practice.pending", data={}))
                requests = list(
                    SignatureRequest.objects.filter(document__practice=practice).order_by(
                        "document__order", "group", "position"
                    )
                )
                pending_announce(practice, documents, requests)
            audit.audit_extend(practice=practice, entries=entries)
    except BaseException:
        revision_files_delete(written)
        raise
