from django.urls import include, path

from accounts import views

urlpatterns = [
    path("", views.home, name="accounts-home"),
    path("login/", views.login_view, name="accounts-login"),
    path("logout/", views.logout_view, name="accounts-logout"),
    path("password-lost/", views.password_lost, name="accounts-password-lost"),
    path(
        "reset/<uidb64>/<token>/",
        views.password_reset_confirm,
        name="accounts-password-reset-confirm",
    ),
    path("users/", views.user_list, name="accounts-user-list"),
    path("users/new/", views.user_create, name="accounts-user-create"),
    path("users/<uuid:user_id>/", views.user_detail, name="accounts-user-detail"),
    path("users/<uuid:user_id>/edit/", views.user_edit, name="accounts-user-edit"),
    path(
        "users/<uuid:user_id>/enabled/",
        views.user_set_enabled,
        name="accounts-user-set-enabled",
    ),
    path("users/<uuid:user_id>/token/", views.robot_token, name="accounts-robot-token"),
    path(
        "users/<uuid:user_id>/token/regenerate/",
        views.robot_token_regenerate,
        name="accounts-robot-token-regenerate",
    ),
    path(
        "users/<uuid:user_id>/token/revoke/",
        views.robot_token_revoke,
        name="accounts-robot-token-revoke",
    ),
    path("organization/", views.organization_detail, name="accounts-organization"),
    path("i18n/", include("django.conf.urls.i18n")),
]
