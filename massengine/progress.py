"""Progress of long work: how much is done, the simulated time per second of wall time,
and the time left. It goes to the log (``massengine.progress``: a campaign job's log file
receives it, :func:`massengine.campaign.run_logged`) and, when the standard error is a
terminal, to a one-line progress bar redrawn in place (``MASSENGINE_PROGRESS=0`` turns the
bar off).
"""

from __future__ import annotations

import logging
import os
import sys
import time

logger = logging.getLogger("massengine.progress")


class Progress:
    """Counts ``total`` equal pieces of work, each ``ms_per_piece`` of simulated time (all
    runs of a batch advance together), and logs at most every ``every_s`` seconds of wall
    time (and at the end): pieces done, simulated ms per second, ETA."""

    def __init__(self, what: str, total: int, ms_per_piece: float, every_s: float = 5.0, stream=None):
        self.what, self.total, self.ms_per_piece, self.every_s = what, max(int(total), 1), ms_per_piece, every_s
        self.done = 0
        self.start = self.last = time.perf_counter()
        self.stream = stream if stream is not None else sys.stderr
        # A bar only for a person watching a terminal, and only for work in several pieces.
        self.bar = (self.total > 1 and os.environ.get("MASSENGINE_PROGRESS", "1") != "0"
                    and getattr(self.stream, "isatty", lambda: False)())

    def advance(self, pieces: int = 1) -> None:
        self.done += pieces
        now = time.perf_counter()
        elapsed = max(now - self.start, 1e-9)
        rate = self.done * self.ms_per_piece / elapsed
        eta = elapsed / self.done * (self.total - self.done)
        if self.bar:
            self.stream.write("\r" + bar_line(self.what, self.done, self.total, rate, eta)
                              + ("\n" if self.done >= self.total else ""))
            self.stream.flush()
        if now - self.last < self.every_s and self.done < self.total:
            return
        self.last = now
        logger.info("%s: %d/%d segments (%.0f%%), %.4g simulated ms/s, ETA %.1f s", self.what, self.done,
                    self.total, 100.0 * self.done / self.total, rate, eta)


def bar_line(what: str, done: int, total: int, rate: float, eta: float, width: int = 30) -> str:
    """``what [#########.........] 45% 12.3 sim-ms/s ETA 4 s``."""
    filled = int(round(width * done / total))
    return (f"{what} [{'#' * filled}{'.' * (width - filled)}] {100 * done / total:3.0f}% "
            f"{rate:.4g} sim-ms/s ETA {eta:.0f} s ")
