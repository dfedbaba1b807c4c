"""hub: a self-hosted realtime hub speaking the Pusher and Phoenix channels protocols."""

__version__ = "0.1.0"
