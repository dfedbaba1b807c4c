"""The protocol-neutral core: apps, connections, channels, presence and fan-out."""
