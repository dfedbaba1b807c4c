"""A published message's Pusher frame (hub/protocols/pusher_codec.py): its bytes are those of the
stdlib's compact JSON of the object, whichever encoder wrote them (orjson for strings and ints);
and a client's JSON read by orjson where it can be (hub/protocols/frames.py `loads`) as json.loads
reads it."""

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.models import Event
from hub.protocols.frames import loads
from hub.protocols.pusher_codec import CODEC, frame

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


@given(event=TEXT, channel=st.none() | TEXT, data=st.none() | TEXT)
def test_a_protocol_frame_is_the_stdlib_json_of_its_object(
    event: str, channel: str | None, data: str | None
) -> None:
    # connection_established, subscription_succeeded and the like: strings, by orjson.
    message: dict[str, Any] = {"event": event}
    if channel is not None:
        message["channel"] = channel
    if data is not None:
        message["data"] = data
    assert frame(event, data, channel).text == stdlib(message)


# JSON texts and near-JSON: what orjson reads and what it leaves to json.loads (NaN, big ints,
# lone surrogate escapes, a BOM, deep nesting), and what neither reads.
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8,
).map(lambda value: json.dumps(value, ensure_ascii=bool(hash(repr(value)) & 1)))
ODD = st.sampled_from(
    [
        '"\\ud800"',
        "NaN",
        "[Infinity]",
        "1" * 30,
        "\ufeff{}",
        "[" * 3000 + "]" * 3000,
        "{",
        "",
        '{"a":1,"a":2}',
        " [1] ",
        "1e400",
        "-0",
        "[1,]",
        "'a'",
    ]
)


@settings(max_examples=2000, deadline=None)
@given(text=JSONISH | ODD, as_bytes=st.booleans())
def test_loads_reads_as_json_loads(text: str, as_bytes: bool) -> None:
    raw: str | bytes = text.encode("utf-8", "surrogatepass") if as_bytes else text
    try:
        expected = json.loads(raw)
    except (ValueError, RecursionError) as error:
        with pytest.raises(type(error)):
            loads(raw)
        return
    got = loads(raw)
    assert repr(got) == repr(expected)  # repr: NaN equals itself, -0.0 is not 0
