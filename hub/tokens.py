"""Socket tokens for app backends written in Python: `from hub.tokens import mint`.

The implementation and the token format live in hub/auth/tokens.py; this is the short, stable
import path the README documents.
"""

from hub.auth.tokens import SocketToken, TokenError, TokenExpired, mint, verify

__all__ = ["SocketToken", "TokenError", "TokenExpired", "mint", "verify"]
