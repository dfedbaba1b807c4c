"""What a measured stretch cost the server, per operation, and whether the load generator was
the bottleneck of that stretch.

On a 2-core machine the load generator (core 0) often fills its core before the server (core 1)
fills its own: then deliveries or requests per second measure the generator, and two servers
come out alike however different their costs. CPU-seconds the server spent per delivery, per
publish and per connect do not depend on how fast the generator could go, so every scenario
reports them (`server_cpu_us_per_<operation>`, microseconds, lower is better) beside its rates,
and flags a stretch whose rates the generator limited (`generator_bound`).
"""

import os

from pusherload import Target, Usage

# The generator's own CPU (all its threads, user and system), as a share of its core, at or above
# which it counts as the bottleneck: past it, its event loop is seldom idle and whatever it
# waits on (the next answer, the next frame) waits on it too.
GENERATOR_BOUND = 0.9
# The generator's core busy with anything (the generator, interrupts and softirqs of loopback
# traffic, another process), at or above which the generator is starved even if its own share
# stays lower.
CORE_BOUND = 0.95


def generator_core() -> int | None:
    """The one core this process is pinned to (run.py pins it), or None when it may run on
    several: then its core's load cannot be read."""
    cores = os.sched_getaffinity(0)
    return next(iter(cores)) if len(cores) == 1 else None


def core_ticks(core: int) -> tuple[int, int]:
    """(busy, total) clock ticks of `core` since boot, from /proc/stat."""
    with open("/proc/stat") as stat:
        for line in stat:
            if line.startswith(f"cpu{core} "):
                # user nice system idle iowait irq softirq steal (guest time is within user)
                ticks = [int(field) for field in line.split()[1:9]]
                return sum(ticks) - ticks[3] - ticks[4], sum(ticks)
    raise RuntimeError(f"no cpu{core} line in /proc/stat")


def per(cpu_seconds: float, operations: int) -> float | None:
    """Server CPU microseconds per operation, None when nothing was done."""
    return round(1e6 * cpu_seconds / operations, 2) if operations > 0 else None


class Stretch:
    """CPU readings over one measured stretch: made at its start, `end()` at its end."""

    def __init__(self, target: Target) -> None:
        self.usage = Usage(target.pid, target.pids, target.beside)
        self.core = generator_core()
        self.core_before = core_ticks(self.core) if self.core is not None else (0, 0)

    @property
    def started(self) -> float:
        return self.usage.started

    def end(self) -> dict:
        """The server's CPU-seconds and share of a core, the generator's share of its core,
        how busy that core was, and whether the generator was the bottleneck."""
        server, own, wall = self.usage.seconds()
        busy = None
        if self.core is not None:
            after = core_ticks(self.core)
            total = after[1] - self.core_before[1]
            busy = round((after[0] - self.core_before[0]) / total, 2) if total else None
        loadgen = own / wall
        beside = {
            f"{name}_cpu": round(share, 2) for name, share in self.usage.beside_shares().items()
        }
        return {
            "server_cpu_s": round(server, 2),
            "server_cpu": round(server / wall, 2),
            **beside,
            "loadgen_cpu": round(loadgen, 2),
            "loadgen_core_busy": busy,
            "generator_bound": loadgen >= GENERATOR_BOUND or (busy or 0) >= CORE_BOUND,
        }
