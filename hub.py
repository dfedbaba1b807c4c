"""Run the hub's command line: `python hub.py serve --dev`. A shim; nothing imports it."""

from hub.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
