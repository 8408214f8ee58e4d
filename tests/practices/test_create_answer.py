"""A create answers from the rows it has just written, without reading them
back: that answer must be exactly what a retrieve of the same DST shows. And a
create is a fixed, small number of statements, whatever its size."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.services import robot_configuration_update
from tests.practices.conftest import b64, dst_body, signature_request, url

pytestmark = pytest.mark.django_db


def _created_then_retrieved(client, body) -> tuple[bytes, bytes]:
    created = client.post(url(), body)
    assert created.status_code == 201, created.content
    shown = client.get(url(tail=f"/{created.json()['data']['id']}"))
    assert shown.status_code == 200, shown.content
    return created.content, shown.content


def _assert_same_answer(client, body) -> None:
    created, shown = _created_then_retrieved(client, body)
    assert created.startswith(b'{"meta": {"code": 201}, "data": ')
    if connection.vendor == "postgresql":
        # jsonb keeps an object's keys in an order of its own (shorter first):
        # a retrieve shows metadata, where and clauses in that order, the create
        # in the client's. The same values, not the same bytes.
        assert json.loads(created)["data"] == json.loads(shown)["data"]
    else:
        # Byte for byte, but for the status code in meta.
        assert created.replace(b'{"code": 201}', b'{"code": 200}', 1) == shown


def _groups() -> list:
    return [
        [
            signature_request(
                signer={
                    "email": "anna@mail.com",
                    "first_name": "Anna",
                    "last_name": "Bianchi",
                    "phone": "+393331234567",
                },
                provider_options={"unlock_mode": "otp"},
                urlback="https://erp.example.com/signed",
                cancelback="https://erp.example.com/declined",
                metadata={"row": 1, "tags": ["a", "b"], "nested": {"città": "Milano"}},
            ),
            signature_request(
                signer={"email": "luca@mail.com", "first_name": "Luca", "last_name": "Verdi"},
                provider_options={"unlock_mode": "grapho"},
                where={
                    "page": 1,
                    "position": "rect: 20mm, 20mm, 90mm, 40mm",
                    "text": [{"format": ["nominativofirma", "datafirma"], "font": {"size": 9}}],
                },
                clauses=[
                    {"id": 7, "required": True, "description": "Penali"},
                    {
                        "id": "foro",
                        "description": "Foro competente",
                        "where": {"page": 2, "position": "rect: 1in, 1in, 3in, 2in"},
                    },
                ],
            ),
        ],
        [signature_request(constraints=[], display_name="", reason="", declinable=True)],
    ]


def test_a_rich_create_answers_what_a_retrieve_shows(admin_api):
    body = dst_body(
        groups=_groups(),
        urlback="https://erp.example.com/done",
        cancelback="https://erp.example.com/cancelled",
        # Another offset and microseconds: the answer is in UTC, as stored.
        not_after="2099-03-04T05:06:07.123456+02:00",
        metadata={"studio_email_disabled": True, "pratica": {"numero": 42, "è": [1.5, None]}},
    )

    _assert_same_answer(admin_api, body)


def test_a_waiting_create_with_an_envelope_answers_what_a_retrieve_shows(admin_api):
    body = dst_body(
        document=None,
        groups=[[signature_request(profile="pades-t")]],
    )
    body["documents"][0]["document_uri"] = "https://docs.example.com/contract.pdf"
    body["documents"][0]["document_uri_options"] = {"headers": {"X-Key": "k"}}
    body["documents"].append(
        {
            "display_name": "Allegato",
            "document": b64(b"any bytes at all"),
            "groups": [
                [signature_request(profile="cades-bes", where=None)],
                [signature_request(profile="cades-t", where=None, metadata={"n": 2})],
            ],
        }
    )

    _assert_same_answer(admin_api, body)


def test_a_robots_create_answers_what_a_retrieve_shows(robot, api_as):
    robot_configuration_update(
        robot=robot,
        request_headers={},
        authentication={},
        webhook_url="https://erp.example.com/hooks",
    )

    _assert_same_answer(api_as(robot, "Token"), dst_body(groups=_groups()))


def _statements(client, body) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.post(url(), body)
    assert response.status_code == 201, response.content
    return len(queries)


def _big_body() -> dict:
    body = dst_body(groups=_groups())
    body["documents"].append({**body["documents"][0], "display_name": "Secondo"})
    return body


def test_a_create_is_a_few_statements_whatever_its_size(robot, api_as):
    client = api_as(robot, "Token")

    small = _statements(client, dst_body())
    big = _statements(client, _big_body())

    # The token; then in one transaction the practice, documents, requests,
    # revisions and audit events (one INSERT each), and the robot's webhook URL.
    assert small == big
    assert small <= 9


def test_with_a_webhook_the_messages_add_a_fixed_number_of_statements(robot, api_as):
    robot_configuration_update(
        robot=robot,
        request_headers={},
        authentication={},
        webhook_url="https://erp.example.com/hooks",
    )
    client = api_as(robot, "Token")

    small = _statements(client, dst_body())
    big = _statements(client, _big_body())

    assert small == big
