"""A published message's Pusher frame (hub/protocols/pusher_codec.py): its bytes are those of the
stdlib's compact JSON of the object, whichever encoder wrote them (orjson for strings and ints)."""

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from hub.models import Event
from hub.protocols.pusher_codec import CODEC

# Any text, lone surrogates (which orjson refuses) and control characters included.
TEXT = st.text(st.characters(blacklist_categories=()), max_size=20)


def stdlib(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


@given(
    name=TEXT.filter(bool),
    channel=st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True),
    data=TEXT | st.dictionaries(TEXT, st.floats(allow_nan=False) | st.integers()),
    user_id=st.none() | TEXT,
    seq=st.none() | st.integers(min_value=0, max_value=2**80),
    epoch=st.none() | TEXT,
)
def test_a_message_frame_is_the_stdlib_json_of_its_object(
    name: str, channel: str, data: Any, user_id: str | None, seq: int | None, epoch: str | None
) -> None:
    event = Event(channel, name, data)
    event.user_id, event.seq, event.epoch = user_id, seq, epoch
    expected: dict[str, Any] = {"event": name, "channel": channel, "data": data}
    if user_id is not None:
        expected["user_id"] = user_id
    if seq is not None:
        expected["seq"], expected["epoch"] = seq, epoch
    assert CODEC.encode_event(event).text == stdlib(expected)
