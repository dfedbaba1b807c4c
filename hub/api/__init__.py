"""The HTTP API, one module per resource, on one JSON base class (hub/api/base.py)."""
