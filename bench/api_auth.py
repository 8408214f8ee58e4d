"""The API's fixed costs: token authentication and the Users list, against a trivial view.

Baseline: a Django view that returns a constant JSON body, through the same
middleware stack and test client. The ratio is what our API layer adds.
"""

from django.contrib.auth.hashers import check_password, make_password
from django.http import JsonResponse
from django.test import Client, override_settings
from django.urls import include, path

from accounts import services, tokens
from accounts.models import Role
from bench.timing import median_ms, report


def trivial(request):
    return JsonResponse({"ok": True})


urlpatterns = [path("bench/trivial", trivial), path("", include("portal.urls"))]


def run() -> None:
    created = services.organization_create(
        slug="bench", name="Bench", admin_username="admin", admin_password="Bench-Password-1"
    )
    for i in range(100):
        services.user_create(
            actor=created.admin,
            organization=created.organization,
            username=f"signer{i}",
            role=Role.SIGNER,
        )
    access = tokens.oauth_pair_issue(user=created.admin)["access_token"]
    client = Client(headers={"Authorization": f"Bearer {access}"})
    with override_settings(ROOT_URLCONF=__name__, ALLOWED_HOSTS=["*"]):
        baseline = median_ms(lambda: client.get("/bench/trivial"))
        print("API layer (in-process test client, medians)")
        report("trivial JSON view", baseline, "trivial", baseline)
        report(
            "GET /api/user/{id} (token auth + read)",
            median_ms(lambda: client.get(f"/api/user/{created.admin.id}")),
            "trivial",
            baseline,
        )
        report(
            "GET /api/users?$top=10",
            median_ms(lambda: client.get("/api/users", {"$top": 10})),
            "trivial",
            baseline,
        )
        report(
            "GET /api/users?$top=100&$count=true",
            median_ms(lambda: client.get("/api/users", {"$top": 100, "$count": "true"})),
            "trivial",
            baseline,
        )

    # The password grant is dominated by the password hash, on purpose.
    encoded = make_password("Bench-Password-1")
    hashing = median_ms(lambda: check_password("Bench-Password-1", encoded), rounds=10, warmup=1)
    report("password hash check (PBKDF2, Django default)", hashing, "itself", hashing)
