"""Users API (CONTRACT §4): create, list, read, update, enable/disable."""

from uuid import UUID

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpResponse
from ninja import Query, Router, Status
from pydantic import BaseModel, Field

from accounts import permissions, services
from accounts.api.query import FilterError, parse_filter, parse_order
from accounts.api.schemas import UserCreate, UserIn, UserList, UserOut, UserUpdate
from accounts.models import User
from portal.errors import AccessDenied, ApiError

router = Router(tags=["Users"])


def user_out(user: User) -> dict:
    slug = user.organization.slug
    return {
        "id": user.id,
        "username": user.username,
        "domain": slug,
        "language": user.language,
        "name": user.name,
        "surname": user.surname,
        "email": user.email,
        "phone": user.phone,
        "role": user.role,
        "groups": [{"id": g.id, "name": g.name, "domain": slug} for g in user.groups.all()],
        "capabilities": user.capabilities,
        "createdBy": user.created_by_id,
        "createdAt": user.created_at,
        "deletedAt": user.deleted_at,
        "automatic": user.automatic,
        "enabled": user.enabled,
        "extraData": user.extra_data,
        "templateData": user.template_data,
    }


def _require_user_manager(actor: User) -> None:
    if not permissions.can_manage_users(actor):
        raise AccessDenied("Signers cannot manage users")


def _require_admin(actor: User) -> None:
    if not actor.is_admin:
        raise AccessDenied("Only an admin can do this")


def _target(actor: User, user_id: UUID) -> User:
    user = User.objects.select_related("organization").filter(pk=user_id).first()
    if user is None:
        raise ApiError(404, "NotFound", f"User {user_id} not found", "id")
    if not permissions.can_manage(actor, user):
        raise AccessDenied("This user belongs to another organization or role")
    return user


def _check_placement(actor: User, data: UserIn | UserUpdate, prefix: str) -> None:
    """The user, and its groups, stay in the actor's organization and reach."""
    slug = actor.organization.slug
    if data.domain not in (None, "", slug):
        raise AccessDenied("Users can only be managed in your own organization")
    for index, group in enumerate(data.groups or []):
        if group.domain not in (None, "", slug):
            raise ApiError(
                400, "BadArgument", "Group of another organization", f"{prefix}groups.{index}"
            )
    if data.role is not None and data.role not in permissions.manageable_roles(actor):
        raise AccessDenied(f"You cannot manage users with role {data.role}")
    if data.automatic and not actor.is_admin:
        raise AccessDenied("Only an admin can create robots")


def _password_errors(password: str, user: User | None = None) -> None:
    try:
        validate_password(password, user=user)
    except DjangoValidationError as exc:
        raise ApiError(400, "BadArgument", " ".join(exc.messages), "password") from exc


@router.post("/users", response={201: UUID}, summary="Create a user")
def user_create(request, payload: UserCreate):
    actor: User = request.auth
    _require_user_manager(actor)
    data = payload.user
    _check_placement(actor, data, "user.")
    if payload.password and not data.automatic:
        _password_errors(payload.password)
    try:
        user = services.user_create(
            actor=actor,
            organization=actor.organization,
            username=data.username,
            role=data.role,
            automatic=data.automatic,
            password=payload.password,
            email=data.email,
            name=data.name,
            surname=data.surname,
            phone=data.phone,
            language=data.language,
            groups=[g.name for g in data.groups],
            capabilities=list(data.capabilities),
            extra_data=data.extraData,
            template_data=data.templateData,
        )
    except services.UsernameTaken as exc:
        raise ApiError(409, "Conflict", "Username already exists", "user.username") from exc
    return Status(201, user.id)


class ListQuery(BaseModel):
    top: int = Field(100, ge=0, le=1000, alias="$top")
    skip: int = Field(0, ge=0, alias="$skip")
    count: bool = Field(False, alias="$count")
    order_by: str = Field("username", max_length=100, alias="$orderBy")
    filter: str = Field("", max_length=2000, alias="$filter")


@router.get("/users", response=UserList, summary="List the users", exclude_unset=True)
def user_list(request, query: Query[ListQuery]):
    actor: User = request.auth
    _require_user_manager(actor)
    try:
        condition = parse_filter(query.filter) if query.filter.strip() else None
    except FilterError as exc:
        raise ApiError(400, "BadArgument", str(exc), "$filter") from exc
    try:
        ordering = parse_order(query.order_by)
    except FilterError as exc:
        raise ApiError(400, "BadArgument", str(exc), "$orderBy") from exc
    users = permissions.users_visible_to(actor).select_related("organization")
    if condition is not None:
        users = users.filter(condition)
    page = users.order_by(ordering, "id").prefetch_related("groups")[
        query.skip : query.skip + query.top
    ]
    answer = {"values": [user_out(u) for u in page]}
    if query.count:
        answer["count"] = users.count()
    return answer


@router.get("/user/{user_id}", response=UserOut, summary="Retrieve a user")
def user_read(request, user_id: UUID):
    actor: User = request.auth
    _require_user_manager(actor)
    return user_out(_target(actor, user_id))


@router.put("/user/{user_id}", response=UserOut, summary="Update a user")
def user_update(request, user_id: UUID, payload: UserUpdate):
    actor: User = request.auth
    _require_user_manager(actor)
    user = _target(actor, user_id)
    _check_placement(actor, payload, "")
    if payload.automatic is not None and payload.automatic != user.automatic:
        raise ApiError(400, "BadArgument", "A person cannot become a robot, nor back", "automatic")
    if user.automatic and payload.role not in (None, user.role):
        raise ApiError(400, "BadArgument", "A robot has no role to change", "role")
    sent = payload.model_fields_set
    names = {"extraData": "extra_data", "templateData": "template_data"}
    changes = {
        names.get(field, field): getattr(payload, field)
        for field in [
            "username",
            "language",
            "name",
            "surname",
            "email",
            "phone",
            "role",
            "capabilities",
            "extraData",
            "templateData",
        ]
        if field in sent and getattr(payload, field) is not None
    }
    if "capabilities" in changes:
        changes["capabilities"] = list(changes["capabilities"])
    groups = [g.name for g in payload.groups] if "groups" in sent else None
    try:
        services.user_update(user=user, groups=groups, **changes)
    except services.UsernameTaken as exc:
        raise ApiError(409, "Conflict", "Username already exists", "username") from exc
    return user_out(user)


@router.delete("/user/{user_id}", response={204: None}, summary="Enable or disable a user")
def user_enable(request, user_id: UUID, enabled: bool = False):
    actor: User = request.auth
    _require_admin(actor)
    user = _target(actor, user_id)
    services.user_set_enabled(user=user, enabled=enabled)
    return HttpResponse(status=204)
