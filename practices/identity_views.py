"""The identity step of a SPID signature: the pages between the signer's page
and the identity provider (practices.identity).

/sign/s/<id>/identity/ hands the browser to the provider; the provider's way
back, /sign/s/<id>/identity/complete, checks what it vouched for against the
request, records it in the audit trail and keeps it with this session's grant,
then returns to the signer's page, where Sign now works.
"""

from uuid import UUID

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from portal import ratelimit
from practices import identity, signer_session
from practices.models import SignatureRequest
from practices.signer_session import no_referrer
from practices.tickets import SignerActor
from practices.views import page_state


def _spid_signature(request: HttpRequest, request_id: UUID) -> SignatureRequest | None:
    """The session's request when it is a SPID request that can be signed now."""
    signature = signer_session.signature_for(request, request_id)
    signer_session.activate_language(request, signature)
    if signature.signature_type != "spid" or page_state(signature) != "sign":
        return None
    return signature


@never_cache
@no_referrer
@require_GET
def sign_identity(request: HttpRequest, request_id: UUID) -> HttpResponse:
    signature = _spid_signature(request, request_id)
    if signature is None:  # the signer's page explains why
        return redirect("practices-sign-page", request_id=request_id)
    return identity.provider().begin(request, signature)


@never_cache
@no_referrer
@require_http_methods(["GET", "POST"])
def sign_identity_complete(request: HttpRequest, request_id: UUID) -> HttpResponse:
    signature = _spid_signature(request, request_id)
    if signature is None:
        return redirect("practices-sign-page", request_id=request_id)
    address = ratelimit.client_address(request)
    wait = ratelimit.hit(scope="ticket", key=address)
    if wait is not None:
        context = identity.page_context(signature)
        response = render(request, "practices/identity_refused.html", context, status=429)
        response["Retry-After"] = str(wait)
        return response
    provider = identity.provider()
    try:
        verified = provider.complete(request, signature)
        if not identity.matches_signer(verified, signature):
            raise identity.IdentityRefused(
                _("The identity verified is not the person this signature request is for.")
            )
    except identity.IdentityRefused as refusal:
        return provider.refused(request, signature, refusal)
    actor = SignerActor.of(request, signature)
    identity.identity_record(signature=signature, identity=verified, actor=actor)
    identity.identity_keep(request, signature, verified)
    return redirect("practices-sign-page", request_id=signature.id)
