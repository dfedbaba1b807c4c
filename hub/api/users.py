"""POST /apps/{id}/users/{user_id}/terminate_connections (also /users/{user_id}/...) and
/apps/{id}/sessions/{session_id}/terminate_connections: log a user or a session out of the hub.

Every socket of that user (signed in on Pusher, or holding a token of that user on Phoenix), or
every socket whose token carries that session, is closed (4009), and the tokens of that user or
session minted until now are refused from then on (until they expire), restarts included.
"""

from hub.api.base import AppApiHandler
from hub.errors import bad_request

# Pusher sign-in admits any non-empty string as a user id; the path takes what it can carry.
MAX_ID_LENGTH = 200


def _path_id(value: str, what: str) -> str:
    if not value or len(value) > MAX_ID_LENGTH:
        raise bad_request(f"{what} must be 1 to {MAX_ID_LENGTH} characters")
    return value


class TerminateUserHandler(AppApiHandler):
    """Also served at /users/{user_id}/terminate_connections, the path the official Python SDK
    (3.3) posts to: the app is then the one whose key signed the request."""

    async def post(self, user_id: str, app_id: str | None = None) -> None:
        closed = await self.hub.terminate_user(self.app, _path_id(user_id, "user id"))
        self.send_json({"terminated": closed})


class TerminateSessionHandler(AppApiHandler):
    async def post(self, app_id: str, session_id: str) -> None:
        closed = await self.hub.terminate_session(self.app, _path_id(session_id, "session id"))
        self.send_json({"terminated": closed})
