"""Who may call what (CONTRACT §2-4): each role against each call, in its own
organization and in another one."""

import uuid

import pytest

from accounts import services
from accounts.models import Role

pytestmark = pytest.mark.django_db

ALLOWED = "allowed"
DENIED = 403


@pytest.fixture
def people(org, admin, instructor, signer, robot, other_org):
    rival_signer = services.user_create(
        actor=other_org.admin,
        organization=other_org.organization,
        username="rivalsigner",
        role=Role.SIGNER,
    )
    rival_robot = services.user_create(
        actor=other_org.admin,
        organization=other_org.organization,
        username="rivalrobot",
        automatic=True,
    )
    return {
        "admin": admin,
        "instructor": instructor,
        "signer": signer,
        "robot": robot,
        "rival_signer": rival_signer,
        "rival_admin": other_org.admin,
        "rival_robot": rival_robot,
    }


def call(client, people, name):
    """The calls of the matrix, by name; each returns the response."""
    own_signer, own_admin = people["signer"].id, people["admin"].id
    rival = people["rival_signer"].id
    new_signer = {"user": {"username": f"n{uuid.uuid4().hex[:8]}", "role": "signer"}}
    new_admin = {"user": {"username": f"a{uuid.uuid4().hex[:8]}", "role": "admin"}}
    new_robot = {"user": {"username": f"r{uuid.uuid4().hex[:8]}", "automatic": True}}
    return {
        "list users": lambda: client.get("/api/users"),
        "create signer": lambda: client.post("/api/users", new_signer),
        "create admin": lambda: client.post("/api/users", new_admin),
        "create robot": lambda: client.post("/api/users", new_robot),
        "read own signer": lambda: client.get(f"/api/user/{own_signer}"),
        "read own admin": lambda: client.get(f"/api/user/{own_admin}"),
        "read rival signer": lambda: client.get(f"/api/user/{rival}"),
        "edit own signer": lambda: client.put(f"/api/user/{own_signer}", {"name": "X"}),
        "edit own admin": lambda: client.put(f"/api/user/{own_admin}", {"name": "X"}),
        "edit rival signer": lambda: client.put(f"/api/user/{rival}", {"name": "X"}),
        "disable own signer": lambda: client.delete(f"/api/user/{own_signer}?enabled=false"),
        "disable rival signer": lambda: client.delete(f"/api/user/{rival}?enabled=false"),
        "robot token": lambda: client.get("/api/robot/authentication?username=erp"),
        "robot token rival": lambda: client.get(
            "/api/robot/authentication?username=rivalrobot&domain=rival"
        ),
        "robot configuration": lambda: client.get("/api/robot/configuration?username=erp"),
        "edit robot configuration": lambda: client.put(
            "/api/robot/configuration?username=erp", {"webhooks": {"dst": "https://x.example/"}}
        ),
        "create user in rival domain": lambda: client.post(
            "/api/users", {"user": {"username": "intruder", "domain": "rival"}}
        ),
    }[name]()


#                              admin    instructor robot    signer
MATRIX = {
    "list users": (ALLOWED, ALLOWED, ALLOWED, DENIED),
    "create signer": (ALLOWED, ALLOWED, ALLOWED, DENIED),
    "create admin": (ALLOWED, DENIED, DENIED, DENIED),
    "create robot": (ALLOWED, DENIED, DENIED, DENIED),
    "read own signer": (ALLOWED, ALLOWED, ALLOWED, DENIED),
    "read own admin": (ALLOWED, DENIED, DENIED, DENIED),
    "read rival signer": (DENIED, DENIED, DENIED, DENIED),
    "edit own signer": (ALLOWED, ALLOWED, ALLOWED, DENIED),
    "edit own admin": (ALLOWED, DENIED, DENIED, DENIED),
    "edit rival signer": (DENIED, DENIED, DENIED, DENIED),
    "disable own signer": (ALLOWED, DENIED, DENIED, DENIED),
    "disable rival signer": (DENIED, DENIED, DENIED, DENIED),
    "robot token": (ALLOWED, DENIED, DENIED, DENIED),
    "robot token rival": (DENIED, DENIED, DENIED, DENIED),
    "robot configuration": (ALLOWED, DENIED, DENIED, DENIED),
    "edit robot configuration": (ALLOWED, DENIED, DENIED, DENIED),
    "create user in rival domain": (DENIED, DENIED, DENIED, DENIED),
}
ROLES = ("admin", "instructor", "robot", "signer")


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", list(MATRIX))
def test_permission_matrix(people, api_as, role, name):
    expected = MATRIX[name][ROLES.index(role)]

    response = call(api_as(people[role]), people, name)

    if expected == ALLOWED:
        assert response.status_code in (200, 201, 204), response.content
    else:
        assert response.status_code == 403, response.content
        assert response.json()["error"] == "access_denied"


def test_rival_admin_cannot_see_our_users(people, api_as):
    listed = api_as(people["rival_admin"]).get("/api/users").json()["values"]

    assert {u["domain"] for u in listed} == {"rival"}
