"""The admin JSON API under /api/admin/ (being written: see issue 6)."""

from typing import Any

from hub.core.hub import Hub


def admin_routes(hub: Hub) -> list[tuple[str, type, dict[str, Any]]]:
    """The admin API's routes, for the server's one route table."""
    return []
