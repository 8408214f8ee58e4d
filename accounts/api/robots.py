"""Robots API (CONTRACT §3): the lifetime token and the outbound configuration. Admins only."""

from django.http import HttpResponse
from ninja import Router

from accounts import services
from accounts.api.schemas import AccessToken, RobotConfigurationIn, RobotConfigurationOut
from accounts.models import User
from portal.errors import AccessDenied, ApiError

router = Router(tags=["Robots"])


def _robot(actor: User, username: str | None, domain: str | None) -> User:
    if not actor.is_admin:
        raise AccessDenied("Only an admin can manage robots")
    if domain not in (None, "", actor.organization.slug):
        raise AccessDenied("Robots can only be managed in your own organization")
    robot = (
        User.objects.select_related("organization", "robot_config")
        .filter(organization=actor.organization, username=username or actor.username)
        .first()
    )
    if robot is None or not robot.automatic:
        raise ApiError(404, "NotFound", f"No robot named {username!r}", "username")
    return robot


@router.get("/authentication", response=AccessToken, summary="Get the robot's lifetime token")
def robot_token(request, username: str | None = None, domain: str | None = None):
    robot = _robot(request.auth, username, domain)
    return {"accessToken": services.robot_token_get_or_issue(robot=robot)}


@router.delete("/authentication", response={204: None}, summary="Revoke the robot's token")
def robot_token_revoke(request, username: str | None = None, domain: str | None = None):
    services.robot_token_revoke(robot=_robot(request.auth, username, domain))
    return HttpResponse(status=204)


@router.get(
    "/configuration", response=RobotConfigurationOut, summary="Get the robot's configuration"
)
def robot_configuration(request, username: str | None = None, domain: str | None = None):
    return services.robot_configuration_read(robot=_robot(request.auth, username, domain))


@router.put("/configuration", response={204: None}, summary="Edit the robot's configuration")
def robot_configuration_edit(
    request,
    payload: RobotConfigurationIn,
    username: str | None = None,
    domain: str | None = None,
):
    """Sections that are sent replace the stored ones; the others stay as they are."""
    robot = _robot(request.auth, username, domain)
    current = services.robot_configuration_read(robot=robot)
    services.robot_configuration_update(
        robot=robot,
        request_headers=current["requestHeaders"]
        if payload.requestHeaders is None
        else payload.requestHeaders,
        authentication=current["authentication"]
        if payload.authentication is None
        else payload.authentication.model_dump(),
        webhook_url=current["webhooks"]["dst"]
        if payload.webhooks is None
        else payload.webhooks.dst,
    )
    return HttpResponse(status=204)
