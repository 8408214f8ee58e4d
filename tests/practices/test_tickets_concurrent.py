"""One code submitted twice at the same moment, each submission on its own
database connection: the code is consumed by a conditional UPDATE in the
signature's transaction, so exactly one signs."""

import json
import re
import threading

import pytest
from django.db import connection
from django.test import Client

from practices.models import OtpChallenge, Revision, SignatureRequest
from practices.signature_types import SIMPLE
from tests.conftest import ApiClient, bearer
from tests.practices.conftest import dst_body, signature_request, url
from tests.signing.conftest import portal_pki_in

SUBMISSIONS = 4


@pytest.fixture
def pki(settings, tmp_path):
    settings.SMS_BACKEND = "file"
    with portal_pki_in(settings, tmp_path / "pki") as ca:
        yield ca


@pytest.mark.integration
@pytest.mark.parametrize("constraints", [[SIMPLE], []], ids=["otp", "advanced"])
def test_one_code_submitted_concurrently_signs_once(
    integration_db, pki, admin, settings, constraints
):
    request_body = signature_request(
        signer={
            "email": "s1@mail.com",
            "first_name": "Name1",
            "last_name": "Surname1",
            "phone": "+393331234567",
        },
        constraints=constraints,
        **({"provider_options": {"unlock_mode": "otp"}} if constraints else {}),
    )
    created = ApiClient(bearer(admin)).post(
        url(), dst_body(groups=[[request_body]], generate_report=False)
    )
    assert created.status_code == 201, created.content
    item = created.json()["data"]["documents"][0]["groups"][0][0]
    ticket = item["signature_ticket"].rsplit("/sign/", 1)[1]
    assert Client().post(f"/api/v1/tickets/{ticket}/otp").status_code == 204
    with open(settings.SMS_FILE_PATH) as handle:
        text = json.loads(handle.readlines()[-1])["text"]
    code = re.search(r"\b(\d{6})\b", text).group(1)

    start = threading.Barrier(SUBMISSIONS)
    answers = []

    def submit():
        try:
            start.wait()
            response = Client().post(
                f"/api/v1/tickets/{ticket}/sign",
                {"otp": code},
                content_type="application/json",
            )
            answers.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=submit) for _ in range(SUBMISSIONS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)

    assert sorted(answers)[0] == 200 and answers.count(200) == 1, answers
    assert set(answers) <= {200, 401, 409}, answers
    assert SignatureRequest.objects.get(pk=item["id"]).status == "performed"
    assert Revision.objects.filter(produced_by_id=item["id"]).count() == 1
    assert OtpChallenge.objects.get().used_at is not None


@pytest.mark.integration
def test_parallel_guesses_get_no_more_than_five_comparisons(integration_db, pki, admin, settings):
    request_body = signature_request(
        signer={
            "email": "s1@mail.com",
            "first_name": "Name1",
            "last_name": "Surname1",
            "phone": "+393331234567",
        },
        provider_options={"unlock_mode": "otp"},
    )
    created = ApiClient(bearer(admin)).post(
        url(), dst_body(groups=[[request_body]], generate_report=False)
    )
    item = created.json()["data"]["documents"][0]["groups"][0][0]
    ticket = item["signature_ticket"].rsplit("/sign/", 1)[1]
    assert Client().post(f"/api/v1/tickets/{ticket}/otp").status_code == 204
    with open(settings.SMS_FILE_PATH) as handle:
        text = json.loads(handle.readlines()[-1])["text"]
    code = int(re.search(r"\b(\d{6})\b", text).group(1))
    guesses = [f"{(code + n) % 10**6:06d}" for n in range(1, 11)]
    start = threading.Barrier(len(guesses))
    answers = []

    def guess(value):
        try:
            start.wait()
            response = Client().post(
                f"/api/v1/tickets/{ticket}/sign", {"otp": value}, content_type="application/json"
            )
            answers.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=guess, args=(g,)) for g in guesses]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)

    assert sorted(answers) == [401] * 5 + [429] * 5
    assert OtpChallenge.objects.get().attempts == 5
