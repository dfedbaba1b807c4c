"""Server settings: one frozen table built from command-line flags, HUB_* environment
variables and defaults, in that order of precedence. Nothing here does I/O beyond reading env.
Every value is checked when the table is built (`_problem`): a bad flag or variable stops the
hub before it starts.

Per-app limits (event size, presence members...) are not here: they are app settings, kept in
the store (hub/models.py: AppSettings).
"""

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 6001
    db_path: str = "hub.db"
    dev: bool = False
    # Seconds advertised to Pusher clients in connection_established; after this much silence
    # the server pings, and closes with 4201 when nothing arrives within pong_timeout.
    activity_timeout: int = 120
    pong_timeout: int = 30
    # Optional prefix before /app/{key}, for pusher-js's wsPath option.
    path_prefix: str = ""
    # How often the hub looks for app changes written to the database by another process (CLI),
    # in seconds: a cheap read of the file's version counter. With Redis, an edit with the CLI
    # reaches every process of the hub this much later, plus a few milliseconds.
    reload_interval: float = 0.5
    # Largest websocket message accepted from a client, in bytes.
    max_message_bytes: int = 64 * 1024
    # Bytes that may wait in one connection's outgoing buffer; past it the client is too slow
    # and is disconnected (Pusher 4100: reconnect after a backoff).
    max_outbox_bytes: int = 1024 * 1024
    # Seconds a request's head may take to arrive, from its first byte (a kept-alive connection's
    # next request too); elsewhere than the publishing routes also how long a kept-alive
    # connection may stay idle. And the seconds its body may take after the head. Past either:
    # 408, and the connection is closed.
    head_timeout: float = 60.0
    body_timeout: float = 60.0
    # Seconds a graceful shutdown waits for sockets to close after telling clients to reconnect.
    shutdown_grace: float = 2.0
    # Channel events kept for replay in memory (and in the database), all apps and channels
    # together; past it, the least recently published channels lose their oldest events first.
    history_max_events: int = 100_000
    # How SQLite syncs each commit: "normal" (an acknowledged event survives any crash of the
    # process) or "full" (also a power loss or a crash of the machine, at a cost per commit).
    db_synchronous: str = "normal"
    # TLS on the hub's own port (hub/wire/tls.py): a PEM certificate chain and its private key,
    # both or neither. SIGHUP reads them again.
    tls_cert: str = ""
    tls_key: str = ""
    # Plain HTTP on an address beyond this machine, with no proxy said to terminate TLS in
    # front (trust_proxy): refused at start unless this says it is meant (hub/cli/serve.py).
    insecure_http: bool = False
    # Behind a reverse proxy that terminates TLS: take the client's address and scheme from
    # X-Forwarded-For / X-Real-Ip and X-Forwarded-Proto / X-Scheme (sign-in throttling per
    # address, Secure cookies). Off by default: anyone could send those headers directly.
    trust_proxy: bool = False
    # Connections open at once, every client together (websockets, event streams, HTTP); one
    # more is answered 503 and closed. 0: the open-file limit less a reserve of 64 descriptors
    # (the database, the listeners), read when the hub starts (hub/wire/limits.py).
    max_connections: int = 0
    # Connections open at once from one client address; 0: no such cap (the default, as in
    # soketi and Centrifugo: many users can share one address behind a NAT). Counted by the
    # peer's address, so it is off with trust_proxy (every connection is then the proxy's):
    # cap per client in the proxy (nginx limit_conn).
    max_connections_per_address: int = 0
    # Webhooks (hub/core/webhooks.py): seconds channel_vacated / member_removed wait, so a quick
    # reconnect sends nothing; seconds events gather into one delivery; seconds a receiver has
    # to answer; seconds before the first retry (then doubling); seconds a delivery is retried.
    webhook_vacate_delay: float = 3.0
    webhook_batch_window: float = 0.05
    webhook_timeout: float = 5.0
    webhook_first_retry: float = 1.0
    webhook_retry_for: float = 300.0
    # Webhook targets `hub serve --dev` adds to the development app, for every kind (once: a
    # restart with the same URL adds none); from the environment, comma-separated.
    webhook_urls: tuple[str, ...] = ()
    # `hub serve`'s logging level (DEBUG, INFO, WARNING, ERROR). The access log writes refusals
    # (WARNING) and errors (ERROR) only, unless access_log is on.
    log_level: str = "INFO"
    # The full access log: a line (INFO) for every successful request and handshake too. Off
    # by default: on a publish-heavy load those lines cost about a fifth of the hub's CPU.
    access_log: bool = False
    # `hub serve`'s event loop: auto (uvloop when installed), uvloop, or asyncio.
    event_loop: str = "auto"
    # Redis shared by the processes that act as one hub (hub/broker/appsync.py): with it an
    # app's record (keys, secrets, origins, settings) is hub-wide. Empty: this process alone.
    redis_url: str = ""
    # The prefix of every Redis key and pub/sub channel of this hub: hubs with different
    # namespaces on one Redis are independent hubs.
    redis_namespace: str = "hub"
    # `hub serve --workers N`: N processes on one port (SO_REUSEPORT), one hub through Redis
    # (hub/cli/workers.py); 1 is one process and no supervisor.
    workers: int = 1

    @classmethod
    def from_sources(
        cls, overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
    ) -> "Settings":
        """Defaults, then HUB_<NAME> environment variables, then `overrides` that are not None."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for field in fields(cls):
            raw = environ.get("HUB_" + field.name.upper())
            if raw is not None:
                values[field.name] = value = _cast(field.type, raw, field.name)
                if problem := _problem(field.name, value):
                    raise ValueError(f"HUB_{field.name.upper()}={raw}: {problem}")
        for name, value in (overrides or {}).items():
            if value is not None:
                values[name] = value
        return cls(**values)

    def __post_init__(self) -> None:
        for field in fields(self):
            if problem := _problem(field.name, getattr(self, field.name)):
                raise ValueError(f"{field.name}: {problem}")
        if bool(self.tls_cert) != bool(self.tls_key):
            given, missing = ("cert", "key") if self.tls_cert else ("key", "cert")
            raise ValueError(
                f"a TLS {given} without a TLS {missing}: give both (--tls-cert and --tls-key,"
                " or HUB_TLS_CERT and HUB_TLS_KEY)"
            )
        if self.workers > 1 and not self.redis_url:
            raise ValueError(
                f"{self.workers} workers without a Redis URL: separate processes act as one hub"
                " only through Redis; add --redis URL (or HUB_REDIS_URL), or run 1 worker"
            )

    @property
    def tls(self) -> bool:
        return bool(self.tls_cert)


_NAMESPACE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
# The URLs redis-py connects with: TCP, TLS, a Unix socket.
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")

# Processes `hub serve --workers` may start: more than a machine has cores only adds overhead.
MAX_WORKERS = 64

# Settings where 0 would make the hub spin or refuse everything: at least 1.
_POSITIVE = ("activity_timeout", "pong_timeout", "max_message_bytes", "max_outbox_bytes")


def _problem(name: str, value: Any) -> str | None:
    """What is wrong with one setting's value, or None: the one place of these rules."""
    if name == "port" and not 0 <= value <= 65535:
        return f"{value} is not a port: use 1 to 65535 (0 picks a free one)"
    if name == "workers" and not 1 <= value <= MAX_WORKERS:
        return f"{value} is not a number of workers: use 1 to {MAX_WORKERS}"
    if name == "redis_url" and value and not value.startswith(REDIS_SCHEMES):
        return f"{value!r} is not a Redis URL: use {', '.join(s + '...' for s in REDIS_SCHEMES)}"
    if name == "redis_namespace" and not _NAMESPACE.fullmatch(value):
        return f"{value!r} is not a namespace: use 1 to 64 letters, digits, '_', '-' or '.'"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if name in _POSITIVE and value < 1:
        return f"{value} is too small: use 1 or more"
    if name in ("head_timeout", "body_timeout") and value <= 0:
        return f"{value} is too small: use more than 0"
    if value < 0:
        return f"{value} is negative: use 0 or more"
    return None


def _cast(kind: Any, raw: str, name: str) -> Any:
    if name == "webhook_urls":  # the one list: comma-separated, blanks dropped
        return tuple(part.strip() for part in raw.split(",") if part.strip())
    kind = {"int": int, "float": float, "bool": bool, "str": str}.get(kind, kind)
    if kind is bool:
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off", ""):
            return False
        raise ValueError(f"HUB_{name.upper()}: expected a boolean, got {raw!r}")
    try:
        return kind(raw)
    except ValueError as exc:
        raise ValueError(f"HUB_{name.upper()}: {exc}") from None
