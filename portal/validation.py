"""Signature validation for anyone: POST /api/v1/validate and the /validate page.

Both read one uploaded file and answer signing.validate's report, trusting our
own root and the configured extra roots. Revocation of our own certificates is
checked against the CRLs we would publish, built in-process; nothing is
fetched from the network on behalf of an anonymous upload. Those CRLs date
each revocation, so a SPID signature's one-time certificate, revoked right
after signing, is judged at the signature time-stamp and stays trusted.
"""

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods
from ninja import File, Router
from ninja.files import UploadedFile

from portal import ratelimit, trust
from portal.errors import ApiError, too_many_requests
from signing.errors import DEFAULT_MAX_BYTES
from signing.validate import Report, validate

router = Router(tags=["Validation"])


def max_bytes() -> int:
    return getattr(settings, "MAX_DOCUMENT_BYTES", DEFAULT_MAX_BYTES)


def validate_upload(data: bytes) -> Report:
    ca = trust.authority()
    return validate(
        data,
        trust_roots=trust.validation_roots(),
        other_certs=[ca.issuing],
        crls=[trust.issuing_crl(), trust.root_crl()],
        allow_fetching=False,
        max_bytes=max_bytes(),
    )


def _throttled(request: HttpRequest) -> int | None:
    """Validation costs CPU and needs no account: limit it per client address."""
    return ratelimit.hit(scope="validate", key=ratelimit.client_address(request))


def _read(upload) -> bytes | None:
    """The upload's bytes, or None when it is over the limit (checked before reading)."""
    limit = max_bytes()
    if upload.size is not None and upload.size > limit:
        return None
    data = upload.read(limit + 1)
    return None if len(data) > limit else data


@router.post("/validate", auth=None, summary="Validate the signatures of a PDF or .p7m")
def validate_api(request: HttpRequest, file: UploadedFile | None = File(None)):  # noqa: B008
    wait = _throttled(request)
    if wait:
        raise too_many_requests(wait)
    if file is None:
        raise ApiError(400, "ValidationError", "a PDF or .p7m file is required", "file")
    data = _read(file)
    if data is None:
        raise ApiError(
            400, "ValidationError", f"the file is larger than {max_bytes() // 2**20} MB", "file"
        )
    if not data:
        raise ApiError(400, "ValidationError", "the file is empty", "file")
    return JsonResponse(validate_upload(data).as_dict())


@require_http_methods(["GET", "POST"])
def validate_page(request: HttpRequest) -> HttpResponse:
    context: dict = {"max_mb": max_bytes() // 2**20}
    status = 200
    if request.method == "POST":
        upload = request.FILES.get("file")
        data = _read(upload) if upload is not None else b""
        if _throttled(request):
            context["problem"] = "throttled"
            status = 429
        elif data is None:
            context["problem"] = "too_large"
            status = 400
        elif not data:
            context["problem"] = "missing"
            status = 400
        else:
            context["report"] = validate_upload(data)
            context["file_name"] = upload.name
    return render(request, "portal/validate.html", context, status=status)
