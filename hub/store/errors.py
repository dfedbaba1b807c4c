"""The store's own error, apart so that the schema's migrations can raise it too."""


class StoreError(Exception):
    """The database cannot be used (newer schema, unreadable file...)."""
