"""POST /apps/{id}/events, /batch_events and /broadcast: publishing through the HTTP API.

A request is validated whole before anything is published, so a bad batch publishes nothing.
Its 2xx answer waits until the events are stored (`Published.stored`): events their channel
keeps survive a crash of the hub once acknowledged; when the store cannot keep them, or the hub
is stopping, the answer is 503 and nothing of them went out. Events on channels that keep no
history go out at once and are acknowledged as sent.
"""

import re
from dataclasses import dataclass
from typing import Any

from hub.api.base import AppApiHandler
from hub.api.channels import channel_info, info_attributes
from hub.core.hub import Commit, Hub, StoreUnavailable
from hub.errors import bad_request, too_large, unavailable
from hub.models import (
    GENERAL_CHANNEL,
    App,
    AppSettings,
    Event,
    channel_name_problem,
    utf8_size,
)

_SOCKET_ID = re.compile(r"\d+\.\d+")


@dataclass(slots=True)
class Trigger:
    name: str
    data: str
    channels: list[str]
    socket_id: str | None
    attributes: tuple[str, ...]


def parse_trigger(app: App, body: dict[str, Any], *, single_channel: bool = False) -> Trigger:
    """Validates one trigger (or one batch entry); raises 400 or 413."""
    limits = app.settings
    name, data, socket_id = parse_event(limits, body)
    channels = _channels(body, single_channel)
    if len(channels) > limits.max_channels_per_trigger:
        raise bad_request(f"more than {limits.max_channels_per_trigger} channels")
    for channel in channels:
        problem = channel_name_problem(channel, limits.max_channel_name_length)
        if problem:
            raise bad_request(f"{problem}: {str(channel)[:200]!r}")
    return Trigger(name, data, channels, socket_id, info_attributes(body.get("info")))


def parse_event(limits: AppSettings, body: dict[str, Any]) -> tuple[str, str, str | None]:
    """The `name`, `data` and optional `socket_id` of an event to publish; raises 400 or 413."""
    name = body.get("name")
    if not isinstance(name, str) or not name:
        raise bad_request("name is required (a string)")
    if len(name) > limits.max_event_name_length:
        raise bad_request(f"name longer than {limits.max_event_name_length} characters")
    data = body.get("data")
    if not isinstance(data, str):
        raise bad_request("data is required and must be a string (JSON-encode objects)")
    if utf8_size(data) > limits.max_event_data_bytes:
        raise too_large(f"data larger than {limits.max_event_data_bytes} bytes")
    socket_id = body.get("socket_id")
    if socket_id is not None and (
        not isinstance(socket_id, str) or not _SOCKET_ID.fullmatch(socket_id)
    ):
        raise bad_request("socket_id must look like 123.456")
    return name, data, socket_id


def _channels(body: dict[str, Any], single_channel: bool) -> list[str]:
    if single_channel or ("channel" in body and "channels" not in body):
        channel = body.get("channel")
        if not isinstance(channel, str):
            raise bad_request("channel is required (a string)")
        return [channel]
    channels = body.get("channels")
    if not isinstance(channels, list) or not channels:
        raise bad_request("channels is required (a non-empty list)")
    return channels


@dataclass(slots=True)
class Published:
    """A publishing request's answer: its JSON, once `commit` (None: nothing waits) says the
    events are stored."""

    answer: dict[str, Any]
    commit: Commit | None

    def stored(self) -> dict[str, Any]:
        """The answer, once the commit is done; raises 503 when it refused the events."""
        refused = self.commit.result() if self.commit is not None else None
        if isinstance(refused, StoreUnavailable):
            raise unavailable(str(refused))
        return self.answer

    async def wait(self) -> dict[str, Any]:
        if self.commit is not None:
            await self.commit
        return self.stored()


def trigger(hub: Hub, app: App, body: dict[str, Any]) -> Published:
    """`POST /apps/{id}/events`: publishes one event to its channels."""
    parsed = parse_trigger(app, body)
    commit = _publish(hub, app, parsed)
    return Published({"channels": _info(hub, app, parsed)} if parsed.attributes else {}, commit)


def trigger_batch(hub: Hub, app: App, body: dict[str, Any]) -> Published:
    """`POST /apps/{id}/batch_events`: every entry validated, then all published."""
    batch = body.get("batch")
    if not isinstance(batch, list) or not batch:
        raise bad_request("batch is required (a non-empty list of events)")
    limit = app.settings.max_events_per_batch
    if len(batch) > limit:
        raise bad_request(f"more than {limit} events in one batch")
    if not all(isinstance(entry, dict) for entry in batch):
        raise bad_request("each batch entry must be an object")
    triggers = [parse_trigger(app, entry, single_channel=True) for entry in batch]
    commit = None
    for parsed in triggers:
        commit = _publish(hub, app, parsed) or commit
    if any(t.attributes for t in triggers):
        infos = [_info(hub, app, t)[t.channels[0]] if t.attributes else {} for t in triggers]
        return Published({"batch": infos}, commit)
    return Published({}, commit)


def _publish(hub: Hub, app: App, parsed: Trigger) -> Commit | None:
    """Publishes to each channel; the last Commit, which resolves after every earlier one
    (groups are written in order, and a refused group takes the later ones with it)."""
    if hub.stopping:
        raise unavailable("the hub is stopping")
    commit = None
    for channel in parsed.channels:
        event = Event(channel, parsed.name, parsed.data, parsed.socket_id)
        commit = hub.publish(app.id, event) or commit
    return commit


def _info(hub: Hub, app: App, parsed: Trigger) -> dict[str, dict]:
    return {
        channel: channel_info(hub, app.id, channel, parsed.attributes)
        for channel in parsed.channels
    }


class EventsHandler(AppApiHandler):
    async def post(self, app_id: str) -> None:
        self.send_json(await trigger(self.hub, self.app, self.json_body()).wait())


class BatchEventsHandler(AppApiHandler):
    async def post(self, app_id: str) -> None:
        self.send_json(await trigger_batch(self.hub, self.app, self.json_body()).wait())


class BroadcastHandler(AppApiHandler):
    """POST /apps/{id}/broadcast `{"name", "data"[, "socket_id"]}`: one event to every socket
    of the app. pusher-js gets it without a channel (its global `bind`); a Phoenix socket gets it
    on the reserved topic `#general` once it has joined that topic."""

    def post(self, app_id: str) -> None:
        name, data, socket_id = parse_event(self.app.settings, self.json_body())
        if self.hub.stopping:
            raise unavailable("the hub is stopping")
        self.hub.publish(self.app.id, Event(GENERAL_CHANNEL, name, data, socket_id))
        self.send_json({})
