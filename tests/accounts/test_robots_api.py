"""Robots API (CONTRACT §3): the lifetime token and the robot configuration."""

import base64
import datetime
import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from accounts.models import ApiToken, RobotConfiguration
from tests.conftest import ApiClient

pytestmark = pytest.mark.django_db

ERP = {"username": "erp", "domain": "acme"}


def client_certificate() -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "erp client")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem


def test_lifetime_token_is_generated_once_and_then_the_same(admin, robot, api_as):
    client = api_as(admin)

    first = client.get("/api/robot/authentication", ERP)
    second = client.get("/api/robot/authentication", ERP)

    assert first.status_code == 200
    assert first.json()["accessToken"] == second.json()["accessToken"]
    assert ApiToken.objects.filter(user=robot, kind="lifetime").count() == 1
    robot_client = ApiClient(first.json()["accessToken"], "Token")
    assert robot_client.get("/api/users").status_code == 200


def test_domain_may_be_omitted(admin, robot, api_as):
    response = api_as(admin).get("/api/robot/authentication", {"username": "erp"})

    assert response.status_code == 200


def test_delete_revokes_the_token_at_once_and_a_new_one_follows(admin, robot, api_as):
    client = api_as(admin)
    old = client.get("/api/robot/authentication", ERP).json()["accessToken"]

    assert client.delete("/api/robot/authentication?username=erp&domain=acme").status_code == 204

    assert ApiClient(old).get("/api/users").status_code == 401
    new = client.get("/api/robot/authentication", ERP).json()["accessToken"]
    assert new != old
    assert ApiClient(new).get("/api/users").status_code == 200


def test_lifetime_token_is_sealed_in_the_database(admin, robot, api_as):
    value = api_as(admin).get("/api/robot/authentication", ERP).json()["accessToken"]

    row = ApiToken.objects.get(user=robot, kind="lifetime")
    assert value.encode() not in bytes(row.sealed_value)
    assert row.digest != value


def test_new_robot_configuration_has_a_webhook_secret(admin, robot, api_as):
    response = api_as(admin).get("/api/robot/configuration", ERP)

    assert response.status_code == 200
    body = response.json()
    assert body["requestHeaders"] == {}
    assert body["authentication"] == {}
    assert body["webhooks"]["dst"] == ""
    secret = body["webhooks"]["secret"]
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 32


def test_configuration_round_trips(admin, robot, api_as):
    client = api_as(admin)
    cert, key = client_certificate()
    configuration = {
        "requestHeaders": {"Authorization": ["Token eed3fc66"], "X-Tenant": ["a", "b"]},
        "authentication": {
            "username": "jdo",
            "password": "A12345678z",
            "authMode": "digest",
            "clientKey": base64.b64encode(key.encode()).decode(),
            "clientCert": cert,
        },
        "webhooks": {"dst": "https://erp.example/hooks/sigillo", "secret": "whsec_ignored"},
    }

    assert client.put("/api/robot/configuration?username=erp", configuration).status_code == 204

    body = client.get("/api/robot/configuration", ERP).json()
    assert body["requestHeaders"] == configuration["requestHeaders"]
    assert body["authentication"]["authMode"] == "digest"
    assert body["authentication"]["password"] == "A12345678z"
    assert body["authentication"]["clientKey"].strip() == key.strip()
    assert body["authentication"]["clientCert"].strip() == cert.strip()
    assert body["webhooks"]["dst"] == "https://erp.example/hooks/sigillo"
    assert body["webhooks"]["secret"] != "whsec_ignored"


def test_partial_put_keeps_the_other_sections(admin, robot, api_as):
    client = api_as(admin)
    client.put(
        "/api/robot/configuration?username=erp",
        {"authentication": {"username": "u", "password": "p", "authMode": "basic"}},
    )

    client.put("/api/robot/configuration?username=erp", {"webhooks": {"dst": "http://h.example/"}})

    body = client.get("/api/robot/configuration", ERP).json()
    assert body["authentication"]["username"] == "u"
    assert body["webhooks"]["dst"] == "http://h.example/"


def test_credentials_are_not_in_clear_in_the_database(admin, robot, api_as):
    api_as(admin).put(
        "/api/robot/configuration?username=erp",
        {
            "requestHeaders": {"Authorization": ["Token very-secret-header"]},
            "authentication": {"username": "jdo", "password": "very-secret-password"},
        },
    )

    row = RobotConfiguration.objects.get(robot=robot)
    stored = bytes(row.sealed_credentials) + bytes(row.sealed_webhook_secret)
    assert b"very-secret" not in stored
    assert b"whsec_" not in stored


@pytest.mark.parametrize(
    ("configuration", "target"),
    [
        ({"requestHeaders": {"Bad Header": ["x"]}}, "requestHeaders"),
        ({"requestHeaders": {"X-A": ["line\r\nInjected: 1"]}}, "requestHeaders"),
        ({"requestHeaders": "Authorization: x"}, "requestHeaders"),
        ({"authentication": {"authMode": "ntlm"}}, "authentication.authMode"),
        ({"authentication": {"clientCert": "not a certificate"}}, "authentication"),
        ({"authentication": {"clientKey": "LS0tLS1CRUdJTiBYLS0tLS0="}}, "authentication"),
        ({"authentication": {"clientCert": "junk", "clientKey": "junk"}}, "authentication"),
        ({"webhooks": {"dst": "ftp://files.example/"}}, "webhooks.dst"),
        ({"webhooks": {"dst": "not a url"}}, "webhooks.dst"),
        ({"webhook": {"dst": "http://x.example/"}}, "webhook"),
    ],
)
def test_bad_configuration_is_400_and_nothing_changes(admin, robot, api_as, configuration, target):
    client = api_as(admin)
    before = client.get("/api/robot/configuration", ERP).json()

    response = client.put("/api/robot/configuration?username=erp", configuration)

    assert response.status_code == 400
    assert response.json()["code"] == "BadArgument"
    assert response.json()["target"] == target
    assert client.get("/api/robot/configuration", ERP).json() == before


def test_client_key_must_belong_to_the_certificate(admin, robot, api_as):
    cert, _ = client_certificate()
    _, other_key = client_certificate()

    response = api_as(admin).put(
        "/api/robot/configuration?username=erp",
        {"authentication": {"clientCert": cert, "clientKey": other_key}},
    )

    assert response.status_code == 400
    assert response.json()["target"] == "authentication"
    assert "belong" in response.json()["message"]


@pytest.mark.parametrize("path", ["/api/robot/authentication", "/api/robot/configuration"])
def test_unknown_user_or_a_person_is_404(admin, signer, api_as, path):
    client = api_as(admin)

    for username in ("ghost", "mrossi"):
        response = client.get(path, {"username": username})
        assert response.status_code == 404
        assert set(response.json()) == {"code", "message", "target"}


def test_robot_of_another_organization_is_403(admin, other_org, api_as):
    response = api_as(admin).get("/api/robot/authentication", {"username": "x", "domain": "rival"})

    assert response.status_code == 403
    assert response.json()["error"] == "access_denied"


def test_configuration_body_must_be_json(admin, robot, api_as):
    response = api_as(admin).put(
        "/api/robot/configuration?username=erp", json.dumps({}), content_type="text/plain"
    )

    assert response.status_code == 415
