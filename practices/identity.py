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

The identity is kept with the signer's short session (practices.views), for
at most IDENTITY_LIFETIME, and recorded in the audit trail when it is
verified; the one-time certificate carries it (practices.tickets).
"""

from __future__ import annotations

import unicodedata
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

if TYPE_CHECKING:
    from practices.models import SignatureRequest

DEFAULT_PROVIDER = "practices.identity.DemoIdentityProvider"
# An identity assertion is good for one signing sitting, not for the whole
# life of the ticket.
IDENTITY_LIFETIME = timedelta(minutes=30)


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
    from practices.views import identity_context

    context = identity_context(request, signature)
    context["error"] = refusal.message
    return render(request, "practices/identity_refused.html", context, status=403)


def provider() -> IdentityProvider:
    path = getattr(settings, "SPID_IDENTITY_PROVIDER", "") or DEFAULT_PROVIDER
    return import_string(path)()


def complete_url(signature: SignatureRequest) -> str:
    """Where a provider sends the browser back (an OIDC redirect_uri)."""
    return reverse("practices-sign-identity-complete", args=[signature.id])


# --- the Italian fiscal code (codice fiscale) ------------------------------------------

MONTHS = "ABCDEHLMPRST"
# Omocodia: when two people would get the same code, digits are replaced,
# from the right, by these letters (0 → L … 9 → V).
OMOCODE_LETTERS = "LMNPQRSTUV"
DIGIT_POSITIONS = (6, 7, 9, 10, 12, 13, 14)
# The value of a character in an odd place, by its index ("0"/"A" first).
ODD_VALUES = [1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18] + [
    20,
    11,
    3,
    6,
    8,
    12,
    14,
    16,
    10,
    22,
    25,
    24,
    23,
]
VOWELS = "AEIOU"


class FiscalCodeError(ValueError):
    pass


def _value(char: str) -> int:
    """A character's index in 0-9 or A-Z: "0" and "A" are 0, "9" and "J" are 9."""
    return int(char) if char.isdigit() else ord(char) - ord("A")


def check_character(first15: str) -> str:
    """The 16th character of a fiscal code from the first 15 (DM 23/12/1976):
    characters in odd places (1-based) count by a table, even ones by their
    index; the sum modulo 26 is a letter."""
    total = 0
    for index, char in enumerate(first15):
        value = _value(char)
        total += ODD_VALUES[value] if index % 2 == 0 else value
    return chr(ord("A") + total % 26)


def normalize_fiscal_code(value: str) -> str:
    return "".join(str(value or "").split()).upper()


def check_fiscal_code(value: str) -> str:
    """`value` as a well-formed fiscal code in upper case; FiscalCodeError otherwise."""
    code = normalize_fiscal_code(value)
    if len(code) != 16:
        raise FiscalCodeError(_("A fiscal code has 16 characters."))
    if not code.isascii() or not code.isalnum():
        raise FiscalCodeError(_("A fiscal code has only letters and digits."))
    for index, char in enumerate(code[:15]):
        digit = index in DIGIT_POSITIONS
        if digit and not (char.isdigit() or char in OMOCODE_LETTERS):
            raise FiscalCodeError(_("This is not the form of a fiscal code."))
        if not digit and not char.isalpha():
            raise FiscalCodeError(_("This is not the form of a fiscal code."))
    if code[8] not in MONTHS:
        raise FiscalCodeError(_("This is not the form of a fiscal code."))
    day = int("".join(str(OMOCODE_LETTERS.find(c)) if c.isalpha() else c for c in code[9:11]))
    if not (1 <= day <= 31 or 41 <= day <= 71):
        raise FiscalCodeError(_("This is not the form of a fiscal code."))
    if not code[15].isalpha() or check_character(code[:15]) != code[15]:
        raise FiscalCodeError(_("The fiscal code is mistyped: its last letter does not match."))
    return code


def _letters(name: str) -> str:
    decomposed = unicodedata.normalize("NFKD", name or "")
    return "".join(c for c in decomposed if "A" <= c.upper() <= "Z" and c.isascii()).upper()


def surname_code(surname: str) -> str:
    letters = _letters(surname)
    consonants = [c for c in letters if c not in VOWELS]
    vowels = [c for c in letters if c in VOWELS]
    return ("".join(consonants + vowels) + "XXX")[:3]


def first_name_code(first_name: str) -> str:
    letters = _letters(first_name)
    consonants = [c for c in letters if c not in VOWELS]
    if len(consonants) >= 4:
        return consonants[0] + consonants[2] + consonants[3]
    vowels = [c for c in letters if c in VOWELS]
    return ("".join(consonants + vowels) + "XXX")[:3]


def name_matches(code: str, *, first_name: str, last_name: str) -> bool:
    """Loosely, whether the code's six name letters belong to this person:
    the names may come swapped, and a second given name or surname may be
    left out by one side or the other."""

    def options(value: str, coder) -> set[str]:
        words = value.split()
        found = {coder(value)}
        found.update(coder(word) for word in words)
        return found

    surnames = options(last_name, surname_code)
    first_names = options(first_name, first_name_code)
    head, tail = code[:3], code[3:6]
    if head in surnames and tail in first_names:
        return True
    # Swapped fields: a surname given as the first name and vice versa.
    return head in options(first_name, surname_code) and tail in options(last_name, first_name_code)


# --- matching the request ---------------------------------------------------------------


def _comparable(name: str) -> str:
    return " ".join(_letters(part) for part in (name or "").split() if _letters(part))


def matches_signer(identity: VerifiedIdentity, signature: SignatureRequest) -> bool:
    """Whether the verified person is the one the request names (accents, case
    and order of the names aside)."""
    asked = sorted(
        _comparable(f"{signature.signer_first_name} {signature.signer_last_name}").split()
    )
    found = sorted(_comparable(identity.full_name).split())
    return bool(found) and asked == found


# --- the demonstration provider ---------------------------------------------------------


class DemoIdentityProvider:
    """The signer confirms the name of the request and types a fiscal code that
    fits it. For demonstrations and tests only: nobody vouches for anything."""

    name = "demo"
    template = "practices/identity_demo.html"

    def _render(self, request, signature, *, refusal: IdentityRefused | None = None, status=200):
        from practices.views import identity_context

        context = identity_context(request, signature)
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
            code = check_fiscal_code(value)
        except FiscalCodeError as exc:
            raise IdentityRefused(str(exc), field="fiscal_code", value=value) from None
        first, last = signature.signer_first_name, signature.signer_last_name
        if not name_matches(code, first_name=first, last_name=last):
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
