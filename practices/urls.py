from django.urls import path

from practices import identity_views, views

urlpatterns = [
    path("sign/s/<uuid:request_id>/", views.sign_page, name="practices-sign-page"),
    path(
        "sign/s/<uuid:request_id>/pages/<int:page>.png",
        views.sign_preview,
        name="practices-sign-preview",
    ),
    path("sign/s/<uuid:request_id>/otp", views.sign_otp, name="practices-sign-otp"),
    path("sign/s/<uuid:request_id>/sign", views.sign_submit, name="practices-sign-submit"),
    path("sign/s/<uuid:request_id>/decline", views.sign_decline, name="practices-sign-decline"),
    path("sign/s/<uuid:request_id>/done/", views.sign_done, name="practices-sign-done"),
    path(
        "sign/s/<uuid:request_id>/identity/",
        identity_views.sign_identity,
        name="practices-sign-identity",
    ),
    path(
        "sign/s/<uuid:request_id>/identity/complete",
        identity_views.sign_identity_complete,
        name="practices-sign-identity-complete",
    ),
    path(
        "sign/s/<uuid:request_id>/download",
        views.sign_download,
        name="practices-sign-download",
    ),
    path("sign/<str:ticket>", views.sign_entry, name="practices-sign-entry"),
]
