"""The short signer session: what a browser that opened a ticket may do.

Opening /sign/<ticket> (or the Sign button of a logged-in person's inbox)
grants this browser's Django session one signature request for
SIGNER_SESSION_SECONDS; nobody logs in. Next to the grant the session keeps,
per request, the serial of the certificate an advanced or qualified signer was
shown, and the identity a SPID signer verified (practices.identity).

Every signer page loads its request through `signature_for`, which answers 404
for a request this session was not given, and is served with no Referer for
the pages after it (`no_referrer`).
"""

import time
from collections.abc import Callable
from functools import wraps
from uuid import UUID

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone, translation

from accounts.models import User
from practices.models import SignatureRequest

GRANTS = "signer_requests"
IDENTITIES = "signer_identities"
CERTIFICATES = "signer_certificates"
# How long the page stays usable after the ticket was opened; opening the
# ticket again starts a new period.
SIGNER_SESSION_SECONDS = getattr(settings, "SIGNER_SESSION_SECONDS", 2 * 60 * 60)
PAGE_LANGUAGES = settings.TRANSLATED_LANGUAGES


def no_referrer(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Send the view's answer with `Referrer-Policy: no-referrer`, unless it
    chose a policy itself: the signer's URLs are nobody else's business."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        response = view(request, *args, **kwargs)
        response.setdefault("Referrer-Policy", "no-referrer")
        return response

    return wrapped


def live(entries: dict, expiry_of: Callable[[object], float]) -> dict:
    """The entries of a session map whose expiry is still ahead."""
    now = time.time()
    return {key: value for key, value in entries.items() if expiry_of(value) > now}


def grant(request: HttpRequest, signature: SignatureRequest) -> None:
    """Let this browser act for `signature` for the next SIGNER_SESSION_SECONDS."""
    granted = live(request.session.get(GRANTS, {}), float)
    granted[str(signature.id)] = time.time() + SIGNER_SESSION_SECONDS
    request.session[GRANTS] = granted


def signature_for(request: HttpRequest, request_id: UUID) -> SignatureRequest:
    """The request this session was granted; 404 for any other, or once expired."""
    expiry = request.session.get(GRANTS, {}).get(str(request_id))
    if expiry is None or expiry <= time.time():
        raise Http404
    signature = (
        SignatureRequest.objects.select_related("document__practice__organization")
        .filter(pk=request_id)
        .first()
    )
    if signature is None:
        raise Http404
    return signature


def activate_language(request: HttpRequest, signature: SignatureRequest) -> None:
    """The signer's own language when they have an account in the organization,
    else the organization's; Italian when the pages do not speak it."""
    organization = signature.document.practice.organization
    user = (
        User.objects.filter(organization=organization, email__iexact=signature.signer_email)
        .only("language")
        .first()
    )
    language = user.language if user is not None else organization.language
    language = language if language in PAGE_LANGUAGES else "it"
    translation.activate(language)
    request.LANGUAGE_CODE = language


def page_context(signature: SignatureRequest) -> dict:
    """What every signer page shows in its header."""
    return {
        "signature": signature,
        "practice": signature.document.practice,
        "document": signature.document,
        "signer_name": f"{signature.signer_first_name} {signature.signer_last_name}".strip(),
    }


# --- the certificate an advanced or qualified signer was shown --------------------------


def certificate_remember(request: HttpRequest, signature: SignatureRequest, issued) -> None:
    shown = dict(request.session.get(CERTIFICATES, {}))
    shown[str(signature.id)] = issued.serial
    request.session[CERTIFICATES] = shown


def certificate_shown(request: HttpRequest, signature: SignatureRequest):
    """The certificate shown for `signature` in this session, while it can still sign."""
    from portal.models import IssuedCertificate
    from portal.trust import REUSE_MARGIN

    serial = request.session.get(CERTIFICATES, {}).get(str(signature.id))
    if not serial:
        return None
    return IssuedCertificate.objects.filter(
        serial=serial, revoked_at__isnull=True, not_after__gt=timezone.now() + REUSE_MARGIN
    ).first()
