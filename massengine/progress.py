"""Progress of long work in the log: how much is done, the simulated time per second of
wall time, and the time left. The library only logs (``massengine.progress``); a campaign
job's log file receives it (:func:`massengine.campaign.run_logged`), and an interactive
user sees it with ``logging.basicConfig(level=logging.INFO)``.
"""

from __future__ import annotations

import logging
import time

logger = logging.getLogger("massengine.progress")


class Progress:
    """Counts ``total`` equal pieces of work, each ``ms_per_piece`` of simulated time (all
    runs of a batch advance together), and logs at most every ``every_s`` seconds of wall
    time (and at the end): pieces done, simulated ms per second, ETA."""

    def __init__(self, what: str, total: int, ms_per_piece: float, every_s: float = 5.0):
        self.what, self.total, self.ms_per_piece, self.every_s = what, max(int(total), 1), ms_per_piece, every_s
        self.done = 0
        self.start = self.last = time.perf_counter()

    def advance(self, pieces: int = 1) -> None:
        self.done += pieces
        now = time.perf_counter()
        if now - self.last < self.every_s and self.done < self.total:
            return
        self.last = now
        elapsed = max(now - self.start, 1e-9)
        rate = self.done * self.ms_per_piece / elapsed
        eta = elapsed / self.done * (self.total - self.done)
        logger.info("%s: %d/%d segments (%.0f%%), %.4g simulated ms/s, ETA %.1f s", self.what, self.done,
                    self.total, 100.0 * self.done / self.total, rate, eta)
