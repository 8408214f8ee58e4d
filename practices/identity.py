"""Who a SPID signer is: the identity step before a one-time certificate signs.

A provider is two views' worth of work behind one small interface:

- `begin(request, signature)` starts the flow: it renders a page or redirects
  the browser to an identity provider (a SAML AuthnRequest, an OIDC
  authorization request, keeping its `state` in the session);
- `complete(request, signature)` handles the way back (a form post, a SAML
  assertion, an OIDC code) and answers a VerifiedIdentity, or raises
  IdentityRefused with a message for the signer.

The provider is chosen by the setting SPID_IDENTITY_PROVIDER, a dotted path to
a class, defaulting to the demonstration provider here: a page where the signer
sees their name and types their Italian fiscal code, which is checked for its
form, its check character and its name letters, and nothing else. It is
labelled as a demonstration on the page and in the identity it answers
(provider "demo", level "none"): it proves nothing about the person.

The identity is kept with the signer's short session (practices.signer_session)
for at most IDENTITY_LIFETIME, never beyond the grant, and recorded in the
audit trail when it is verified; the one-time certificate carries it
(practices.tickets).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

from practices import fiscal_code, services, signer_session
from practices.audit import audit_append

if TYPE_CHECKING:
    from practices.models import SignatureRequest

# An identity assertion is good for one signing sitting, not for the whole
# life of the ticket.
IDENTITY_LIFETIME = timedelta(minutes=30)
IDENTITIES = "signer_identities"  # the session's map of request id to identity


@dataclass(frozen=True)
class VerifiedIdentity:
    """A person as an identity provider vouched for them."""

    first_name: str
    last_name: str
    fiscal_code: str  # 16 characters, upper case
    provider: str  # e.g. "demo", "spid:<entity id>"
    level: str  # assurance: "none" for the demonstration, SpidL1..SpidL3 for SPID
    verified_at: datetime

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def semantics_identifier(self) -> str:
        """The subject serialNumber of a natural person's certificate (ETSI EN
        319 412-1 §5.1.3): "TIN", the country, "-", the tax number."""
        return f"TINIT-{self.fiscal_code}"

    def to_json(self) -> dict:
        data = asdict(self)
        data["verified_at"] = self.verified_at.isoformat()
        return data

    @classmethod
    def from_json(cls, data: dict) -> VerifiedIdentity:
        return cls(
            first_name=str(data["first_name"]),
            last_name=str(data["last_name"]),
            fiscal_code=str(data["fiscal_code"]),
            provider=str(data["provider"]),
            level=str(data["level"]),
            verified_at=datetime.fromisoformat(data["verified_at"]),
        )


class IdentityRefused(Exception):
    """The provider did not vouch for the signer; `message` is for them."""

    def __init__(self, message: str, *, field: str = "", value: str = ""):
        super().__init__(message)
        self.message = message
        self.field = field
        self.value = value


@runtime_checkable
class IdentityProvider(Protocol):
    name: str

    def begin(self, request: HttpRequest, signature: SignatureRequest) -> HttpResponse: ...

    def complete(self, request: HttpRequest, signature: SignatureRequest) -> VerifiedIdentity: ...

    def refused(
        self, request: HttpRequest, signature: SignatureRequest, refusal: IdentityRefused
    ) -> HttpResponse: ...


def render_refused(
    request: HttpRequest, signature: SignatureRequest, refusal: IdentityRefused
) -> HttpResponse:
    """A plain refusal page with the way back to the document, for providers
    that have no form of their own to show again."""
    context = page_context(signature)
    context["error"] = refusal.message
    return render(request, "practices/identity_refused.html", context, status=403)


def page_context(signature: SignatureRequest) -> dict:
    """The context of a provider's page: the signer pages' header and a way back."""
    context = signer_session.page_context(signature)
    context["sign_url"] = reverse("practices-sign-page", args=[signature.id])
    return context


def provider() -> IdentityProvider:
    return import_string(settings.SPID_IDENTITY_PROVIDER)()


def complete_url(signature: SignatureRequest) -> str:
    """Where a provider sends the browser back (an OIDC redirect_uri)."""
    return reverse("practices-sign-identity-complete", args=[signature.id])


# --- matching the request ---------------------------------------------------------------


def _comparable(name: str) -> str:
    words = (fiscal_code.letters(part) for part in (name or "").split())
    return " ".join(word for word in words if word)


def matches_signer(identity: VerifiedIdentity, signature: SignatureRequest) -> bool:
    """Whether the verified person is the one the request names (accents, case
    and order of the names aside)."""
    asked = sorted(
        _comparable(f"{signature.signer_first_name} {signature.signer_last_name}").split()
    )
    found = sorted(_comparable(identity.full_name).split())
    return bool(found) and asked == found


# --- the identity of this session --------------------------------------------------------


def identity_record(*, signature: SignatureRequest, identity: VerifiedIdentity, actor) -> None:
    """Write the verified identity into the practice's audit trail."""
    with transaction.atomic():
        audit_append(
            practice=services.practice_for_update(practice=signature.document.practice),
            kind="signature.identity_verified",
            actor=actor,
            data={"signature": str(signature.id), **identity.to_json()},
        )


def identity_keep(
    request: HttpRequest, signature: SignatureRequest, identity: VerifiedIdentity
) -> None:
    """Keep `identity` with this session's grant of `signature`, for at most
    IDENTITY_LIFETIME and never beyond the grant."""
    granted_until = request.session.get(signer_session.GRANTS, {}).get(str(signature.id), 0)
    kept = signer_session.live(
        request.session.get(IDENTITIES, {}), lambda value: value.get("expires", 0)
    )
    kept[str(signature.id)] = {
        "identity": identity.to_json(),
        "expires": min(granted_until, time.time() + IDENTITY_LIFETIME.total_seconds()),
    }
    request.session[IDENTITIES] = kept


def identity_of(request: HttpRequest, signature: SignatureRequest) -> VerifiedIdentity | None:
    """The identity verified in this session for `signature`, while it lasts."""
    kept = request.session.get(IDENTITIES, {}).get(str(signature.id))
    if not kept or kept.get("expires", 0) <= time.time():
        return None
    try:
        return VerifiedIdentity.from_json(kept["identity"])
    except (KeyError, TypeError, ValueError):
        return None


# --- the demonstration provider ---------------------------------------------------------


class DemoIdentityProvider:
    """The signer confirms the name of the request and types a fiscal code that
    fits it. For demonstrations and tests only: nobody vouches for anything."""

    name = "demo"
    template = "practices/identity_demo.html"

    def _render(self, request, signature, *, refusal: IdentityRefused | None = None, status=200):
        context = page_context(signature)
        context.update(
            action=complete_url(signature),
            error=refusal.message if refusal else "",
            error_field=refusal.field if refusal else "",
            fiscal_code=refusal.value if refusal else "",
            first_name=signature.signer_first_name,
            last_name=signature.signer_last_name,
        )
        response = render(request, self.template, context, status=status)
        # The form posts to this origin: with "no-referrer" the browser would
        # send `Origin: null` and fail the CSRF check. This page's URL carries
        # no secret, and no other origin is told of it.
        response["Referrer-Policy"] = "same-origin"
        return response

    def begin(self, request: HttpRequest, signature: SignatureRequest) -> HttpResponse:
        return self._render(request, signature)

    def complete(self, request: HttpRequest, signature: SignatureRequest) -> VerifiedIdentity:
        if request.method != "POST":
            raise IdentityRefused(_("Confirm your identity with the form."))
        value = request.POST.get("fiscal_code", "")[:40]
        if request.POST.get("confirm") != "yes":
            raise IdentityRefused(
                _("Confirm that you are the person named here."), field="confirm", value=value
            )
        try:
            code = fiscal_code.check(value)
        except fiscal_code.FiscalCodeError as exc:
            raise IdentityRefused(str(exc), field="fiscal_code", value=value) from None
        first, last = signature.signer_first_name, signature.signer_last_name
        if not fiscal_code.name_matches(code, first_name=first, last_name=last):
            raise IdentityRefused(
                _("This fiscal code does not belong to the name of the request."),
                field="fiscal_code",
                value=value,
            )
        return VerifiedIdentity(
            first_name=first.strip(),
            last_name=last.strip(),
            fiscal_code=code,
            provider=self.name,
            level="none",
            verified_at=timezone.now(),
        )

    def refused(
        self, request: HttpRequest, signature: SignatureRequest, refusal: IdentityRefused
    ) -> HttpResponse:
        return self._render(request, signature, refusal=refusal, status=400)
