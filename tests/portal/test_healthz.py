"""GET /healthz against a real Redis and a real Celery worker, and without them."""

import pytest

ALL_OK = {"status": "ok", "database": "ok", "broker": "ok", "worker": "ok"}


@pytest.mark.integration
@pytest.mark.django_db
def test_healthz_is_200_all_ok_with_redis_and_a_worker(client, celery_broker, celery_worker):
    response = client.get("/healthz")
    assert response.status_code == 200, response.content
    assert response.json() == ALL_OK
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.integration
@pytest.mark.django_db
def test_healthz_is_503_with_the_worker_unavailable_when_none_listens(
    client, point_celery_at, idle_redis
):
    point_celery_at(idle_redis.url)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "database": "ok",
        "broker": "ok",
        "worker": "unavailable",
    }


@pytest.mark.django_db
def test_healthz_is_503_with_the_broker_unavailable_when_redis_is_down(
    client, point_celery_at, closed_port_url
):
    point_celery_at(closed_port_url)
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["database"] == "ok"
    assert body["broker"] == "unavailable"
    assert body["worker"] == "unavailable"


@pytest.mark.integration
@pytest.mark.django_db
def test_healthz_sees_the_broker_come_back(client, point_celery_at, closed_port_url, celery_broker):
    point_celery_at(closed_port_url)
    assert client.get("/healthz").json()["broker"] == "unavailable"
    point_celery_at(celery_broker.url)
    assert client.get("/healthz").json()["broker"] == "ok"


def test_healthz_is_503_with_the_database_unavailable_when_it_cannot_be_queried(
    client, point_celery_at, closed_port_url
):
    # No django_db mark: the test runner refuses every query, as a dead database would.
    point_celery_at(closed_port_url)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["database"] == "unavailable"


@pytest.mark.django_db
def test_healthz_answers_head_and_refuses_post(client, point_celery_at, closed_port_url):
    point_celery_at(closed_port_url)
    assert client.head("/healthz").status_code == 503
    assert client.post("/healthz").status_code == 405
