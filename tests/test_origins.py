"""Allowed-origin patterns: validation, wildcards, and what an empty list means."""

import pytest

from hub.origins import OriginPatternError, OriginPolicy, normalize_pattern


@pytest.mark.parametrize(
    ("patterns", "origin", "allowed"),
    [
        (["https://good.example"], "https://good.example", True),
        (["https://good.example"], "https://evil.example", False),
        (["https://good.example"], "http://good.example", False),
        (["https://good.example"], "https://good.example:8443", False),
        (["https://good.example"], "https://good.example.evil.example", False),
        (["https://good.example"], "HTTPS://GOOD.EXAMPLE", True),
        (["https://*.example.com"], "https://a.example.com", True),
        (["https://*.example.com"], "https://a.b.example.com", True),
        (["https://*.example.com"], "https://example.com", False),
        (["https://*.example.com"], "https://evilexample.com", False),
        (["http://localhost:*"], "http://localhost:3000", True),
        (["http://localhost:*"], "http://localhost", False),
        (["http://localhost:*"], "http://localhost.evil.example:3000", False),
        (["*"], "https://anything.example", True),
        (["null"], "null", True),
        ([], "https://anything.example", True),
        (["https://good.example"], None, True),  # no Origin header: a server-side client
    ],
)
def test_policy(patterns: list[str], origin: str | None, allowed: bool) -> None:
    assert OriginPolicy(patterns).allows(origin) is allowed


@pytest.mark.parametrize(
    "pattern",
    [
        "good.example",
        "https://",
        "https://exa mple.com",
        "https://a.*.com",
        "ftp//x",
        "https://x:99999",
        "ftp://x.example",
        "ws://x.example",
        "chrome-extension://abc",
    ],
)
def test_bad_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(OriginPatternError):
        normalize_pattern(pattern)


def test_normalisation_and_any() -> None:
    assert normalize_pattern(" HTTPS://App.Example.com/ ") == "https://app.example.com"
    assert OriginPolicy([]).allows_any and OriginPolicy(["*"]).allows_any
    assert not OriginPolicy(["https://a.example"]).allows_any
    assert not OriginPolicy.refuse_all().allows("https://a.example")
