"""The frames of the Pusher Channels protocol: the JSON `{"event", "channel", "data"}` of one
message, `pusher:error`, and the codec that encodes each core event once for every Pusher
subscriber. See ../shared/docs/protocol-pusher.md for the wire facts this follows."""

from typing import Any

from hub.models import GENERAL_CHANNEL, Event, EventKind
from hub.protocols.frames import Outgoing, dumps, dumps_flat


def frame(event: str, data: Any = None, channel: str | None = None, **extra: Any) -> Outgoing:
    message: dict[str, Any] = {"event": event}
    if channel is not None:
        message["channel"] = channel
    if data is not None:
        message["data"] = data
    if extra:
        message.update(extra)
    elif type(data) is str or data is None:
        # The protocol's own frames (connection_established, subscription_succeeded): strings
        # only, so the faster encoder, byte for byte the same.
        return Outgoing(dumps_flat(message))
    return Outgoing(dumps(message))


def error_frame(code: int | None, message: str) -> Outgoing:
    return frame("pusher:error", {"code": None if code is None else int(code), "message": message})


class PusherCodec:
    """Encodes core events as Pusher frames; one encoding per event, shared by subscribers."""

    name = "pusher"

    @staticmethod
    def encode_event(event: Event) -> Outgoing:
        if event.channel == GENERAL_CHANNEL:
            # App-wide broadcasts reach pusher-js's global bindings: an event with no channel.
            return frame(event.name, event.data)
        if event.kind is EventKind.MEMBER_ADDED:
            data = dumps({"user_id": event.user_id, "user_info": event.data})
            return frame("pusher_internal:member_added", data, event.channel)
        if event.kind is EventKind.MEMBER_REMOVED:
            return frame(
                "pusher_internal:member_removed", dumps({"user_id": event.user_id}), event.channel
            )
        # The channel position rides as extra top-level fields, which pusher-js ignores.
        name, data, user_id = event.name, event.data, event.user_id
        if type(name) is str and type(data) is str and (user_id is None or type(user_id) is str):
            # Every published message: the same object as `frame` builds, encoded faster.
            message: dict[str, Any] = {"event": name, "channel": event.channel, "data": data}
            if user_id is not None:
                message["user_id"] = user_id
            if type(event.seq) is int:
                message["seq"], message["epoch"] = event.seq, event.epoch
                return Outgoing(dumps_flat(message))
            if event.seq is None:
                return Outgoing(dumps_flat(message))
        extra: dict[str, Any] = {}
        if event.user_id is not None:
            extra["user_id"] = event.user_id
        if event.seq is not None:
            extra["seq"], extra["epoch"] = event.seq, event.epoch
        return frame(event.name, event.data, event.channel, **extra)


CODEC = PusherCodec()
