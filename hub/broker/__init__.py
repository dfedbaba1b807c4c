"""Brokers: the contract (contract.py) and the in-process broker (local.py), and
`make_broker`, which picks one by name."""

from hub.broker.contract import Broker, Deliver
from hub.broker.local import LocalBroker

__all__ = ["Broker", "Deliver", "LocalBroker", "make_broker"]


def make_broker(name: str = "local") -> Broker:
    if name == "local":
        return LocalBroker()
    raise ValueError(f"unknown broker {name!r}")
