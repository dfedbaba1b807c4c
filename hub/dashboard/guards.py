"""The dashboard's pure safety pieces, without Tornado: the signed session cookie value, the
CSRF token bound to a browser, and the login throttle (per account and per address).

Kept apart from the handlers so each rule is tested on its own, with a clock it is given.
"""

import hashlib
import hmac
import time
from collections import deque
from dataclasses import dataclass, field

from itsdangerous import BadSignature, URLSafeSerializer

# The pages take the email rule from here; it lives with the password rule, for `hub users` too.
from hub.auth.passwords import email_problem as email_problem
from hub.store.accounts import SESSION_IDLE_SECONDS, SESSION_MAX_SECONDS

SESSION_COOKIE = "hub_session"
CSRF_COOKIE = "hub_csrf"
# A signed-in session ends after this long without a request, and this long after sign-in.
IDLE_SECONDS, MAX_SECONDS = SESSION_IDLE_SECONDS, SESSION_MAX_SECONDS


class CookieSigner:
    """Signs and reads the session id carried by the session cookie (itsdangerous, its own
    salt, so no other signed value of the hub can pass for one)."""

    def __init__(self, secret: str) -> None:
        self.secret = secret  # other signers of the dashboard derive from it, each with a salt
        self._serializer = URLSafeSerializer(secret, salt="hub.dashboard-session")
        self._csrf_key = hashlib.sha256(b"hub.dashboard-csrf:" + secret.encode()).digest()

    def sign(self, session_id: str) -> str:
        return self._serializer.dumps(session_id)

    def session_id(self, cookie: str | None) -> str | None:
        """The session id in a cookie, or None when it is absent, tampered or malformed."""
        if not cookie:
            return None
        try:
            value = self._serializer.loads(cookie)
        except BadSignature:
            return None
        return value if isinstance(value, str) else None

    def csrf_token(self, browser_nonce: str) -> str:
        """The token forms and scripts send back: an HMAC of the browser's CSRF cookie, which
        another site can neither read nor compute."""
        return hmac.new(self._csrf_key, browser_nonce.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, browser_nonce: str | None, token: str | None) -> bool:
        if not browser_nonce or not token:
            return False
        return hmac.compare_digest(self.csrf_token(browser_nonce), token)


@dataclass
class LoginThrottle:
    """Failed sign-ins counted per account and per address over a window; past the limit,
    sign-in is refused (even with the right password) until the window has moved on."""

    per_account: int = 10
    per_address: int = 50
    window_seconds: float = 15 * 60
    _failures: dict[str, deque[float]] = field(default_factory=dict)

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.get(key)
        if times is None:
            return deque()
        while times and now - times[0] > self.window_seconds:
            times.popleft()
        if not times:
            del self._failures[key]
        return times

    def retry_after(self, account: str, address: str, now: float | None = None) -> int:
        """Seconds to wait before trying again; 0 when a try is allowed."""
        now = time.monotonic() if now is None else now
        waits = [0.0]
        for key, limit in (
            ("a:" + account.lower(), self.per_account),
            ("ip:" + address, self.per_address),
        ):
            times = self._recent(key, now)
            if len(times) >= limit:
                waits.append(times[-limit] + self.window_seconds - now)
        return int(max(waits) + 0.999)

    def failed(self, account: str, address: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        if len(self._failures) > 10_000:  # many accounts or addresses: forget the stale ones
            for key in list(self._failures):
                self._recent(key, now)
        for key in ("a:" + account.lower(), "ip:" + address):
            self._failures.setdefault(key, deque()).append(now)

    def succeeded(self, account: str) -> None:
        self._failures.pop("a:" + account.lower(), None)
