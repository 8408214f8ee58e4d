"""Users API (CONTRACT §4): create, list with $top/$skip/$count/$orderBy/$filter, read,
update, enable and disable."""

import uuid

import pytest
from django.core import mail

from accounts.models import Role, User
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

JOHN = {
    "username": "jdo",
    "domain": "acme",
    "language": "en",
    "name": "John",
    "surname": "Doe",
    "email": "john.doe@email.com",
    "phone": "+013392213450",
    "role": "signer",
    "groups": [{"name": "Marketing BU", "domain": "acme"}],
    "capabilities": "user.pwd.clear",
    "extraData": {"property1": {}},
    "templateData": {"taxNumber": "RSSMRA30A01H501I"},
}


def test_create_answers_201_with_the_new_id_as_a_json_string(admin, api_as):
    response = api_as(admin).post("/api/users", {"user": JOHN, "password": "A12345678z"})

    assert response.status_code == 201
    new_id = uuid.UUID(response.json())
    john = User.objects.get(pk=new_id)
    assert (john.username, john.name, john.surname, john.language) == ("jdo", "John", "Doe", "en")
    assert john.capabilities == ["user.pwd.clear"]
    assert [g.name for g in john.groups.all()] == ["Marketing BU"]
    assert john.template_data == {"taxNumber": "RSSMRA30A01H501I"}
    assert john.created_by == admin
    assert john.check_password("A12345678z")


def test_created_user_reads_back_in_signing_shape(admin, api_as):
    client = api_as(admin)
    new_id = client.post("/api/users", {"user": JOHN, "password": "A12345678z"}).json()

    body = client.get(f"/api/user/{new_id}").json()

    assert body["id"] == new_id
    assert body["domain"] == "acme"
    assert body["groups"][0]["name"] == "Marketing BU" and body["groups"][0]["domain"] == "acme"
    assert isinstance(body["groups"][0]["id"], int)
    assert body["createdBy"] == str(admin.id)
    assert body["automatic"] is False and body["enabled"] is True and body["deletedAt"] is None
    for field in ("createdAt", "extraData", "templateData", "capabilities", "phone", "email"):
        assert field in body


def test_create_without_password_emails_a_link_to_set_one(
    admin, api_as, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = api_as(admin).post("/api/users", {"user": JOHN})

    assert response.status_code == 201
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["john.doe@email.com"]
    link = next(word for word in message.body.split() if "/reset/" in word)
    assert link.startswith("http://")
    assert not User.objects.get(pk=response.json()).has_usable_password()


def test_create_robot_with_application_name(admin, api_as):
    robot = {"username": "erp2", "automatic": True, "extraData": {"application": "ERP"}}

    response = api_as(admin).post("/api/users", {"user": robot})

    assert response.status_code == 201
    created = User.objects.get(pk=response.json())
    assert created.automatic and created.extra_data["application"] == "ERP"
    assert created.role == Role.INSTRUCTOR
    assert created.robot_config.webhook_url == ""
    assert not mail.outbox


def test_duplicate_username_is_409(admin, signer, api_as):
    response = api_as(admin).post("/api/users", {"user": {**JOHN, "username": "mrossi"}})

    assert response.status_code == 409
    assert response.json() == {
        "code": "Conflict",
        "message": "Username already exists",
        "target": "user.username",
    }


def test_same_username_in_another_organization_is_fine(admin, other_org, api_as):
    response = api_as(admin).post("/api/users", {"user": {**JOHN, "username": "rivalboss"}})

    assert response.status_code == 201


@pytest.mark.parametrize(
    ("change", "target"),
    [
        ({"email": "not-an-email"}, "user.email"),
        ({"language": "de"}, "user.language"),
        ({"role": "superuser"}, "user.role"),
        ({"capabilities": ["fly"]}, "user.capabilities.0"),
        ({"username": ""}, "user.username"),
        ({"username": "has space"}, "user.username"),
        ({"username": "x" * 151}, "user.username"),
        ({"name": "x" * 10_000}, "user.name"),
        ({"phone": "call me"}, "user.phone"),
        ({"extraData": {"blob": "x" * 20_000}}, "user.extraData"),
        ({"groups": "marketing"}, "user.groups"),
        ({"unknownField": 1}, "user.unknownField"),
        ({"automatic": "maybe"}, "user.automatic"),
    ],
)
def test_bad_fields_are_400_with_the_field_path(admin, api_as, change, target):
    response = api_as(admin).post("/api/users", {"user": {**JOHN, **change}})

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "BadArgument"
    assert body["target"] == target
    assert body["message"]
    assert not User.objects.filter(username=JOHN["username"]).exists()


def test_weak_password_is_400_on_password(admin, api_as):
    response = api_as(admin).post("/api/users", {"user": JOHN, "password": "123"})

    assert response.status_code == 400
    assert response.json()["target"] == "password"


def test_missing_user_object_is_400(admin, api_as):
    response = api_as(admin).post("/api/users", {"password": "A12345678z"})

    assert response.status_code == 400
    assert response.json()["target"] == "user"


def make_people(admin, api_as):
    client = api_as(admin)
    people = [
        ("anna", "Bianchi", "signer"),
        ("bruno", "Verdi", "signer"),
        ("carla", "Rossi", "instructor"),
        ("dario", "Neri", "signer"),
    ]
    for username, surname, role in people:
        user = {"username": username, "name": username.title(), "surname": surname, "role": role}
        assert client.post("/api/users", {"user": user, "password": PASSWORD}).status_code == 201
    return client


def usernames(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [u["username"] for u in response.json()["values"]]


def test_list_pages_with_top_and_skip_and_counts_on_request(admin, api_as):
    client = make_people(admin, api_as)

    first = client.get("/api/users", {"$top": 2, "$skip": 0, "$count": "True"})
    second = client.get("/api/users", {"$top": 2, "$skip": 2})

    assert first.json()["count"] == 5
    assert usernames(first) == ["anna", "boss"]
    assert usernames(second) == ["bruno", "carla"]
    assert "count" not in second.json()


def test_list_orders_by_a_field_and_direction(admin, api_as):
    client = make_people(admin, api_as)

    response = client.get("/api/users", {"$orderBy": "surname,desc"})

    assert usernames(response) == ["bruno", "carla", "dario", "anna", "boss"]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ('surname == "Rossi"', ["carla"]),
        ('role != "signer"', ["boss", "carla"]),
        ('role == "signer" and surname != "Verdi"', ["anna", "dario"]),
        ('name == "Anna" or name == "Dario"', ["anna", "dario"]),
        ('name == "Anna" or role == "instructor" and surname == "Rossi"', ["anna", "carla"]),
        ('(name == "Anna" or role == "instructor") and surname == "Rossi"', ["carla"]),
        ("enabled == true and automatic == false and surname == 'Neri'", ["dario"]),
        ('domain == "acme" and username == "bruno"', ["bruno"]),
    ],
)
def test_list_filters(admin, api_as, expression, expected):
    client = make_people(admin, api_as)

    assert usernames(client.get("/api/users", {"$filter": expression})) == expected


@pytest.mark.parametrize(
    ("params", "target"),
    [
        ({"$filter": 'password == "x"'}, "$filter"),
        ({"$filter": 'name = "x"'}, "$filter"),
        ({"$filter": 'name == "x" and'}, "$filter"),
        ({"$filter": "name == x"}, "$filter"),
        ({"$filter": 'id == "not-a-uuid"'}, "$filter"),
        ({"$filter": '(name == "x"'}, "$filter"),
        ({"$orderBy": "password"}, "$orderBy"),
        ({"$orderBy": "name,sideways"}, "$orderBy"),
        ({"$top": "many"}, "$top"),
        ({"$top": "-1"}, "$top"),
        ({"$skip": "-5"}, "$skip"),
        ({"$count": "perhaps"}, "$count"),
    ],
)
def test_bad_list_parameters_are_400(admin, api_as, params, target):
    response = api_as(admin).get("/api/users", params)

    assert response.status_code == 400
    assert response.json()["code"] == "BadArgument"
    assert response.json()["target"] == target


def test_instructor_lists_only_signers(admin, instructor, signer, robot, api_as):
    assert usernames(api_as(instructor).get("/api/users")) == ["mrossi"]


def test_read_unknown_user_is_404_error_response(admin, api_as):
    response = api_as(admin).get(f"/api/user/{uuid.uuid4()}")

    assert response.status_code == 404
    assert response.json()["code"] == "NotFound"


def test_read_with_a_malformed_id_is_400(admin, api_as):
    response = api_as(admin).get("/api/user/not-a-uuid")

    assert response.status_code == 400
    assert response.json()["target"] == "user_id"


def test_update_changes_the_fields_sent(admin, signer, api_as):
    response = api_as(admin).put(
        f"/api/user/{signer.id}",
        {"name": "Maria", "language": "fr", "groups": [{"name": "Sales"}], "id": str(signer.id)},
    )

    assert response.status_code == 200
    assert response.json()["name"] == "Maria"
    signer.refresh_from_db()
    assert (signer.name, signer.surname, signer.language) == ("Maria", "Rossi", "fr")
    assert [g.name for g in signer.groups.all()] == ["Sales"]


def test_update_to_a_taken_username_is_409(admin, signer, instructor, api_as):
    response = api_as(admin).put(f"/api/user/{signer.id}", {"username": "teacher"})

    assert response.status_code == 409
    signer.refresh_from_db()
    assert signer.username == "mrossi"


def test_update_cannot_turn_a_person_into_a_robot(admin, signer, api_as):
    response = api_as(admin).put(f"/api/user/{signer.id}", {"automatic": True})

    assert response.status_code == 400
    assert response.json()["target"] == "automatic"


def test_update_with_bad_email_is_400(admin, signer, api_as):
    response = api_as(admin).put(f"/api/user/{signer.id}", {"email": "@@"})

    assert response.status_code == 400
    assert response.json()["target"] == "email"


@pytest.mark.parametrize("false", ["false", "False", "0"])
def test_disable_then_enable(admin, signer, api_as, false):
    client = api_as(admin)

    assert client.delete(f"/api/user/{signer.id}?enabled={false}").status_code == 204
    signer.refresh_from_db()
    assert not signer.enabled and signer.deleted_at is not None
    assert client.get(f"/api/user/{signer.id}").json()["enabled"] is False

    assert client.delete(f"/api/user/{signer.id}?enabled=True").status_code == 204
    signer.refresh_from_db()
    assert signer.enabled and signer.deleted_at is None


def test_disable_without_parameter_disables(admin, signer, api_as):
    assert api_as(admin).delete(f"/api/user/{signer.id}").status_code == 204
    signer.refresh_from_db()
    assert not signer.enabled
