"""GET /apps/{id}/channels/{name}/events?after=SEQ&limit=N: page through a channel's kept
history, oldest first: `{"epoch", "first_seq", "last_seq", "events": [{"seq", "event", "data",
"time_ms"}]}`. `after` defaults to 0 (from the oldest kept), `limit` to and at most 100."""

from hub.api.base import AppApiHandler
from hub.api.channels import channel_from_path
from hub.errors import bad_request

MAX_LIMIT = 100


def _whole(raw: str | None, name: str, default: int) -> int:
    if raw is None:
        return default
    if not raw.isdigit():
        raise bad_request(f"{name} must be a whole number >= 0")
    return int(raw)


class ChannelEventsHandler(AppApiHandler):
    def get(self, app_id: str, name: str) -> None:
        name = channel_from_path(name, self.app.settings.max_channel_name_length)
        after = _whole(self.get_query_argument("after", None), "after", 0)
        limit = min(_whole(self.get_query_argument("limit", None), "limit", MAX_LIMIT), MAX_LIMIT)
        log = self.hub.history.log(self.app.id, name)
        if log is None:
            self.send_json({"epoch": None, "first_seq": 1, "last_seq": 0, "events": []})
            return
        # Only released events: one still on its way to the store is nobody's to see yet.
        released, first_seq = log.released()
        page = [stored for stored in released if stored.seq > after][:limit]
        self.send_json(
            {
                "epoch": log.epoch,
                "first_seq": first_seq,
                "last_seq": log.released_seq,
                "events": [
                    {"seq": e.seq, "event": e.name, "data": e.data, "time_ms": e.time_ms}
                    for e in page
                ],
            }
        )
