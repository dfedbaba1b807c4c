"""`python -m hub ...` is the same as the `hub` console script."""

from hub.cli import main

raise SystemExit(main())
