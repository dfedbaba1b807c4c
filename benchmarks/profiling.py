"""A CPU profile of the hub under a scenario (`run.py --profile`): each hub server of the run
runs under cProfile (deterministic, in the standard library, so it needs nothing installed) and
writes its profile when it stops; then a top-N summary by own time is printed and saved beside it.

cProfile sees the main thread only (the event loop and everything it calls; not aiosqlite's
database thread) and slows Python calls down, by up to about 2x: a profiled run's rates and
latencies are not figures to compare, only where the time goes.
"""

import pstats
import re
from pathlib import Path

# `python -c` code for a profiled hub process (servers.SERVE with a profiler round main()): the
# profile is written on the way out, after SIGTERM has stopped the hub as a user's would be.
SERVE_PROFILED = """
import cProfile, os, sys, hub
print("hub imported from", hub.__file__, flush=True)
from hub.cli import main
profiler = cProfile.Profile()
try:
    code = profiler.runcall(main)
finally:
    profiler.dump_stats(os.environ["HUB_BENCH_PROFILE"])
raise SystemExit(code)
"""


def short(filename: str) -> str:
    """A function's file as far as it tells where it lives: from `hub/` on, or from the package
    under site-packages, or the whole for anything else (`~` for built-ins)."""
    if "/site-packages/" in filename:
        return filename.split("/site-packages/", 1)[1]
    stdlib = re.search(r"/lib/python3\.\d+/", filename)
    if stdlib:
        return filename[stdlib.end() :]
    at = filename.rfind("/hub/")
    return filename[at + 1 :] if at >= 0 else filename


def summary(path: Path, top: int = 25) -> str:
    """The `top` functions by own time (time in the function itself, not in what it called):
    own seconds and share, cumulative seconds, calls. The time the hub sat idle lands on one
    entry at the top (on uvloop a coroutine cProfile takes to be running while the loop waits,
    with no cumulative time): the work is in the rows below it."""
    stats = pstats.Stats(str(path))
    total = stats.total_tt or 1e-9  # type: ignore[attr-defined]
    entries = stats.stats  # type: ignore[attr-defined]
    ranked = sorted(entries.items(), key=lambda item: item[1][2], reverse=True)[:top]
    lines = [
        f"{path.name}: {total:.2f} s in the hub's main thread, top {top} by own time",
        "  own s  own %  cumul s     calls  function",
    ]
    for (filename, line, name), (_, calls, own, cumulative, _) in ranked:
        where = f"{short(filename)}:{line}({name})" if line else name
        lines.append(f"{own:7.2f} {100 * own / total:6.1f} {cumulative:8.2f} {calls:9d}  {where}")
    return "\n".join(lines)
