"""Site-wide error pages: JSON in the API's shape under /api/, HTML elsewhere."""

from django.views import defaults

from portal import errors


def not_found(request, exception):
    if request.path.startswith("/api/"):
        return errors.render(request, errors.ApiError(404, "NotFound", "No such API call"))
    return defaults.page_not_found(request, exception)


def server_error(request):
    if request.path.startswith("/api/"):
        return errors.render(
            request, errors.ApiError(500, "InternalError", "Internal server error")
        )
    return defaults.server_error(request)
