"""Dashboard accounts' credentials: the rules for a new account's email and password (the
dashboard and `hub users` both ask them here), and argon2id hashes (argon2-cffi), checked in
constant time and rehashed when the parameters in force change. Never stores, logs or returns a
password."""

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# argon2-cffi's defaults are RFC 9106's "low memory" choice (argon2id, t=3, m=64 MiB, p=4).
_HASHER = PasswordHasher()

MIN_LENGTH = 10


def hash_password(password: str) -> str:
    """The encoded hash to store (`$argon2id$v=19$m=...,t=...,p=...$salt$hash`)."""
    return _HASHER.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Whether `password` matches; False for no hash (an invited account not set up yet) or a
    malformed one. A dummy hash is still checked then, so timing tells nothing either way."""
    try:
        return _HASHER.verify(stored_hash or _DUMMY, password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """True when the hash was made with other parameters than the ones in force."""
    try:
        return _HASHER.check_needs_rehash(stored_hash)
    except InvalidHashError:
        return True


def email_problem(email: str) -> str | None:
    """Why a new account's email is refused (setup, invitations, sign-up, `hub users`), or
    None. Loose on purpose: the one sure test of an address is mail arriving there."""
    if "@" not in email.strip("@") or len(email) > 254 or any(c.isspace() for c in email):
        return f"{email!r} is not an email address"
    return None


def password_problem(password: str) -> str | None:
    """Why a new password is refused, or None."""
    if len(password) < MIN_LENGTH:
        return f"a password needs at least {MIN_LENGTH} characters"
    if len(password) > 1024:
        return "a password may have at most 1024 characters"
    return None


_DUMMY = _HASHER.hash("not a password anyone has")
