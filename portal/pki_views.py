"""The PKI's public endpoints (CONTRACT section 8): CA certificates, CRLs, OCSP
and the time-stamping authority. No login, no CSRF: relying parties and
validators call them. Protocol errors are answered in the protocol (an OCSP
malformedRequest, an RFC 3161 rejection), never with a 500.
"""

import base64
import binascii

from cryptography.hazmat.primitives.serialization import Encoding
from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from portal import trust
from signing.ocsp import failure as ocsp_failure
from signing.tsa import rejection as tsa_rejection

# OCSP and RFC 3161 requests are a few hundred bytes.
MAX_REQUEST_BYTES = 16 * 1024

PKIX_CRL = "application/pkix-crl"
PKIX_CERT = "application/pkix-cert"
OCSP_RESPONSE = "application/ocsp-response"
TIMESTAMP_QUERY = "application/timestamp-query"
TIMESTAMP_REPLY = "application/timestamp-reply"


def _der(body: bytes, content_type: str, *, max_age: int = 0) -> HttpResponse:
    response = HttpResponse(body, content_type=content_type)
    response["Cache-Control"] = f"public, max-age={max_age}" if max_age else "no-store"
    return response


def _body(request: HttpRequest) -> bytes | None:
    """The request body, or None when it is larger than any honest request."""
    try:
        length = int(request.headers.get("Content-Length") or 0)
    except ValueError:
        return None
    if length > MAX_REQUEST_BYTES:
        return None
    body = request.body
    return body if len(body) <= MAX_REQUEST_BYTES else None


@require_GET
def ca_pem(request: HttpRequest) -> HttpResponse:
    ca = trust.authority()
    pem = ca.root.public_bytes(Encoding.PEM) + ca.issuing.public_bytes(Encoding.PEM)
    return _der(pem, "application/x-pem-file", max_age=3600)


@require_GET
def issuing_cer(request: HttpRequest) -> HttpResponse:
    return _der(trust.authority().issuing.public_bytes(Encoding.DER), PKIX_CERT, max_age=3600)


@require_GET
def crl_der(request: HttpRequest) -> HttpResponse:
    return _der(trust.issuing_crl(), PKIX_CRL)


@require_GET
def root_crl_der(request: HttpRequest) -> HttpResponse:
    return _der(trust.root_crl(), PKIX_CRL, max_age=3600)


@require_GET
def pds(request: HttpRequest) -> HttpResponse:
    ca = trust.authority()
    text = (
        f"PKI disclosure statement: {ca.root.subject.rfc4514_string()}\n\n"
        "This certification authority is operated by the Sigillo installation at "
        f"{ca.base_url}. It issues certificates for electronic signatures and seals "
        "made on this platform only; private keys are generated and kept by the "
        "platform, encrypted at rest or on a hardware security module, and used only "
        "on the holder's instruction.\n"
        f"Revocation: CRL {ca.crl_url}, OCSP {ca.ocsp_url}.\n"
        "A certificate marked qualified by this authority is qualified only where a "
        "trusted list names this authority.\n"
    )
    return HttpResponse(text, content_type="text/plain; charset=utf-8")


@csrf_exempt
@require_POST
def ocsp_post(request: HttpRequest) -> HttpResponse:
    body = _body(request)
    if body is None:
        return _der(ocsp_failure("malformed_request"), OCSP_RESPONSE)
    return _der(trust.ocsp_response(body), OCSP_RESPONSE)


@require_GET
def ocsp_get(request: HttpRequest, encoded: str) -> HttpResponse:
    # RFC 6960 A.1: the URL-encoded base64 of the DER request (Django has
    # already undone the URL encoding); some clients drop the padding or use
    # the URL-safe alphabet. A "/" anywhere, the last character included, is
    # part of the base64.
    encoded = encoded.replace("-", "+").replace("_", "/")
    try:
        body = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        return _der(ocsp_failure("malformed_request"), OCSP_RESPONSE)
    if len(body) > MAX_REQUEST_BYTES:
        return _der(ocsp_failure("malformed_request"), OCSP_RESPONSE)
    return _der(trust.ocsp_response(body), OCSP_RESPONSE, max_age=60)


@csrf_exempt
@require_POST
def tsa(request: HttpRequest) -> HttpResponse:
    content_type = request.content_type or ""
    if content_type.lower() != TIMESTAMP_QUERY:
        return HttpResponse(
            f"send an RFC 3161 request as {TIMESTAMP_QUERY}\n",
            status=400,
            content_type="text/plain",
        )
    body = _body(request)
    if body is None:
        return _der(tsa_rejection("bad_request", "request too large"), TIMESTAMP_REPLY)
    return _der(trust.tsa().respond(body), TIMESTAMP_REPLY)


urlpatterns = [
    path("pki/ca.pem", ca_pem, name="pki-ca-pem"),
    path("pki/issuing.cer", issuing_cer, name="pki-issuing-cer"),
    path("pki/crl.der", crl_der, name="pki-crl"),
    path("pki/root-crl.der", root_crl_der, name="pki-root-crl"),
    path("pki/pds", pds, name="pki-pds"),
    path("pki/ocsp", ocsp_post, name="pki-ocsp"),
    path("pki/ocsp/<path:encoded>", ocsp_get, name="pki-ocsp-get"),
    path("tsa", tsa, name="pki-tsa"),
]
