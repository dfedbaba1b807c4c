"""Settings: defaults, then HUB_* environment variables, then explicit values."""

import pytest

from hub.config import Settings


def test_precedence() -> None:
    env = {"HUB_PORT": "7000", "HUB_DEV": "yes", "HUB_RELOAD_INTERVAL": "0.25", "HUB_HOST": "::"}
    settings = Settings.from_sources({"port": 7100, "db_path": None}, environ=env)
    assert settings.port == 7100  # explicit beats env
    assert settings.dev is True and settings.reload_interval == 0.25 and settings.host == "::"
    assert settings.db_path == "hub.db"  # None means "not given"
    assert Settings.from_sources(environ={}) == Settings()


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("HUB_PORT", "many"),
        ("HUB_DEV", "perhaps"),
        ("HUB_PORT", "70000"),
        ("HUB_PORT", "-1"),
        ("HUB_ACTIVITY_TIMEOUT", "-3"),
        ("HUB_ACTIVITY_TIMEOUT", "0"),
        ("HUB_SHUTDOWN_GRACE", "-0.5"),
        ("HUB_HISTORY_MAX_EVENTS", "-1"),
        ("HUB_REDIS_URL", "localhost:6379"),
        ("HUB_REDIS_URL", "http://localhost:6379/0"),
    ],
)
def test_bad_environment_values_say_which(name: str, raw: str) -> None:
    with pytest.raises(ValueError, match=name):
        Settings.from_sources(environ={name: raw})


def test_values_given_in_code_are_checked_too() -> None:
    with pytest.raises(ValueError, match="port: 65536 is not a port"):
        Settings(port=65536)
    with pytest.raises(ValueError, match="pong_timeout: 0 is too small"):
        Settings(pong_timeout=0)
    assert Settings(port=0, reload_interval=0).port == 0, "0: a free port; no polling"


def test_redis_urls_of_redis_py_are_taken() -> None:
    for url in ("redis://127.0.0.1:6379/0", "rediss://cache:6380", "unix:///run/redis.sock"):
        assert Settings.from_sources(environ={"HUB_REDIS_URL": url}).redis_url == url
    assert Settings().redis_url == "", "no Redis unless asked"
