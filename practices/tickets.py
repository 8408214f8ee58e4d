"""What a signer does with a ticket (CONTRACT §7): read the request, ask for a
one-time code, sign, decline.

The ticket is the credential: it is looked up by its digest, and it reaches
exactly one signature request, so nothing here takes an id from the caller.
Every refusal is a TicketRefused carrying the HTTP status the API answers.

One-time codes. Six digits from `secrets`, sent by SMS (portal.sms), stored
only as an HMAC under a server key over the request, the bound document hash
and the code. A code lives OTP_LIFETIME; only the latest code of a request
counts; it allows OTP_MAX_ATTEMPTS tries, each spent before the comparison,
and after them every try answers 429 until a new code is sent. Sending is
limited by a cooldown and a number of codes per hour, so guessing stays
hopeless (at most OTP_MAX_SENDS * OTP_MAX_ATTEMPTS guesses an hour against a
million codes). A right code is
consumed by a conditional UPDATE in the transaction of the signature: of two
submissions of one code, one signs and the other finds it used; a signature
that fails gives the code back (the transaction rolls back).
"""

import base64
import binascii
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from io import BytesIO
from typing import TYPE_CHECKING

from django.core.cache import cache
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.crypto import salted_hmac

from portal import sms, trust
from portal.joined import Chain
from practices import events, selectors, signatures
from practices.audit import Actor, audit_append
from practices.models import OtpChallenge, Practice, Revision, SignatureRequest
from practices.services import practice_for_update, practice_mark_cancelled, ticket_digest
from signing.pki import Profile, RevocationReason, Subject

if TYPE_CHECKING:
    from practices.identity import VerifiedIdentity

OTP_LIFETIME = timedelta(minutes=5)
OTP_MAX_ATTEMPTS = 5
OTP_COOLDOWN = timedelta(seconds=30)
OTP_MAX_SENDS = 5  # codes per request within OTP_SENDS_WINDOW
OTP_SENDS_WINDOW = timedelta(hours=1)
OTP_DIGITS = 6

NEEDS_OTP = ("otp", "advanced", "qualified")
# Codes bound to the document's bytes: the signer approves what they were shown.
BOUND_TO_DOCUMENT = ("advanced", "qualified")
NEEDS_IMAGE = ("grapho",)

MAX_TICKET_LENGTH = 200
MAX_IMAGE_BYTES = 1024 * 1024
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PNG_DATA_URL = "data:image/png;base64,"


class TicketRefused(Exception):
    """An answer other than success: `status`, `error_type`, the field at fault,
    and `retry_after` seconds for a 429."""

    def __init__(
        self,
        status: int,
        error_type: str,
        message: str,
        field: str = "",
        retry_after: int | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message
        self.field = field
        self.retry_after = retry_after


def _not_found() -> TicketRefused:
    return TicketRefused(404, "NotFound", "No such ticket", "ticket")


@dataclass(frozen=True)
class SignerActor(Actor):
    """The signer holding the ticket, as the audit trail names them."""

    signer: str = ""

    @property
    def label(self) -> str:
        return f"signer:{self.signer}"

    @classmethod
    def of(cls, http_request, request: SignatureRequest) -> "SignerActor":
        """The signer of `request` acting through `http_request`. When the browser
        is logged in to the account the request is addressed to (the inbox's way
        in), the audit trail names that account too."""
        user = getattr(http_request, "user", None)
        own = (
            user is not None
            and user.is_authenticated
            and user.organization_id == request.document.practice.organization_id
            and user.email.lower() == request.signer_email.lower()
        )
        return cls(
            user=user if own else None,
            ip=http_request.META.get("REMOTE_ADDR", "") or "",
            user_agent=http_request.headers.get("User-Agent", "")[:500],
            signer=request.signer_email,
        )


# --- the ticket -------------------------------------------------------------------------


# The request with its document, practice and organization, by one statement
# built once: every call that presents a ticket starts here.
_BY_TICKET = Chain(SignatureRequest, ("document", "practice", "organization"), by="ticket_digest")


def ticket_request(*, ticket: str) -> SignatureRequest:
    """The signature request `ticket` opens; TicketRefused 404 otherwise."""
    if not ticket or len(ticket) > MAX_TICKET_LENGTH:
        raise _not_found()
    digest = ticket_digest(ticket)
    request = _BY_TICKET.get(digest)
    # The lookup is by the digest of the ticket, so its timing tells nothing
    # about any stored ticket; the comparison is kept constant-time anyway.
    if request is None or not hmac.compare_digest(request.ticket_digest or "", digest):
        raise _not_found()
    return request


def _check_open(request: SignatureRequest) -> None:
    """410 when the DST is over or past not_after, 409 when this request is done,
    403 while an earlier group has not signed."""
    practice = request.document.practice
    # The signer's own act first: a signed request stays 409 after its DST is performed.
    if request.status in (SignatureRequest.Status.PERFORMED, SignatureRequest.Status.DECLINED):
        raise TicketRefused(409, "Conflict", f"The signature is already {request.status}")
    if practice.status != Practice.Status.PENDING:
        raise TicketRefused(410, "Gone", f"The signature transaction is {practice.status}")
    if practice.not_after is not None and practice.not_after <= timezone.now():
        raise TicketRefused(410, "Gone", "The ticket has expired")
    if request.status != SignatureRequest.Status.PENDING:
        raise TicketRefused(410, "Gone", f"The signature is {request.status}")
    if selectors.request_locked(request=request):
        raise TicketRefused(
            403, "Forbidden", "An earlier group has not signed this document yet", "group"
        )


def _page_count(revision: Revision | None, family: str) -> int | None:
    """Pages of the document the signer reads: the latest PDF revision, or for
    CAdES the original (a .p7m envelops the original's bytes unchanged)."""
    if revision is None:
        return None
    if family != "pades":
        revision = Revision.objects.filter(document_id=revision.document_id, number=0).first()
    key = f"tickets:pages:{revision.sha256}"
    pages = cache.get(key)
    if pages is None:
        from signing.documents import check_pdf

        with revision.file.open("rb") as handle:
            data = handle.read()
        if not data.startswith(b"%PDF"):
            return None
        try:
            pages = len(check_pdf(data, max_bytes=len(data)).boxes)
        except Exception:
            return None
        cache.set(key, pages, timeout=24 * 3600)
    return pages


def ticket_describe(*, request: SignatureRequest) -> dict:
    document = request.document
    practice = document.practice
    return {
        "dst": {"id": str(practice.id), "title": practice.title, "status": practice.status},
        "signature": {
            "id": str(request.id),
            "status": request.status,
            "signature_type": request.signature_type,
            "profile": request.profile,
            "declinable": request.declinable,
            "locked": selectors.request_locked(request=request),
            "where": request.where,
            "clauses": request.clauses or [],
            "document": {
                "id": str(document.id),
                "display_name": document.display_name,
                "pages": _page_count(selectors.revision_latest(document=document), document.family),
            },
        },
        "signer": {
            "email": request.signer_email,
            "first_name": request.signer_first_name,
            "last_name": request.signer_last_name,
        },
    }


# --- one-time codes ---------------------------------------------------------------------


def _code_digest(request: SignatureRequest, document_sha256: str, code: str) -> str:
    return salted_hmac(
        "sigillo.practices.otp", f"{request.id}:{document_sha256}:{code}", algorithm="sha256"
    ).hexdigest()


def _bound_hash(request: SignatureRequest) -> str:
    if request.signature_type not in BOUND_TO_DOCUMENT:
        return ""
    revision = selectors.revision_latest(document=request.document)
    return revision.sha256 if revision is not None else ""


def _seconds(delta: timedelta) -> int:
    return max(1, int(delta.total_seconds() + 0.999))


def otp_send(*, request: SignatureRequest, actor: Actor) -> OtpChallenge:
    """Send a new code to the signer's phone; the earlier codes stop counting."""
    _check_open(request)
    if request.signature_type not in NEEDS_OTP:
        raise TicketRefused(
            400, "ValidationError", "This signature needs no code", "signature_type"
        )
    if not request.signer_phone:
        raise TicketRefused(400, "ValidationError", "The signer has no phone number", "phone")
    code = f"{secrets.randbelow(10**OTP_DIGITS):0{OTP_DIGITS}d}"
    with transaction.atomic():
        # The practice row serialises the senders of its requests: the cooldown holds.
        practice = practice_for_update(practice=request.document.practice)
        if practice.status != Practice.Status.PENDING:
            raise TicketRefused(410, "Gone", f"The signature transaction is {practice.status}")
        now = timezone.now()
        recent = list(
            OtpChallenge.objects.filter(
                request=request, created__gt=now - OTP_SENDS_WINDOW
            ).order_by("-created")
        )
        if recent and recent[0].created > now - OTP_COOLDOWN:
            wait = recent[0].created + OTP_COOLDOWN - now
            raise TicketRefused(
                429, "TooManyRequests", "A code was just sent", "otp", _seconds(wait)
            )
        if len(recent) >= OTP_MAX_SENDS:
            wait = recent[OTP_MAX_SENDS - 1].created + OTP_SENDS_WINDOW - now
            raise TicketRefused(
                429, "TooManyRequests", "Too many codes sent, retry later", "otp", _seconds(wait)
            )
        bound = _bound_hash(request)
        challenge = OtpChallenge.objects.create(
            request=request,
            code_digest=_code_digest(request, bound, code),
            document_sha256=bound,
            expires_at=now + OTP_LIFETIME,
            created=now,
        )
        audit_append(
            practice=practice,
            kind="signature.otp_sent",
            actor=actor,
            data={"signature": str(request.id), "document_sha256": bound},
        )
    minutes = int(OTP_LIFETIME.total_seconds() // 60)
    title = practice.title if len(practice.title) <= 40 else practice.title[:39] + "…"
    text = f"{code} is your code to sign “{title}”. It expires in {minutes} minutes."
    try:
        sms.send_sms(to=request.signer_phone, text=text)
    except sms.SmsFailed as exc:
        # The signer may ask again at once: the unsent code leaves no cooldown.
        OtpChallenge.objects.filter(pk=challenge.pk).delete()
        raise TicketRefused(502, "SmsFailed", f"The code could not be sent: {exc}") from exc
    return challenge


def otp_check(*, request: SignatureRequest, code: str) -> OtpChallenge:
    """The request's current challenge when `code` is its code. Every try spends
    one of the code's attempts before the comparison, by a conditional UPDATE
    committed at once: parallel guesses get no more comparisons than that."""
    challenge = OtpChallenge.objects.filter(request=request).order_by("-created", "-id").first()
    if challenge is None:
        raise TicketRefused(401, "Unauthorized", "No code was sent: ask for one", "otp")
    if challenge.used_at is not None:
        raise TicketRefused(401, "Unauthorized", "This code was already used", "otp")
    if challenge.expires_at <= timezone.now():
        raise TicketRefused(401, "Unauthorized", "The code has expired: ask for a new one", "otp")
    spent = OtpChallenge.objects.filter(pk=challenge.pk, attempts__lt=OTP_MAX_ATTEMPTS).update(
        attempts=F("attempts") + 1
    )
    if not spent:
        wait = max(challenge.created + OTP_COOLDOWN - timezone.now(), timedelta(0))
        raise TicketRefused(
            429, "TooManyRequests", "Too many wrong codes: ask for a new one", "otp", _seconds(wait)
        )
    challenge.refresh_from_db(fields=["attempts"])
    expected = _code_digest(request, challenge.document_sha256, code)
    if not hmac.compare_digest(expected, challenge.code_digest):
        left = max(OTP_MAX_ATTEMPTS - challenge.attempts, 0)
        raise TicketRefused(401, "Unauthorized", f"Wrong code ({left} attempts left)", "otp")
    if challenge.document_sha256 and challenge.document_sha256 != _bound_hash(request):
        raise TicketRefused(
            401, "Unauthorized", "The document changed since the code was sent: ask again", "otp"
        )
    return challenge


def otp_consume(*, challenge: OtpChallenge) -> bool:
    """Mark the code used, once: False when another submission used it first
    or it expired meanwhile."""
    now = timezone.now()
    return bool(
        OtpChallenge.objects.filter(
            pk=challenge.pk,
            used_at__isnull=True,
            attempts__lte=OTP_MAX_ATTEMPTS,
            expires_at__gt=now,
        ).update(used_at=now)
    )


# --- signing ----------------------------------------------------------------------------


def signature_image(data_url: str) -> bytes:
    """The PNG of a handwritten signature from its data URL; 400 otherwise."""
    field = "graphometric.image"
    if not isinstance(data_url, str) or not data_url.startswith(PNG_DATA_URL):
        raise TicketRefused(400, "ValidationError", f"Must start with {PNG_DATA_URL}", field)
    encoded = data_url[len(PNG_DATA_URL) :]
    if len(encoded) > (MAX_IMAGE_BYTES * 4) // 3 + 4:
        raise TicketRefused(400, "ValidationError", "The image is too large", field)
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise TicketRefused(400, "ValidationError", "Not valid base64", field) from None
    if len(data) > MAX_IMAGE_BYTES:
        raise TicketRefused(400, "ValidationError", "The image is too large", field)
    if not data.startswith(PNG_MAGIC):
        raise TicketRefused(400, "ValidationError", "Not a PNG image", field)
    from PIL import Image

    try:
        with Image.open(BytesIO(data)) as image:
            if image.format != "PNG":
                raise ValueError(image.format)
            image.verify()
    except Exception:
        raise TicketRefused(400, "ValidationError", "Not a readable PNG image", field) from None
    return data


def signer_certificate(request: SignatureRequest, *, identity: "VerifiedIdentity | None" = None):
    """The certificate this request's signature type signs with. A SPID
    signature's one-time certificate names the person `identity` verified,
    with their fiscal code as the semantics identifier (ETSI EN 319 412-1);
    without it (the ticket API: the integrator identified the signer), the
    person the request names."""
    name = f"{request.signer_first_name} {request.signer_last_name}".strip()
    owner = f"signer:{request.document.practice.organization.slug}:{request.signer_email}"
    profile = {
        "advanced": Profile.ADVANCED,
        "qualified": Profile.QUALIFIED,
        "spid": Profile.ONE_TIME,
    }.get(request.signature_type, Profile.SIMPLE)
    if profile == Profile.SIMPLE:
        subject = Subject(common_name=name, email=request.signer_email)
    elif profile == Profile.ONE_TIME and identity is not None:
        subject = Subject(
            common_name=identity.full_name,
            email=request.signer_email,
            given_name=identity.first_name,
            surname=identity.last_name,
            serial_number=identity.semantics_identifier,
        )
    else:
        subject = Subject(
            common_name=name,
            email=request.signer_email,
            given_name=request.signer_first_name,
            surname=request.signer_last_name,
        )
    return trust.certificate_for(profile=profile, subject=subject, owner=owner)


def _redirect(request: SignatureRequest, *, declined: bool) -> str | None:
    practice = request.document.practice
    if declined:
        return request.cancelback or practice.cancelback or None
    return request.urlback or practice.urlback or None


@dataclass(frozen=True)
class Outcome:
    status: str
    redirect: str | None


def ticket_sign(
    *,
    request: SignatureRequest,
    actor: Actor,
    accepted_clauses: list,
    otp: str | None = None,
    image_data_url: str | None = None,
    identity: "VerifiedIdentity | None" = None,
) -> Outcome:
    """Sign `request` by its signature type. The checks that need no secret come
    first, so a refused request never spends an attempt or a code. `identity`,
    for a SPID signature, is the person an identity provider verified (the
    signer's page passes it); the one-time certificate names them."""
    _check_open(request)
    accepted = [str(c) for c in accepted_clauses]
    missing = [
        str(c["id"])
        for c in request.clauses or []
        if c.get("required") and str(c["id"]) not in accepted
    ]
    if missing:
        raise TicketRefused(
            400,
            "ValidationError",
            f"Required clauses not accepted: {', '.join(missing)}",
            "accepted_clauses",
        )
    kind = request.signature_type
    if kind in NEEDS_OTP and not otp:
        raise TicketRefused(400, "ValidationError", "This signature needs the code", "otp")
    if kind not in NEEDS_OTP and otp:
        raise TicketRefused(400, "ValidationError", "This signature takes no code", "otp")
    image = None
    if kind in NEEDS_IMAGE:
        if not image_data_url:
            raise TicketRefused(
                400, "ValidationError", "This signature needs the drawn signature", "graphometric"
            )
        image = signature_image(image_data_url)
    elif image_data_url:
        raise TicketRefused(
            400, "ValidationError", "This signature takes no drawing", "graphometric"
        )

    challenge = otp_check(request=request, code=otp) if kind in NEEDS_OTP else None

    def use_up_the_code() -> None:
        # In the transaction that records the signature: the code is spent
        # only by a signature that lands, and by one signature only.
        if challenge is not None and not otp_consume(challenge=challenge):
            raise TicketRefused(401, "Unauthorized", "This code was already used", "otp")

    certificate = None
    try:
        certificate = signer_certificate(request, identity=identity if kind == "spid" else None)
        signatures.signature_apply(
            request=request,
            certificate=certificate,
            actor=actor,
            accepted_clauses=accepted,
            image=image,
            with_record=use_up_the_code,
        )
    except signatures.SignatureRefused as exc:
        raise TicketRefused(exc.status, exc.error_type, exc.message, exc.field) from exc
    finally:
        # A one-time certificate never signs twice, whether this signature landed or not.
        if certificate is not None and kind == "spid":
            trust.revoke(serial=certificate.serial, reason=RevocationReason.CESSATION_OF_OPERATION)
    return Outcome(SignatureRequest.Status.PERFORMED, _redirect(request, declined=False))


# --- declining --------------------------------------------------------------------------


def ticket_decline(*, request: SignatureRequest, actor: Actor, reason: str) -> Outcome:
    """Decline `request`: the DST is cancelled with reason "declined"."""
    _check_open(request)
    if not request.declinable:
        raise TicketRefused(403, "Forbidden", "This signature cannot be declined", "declinable")
    with transaction.atomic():
        practice = practice_for_update(practice=request.document.practice)
        request = SignatureRequest.objects.select_related("document").get(pk=request.pk)
        if practice.status != Practice.Status.PENDING:
            raise TicketRefused(410, "Gone", f"The signature transaction is {practice.status}")
        if request.status != SignatureRequest.Status.PENDING:
            raise TicketRefused(409, "Conflict", f"The signature is already {request.status}")
        request.status = SignatureRequest.Status.DECLINED
        request.decline_reason = reason
        request.decline_datetime = timezone.now()
        request.save(update_fields=["status", "decline_reason", "decline_datetime"])
        audit_append(
            practice=practice,
            kind="signature.declined",
            actor=actor,
            data={
                "signature": str(request.id),
                "document": str(request.document_id),
                "signer": request.signer_email,
                "reason": reason,
            },
        )
        events.emit(
            practice,
            [
                events.signature_status_changed(
                    request,
                    document=request.document,
                    practice=practice,
                    slug=practice.organization.slug,
                )
            ],
        )
        practice_mark_cancelled(
            practice=practice,
            reason=Practice.Reason.DECLINED,
            actor=actor,
            kind="practice.cancelled",
            data={"signature": str(request.id)},
        )
    request.document.practice = practice
    return Outcome(SignatureRequest.Status.DECLINED, _redirect(request, declined=True))
