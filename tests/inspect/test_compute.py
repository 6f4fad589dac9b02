"""The compute gate: one pass at a time per slot, re-entrant, interactive requests before generated tokens."""

from __future__ import annotations

import threading
import time

from app.inspect.compute import Gate, ModelLock


def wait_until(cond, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.005)


def waiting(gate: Gate, n: int) -> None:
    """Wait until ``n`` threads have gone to sleep on the gate at least once."""
    wait_until(lambda: gate.waited >= n)


def test_one_slot_excludes_and_reenters():
    gate = Gate(1)
    assert gate.acquire() and gate.acquire()  # re-entrant for the holder
    assert gate.busy() == 1
    got = []
    t = threading.Thread(target=lambda: got.append(gate.acquire(timeout=0.2)))
    t.start()
    t.join()
    assert got == [False]  # another thread cannot get in while it is held
    gate.release()
    t = threading.Thread(target=lambda: got.append(gate.acquire(timeout=0.2)))
    t.start()
    t.join()
    assert got == [False, False]  # still held once
    gate.release()
    assert gate.busy() == 0 and gate.acquire(timeout=0.2)
    gate.release()


def test_two_slots_let_two_threads_in():
    gate = Gate(2)
    inside = threading.Barrier(2, timeout=5)

    def work():
        assert gate.acquire(timeout=5)
        inside.wait()  # both are inside at once, or this times out
        gate.release()

    ts = [threading.Thread(target=work) for _ in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(10)
    assert not inside.broken and gate.busy() == 0


def test_interactive_requests_go_before_a_waiting_generated_token():
    gate = Gate(1, promote_after=30)
    order = []
    gate.acquire()  # a pass in progress

    def ask(name, high):
        gate.acquire(high=high)
        order.append(name)
        gate.release()

    low = threading.Thread(target=ask, args=("token", False))
    low.start()
    waiting(gate, 1)  # the generated token waits first
    highs = [threading.Thread(target=ask, args=(f"student{i}", True)) for i in range(2)]
    for t in highs:
        t.start()
    waiting(gate, 3)
    gate.release()
    for t in [low, *highs]:
        t.join(10)
    assert sorted(order[:2]) == ["student0", "student1"] and order[2] == "token"
    assert gate.promoted == 0


def test_a_generated_token_passed_over_too_long_is_served():
    gate = Gate(1, promote_after=0.2)
    stop = threading.Event()
    got = []

    def students():  # interactive requests that never stop coming
        while not stop.is_set():
            gate.acquire(high=True)
            time.sleep(0.01)
            gate.release()

    ts = [threading.Thread(target=students) for _ in range(3)]
    for t in ts:
        t.start()
    wait_until(lambda: gate.busy() == 1)
    low = threading.Thread(target=lambda: (gate.acquire(high=False), got.append(True), gate.release()))
    low.start()
    low.join(10)
    served_while_busy = not low.is_alive()  # served while the students still kept coming
    stop.set()
    for t in ts:
        t.join(10)
    assert served_while_busy and got == [True] and gate.promoted >= 1


def test_model_lock_takes_a_slot_and_gives_it_back_when_the_model_is_busy():
    gate = Gate(2)
    a, b = ModelLock(gate), ModelLock(gate)
    with a:
        assert gate.busy() == 1
        with a:  # re-entrant
            pass
        got = []
        t = threading.Thread(target=lambda: got.append(a.acquire(timeout=0.2)))
        t.start()
        t.join()
        assert got == [False] and gate.busy() == 1  # the slot it took while waiting was handed back
        t = threading.Thread(target=lambda: (got.append(b.acquire(timeout=0.2)), b.release()))
        t.start()
        t.join()
        assert got == [False, True]  # another model runs in the second slot
    assert gate.busy() == 0


def test_model_lock_low_priority_waits_for_interactive_passes_on_other_models():
    gate = Gate(1, promote_after=30)
    gen, attn = ModelLock(gate), ModelLock(gate)
    order = []
    attn.acquire()

    def token():
        with gen.low():
            order.append("token")

    def student():
        with attn:
            order.append("student")

    t1 = threading.Thread(target=token)
    t1.start()
    waiting(gate, 1)
    t2 = threading.Thread(target=student)
    t2.start()
    waiting(gate, 2)
    attn.release()
    t1.join(10)
    t2.join(10)
    assert order == ["student", "token"]
