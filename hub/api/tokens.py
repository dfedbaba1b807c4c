"""POST /apps/{id}/tokens: mints a socket token for an app backend that is not written in
Python. Signed with the secret of the key pair that authenticated the request."""

from hub.api.base import AppApiHandler
from hub.auth import tokens
from hub.errors import bad_request
from hub.models import utf8_size
from hub.protocols.frames import dumps

FIELDS = ("user_id", "user_info", "channels", "publish", "session_id", "ttl")


class TokensHandler(AppApiHandler):
    def post(self, app_id: str) -> None:
        body = self.json_body()
        unknown = sorted(set(body) - set(FIELDS))
        if unknown:
            raise bad_request(f"unknown field(s): {', '.join(unknown)}; known: {', '.join(FIELDS)}")
        limit = self.app.settings.max_presence_user_info_bytes
        if utf8_size(dumps(body.get("user_info"))) > limit:
            raise bad_request(f"user_info larger than {limit} bytes")
        try:
            token = tokens.mint(
                self.auth_secret,
                body.get("user_id"),  # type: ignore[arg-type]  # checked by mint
                user_info=body.get("user_info"),
                channels=body.get("channels", ()),
                publish=body.get("publish", ()),
                session_id=body.get("session_id"),
                ttl=body.get("ttl"),
            )
        except ValueError as error:
            raise bad_request(str(error)) from None
        max_age = self.app.settings.token_max_age
        minted = tokens.verify(token, [self.auth_secret], max_age)
        self.send_json({"token": token, "expires_at": tokens.expires_at(minted, max_age)})
