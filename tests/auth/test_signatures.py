"""Pusher signatures, checked against values produced by the official SDK."""

import hashlib
import time

import pusher
import pytest
from pusher.http import Request
from pusher.pusher_client import PusherClient

from hub.auth import signatures
from hub.errors import ApiError
from hub.models import App, AppSettings, KeyPair

APP = App(
    "42",
    "a",
    True,
    AppSettings(),
    (KeyPair("key-1", "secret-1", 0), KeyPair("key-2", "secret-2", 0)),
    (),
)
SDK = pusher.Pusher("42", "key-1", "secret-1")
CLIENT = PusherClient("42", "key-1", "secret-1")  # what the SDK signs requests with


def test_channel_and_presence_auth_from_the_sdk() -> None:
    auth = SDK.authenticate("private-x", "1.2")["auth"]
    assert signatures.check_auth_string(APP, auth, "1.2:private-x")
    assert not signatures.check_auth_string(APP, auth, "1.3:private-x")
    presence = SDK.authenticate("presence-x", "1.2", {"user_id": "7"})
    signed = f"1.2:presence-x:{presence['channel_data']}"
    assert signatures.check_auth_string(APP, presence["auth"], signed)


def test_auth_strings_need_a_key_of_the_app() -> None:
    sig = signatures.sign("secret-1", "1.2:private-x")
    assert signatures.check_auth_string(APP, f"key-1:{sig}", "1.2:private-x")
    assert not signatures.check_auth_string(APP, f"key-2:{sig}", "1.2:private-x")
    assert not signatures.check_auth_string(APP, f"other:{sig}", "1.2:private-x")
    for bad in (None, 5, "", "no-colon", ":"):
        assert not signatures.check_auth_string(APP, bad, "1.2:private-x")


def query_of(request: Request) -> dict[str, str]:
    return {k: str(v) for k, v in request.query_params.items()}


def test_sdk_requests_verify() -> None:
    post = Request(CLIENT, "POST", "/apps/42/events", {"name": "e", "data": "d", "channels": ["c"]})
    signatures.verify_request(APP, "POST", post.path, query_of(post), post.body, time.time())
    get = Request(CLIENT, "GET", "/apps/42/channels", {"filter_by_prefix": "presence-"})
    signatures.verify_request(APP, "GET", get.path, query_of(get), b"", time.time())


@pytest.mark.parametrize(
    "change",
    ["path", "body", "stale", "future", "key", "signature", "version", "timestamp"],
)
def test_tampered_requests_are_401(change: str) -> None:
    post = Request(CLIENT, "POST", "/apps/42/events", {"name": "e", "data": "d", "channels": ["c"]})
    query, path, body, now = query_of(post), post.path, post.body, time.time()
    if change == "path":
        path = "/apps/43/events"
    elif change == "body":
        body = body.replace(b'"d"', b'"x"')
    elif change == "stale":
        now += 601
    elif change == "future":
        now -= 601
    elif change == "key":
        query["auth_key"] = "nope"
    elif change == "signature":
        query["auth_signature"] = "0" * 64
    elif change == "version":
        query["auth_version"] = "2.0"
    elif change == "timestamp":
        query["auth_timestamp"] = "soon"
    with pytest.raises(ApiError) as raised:
        signatures.verify_request(APP, "POST", path, query, body, now)
    assert raised.value.status == 401


def test_body_md5_must_match() -> None:
    body = b'{"a":1}'
    query = {"auth_key": "key-1", "auth_timestamp": str(int(time.time())), "auth_version": "1.0"}
    query["body_md5"] = hashlib.md5(b"other").hexdigest()
    query["auth_signature"] = signatures.sign(
        "secret-1", signatures.request_signed_text("POST", "/p", query)
    )
    with pytest.raises(ApiError, match="body_md5"):
        signatures.verify_request(APP, "POST", "/p", query, body, time.time())


def test_basic_auth() -> None:
    signatures.verify_basic(APP, "key-2", "secret-2")
    for key, secret in (("key-1", "secret-2"), ("nope", "secret-1"), ("key-1", "")):
        with pytest.raises(ApiError):
            signatures.verify_basic(APP, key, secret)
