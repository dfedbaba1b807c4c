"""The in-process broker: one hub process, events delivered synchronously on publish."""

from hub.broker.contract import Deliver
from hub.models import Event


class LocalBroker:
    def __init__(self) -> None:
        self._deliver: Deliver | None = None

    def start(self, deliver: Deliver) -> None:
        self._deliver = deliver

    def publish(self, app_id: str, event: Event) -> None:
        if self._deliver is None:
            raise RuntimeError("broker not started")
        self._deliver(app_id, event)

    async def close(self) -> None:
        self._deliver = None
