"""Authentication: Pusher HMAC signatures (and, later, socket tokens and password hashes)."""
