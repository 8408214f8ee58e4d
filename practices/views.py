"""The signer's pages: /sign/<ticket> and what follows it.

The ticket in an email is exchanged, on first use, for a short signer session
(the request's id kept in the Django session with an expiry; nobody logs in)
and the browser goes on to /sign/s/<request id>/, a URL that does not carry
the ticket: it stays out of the history, the logs and any Referer. Every
later page and action loads the request through the session
(practices.signer_session), which answers 404 for a request it was not given.

The actions (send the OTP, sign, decline) are small JSON calls made by
static/js/sign.js; they go through the same ticket services as the ticket API
(practices.tickets, CONTRACT §7), so the page and the API behave alike.

Two steps exist only on the page:

- SPID: the signer goes through the identity provider first
  (practices.identity_views); the verified identity is kept in this session
  next to the grant, recorded in the audit trail, and handed to the sign
  service, whose one-time certificate then names that person. The page's sign
  action refuses a SPID signature without it. (Through the ticket API the
  integrator holding the ticket has identified the signer already.)
- Advanced and qualified: the page shows the certificate the signer signs
  with. It is issued (or the one already issued to the signer reused) when
  the signer asks for the code, not when the page opens: opening a link proves
  nothing (mail scanners open links too), while asking for the code is the
  signer's own act, the one that starts the signature, and it keeps the
  register, the CRL and OCSP free of certificates that nobody used. Until
  then the card says what will be issued, in whose name.
"""

import json
import logging
from dataclasses import dataclass
from functools import wraps
from typing import Any
from uuid import UUID

from cryptography.x509.oid import NameOID
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from portal import ratelimit
from practices import identity, previews, selectors, signer_session, tickets
from practices.models import Document, OtpChallenge, Practice, Revision, SignatureRequest
from practices.services import ticket_digest
from practices.signer_session import no_referrer
from signing.appearance import parse_rect
from signing.errors import PlacementError
from signing.pki import OID_QC_STATEMENTS

logger = logging.getLogger(__name__)

REMOTE_CERTIFICATE_TYPES = ("advanced", "qualified")


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


def page_state(signature: SignatureRequest) -> str:
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
    if selectors.request_locked(request=signature):
        return "locked"
    return "sign"


# --- the certificate of an advanced or qualified signature ---------------------------


def _name_part(name, oid) -> str:
    values = name.get_attributes_for_oid(oid)
    return str(values[0].value) if values else ""


def _certificate_card(signature: SignatureRequest, issued) -> dict:
    """What the certificate card shows: the details of `issued`, or (None) what
    will be issued."""
    card = {"qualified": signature.signature_type == "qualified", "issued": False}
    if issued is None:
        return card
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
@no_referrer
@require_GET
def sign_entry(request: HttpRequest, ticket: str) -> HttpResponse:
    signature = (
        SignatureRequest.objects.select_related("document__practice__organization")
        .filter(ticket_digest=ticket_digest(ticket))
        .first()
    )
    if signature is None:
        # Guessing is hopeless (256-bit tickets), and still limited like the API.
        wait = ratelimit.hit(scope="ticket", key=ratelimit.client_address(request))
        response = render(
            request, "practices/sign_unknown.html", status=404 if wait is None else 429
        )
        if wait is not None:
            response["Retry-After"] = str(wait)
        return response
    # A new session key, so that a session planted before the ticket was
    # opened does not inherit the grant.
    request.session.cycle_key()
    signer_session.grant(request, signature)
    return redirect("practices-sign-page", request_id=signature.id)


@never_cache
@no_referrer
@require_GET
def sign_page(request: HttpRequest, request_id: UUID) -> HttpResponse:
    signature = signer_session.signature_for(request, request_id)
    signer_session.activate_language(request, signature)
    context = signer_session.page_context(signature)
    state = page_state(signature)
    if state != "sign":
        context["state"] = state
        return render(request, "practices/sign_state.html", context)
    if signature.signature_type in REMOTE_CERTIFICATE_TYPES:
        context["certificate"] = _certificate_card(
            signature, signer_session.certificate_shown(request, signature)
        )
    if signature.signature_type == "spid":
        context["identity"] = identity.identity_of(request, signature)
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
    return render(request, "practices/sign.html", context)


@never_cache
@no_referrer
@require_GET
def sign_preview(request: HttpRequest, request_id: UUID, page: int) -> HttpResponse:
    signature = signer_session.signature_for(request, request_id)
    revision = _preview_revision(signature.document)
    if revision is None:
        raise Http404
    try:
        path = previews.page_png(revision=revision, page=page)
    except previews.NoPreview:
        raise Http404 from None
    response = FileResponse(path.open("rb"), content_type="image/png")
    response["Cache-Control"] = "private, max-age=3600"
    return response


@never_cache
@no_referrer
@require_GET
def sign_done(request: HttpRequest, request_id: UUID) -> HttpResponse:
    signature = signer_session.signature_for(request, request_id)
    signer_session.activate_language(request, signature)
    context = signer_session.page_context(signature)
    context["state"] = page_state(signature)
    return render(request, "practices/sign_done.html", context)


@never_cache
@no_referrer
@require_GET
def sign_download(request: HttpRequest, request_id: UUID) -> HttpResponse:
    signature = signer_session.signature_for(request, request_id)
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
    return response


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
    challenge = OtpChallenge.objects.filter(request=signature).order_by("-created", "-id").first()
    return max(tickets.OTP_MAX_ATTEMPTS - (challenge.attempts if challenge else 0), 0)


def _signer_action(action):
    """A JSON action of the page, answered as the ticket API answers: `action`
    runs one ticket service for the session's request as
    action(request, signature, body, actor); a refusal becomes the API's error."""

    @wraps(action)
    def view(request: HttpRequest, request_id: UUID) -> HttpResponse:
        signature = signer_session.signature_for(request, request_id)
        signer_session.activate_language(request, signature)
        address = ratelimit.client_address(request)
        wait = ratelimit.hit(scope="ticket", key=address)
        if wait is not None:
            response = _error(429, "TooManyRequests", "Too many attempts, retry later")
            response["Retry-After"] = str(wait)
            return response
        body = _json_body(request)
        if body is None:
            return _error(400, "ValidationError", "The body is not a JSON object")
        actor = tickets.SignerActor.of(request, signature)
        try:
            return action(request, signature, body, actor)
        except tickets.TicketRefused as exc:
            extra = {}
            if exc.field == "otp" and exc.status in (401, 429):
                extra["attempts_left"] = _attempts_left(signature)
            response = _error(exc.status, exc.error_type, exc.message, exc.field, **extra)
            if exc.retry_after:
                response["Retry-After"] = str(exc.retry_after)
            return response

    return never_cache(no_referrer(require_POST(view)))


def _done(signature: SignatureRequest, outcome: tickets.Outcome) -> JsonResponse:
    # After the work, the signer lands on the DST's own page when it gave one,
    # else on our completion page.
    redirect_to = outcome.redirect or reverse("practices-sign-done", args=[signature.id])
    return JsonResponse({"status": outcome.status, "redirect": redirect_to})


@_signer_action
def sign_otp(request, signature, body, actor) -> HttpResponse:
    tickets.otp_send(request=signature, actor=actor)
    if signature.signature_type not in REMOTE_CERTIFICATE_TYPES:
        return HttpResponse(status=204)
    return _certificate_issued(request, signature)


@_signer_action
def sign_submit(request, signature, body, actor) -> HttpResponse:
    accepted = body.get("accepted_clauses") or []
    otp = body.get("otp") or None
    graphometric = body.get("graphometric") or {}
    if (
        not isinstance(accepted, list)
        or not isinstance(otp, str | None)
        or not isinstance(graphometric, dict)
    ):
        return _error(400, "ValidationError", "Malformed request")
    verified = None
    if signature.signature_type == "spid":
        verified = identity.identity_of(request, signature)
        # A request that cannot be signed any more answers as the API does
        # (409, 410, 403), identity or not.
        if verified is None and page_state(signature) == "sign":
            message = translation.gettext("Verify your identity before signing.")
            return _error(401, "Unauthorized", message, "identity")
    outcome = tickets.ticket_sign(
        request=signature,
        actor=actor,
        accepted_clauses=[str(c) for c in accepted],
        otp=otp,
        image_data_url=graphometric.get("image") or None,
        identity=verified,
    )
    return _done(signature, outcome)


@_signer_action
def sign_decline(request, signature, body, actor) -> HttpResponse:
    reason = body.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        return _error(400, "ValidationError", "Give a reason", "reason")
    outcome = tickets.ticket_decline(request=signature, actor=actor, reason=reason.strip()[:1000])
    return _done(signature, outcome)


def _certificate_issued(request: HttpRequest, signature: SignatureRequest) -> HttpResponse:
    """After the code went: the certificate the signature will use, issued now
    on first use (see the module's docstring), as the card's new HTML."""
    try:
        # The very function signing uses, so that signing finds this certificate.
        issued = tickets.signer_certificate(signature)
    except Exception:
        # The code is sent; signing issues the certificate again if this failed.
        logger.exception("certificate for %s not issued", signature.id)
        issued = None
    if issued is not None:
        signer_session.certificate_remember(request, signature, issued)
    html = render_to_string(
        "practices/_sign_certificate.html",
        {"certificate": _certificate_card(signature, issued)},
        request=request,
    )
    return JsonResponse({"status": "sent", "certificate_html": html})
