"""The signer's pages: /sign/<ticket> and what follows it.

The ticket in an email is exchanged, on first use, for a short signer session
(the request's id kept in the Django session with an expiry; nobody logs in)
and the browser goes on to /sign/s/<request id>/, a URL that does not carry
the ticket: it stays out of the history, the logs and any Referer. Every
later page and action loads the request through `_get_request_for_signer`,
which answers 404 for a request this session was not given.

The actions (send the OTP, sign, decline) are small JSON calls made by
static/js/sign.js; they go through the same ticket services as the ticket API
(practices.tickets, CONTRACT §7), so the page and the API behave alike.

Two steps exist only on the page:

- SPID: the signer goes through the identity provider (practices.identity)
  first; the verified identity is kept in this session next to the grant, for
  at most identity.IDENTITY_LIFETIME, recorded in the audit trail, and handed
  to the sign service, whose one-time certificate then names that person. The
  page's sign action refuses a SPID signature without it. (Through the ticket
  API the integrator holding the ticket has identified the signer already.)
- Advanced and qualified: the page shows the certificate the signer signs
  with. It is issued (or the one already issued to the signer reused) when
  the signer asks for the code, not when the page opens: opening a link proves
  nothing (mail scanners open links too), while asking for the code is the
  signer's own act, the one that starts the signature, and it keeps the
  register, the CRL and OCSP free of certificates that nobody used. Until
  then the card says what will be issued, in whose name.
"""

import json
import time
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import User
from practices import previews, selectors
from practices.models import Document, Practice, Revision, SignatureRequest
from practices.services import ticket_digest

SESSION_KEY = "signer_requests"
IDENTITY_SESSION_KEY = "signer_identities"
CERTIFICATE_SESSION_KEY = "signer_certificates"
REMOTE_CERTIFICATE_TYPES = ("advanced", "qualified")
# How long the page stays usable after the ticket was opened; opening the
# ticket again starts a new period.
SIGNER_SESSION_SECONDS = getattr(settings, "SIGNER_SESSION_SECONDS", 2 * 60 * 60)


def _no_referrer(response: HttpResponse) -> HttpResponse:
    response["Referrer-Policy"] = "no-referrer"
    return response


def _provider_response(response: HttpResponse) -> HttpResponse:
    """No referrer unless the identity provider chose a policy: a page with a
    form posting back here needs "same-origin", or the browser sends the post
    with `Origin: null` and the CSRF check refuses it."""
    response.setdefault("Referrer-Policy", "no-referrer")
    return response


def _signer_language(signature: SignatureRequest) -> str:
    """The signer's own language when they have an account in the organization,
    else the organization's."""
    organization = signature.document.practice.organization
    user = (
        User.objects.filter(organization=organization, email__iexact=signature.signer_email)
        .only("language")
        .first()
    )
    language = user.language if user is not None else organization.language
    return language if language in ("it", "en") else "it"


def _activate(request: HttpRequest, signature: SignatureRequest) -> None:
    language = _signer_language(signature)
    translation.activate(language)
    request.LANGUAGE_CODE = language


def _session_grant(request: HttpRequest, signature: SignatureRequest) -> None:
    granted = {
        key: expiry
        for key, expiry in request.session.get(SESSION_KEY, {}).items()
        if expiry > time.time()
    }
    granted[str(signature.id)] = time.time() + SIGNER_SESSION_SECONDS
    request.session[SESSION_KEY] = granted


def _identity_of(request: HttpRequest, signature: SignatureRequest):
    """The identity verified in this session for `signature`, while it lasts."""
    from practices.identity import VerifiedIdentity

    kept = request.session.get(IDENTITY_SESSION_KEY, {}).get(str(signature.id))
    if not kept or kept.get("expires", 0) <= time.time():
        return None
    try:
        return VerifiedIdentity.from_json(kept["identity"])
    except (KeyError, TypeError, ValueError):
        return None


def _identity_keep(request: HttpRequest, signature: SignatureRequest, identity) -> None:
    from practices.identity import IDENTITY_LIFETIME

    grant = request.session.get(SESSION_KEY, {}).get(str(signature.id), 0)
    kept = {
        key: value
        for key, value in request.session.get(IDENTITY_SESSION_KEY, {}).items()
        if value.get("expires", 0) > time.time()
    }
    kept[str(signature.id)] = {
        "identity": identity.to_json(),
        "expires": min(grant, time.time() + IDENTITY_LIFETIME.total_seconds()),
    }
    request.session[IDENTITY_SESSION_KEY] = kept


def _get_request_for_signer(request: HttpRequest, request_id: UUID) -> SignatureRequest:
    expiry = request.session.get(SESSION_KEY, {}).get(str(request_id))
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


@dataclass(frozen=True)
class Box:
    """A signature area or clause over a page image, in percent of the page."""

    kind: str  # "signature" or "clause"
    label: str
    left: float
    top: float
    width: float
    height: float


def _box(where: Any, sizes: list[tuple[float, float]], kind: str, label: str):
    """`where` as (page, Box) over the page image, or None when it is invisible."""
    from signing.appearance import parse_rect
    from signing.errors import PlacementError

    if not isinstance(where, dict) or not where.get("position"):
        return None
    try:
        page = int(where.get("page", 1))
        x1, y1, x2, y2 = parse_rect(where["position"])
    except (PlacementError, TypeError, ValueError):
        return None
    if not 1 <= page <= len(sizes):
        return None
    width, height = sizes[page - 1]
    # PDF space starts at the bottom-left; the image's CSS space at the top-left.
    return page, Box(
        kind=kind,
        label=label,
        left=round(max(x1, 0) / width * 100, 3),
        top=round(max(height - y2, 0) / height * 100, 3),
        width=round((min(x2, width) - max(x1, 0)) / width * 100, 3),
        height=round((min(y2, height) - max(y1, 0)) / height * 100, 3),
    )


def _preview_revision(document: Document) -> Revision | None:
    """The revision whose pages the signer sees: the latest PDF, or for CAdES
    the original (later revisions wrap it in a .p7m)."""
    revisions = Revision.objects.filter(document=document)
    if document.family == Document.Family.CADES:
        return revisions.order_by("number").first()
    return revisions.order_by("-number").first()


def _pages(signature: SignatureRequest) -> list[dict]:
    revision = _preview_revision(signature.document)
    if revision is None:
        return []
    try:
        sizes = previews.page_sizes(revision=revision)
    except Exception:  # a document pdfium cannot read is shown without pages
        return []
    pages = [
        {
            "number": n,
            "url": reverse("practices-sign-preview", args=[signature.id, n]),
            "width": round(w * previews.SCALE),
            "height": round(h * previews.SCALE),
            "boxes": [],
        }
        for n, (w, h) in enumerate(sizes, start=1)
    ]
    placed = _box(
        signature.where, sizes, "signature", translation.gettext("Your signature goes here")
    )
    if placed:
        pages[placed[0] - 1]["boxes"].append(placed[1])
    for clause in signature.clauses or []:
        label = translation.gettext("Clause %(id)s") % {"id": clause.get("id")}
        placed = _box(clause.get("where"), sizes, "clause", label)
        if placed:
            pages[placed[0] - 1]["boxes"].append(placed[1])
    return pages


def _state(signature: SignatureRequest) -> str:
    """What the page shows: "sign", or why there is nothing to sign."""
    practice = signature.document.practice
    if signature.status == SignatureRequest.Status.PERFORMED:
        return "performed"
    if signature.status == SignatureRequest.Status.DECLINED:
        return "declined"
    if signature.status == SignatureRequest.Status.EXPIRED or practice.status == (
        Practice.Status.EXPIRED
    ):
        return "expired"
    if practice.not_after is not None and practice.not_after <= timezone.now():
        return "expired"
    if signature.status == SignatureRequest.Status.CANCELLED or practice.status in (
        Practice.Status.CANCELLED,
        Practice.Status.PERFORMED,
    ):
        return "cancelled"
    if practice.status == Practice.Status.WAITING:
        return "waiting"
    earlier = SignatureRequest.objects.filter(
        document_id=signature.document_id, group__lt=signature.group
    ).exclude(status=SignatureRequest.Status.PERFORMED)
    if earlier.exists():
        return "locked"
    return "sign"


def _context(signature: SignatureRequest) -> dict:
    practice = signature.document.practice
    return {
        "signature": signature,
        "practice": practice,
        "document": signature.document,
        "signer_name": f"{signature.signer_first_name} {signature.signer_last_name}".strip(),
    }


def identity_context(request: HttpRequest, signature: SignatureRequest) -> dict:
    """The context of an identity provider's pages: the page's header and a way back."""
    context = _context(signature)
    context["sign_url"] = reverse("practices-sign-page", args=[signature.id])
    return context


# --- the certificate of an advanced or qualified signature ---------------------------


def _certificate_shown(request: HttpRequest, signature: SignatureRequest):
    """The certificate issued for `signature` in this session, while it can still sign."""
    from portal.models import IssuedCertificate
    from portal.trust import REUSE_MARGIN

    serial = request.session.get(CERTIFICATE_SESSION_KEY, {}).get(str(signature.id))
    if not serial:
        return None
    return IssuedCertificate.objects.filter(
        serial=serial, revoked_at__isnull=True, not_after__gt=timezone.now() + REUSE_MARGIN
    ).first()


def _certificate_remember(request: HttpRequest, signature: SignatureRequest, issued) -> None:
    shown = dict(request.session.get(CERTIFICATE_SESSION_KEY, {}))
    shown[str(signature.id)] = issued.serial
    request.session[CERTIFICATE_SESSION_KEY] = shown


def _name_part(name, oid) -> str:
    values = name.get_attributes_for_oid(oid)
    return str(values[0].value) if values else ""


def _certificate_card(signature: SignatureRequest, issued) -> dict:
    """What the certificate card shows: the details of `issued`, or (None) what
    will be issued."""
    card = {"qualified": signature.signature_type == "qualified", "issued": False}
    if issued is None:
        return card
    from cryptography.x509.oid import NameOID

    from signing.pki import OID_QC_STATEMENTS

    certificate = issued.certificate
    serial = format(certificate.serial_number, "X")
    serial = serial.rjust(len(serial) + len(serial) % 2, "0")
    issuer = certificate.issuer
    card.update(
        issued=True,
        holder=_name_part(certificate.subject, NameOID.COMMON_NAME),
        holder_id=_name_part(certificate.subject, NameOID.SERIAL_NUMBER),
        issuer=_name_part(issuer, NameOID.COMMON_NAME),
        issuer_organization=_name_part(issuer, NameOID.ORGANIZATION_NAME),
        serial=":".join(serial[i : i + 2] for i in range(0, len(serial), 2)),
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
        qualified=any(e.oid == OID_QC_STATEMENTS for e in certificate.extensions),
    )
    return card


@never_cache
@require_GET
def sign_entry(request: HttpRequest, ticket: str) -> HttpResponse:
    signature = (
        SignatureRequest.objects.select_related("document__practice__organization")
        .filter(ticket_digest=ticket_digest(ticket))
        .first()
    )
    if signature is None:
        # Guessing is hopeless (256-bit tickets), and still limited like the API.
        from portal import ratelimit

        wait = ratelimit.hit(scope="ticket", key=ratelimit.client_address(request))
        response = render(
            request, "practices/sign_unknown.html", status=404 if wait is None else 429
        )
        if wait is not None:
            response["Retry-After"] = str(wait)
        return _no_referrer(response)
    # A new session key, so that a session planted before the ticket was
    # opened does not inherit the grant.
    request.session.cycle_key()
    _session_grant(request, signature)
    return _no_referrer(redirect("practices-sign-page", request_id=signature.id))


@never_cache
@require_GET
def sign_page(request: HttpRequest, request_id: UUID) -> HttpResponse:
    from practices import tickets

    signature = _get_request_for_signer(request, request_id)
    _activate(request, signature)
    context = _context(signature)
    state = _state(signature)
    if state != "sign":
        context["state"] = state
        return _no_referrer(render(request, "practices/sign_state.html", context))
    if signature.signature_type in REMOTE_CERTIFICATE_TYPES:
        context["certificate"] = _certificate_card(
            signature, _certificate_shown(request, signature)
        )
    if signature.signature_type == "spid":
        context["identity"] = _identity_of(request, signature)
        context["identity_url"] = reverse("practices-sign-identity", args=[signature.id])
    context.update(
        pages=_pages(signature),
        clauses=signature.clauses or [],
        otp_cooldown=int(tickets.OTP_COOLDOWN.total_seconds()),
        otp_attempts_left=_attempts_left(signature),
        actions={
            "otp": reverse("practices-sign-otp", args=[signature.id]),
            "sign": reverse("practices-sign-submit", args=[signature.id]),
            "decline": reverse("practices-sign-decline", args=[signature.id]),
        },
    )
    return _no_referrer(render(request, "practices/sign.html", context))


@never_cache
@require_GET
def sign_preview(request: HttpRequest, request_id: UUID, page: int) -> HttpResponse:
    signature = _get_request_for_signer(request, request_id)
    revision = _preview_revision(signature.document)
    if revision is None:
        raise Http404
    try:
        path = previews.page_png(revision=revision, page=page)
    except previews.NoPreview:
        raise Http404 from None
    response = FileResponse(path.open("rb"), content_type="image/png")
    response["Cache-Control"] = "private, max-age=3600"
    return _no_referrer(response)


@never_cache
@require_GET
def sign_done(request: HttpRequest, request_id: UUID) -> HttpResponse:
    signature = _get_request_for_signer(request, request_id)
    _activate(request, signature)
    context = _context(signature)
    context["state"] = _state(signature)
    return _no_referrer(render(request, "practices/sign_done.html", context))


@never_cache
@require_GET
def sign_download(request: HttpRequest, request_id: UUID) -> HttpResponse:
    signature = _get_request_for_signer(request, request_id)
    document = signature.document
    revision = selectors.revision_latest(document=document)
    if revision is None:
        raise Http404
    p7m = revision.content_type == "application/pkcs7-mime"
    name = (document.display_name or "document").replace("/", "-").replace("\\", "-")
    if p7m:
        name = f"{name}.pdf.p7m" if not name.lower().endswith(".p7m") else name
    elif not name.lower().endswith(".pdf"):
        name = f"{name}.pdf"
    response = FileResponse(
        revision.file.open("rb"),
        content_type=revision.content_type,
        as_attachment=True,
        filename=name,
    )
    return _no_referrer(response)


# --- actions (JSON, called by static/js/sign.js) ----------------------------------


def _error(status: int, error_type: str, message: str, field: str = "", **extra) -> JsonResponse:
    text = f"{field} : {message}" if field else message
    meta = {"code": status, "error_type": error_type, "error_message": text, **extra}
    return JsonResponse({"meta": meta}, status=status)


def _json_body(request: HttpRequest) -> dict | None:
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _attempts_left(signature: SignatureRequest) -> int:
    from practices.models import OtpChallenge
    from practices.tickets import OTP_MAX_ATTEMPTS as MAX

    challenge = OtpChallenge.objects.filter(request=signature).order_by("-created", "-id").first()
    return max(MAX - (challenge.attempts if challenge else 0), 0)


def _perform(request: HttpRequest, request_id: UUID, action: str) -> HttpResponse:
    """Run one ticket service for the session's request and answer as the ticket API."""
    from portal import ratelimit
    from practices import tickets

    signature = _get_request_for_signer(request, request_id)
    _activate(request, signature)
    address = ratelimit.client_address(request)
    wait = ratelimit.hit(scope="ticket", key=address)
    if wait is not None:
        response = _error(429, "TooManyRequests", "Too many attempts, retry later")
        response["Retry-After"] = str(wait)
        return _no_referrer(response)
    body = _json_body(request)
    if body is None:
        return _no_referrer(_error(400, "ValidationError", "The body is not a JSON object"))
    actor = tickets.SignerActor(
        ip=address or "",
        user_agent=request.headers.get("User-Agent", "")[:500],
        signer=signature.signer_email,
    )
    try:
        if action == "otp":
            tickets.otp_send(request=signature, actor=actor)
            if signature.signature_type not in REMOTE_CERTIFICATE_TYPES:
                return _no_referrer(HttpResponse(status=204))
            return _no_referrer(_certificate_issued(request, signature))
        if action == "sign":
            accepted = body.get("accepted_clauses") or []
            otp = body.get("otp") or None
            graphometric = body.get("graphometric") or {}
            if (
                not isinstance(accepted, list)
                or not isinstance(otp, str | None)
                or not isinstance(graphometric, dict)
            ):
                return _no_referrer(_error(400, "ValidationError", "Malformed request"))
            identity = _identity_of(request, signature)
            # A request that cannot be signed any more answers as the API does
            # (409, 410, 403), identity or not.
            needs_identity = signature.signature_type == "spid" and _state(signature) == "sign"
            if needs_identity and identity is None:
                return _no_referrer(
                    _error(
                        401,
                        "Unauthorized",
                        translation.gettext("Verify your identity before signing."),
                        "identity",
                    )
                )
            outcome = tickets.ticket_sign(
                request=signature,
                actor=actor,
                accepted_clauses=[str(c) for c in accepted],
                otp=otp,
                image_data_url=graphometric.get("image") or None,
                identity=identity if signature.signature_type == "spid" else None,
            )
        else:
            reason = body.get("reason")
            if not isinstance(reason, str) or not reason.strip():
                return _no_referrer(_error(400, "ValidationError", "Give a reason", "reason"))
            outcome = tickets.ticket_decline(
                request=signature, actor=actor, reason=reason.strip()[:1000]
            )
    except tickets.TicketRefused as exc:
        extra = {}
        if exc.field == "otp" and exc.status in (401, 429):
            extra["attempts_left"] = _attempts_left(signature)
        response = _error(exc.status, exc.error_type, exc.message, exc.field, **extra)
        if exc.retry_after:
            response["Retry-After"] = str(exc.retry_after)
        return _no_referrer(response)
    # After the work, the signer lands on the DST's own page when it gave one,
    # else on our completion page.
    redirect_to = outcome.redirect or reverse("practices-sign-done", args=[signature.id])
    return _no_referrer(JsonResponse({"status": outcome.status, "redirect": redirect_to}))


def _certificate_issued(request: HttpRequest, signature: SignatureRequest) -> HttpResponse:
    """After the code went: the certificate the signature will use, issued now
    on first use (see the module's docstring), as the card's new HTML."""
    import logging

    from practices import tickets

    try:
        # The very function signing uses, so that signing finds this certificate.
        issued = tickets._certificate(signature)
    except Exception:
        # The code is sent; signing issues the certificate again if this failed.
        logging.getLogger(__name__).exception("certificate for %s not issued", signature.id)
        issued = None
    if issued is not None:
        _certificate_remember(request, signature, issued)
    html = render_to_string(
        "practices/_sign_certificate.html",
        {"certificate": _certificate_card(signature, issued)},
        request=request,
    )
    return JsonResponse({"status": "sent", "certificate_html": html})


# --- the identity step of a SPID signature -------------------------------------------


def _identity_step(request: HttpRequest, request_id: UUID):
    """The signature when it is a SPID request that can be signed now, else the
    response to give instead (the sign page explains the state)."""
    signature = _get_request_for_signer(request, request_id)
    _activate(request, signature)
    if signature.signature_type != "spid" or _state(signature) != "sign":
        return signature, _no_referrer(redirect("practices-sign-page", request_id=signature.id))
    return signature, None


@never_cache
@require_GET
def sign_identity(request: HttpRequest, request_id: UUID) -> HttpResponse:
    from practices import identity

    signature, instead = _identity_step(request, request_id)
    if instead is not None:
        return instead
    return _provider_response(identity.provider().begin(request, signature))


@never_cache
@require_http_methods(["GET", "POST"])
def sign_identity_complete(request: HttpRequest, request_id: UUID) -> HttpResponse:
    from portal import ratelimit
    from practices import identity
    from practices.audit import audit_append
    from practices.services import _locked
    from practices.tickets import SignerActor

    signature, instead = _identity_step(request, request_id)
    if instead is not None:
        return instead
    address = ratelimit.client_address(request)
    wait = ratelimit.hit(scope="ticket", key=address)
    if wait is not None:
        response = render(
            request, "practices/identity_refused.html", _context(signature), status=429
        )
        response["Retry-After"] = str(wait)
        return _no_referrer(response)
    provider = identity.provider()
    try:
        verified = provider.complete(request, signature)
        if not identity.matches_signer(verified, signature):
            raise identity.IdentityRefused(
                translation.gettext(
                    "The identity verified is not the person this signature request is for."
                )
            )
    except identity.IdentityRefused as refusal:
        return _provider_response(provider.refused(request, signature, refusal))
    actor = SignerActor(
        ip=address or "",
        user_agent=request.headers.get("User-Agent", "")[:500],
        signer=signature.signer_email,
    )
    with transaction.atomic():
        practice = _locked(signature.document.practice)
        audit_append(
            practice=practice,
            kind="signature.identity_verified",
            actor=actor,
            data={"signature": str(signature.id), **verified.to_json()},
        )
    _identity_keep(request, signature, verified)
    return _no_referrer(redirect("practices-sign-page", request_id=signature.id))


@never_cache
@require_POST
def sign_otp(request: HttpRequest, request_id: UUID) -> HttpResponse:
    return _perform(request, request_id, "otp")


@never_cache
@require_POST
def sign_submit(request: HttpRequest, request_id: UUID) -> HttpResponse:
    return _perform(request, request_id, "sign")


@never_cache
@require_POST
def sign_decline(request: HttpRequest, request_id: UUID) -> HttpResponse:
    return _perform(request, request_id, "decline")
