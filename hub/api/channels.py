"""GET /apps/{id}/channels, /channels/{name} and /channels/{name}/users: who is where.

Also `info_attributes` and `channel_info`, which the trigger endpoints use for their `info`.
"""

from hub.api.base import AppApiHandler
from hub.core.hub import Hub
from hub.errors import bad_request
from hub.models import ChannelKind, channel_kind, channel_name_problem

KNOWN_ATTRIBUTES = ("user_count", "subscription_count")


def info_attributes(raw: object) -> tuple[str, ...]:
    """Parses an `info` value ("user_count,subscription_count"); 400 on anything unknown."""
    if raw is None or raw == "":
        return ()
    if not isinstance(raw, str):
        raise bad_request("info must be a comma-separated string")
    attributes = tuple(a.strip() for a in raw.split(",") if a.strip())
    unknown = [a for a in attributes if a not in KNOWN_ATTRIBUTES]
    if unknown:
        raise bad_request(f"unknown info attribute(s): {', '.join(unknown)}")
    return attributes


def channel_info(hub: Hub, app_id: str, name: str, attributes: tuple[str, ...]) -> dict:
    """The requested counts of one channel (hub-wide); user_count only for presence channels."""
    info: dict[str, int] = {}
    if "user_count" in attributes and channel_kind(name) is ChannelKind.PRESENCE:
        info["user_count"] = len(hub.members(app_id, name))
    if "subscription_count" in attributes:
        info["subscription_count"] = hub.subscriber_count(app_id, name)
    return info


class ChannelsHandler(AppApiHandler):
    def get(self, app_id: str) -> None:
        prefix = self.get_query_argument("filter_by_prefix", "")
        attributes = info_attributes(self.get_query_argument("info", None))
        if "user_count" in attributes and not prefix.startswith("presence-"):
            raise bad_request("info=user_count needs filter_by_prefix=presence-")
        channels = {
            name: channel_info(self.hub, self.app.id, name, attributes)
            for name in sorted(self.hub.channel_names(self.app.id))
            if name.startswith(prefix)
        }
        self.send_json({"channels": channels})


class ChannelHandler(AppApiHandler):
    def get(self, app_id: str, name: str) -> None:
        name = channel_from_path(name, self.app.settings.max_channel_name_length)
        attributes = info_attributes(self.get_query_argument("info", None))
        if "user_count" in attributes and channel_kind(name) is not ChannelKind.PRESENCE:
            raise bad_request("user_count is only available for presence channels")
        body: dict = {"occupied": self.hub.subscriber_count(self.app.id, name) > 0}
        body.update(channel_info(self.hub, self.app.id, name, attributes))
        self.send_json(body)


class ChannelUsersHandler(AppApiHandler):
    def get(self, app_id: str, name: str) -> None:
        name = channel_from_path(name, self.app.settings.max_channel_name_length)
        if channel_kind(name) is not ChannelKind.PRESENCE:
            raise bad_request("users are only listed for presence channels")
        members = self.hub.members(self.app.id, name)
        self.send_json({"users": [{"id": user_id} for user_id in members]})


def channel_from_path(name: str, max_length: int) -> str:
    """Checks a channel name from the URL (Tornado has percent-decoded it already)."""
    problem = channel_name_problem(name, max_length)
    if problem:
        raise bad_request(problem)
    return name
