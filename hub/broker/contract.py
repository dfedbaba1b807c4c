"""The broker contract. Brokers carry published events to every hub process that has
subscribers.

The interface is small on purpose: a broker takes an app's event and hands it back to each
node's `deliver` callback. The local broker does that in-process; a Redis broker (a later part)
will do it across processes. Nothing here knows a protocol or a socket.
"""

from collections.abc import Callable
from typing import Protocol

from hub.models import Event

Deliver = Callable[[str, Event], None]


class Broker(Protocol):
    def start(self, deliver: Deliver) -> None: ...

    def publish(self, app_id: str, event: Event) -> None: ...

    async def close(self) -> None: ...
