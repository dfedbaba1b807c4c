"""What the tests need from the machine (a browser, redis-server, nginx, caddy): where it is
missing, a test fails under CI (`bin/test` sets HUB_REQUIRE_BROWSER; CI runners set CI), since
bin/test installs it there, and skips elsewhere with the reason."""

import os
from typing import NoReturn

import pytest


def missing(what: str) -> NoReturn:
    """Ends the test: `what` (a sentence saying what is missing) fails it under CI, skips it
    elsewhere."""
    if os.environ.get("HUB_REQUIRE_BROWSER") or os.environ.get("CI"):
        pytest.fail(f"{what}; bin/test installs it")
    pytest.skip(what)
