"""Sign-in throttling: a few tries per client, then a wait that doubles with each further failure."""

from __future__ import annotations

import math
import time

FREE_TRIES = 5
FIRST_WAIT = 2.0
LONGEST_WAIT = 15 * 60.0


class Throttle:
    def __init__(self, free: int = FREE_TRIES, first_wait: float = FIRST_WAIT, longest: float = LONGEST_WAIT):
        self.free, self.first_wait, self.longest = free, first_wait, longest
        self._tries: dict[str, tuple[int, float]] = {}  # client → (tries not yet cleared, time of the last)

    def wait(self, client: str) -> int:
        """Seconds ``client`` must wait before trying again; 0 when it may try now."""
        count, last = self._tries.get(client, (0, 0.0))
        if count < self.free:
            return 0
        delay = min(self.longest, self.first_wait * 2 ** (count - self.free))
        return max(0, math.ceil(last + delay - time.monotonic()))

    def attempt(self, client: str) -> None:
        """Counted when a try starts, so that tries sent all at once are counted too."""
        count, _ = self._tries.get(client, (0, 0.0))
        self._tries[client] = (count + 1, time.monotonic())
        if len(self._tries) > 10_000:  # forget the stalest clients rather than grow without end
            for stale in sorted(self._tries, key=lambda c: self._tries[c][1])[:5_000]:
                del self._tries[stale]

    def succeeded(self, client: str) -> None:
        self._tries.pop(client, None)
