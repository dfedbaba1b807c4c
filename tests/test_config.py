"""Settings: defaults, then HUB_* environment variables, then explicit values."""

import pytest

from hub.config import Settings


def test_precedence() -> None:
    env = {"HUB_PORT": "7000", "HUB_DEV": "yes", "HUB_RELOAD_INTERVAL": "0.5", "HUB_HOST": "::"}
    settings = Settings.from_sources({"port": 7100, "db_path": None}, environ=env)
    assert settings.port == 7100  # explicit beats env
    assert settings.dev is True and settings.reload_interval == 0.5 and settings.host == "::"
    assert settings.db_path == "hub.db"  # None means "not given"
    assert Settings.from_sources(environ={}) == Settings()


@pytest.mark.parametrize(("name", "raw"), [("HUB_PORT", "many"), ("HUB_DEV", "perhaps")])
def test_bad_environment_values_say_which(name: str, raw: str) -> None:
    with pytest.raises(ValueError, match=name):
        Settings.from_sources(environ={name: raw})
