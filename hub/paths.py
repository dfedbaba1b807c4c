"""The one place that finds the files shipped beside the code (schema.sql, and the dashboard's
templates and static files).

Works in a checkout (files at the repository's top level), when installed (setup.py copies them
into the package as hub/_data/), and in the single binary (scripts/build-binary.sh bundles the
installed package, hub/_data/ included; at run time its modules' __file__ lie under the
directory it unpacks to, sys._MEIPASS, beside that copy). Never depends on the current
directory.
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
