"""The account pages: login, password recovery and the Users section.

Views parse and authorize; every change goes through accounts.services. Users
are always loaded through `_get_user_for_actor`, which answers 404 for anyone
outside the actor's organization or outside what the actor may manage.
"""

from uuid import UUID

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login as auth_login
from django.contrib.auth import logout as auth_logout
from django.contrib.auth.decorators import login_required
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.encoding import force_str
from django.utils.http import (
    url_has_allowed_host_and_scheme,
    urlencode,
    urlsafe_base64_decode,
)
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from accounts import services
from accounts.forms import (
    ROBOT,
    LoginForm,
    PasswordLostForm,
    RobotConfigurationForm,
    SetPasswordForm,
    UserForm,
    account_type_choices,
)
from accounts.models import User
from accounts.permissions import can_manage, can_manage_users, users_visible_to
from portal import ratelimit

PAGE_SIZE = 20


def _render(
    request: HttpRequest,
    template: str,
    context: dict,
    *,
    partial: str | None = None,
) -> HttpResponse:
    """Render the page, or only `template#partial` when htmx asks for a fragment."""
    if partial and request.htmx and not request.htmx.history_restore_request:
        template = f"{template}#{partial}"
    response = render(request, template, context)
    patch_vary_headers(response, ("HX-Request",))
    return response


def _get_user_for_actor(request: HttpRequest, user_id: UUID) -> User:
    actor = request.user
    user = (
        User.objects.select_related("organization", "created_by")
        .filter(pk=user_id, organization_id=actor.organization_id)
        .first()
    )
    if user is None or not can_manage(actor, user):
        raise Http404
    return user


def _get_robot_for_actor(request: HttpRequest, user_id: UUID) -> User:
    """Robots are managed by admins only."""
    robot = _get_user_for_actor(request, user_id)
    if not (robot.automatic and request.user.is_admin):
        raise Http404
    return robot


def _safe_next(request: HttpRequest) -> str:
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    allowed = url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return next_url if allowed else ""


# Attempts are counted per client address and account, like the API's limits.


def _rate_key(request: HttpRequest, ident: str) -> str:
    return f"pages|{ratelimit.client_address(request)}|{ident.lower()[:200]}"


# Login, logout, password


@never_cache
def home(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect("accounts-login")
    if can_manage_users(request.user):
        return redirect("accounts-user-list")
    # A signer's home is the list of what they have to sign.
    from practices.inbox import inbox_page

    return inbox_page(request)


@sensitive_post_parameters("password")
@never_cache
@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    next_url = _safe_next(request)
    if request.user.is_authenticated:
        return redirect(next_url or "accounts-home")
    throttled = False
    if request.method == "POST":
        form = LoginForm(request, data=request.POST)
        ident = f"{request.POST.get('organization', '')}/{request.POST.get('username', '')}"
        if ratelimit.exceeded(scope="token", key=_rate_key(request, ident)):
            throttled = True
        elif form.is_valid():
            auth_login(request, form.get_user())
            return redirect(next_url or settings.LOGIN_REDIRECT_URL)
        else:
            ratelimit.hit(scope="token", key=_rate_key(request, ident))
    else:
        initial = {k: request.GET.get(k, "")[:150] for k in ("organization", "username")}
        form = LoginForm(request, initial=initial)
    return render(
        request,
        "accounts/login.html",
        {"form": form, "next": next_url, "throttled": throttled},
    )


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    auth_logout(request)
    return redirect("accounts-login")


@never_cache
@require_http_methods(["GET", "POST"])
def password_lost(request: HttpRequest) -> HttpResponse:
    form = PasswordLostForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        organization = form.cleaned_data["organization"].strip().lower()
        username = form.cleaned_data["username"].strip()
        ident = f"{organization}/{username}"
        # The answer is the same whatever happens: it must not tell who exists.
        if not ratelimit.hit(scope="password", key=_rate_key(request, ident)):
            user = User.objects.filter(
                organization__slug=organization, username=username, automatic=False, enabled=True
            ).first()
            if user is not None:
                services.password_reset_send(user=user)
        return redirect(f"{request.path}?sent=1")
    return render(
        request, "accounts/password_lost.html", {"form": form, "sent": "sent" in request.GET}
    )


def _user_from_uidb64(uidb64: str) -> User | None:
    try:
        pk = UUID(force_str(urlsafe_base64_decode(uidb64)))
    except (TypeError, ValueError, OverflowError):
        return None
    return (
        User.objects.select_related("organization")
        .filter(pk=pk, automatic=False, enabled=True)
        .first()
    )


@sensitive_post_parameters("new_password1", "new_password2")
@never_cache
@require_http_methods(["GET", "POST"])
def password_reset_confirm(request: HttpRequest, uidb64: str, token: str) -> HttpResponse:
    user = _user_from_uidb64(uidb64)
    if user is None or not default_token_generator.check_token(user, token):
        return render(request, "accounts/password_reset_confirm.html", {"invalid": True})
    form = SetPasswordForm(user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.user_set_password(user=user, password=form.cleaned_data["new_password1"])
        except ValidationError as exc:
            form.add_error("new_password1", exc)
        else:
            messages.success(request, _("Your password is set. You can log in now."))
            query = urlencode({"organization": user.organization.slug, "username": user.username})
            return redirect(f"{reverse('accounts-login')}?{query}")
    return render(request, "accounts/password_reset_confirm.html", {"form": form, "account": user})


# Users


@login_required
@require_http_methods(["GET"])
def user_list(request: HttpRequest) -> HttpResponse:
    actor = request.user
    if not can_manage_users(actor):
        return redirect("accounts-home")
    users = users_visible_to(actor).select_related("organization")
    query = request.GET.get("q", "").strip()[:100]
    if query:
        users = users.filter(
            Q(username__icontains=query)
            | Q(name__icontains=query)
            | Q(surname__icontains=query)
            | Q(email__icontains=query)
        )
    # Instructors see signers only: a role filter would have one choice.
    role_choices = account_type_choices(actor) if actor.is_admin else []
    role = request.GET.get("role", "")
    if role not in dict(role_choices):
        role = ""
    if role == ROBOT:
        users = users.filter(automatic=True)
    elif role:
        users = users.filter(role=role, automatic=False)
    page = Paginator(users.order_by("username"), PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "query": query,
        "role": role,
        "role_choices": role_choices,
    }
    return _render(request, "accounts/user_list.html", context, partial="results")


@login_required
@sensitive_post_parameters("password")
@require_http_methods(["GET", "POST"])
def user_create(request: HttpRequest) -> HttpResponse:
    actor = request.user
    if not can_manage_users(actor):
        raise Http404
    form = UserForm(request.POST or None, actor=actor)
    if request.method == "POST" and form.is_valid():
        account_type = form.cleaned_data["account_type"]
        try:
            if account_type == ROBOT:
                user = services.user_create(
                    actor=actor,
                    organization=actor.organization,
                    automatic=True,
                    **form.service_fields(),
                )
            else:
                user = services.user_create(
                    actor=actor,
                    organization=actor.organization,
                    role=account_type,
                    password=form.cleaned_data["password"] or None,
                    **form.service_fields(),
                )
        except services.UsernameTaken:
            form.add_error("username", _("This username is already taken."))
        else:
            messages.success(request, _("%(username)s was created.") % {"username": user.username})
            return redirect("accounts-user-detail", user_id=user.pk)
    return render(request, "accounts/user_form.html", {"form": form, "account": None})


@login_required
@require_http_methods(["GET"])
def user_detail(request: HttpRequest, user_id: UUID) -> HttpResponse:
    account = _get_user_for_actor(request, user_id)
    return render(
        request,
        "accounts/user_detail.html",
        {
            "account": account,
            "can_toggle": request.user.is_admin and account.pk != request.user.pk,
            "can_manage_token": account.automatic and request.user.is_admin,
        },
    )


@login_required
@sensitive_post_parameters("password")
@require_http_methods(["GET", "POST"])
def user_edit(request: HttpRequest, user_id: UUID) -> HttpResponse:
    account = _get_user_for_actor(request, user_id)
    form = UserForm(request.POST or None, actor=request.user, instance=account)
    if request.method == "POST" and form.is_valid():
        password = form.cleaned_data.get("password")
        try:
            with transaction.atomic():
                services.user_update(user=account, **form.service_fields())
                if password:
                    services.user_set_password(user=account, password=password)
        except services.UsernameTaken:
            account.refresh_from_db()
            form.add_error("username", _("This username is already taken."))
        except ValidationError as exc:
            account.refresh_from_db()
            form.add_error("password", exc)
        else:
            messages.success(request, _("Changes saved."))
            return redirect("accounts-user-detail", user_id=account.pk)
    return render(request, "accounts/user_form.html", {"form": form, "account": account})


@login_required
@require_http_methods(["GET", "POST"])
def user_set_enabled(request: HttpRequest, user_id: UUID) -> HttpResponse:
    """GET asks for confirmation (in the page's dialog with htmx), POST enables or disables.

    Only admins enable and disable, as in the Users API; nobody disables themselves.
    """
    if not request.user.is_admin:
        raise Http404
    account = _get_user_for_actor(request, user_id)
    if account.pk == request.user.pk:
        messages.error(request, _("You cannot disable your own account."))
        return redirect("accounts-user-detail", user_id=account.pk)
    if request.method == "POST":
        enabled = request.POST.get("enabled") == "true"
        services.user_set_enabled(user=account, enabled=enabled)
        if enabled:
            message = _("%(username)s is enabled.")
        else:
            message = _("%(username)s is disabled and can no longer log in.")
        messages.success(request, message % {"username": account.username})
        return redirect("accounts-user-detail", user_id=account.pk)
    return _render(request, "accounts/user_set_enabled.html", {"account": account}, partial="modal")


# Manage Token: a robot's lifetime token and outbound configuration


def _robot_token_context(robot: User, form: RobotConfigurationForm, **extra) -> dict:
    return {
        "account": robot,
        "form": form,
        "webhook_secret": form.current["webhooks"]["secret"],
        **extra,
    }


@never_cache
@login_required
@sensitive_post_parameters("auth_password", "client_key")
@require_http_methods(["GET", "POST"])
def robot_token(request: HttpRequest, user_id: UUID) -> HttpResponse:
    robot = _get_robot_for_actor(request, user_id)
    current = services.robot_configuration_read(robot=robot)
    if request.method == "POST":
        form = RobotConfigurationForm(request.POST, current=current)
        if form.is_valid():
            services.robot_configuration_update(
                robot=robot,
                request_headers=form.cleaned_data["request_headers"],
                authentication=form.cleaned_data["authentication"],
                webhook_url=form.cleaned_data["webhook_url"],
            )
            if not request.htmx:
                messages.success(request, _("Robot configuration saved."))
                return redirect("accounts-robot-token", user_id=robot.pk)
            form = RobotConfigurationForm(current=services.robot_configuration_read(robot=robot))
            return _render(
                request,
                "accounts/robot_token.html",
                _robot_token_context(robot, form, saved=True),
                partial="config-form",
            )
        if request.htmx:
            return _render(
                request,
                "accounts/robot_token.html",
                _robot_token_context(robot, form),
                partial="config-form",
            )
    else:
        form = RobotConfigurationForm(current=current)
    token = services.robot_token_get_or_issue(robot=robot)
    return _render(
        request,
        "accounts/robot_token.html",
        _robot_token_context(robot, form, token=token),
        partial="modal",
    )


@never_cache
@login_required
@require_POST
def robot_token_regenerate(request: HttpRequest, user_id: UUID) -> HttpResponse:
    robot = _get_robot_for_actor(request, user_id)
    token = services.robot_token_regenerate(robot=robot)
    if not request.htmx:
        messages.success(request, _("A new token was issued; the old one no longer works."))
        return redirect("accounts-robot-token", user_id=robot.pk)
    return _render(
        request,
        "accounts/robot_token.html",
        {"account": robot, "token": token, "regenerated": True},
        partial="token-panel",
    )


@never_cache
@login_required
@require_POST
def robot_token_revoke(request: HttpRequest, user_id: UUID) -> HttpResponse:
    robot = _get_robot_for_actor(request, user_id)
    services.robot_token_revoke(robot=robot)
    if not request.htmx:
        # Not back to Manage Token: opening it issues a token again.
        messages.success(request, _("The token is revoked."))
        return redirect("accounts-user-detail", user_id=robot.pk)
    return _render(
        request,
        "accounts/robot_token.html",
        {"account": robot, "token": None, "revoked": True},
        partial="token-panel",
    )


# Organization


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def organization_detail(request: HttpRequest) -> HttpResponse:
    """The organization's OAuth2 client: its id, and a new secret on request (shown once)."""
    if not request.user.is_admin:
        raise Http404
    organization = request.user.organization
    client_secret = None
    if request.method == "POST":
        client_secret = services.organization_rotate_client_secret(organization=organization)
    return render(
        request,
        "accounts/organization.html",
        {"organization": organization, "client_secret": client_secret},
    )
