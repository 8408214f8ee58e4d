"""The signer's ticket API (CONTRACT §7) under /api/v1/tickets/{ticket}.

No login: the ticket is the credential. Calls are rate-limited per client
address (RATE_LIMITS["ticket"]), unknown tickets included. Errors use the DST
error body with the field path.
"""

from django.http import HttpRequest, HttpResponse, JsonResponse
from ninja import Router
from pydantic import BaseModel, ConfigDict, Field

from portal import ratelimit
from portal.errors import ApiError, too_many_requests
from practices import tickets

router = Router(tags=["Signer tickets"], auth=None)


class Graphometric(BaseModel):
    model_config = ConfigDict(extra="forbid")

    image: str = Field(max_length=2 * 1024 * 1024)


class SignBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    accepted_clauses: list[str | int] = Field(default_factory=list, max_length=200)
    otp: str | None = Field(default=None, pattern=r"^[0-9]{6}$")
    graphometric: Graphometric | None = None


class DeclineBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=1000)


def _limited(request: HttpRequest) -> None:
    wait = ratelimit.hit(scope="ticket", key=ratelimit.client_address(request))
    if wait is not None:
        raise too_many_requests(wait)


def _request_for(request: HttpRequest, ticket: str):
    _limited(request)
    try:
        return tickets.ticket_request(ticket=ticket)
    except tickets.TicketRefused as exc:
        raise _api_error(exc) from exc


def _api_error(exc: tickets.TicketRefused) -> ApiError:
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
    return ApiError(exc.status, exc.error_type, exc.message, exc.field, headers=headers)


@router.get("/tickets/{ticket}", summary="The signature request a ticket opens")
def ticket_describe(request, ticket: str):
    signature = _request_for(request, ticket)
    return JsonResponse(tickets.ticket_describe(request=signature))


@router.post("/tickets/{ticket}/otp", summary="Send a one-time code to the signer")
def ticket_otp(request, ticket: str):
    signature = _request_for(request, ticket)
    try:
        tickets.otp_send(request=signature, actor=tickets.SignerActor.of(request, signature))
    except tickets.TicketRefused as exc:
        raise _api_error(exc) from exc
    return HttpResponse(status=204)


@router.post("/tickets/{ticket}/sign", summary="Sign")
def ticket_sign(request, ticket: str, body: SignBody):
    signature = _request_for(request, ticket)
    try:
        outcome = tickets.ticket_sign(
            request=signature,
            actor=tickets.SignerActor.of(request, signature),
            accepted_clauses=body.accepted_clauses,
            otp=body.otp,
            image_data_url=body.graphometric.image if body.graphometric else None,
        )
    except tickets.TicketRefused as exc:
        raise _api_error(exc) from exc
    return JsonResponse({"status": outcome.status, "redirect": outcome.redirect})


@router.post("/tickets/{ticket}/decline", summary="Decline")
def ticket_decline(request, ticket: str, body: DeclineBody):
    signature = _request_for(request, ticket)
    try:
        outcome = tickets.ticket_decline(
            request=signature, actor=tickets.SignerActor.of(request, signature), reason=body.reason
        )
    except tickets.TicketRefused as exc:
        raise _api_error(exc) from exc
    return JsonResponse({"status": outcome.status, "redirect": outcome.redirect})
