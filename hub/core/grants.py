"""The channel patterns a socket token grants, compiled once per connection."""

import re
from collections.abc import Iterable


def _compile(patterns: Iterable[str]) -> re.Pattern[str] | None:
    parts = [re.escape(pattern).replace(r"\*", ".*") for pattern in patterns]
    return re.compile("|".join(parts)) if parts else None


class Grants:
    """The `channels` and `publish` patterns of a socket token, compiled once per connection.
    `*` stands for any characters."""

    __slots__ = ("_join", "_publish")

    def __init__(self, join: Iterable[str], publish: Iterable[str]) -> None:
        self._join = _compile(join)
        self._publish = _compile(publish)

    def may_join(self, name: str) -> bool:
        return self._join is not None and self._join.fullmatch(name) is not None

    def may_publish(self, name: str) -> bool:
        return self._publish is not None and self._publish.fullmatch(name) is not None
