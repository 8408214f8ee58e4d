"""A logged-in person's inbox: the signature requests addressed to them.

A request is theirs when it belongs to their organization and its signer email
is their email (case-insensitively): signers mostly, but an admin or an
instructor asked to sign finds their requests here too.

The Sign button never carries a ticket. It posts the request's id; for a
request the person may sign now, it grants this browser the same short signer
session that opening the ticket would (practices.signer_session.grant) and goes
on to the signer page, where signing works exactly as after the email's link.
Opening a ticket is not written to the audit trail, so neither is this: what
the trail records is the signature itself, made through the same ticket
services.
"""

from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from practices import selectors, signer_session
from practices.models import Practice, SignatureRequest
from practices.signer_session import no_referrer


def _get_request_for_user(request: HttpRequest, request_id: UUID) -> SignatureRequest:
    """The request addressed to the logged-in person; 404 for anyone else's."""
    signature = selectors.signer_request_get(user=request.user, request_id=request_id)
    if signature is None:
        raise Http404
    return signature


def inbox_page(request: HttpRequest) -> HttpResponse:
    """The inbox, for the inbox URL and for a signer's home page."""
    inbox = selectors.signer_inbox(user=request.user)
    return render(request, "practices/inbox.html", {"inbox": inbox})


@never_cache
@login_required
@require_GET
def inbox(request: HttpRequest) -> HttpResponse:
    return inbox_page(request)


@never_cache
@no_referrer
@login_required
@require_POST
def inbox_sign(request: HttpRequest, request_id: UUID) -> HttpResponse:
    signature = _get_request_for_user(request, request_id)
    if not signature.is_open:
        # The list was older than the request: someone signed, cancelled or it expired.
        practice = signature.document.practice
        if (
            signature.locked
            and signature.status == SignatureRequest.Status.PENDING
            and practice.status == Practice.Status.PENDING
        ):
            messages.info(request, _("Not your turn yet: other people sign this document first."))
        else:
            messages.info(request, _("This signature request is no longer waiting for you."))
        return redirect("practices-inbox")
    signer_session.grant(request, signature)
    return redirect("practices-sign-page", request_id=signature.id)


urlpatterns = [
    path("inbox/", inbox, name="practices-inbox"),
    path("inbox/<uuid:request_id>/sign", inbox_sign, name="practices-inbox-sign"),
]
