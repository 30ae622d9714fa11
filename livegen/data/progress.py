"""Progress bars for long offline work (prepare, convert, train, evaluate): tqdm, set up once.

Each bar shows `label pct |bar| done/total [elapsed<ETA, rate unit/s, extra]` on stderr; the
rate is the average since this run started (work done before a resume, `initial`, is not
counted). On a terminal the line is redrawn at most five times a second; in a log (not a
terminal) at most every ten seconds, so logs stay short but still show that work goes on.
"""

from __future__ import annotations

import sys

from tqdm import tqdm

TTY_INTERVAL_S = 0.2
LOG_INTERVAL_S = 10.0


def progress_bar(
    total: int, label: str, *, unit: str = "files", enabled: bool = True, initial: int = 0
) -> tqdm:
    """A tqdm bar on stderr; `enabled=False` (--quiet, other ranks) makes every call a no-op."""
    tty = sys.stderr.isatty()
    return tqdm(
        total=total,
        desc=label,
        unit=unit,
        initial=initial,
        disable=not enabled,
        file=sys.stderr,
        mininterval=TTY_INTERVAL_S if tty else LOG_INTERVAL_S,
        smoothing=0,  # the average over the run, as ETA wants on steady work
        dynamic_ncols=tty,
    )
