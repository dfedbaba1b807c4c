"""The one place that finds the files shipped beside the code (schema.sql, and the dashboard's
templates and static files).

Works both in a checkout (files at the repository's top level) and when installed (setup.py
copies them into the package as hub/_data/). Never depends on the current directory.
"""

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _find(name: str) -> Path:
    for candidate in (_PACKAGE / "_data" / name, _PACKAGE.parent / name):
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"hub: cannot find {name} next to {_PACKAGE}")


def schema_sql() -> Path:
    return _find("schema.sql")


def dashboard_dir() -> Path:
    """The dashboard's templates/ and static/ (top-level dashboard/ in a checkout)."""
    return _find("dashboard")


def static_file(name: str) -> Path:
    """A file the hub serves to browsers (hub/static/, shipped inside the package)."""
    return _PACKAGE / "static" / name
