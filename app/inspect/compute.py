"""Who computes now: one forward pass at a time per CPU slot, interactive requests first.

PyTorch already spreads one forward pass over every core. Two passes at once on a 2-core machine
(MiniLM for one student, SmolLM2 generating for another) fight for the same cores, and both get
slower than if they took turns. So every model lock (:class:`ModelLock`) also takes a slot of one
process-wide :class:`Gate` (``ATTNSCOPE_COMPUTE_SLOTS``, default 1).

Generation takes its slot at low priority, one token at a time (:meth:`ModelLock.low`): a student's
attention request waiting for the cores goes before the next generated token. A low-priority
waiter passed over for ``promote_after`` seconds is served like any other, so generation always
makes progress.

Lock order is always gate, then model lock, and a thread re-entering either does not wait: two
threads can never hold one each while waiting for the other.
"""

from __future__ import annotations

import os
import threading
import time
from contextlib import contextmanager


class Gate:
    """``slots`` threads compute at once; re-entrant per thread; high priority goes first."""

    def __init__(self, slots: int = 1, promote_after: float = 2.0) -> None:
        self.slots = max(1, int(slots))
        self.promote_after = promote_after
        self._cond = threading.Condition()
        self._owners: dict[int, int] = {}  # thread id -> re-entry depth
        self._waiting_high = 0
        self._waiting_promoted = 0
        #: counts for tests and benches: passes that waited, and low-priority waiters promoted
        self.waited = 0
        self.promoted = 0

    def acquire(self, high: bool = True, timeout: float | None = None) -> bool:
        me = threading.get_ident()
        with self._cond:
            if me in self._owners:
                self._owners[me] += 1
                return True
            start = time.monotonic()
            deadline = None if timeout is None else start + timeout
            promoted = False
            if high:
                self._waiting_high += 1
            try:
                while True:
                    free = len(self._owners) < self.slots
                    if promoted and free:
                        break
                    # a promoted waiter goes before everyone; a low one after every high one
                    if free and not self._waiting_promoted and (high or not self._waiting_high):
                        break
                    now = time.monotonic()
                    if deadline is not None and now >= deadline:
                        return False
                    if not high and not promoted and now - start >= self.promote_after:
                        promoted = True
                        self.promoted += 1
                        self._waiting_promoted += 1
                        continue
                    waits = [d - now for d in (deadline, start + self.promote_after if not (high or promoted) else None)
                             if d is not None]
                    self.waited += 1
                    self._cond.wait(min(waits) if waits else None)
            finally:
                if high:
                    self._waiting_high -= 1
                if promoted:
                    self._waiting_promoted -= 1
            self._owners[me] = 1
            return True

    def release(self) -> None:
        me = threading.get_ident()
        with self._cond:
            depth = self._owners.get(me)
            if depth is None:
                raise RuntimeError("release of a compute slot this thread does not hold")
            if depth > 1:
                self._owners[me] = depth - 1
                return
            del self._owners[me]
            self._cond.notify_all()

    def busy(self) -> int:
        """Threads computing now."""
        with self._cond:
            return len(self._owners)


def _slots_from_env() -> int:
    try:
        return max(1, int(os.environ.get("ATTNSCOPE_COMPUTE_SLOTS", "1")))
    except ValueError:
        return 1


#: the process's gate (every adapter's lock shares it)
GATE = Gate(_slots_from_env())


class ModelLock:
    """One model's re-entrant lock, taken after a slot of the shared :data:`GATE`.

    ``with adapter.lock:`` computes at interactive priority; ``with adapter.lock.low():`` (one
    generated token) at low priority. ``acquire``/``release`` work like ``threading.RLock``'s.
    """

    def __init__(self, gate: Gate | None = None) -> None:
        self._gate = gate
        self._lock = threading.RLock()

    @property
    def gate(self) -> Gate:
        return self._gate or GATE

    def acquire(self, blocking: bool = True, timeout: float = -1, high: bool = True) -> bool:
        wait = None if blocking and timeout < 0 else (0.0 if not blocking else timeout)
        t0 = time.monotonic()
        if not self.gate.acquire(high, wait):
            return False
        left = -1 if wait is None else max(0.0, wait - (time.monotonic() - t0))
        if not self._lock.acquire(True, left):
            self.gate.release()
            return False
        return True

    def release(self) -> None:
        self._lock.release()
        self.gate.release()

    def __enter__(self) -> "ModelLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    @contextmanager
    def low(self):
        """Hold the lock at low priority (a generated token): interactive requests go first."""
        self.acquire(high=False)
        try:
            yield self
        finally:
            self.release()
