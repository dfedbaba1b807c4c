"""hub/eventloop.py: uvloop comes with a plain install only where it is a wheel, so the hub must
keep running on asyncio's own loop wherever uvloop cannot be imported."""

import sys

import pytest

from hub.eventloop import loop_factory


def test_auto_takes_uvloop_when_it_is_there() -> None:
    import uvloop  # the test extra installs it everywhere

    assert loop_factory("auto") is uvloop.new_event_loop
    assert loop_factory("asyncio") is None


def test_without_uvloop_auto_falls_back_and_uvloop_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # `import uvloop` raises ImportError
    assert loop_factory("auto") is None
    with pytest.raises(ValueError, match="uvloop is not installed"):
        loop_factory("uvloop")


def test_an_unknown_choice_is_refused() -> None:
    with pytest.raises(ValueError, match="one of auto, uvloop, asyncio, not 'fast'"):
        loop_factory("fast")
