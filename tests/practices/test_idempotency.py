"""Idempotency-Key on create: a retry gets the first DST, another body a 422."""

import pytest

from practices.models import Practice, Revision
from tests.practices.conftest import dst_body, error_of, url

pytestmark = pytest.mark.django_db


def _create(api, body, key):
    return api.post(url(), body, headers={"Idempotency-Key": key})


def test_a_retry_with_the_same_body_answers_the_first_dst(admin_api):
    first = _create(admin_api, dst_body(), "order-42")
    retry = _create(admin_api, dst_body(), "order-42")

    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.json()["data"]["id"] == first.json()["data"]["id"]
    assert retry.json()["data"] == first.json()["data"]
    assert retry["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert Practice.objects.count() == 1
    assert Revision.objects.count() == 1


def test_key_order_and_spacing_do_not_make_another_body(admin_api):
    body = dst_body()
    reordered = dict(reversed(list(body.items())))

    first = _create(admin_api, body, "k")
    retry = _create(admin_api, reordered, "k")

    assert retry.json()["data"]["id"] == first.json()["data"]["id"]


def test_the_same_key_with_another_body_is_422(admin_api):
    first = _create(admin_api, dst_body(), "order-42")

    other = _create(admin_api, dst_body(title="Another title"), "order-42")

    assert other.status_code == 422
    assert error_of(other).startswith("Idempotency-Key : ")
    assert [str(pk) for pk in Practice.objects.values_list("id", flat=True)] == [
        first.json()["data"]["id"]
    ]


def test_other_keys_and_no_key_make_new_dsts(admin_api):
    _create(admin_api, dst_body(), "a")
    _create(admin_api, dst_body(), "b")
    admin_api.post(url(), dst_body())
    admin_api.post(url(), dst_body())

    assert Practice.objects.count() == 4


def test_keys_belong_to_one_organization(admin_api, api_as):
    from tests.conftest import make_org

    rival = api_as(make_org("rival", "rivalboss").admin)

    mine = _create(admin_api, dst_body(), "shared-key")
    theirs = rival.post(url("rival"), dst_body(), headers={"Idempotency-Key": "shared-key"})

    assert theirs.status_code == 201
    assert theirs.json()["data"]["id"] != mine.json()["data"]["id"]


def test_a_failed_create_does_not_use_up_the_key(admin_api):
    bad = _create(admin_api, dst_body(title="t" * 300), "k")
    good = _create(admin_api, dst_body(), "k")

    assert (bad.status_code, good.status_code) == (400, 201)


def test_an_overlong_key_is_refused(admin_api):
    response = _create(admin_api, dst_body(), "k" * 256)

    assert response.status_code == 400
    assert error_of(response).startswith("Idempotency-Key : ")
    assert not Practice.objects.exists()


def test_a_retry_that_loses_the_race_answers_the_winners_dst(admin_api, monkeypatch, settings):
    """Both requests looked before either had written: the unique constraint
    stops the second, which then answers the first's DST and leaves no file."""
    from pathlib import Path

    from practices import services

    winner = _create(admin_api, dst_body(), "raced").json()["data"]["id"]
    real_earlier = services._earlier
    calls = []

    def earlier(*args):
        calls.append(args[1])
        # The first look happens before the winner committed: it sees nothing.
        return None if len(calls) == 1 else real_earlier(*args)

    monkeypatch.setattr(services, "practice_idempotent_earlier", lambda **kwargs: None)
    monkeypatch.setattr(services, "_earlier", earlier)

    retry = _create(admin_api, dst_body(), "raced")

    assert retry.status_code == 201
    assert retry.json()["data"]["id"] == winner
    assert calls == ["raced", "raced"]
    assert Practice.objects.count() == 1
    files = [p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file()]
    assert files == [Path(Revision.objects.get().file.path)]
