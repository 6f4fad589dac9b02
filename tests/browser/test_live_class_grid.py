"""The grid question in real Chromium: a teacher in the Atlas view asks "which head is the induction head?",
a student on a 390×844 phone taps the blank grid (and changes their mind), the teacher's count moves, both
pages carry body[data-class-question="grid"] while it is open, and the reveal names the argmax head."""

from __future__ import annotations

import json

import pytest

from tests.screens import shot, watched_page

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(300)]
PHONE = {"width": 390, "height": 844}
LAYERS, HEADS = 6, 12
#: the Atlas view's scores for the task in sight (layer-major); the top head is layer 4 · head 7
VALUES = [round(((i * 37) % 53) / 100, 4) for i in range(LAYERS * HEADS)]
VALUES[4 * HEADS + 7] = 0.91
OPEN = "() => document.body.dataset.classQuestion === 'grid'"
CLOSED = "() => !('classQuestion' in document.body.dataset)"


def atlas_current(pg, layers: int = LAYERS, heads: int = HEADS, values: list[float] = VALUES,
                  task: str = "induction") -> None:
    """Stand in for the Atlas view's render: window.__atlasCurrent and its "atlas:current" event."""
    cur = {"job": "test-job", "model": "minilm", "task": task, "layers": layers, "heads": heads, "values": values}
    pg.evaluate("(c) => { window.__atlasCurrent = c;"
                " window.dispatchEvent(new CustomEvent('atlas:current', { detail: c })); }", cur)


def tap_cell(pg, layer: int, head: int) -> None:
    """Tap the centre of a cell of the student's grid (its layout is in the canvas's data attributes)."""
    d = pg.eval_on_selector("#class-grid", "c => ({x0: +c.dataset.x0, y0: +c.dataset.y0, cell: +c.dataset.cell})")
    grid = pg.locator("#class-grid")
    grid.scroll_into_view_if_needed()
    grid.tap(position={"x": d["x0"] + (head + 0.5) * d["cell"], "y": d["y0"] + (layer + 0.5) * d["cell"]})


def test_find_the_induction_head_on_the_grid(browser, live_server):
    ctxs = []
    try:
        ctx, teacher = watched_page(browser, {"width": 1400, "height": 1000})
        ctxs.append(ctx)
        teacher.goto(live_server + "/?view=atlas")
        teacher.click("#class-start")
        teacher.wait_for_function("() => document.querySelector('#class-status')?.textContent === 'live'")
        join_url = teacher.text_content("#class-url")
        teacher.wait_for_function("() => document.querySelector('#class-ask').textContent === 'Ask: which head?'")
        assert teacher.is_hidden("#class-query-label")
        atlas_current(teacher)

        ctx, phone = watched_page(browser, PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
        ctxs.append(ctx)
        phone.goto(join_url)
        phone.wait_for_function("() => document.querySelector('#class-status')?.textContent === 'following'",
                                timeout=60_000)
        teacher.wait_for_function("() => document.querySelector('#class-members').textContent === '1'")
        phone.wait_for_function("() => new URLSearchParams(location.search).get('view') === 'atlas'")

        teacher.click("#class-ask")
        phone.wait_for_selector("#class-grid[data-cells='72']", timeout=10_000)
        for pg in (teacher, phone):  # the Atlas view draws its grid blank on every screen while it is open
            pg.wait_for_function(OPEN, timeout=10_000)
        assert phone.text_content(".cl-question .cl-ask") == "Which head is the induction head? Tap it."
        assert phone.get_attribute("#class-grid", "data-revealed") == ""

        tap_cell(phone, 2, 5)
        phone.wait_for_function("() => document.querySelector('#class-grid').dataset.mine === '29'")
        teacher.wait_for_function("() => document.querySelector('#class-answered').textContent.startsWith('1 answered')",
                                  timeout=10_000)
        tap_cell(phone, 1, 3)  # a change of mind before the reveal
        phone.wait_for_function("() => document.querySelector('#class-grid').dataset.mine === '15'")
        assert "layer 1 · head 3" in phone.text_content("#class-grid-pick")
        teacher.wait_for_function("() => (JSON.parse(document.querySelector('#class-teacher-grid').dataset.counts"
                                  " || '[]'))[15] === 1", timeout=10_000)
        counts = json.loads(teacher.get_attribute("#class-teacher-grid", "data-counts"))
        assert sum(counts) == 1 and counts[15] == 1
        assert teacher.text_content("#class-answered").startswith("1 answered: Which head is the induction head?")
        overflow = phone.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 1, f"the phone's page scrolls sideways by {overflow}px"
        print("phone, open:", shot(phone, "class_grid_phone_open.png"))

        teacher.click("#class-reveal")
        top = max(range(len(VALUES)), key=VALUES.__getitem__)
        where = f"layer {top // HEADS} · head {top % HEADS}"
        phone.wait_for_selector("#class-grid-note", timeout=10_000)
        note = phone.text_content("#class-grid-note")
        assert note == f"The model's top induction head is {where}: 0 of 1 found it. You picked layer 1 · head 3.", note
        assert phone.get_attribute("#class-grid", "data-top") == str(top)
        assert phone.get_attribute("#class-grid", "data-revealed") == "1"
        assert json.loads(phone.get_attribute("#class-grid", "data-counts"))[15] == 1
        teacher.wait_for_function("() => document.querySelector('#class-reveal-note').textContent.includes('found it')")
        assert teacher.text_content("#class-reveal-note") == f"The model's top induction head is {where}: 0 of 1 found it."
        for pg in (teacher, phone):
            pg.wait_for_function(CLOSED, timeout=10_000)
        tap_cell(phone, 4, 7)  # after the reveal a tap changes nothing
        phone.wait_for_timeout(300)
        assert phone.get_attribute("#class-grid", "data-mine") == "15"
        phone.locator(".cl-grid-key").scroll_into_view_if_needed()
        print("phone, revealed:", shot(phone, "class_grid_phone_revealed.png"))
        print("teacher, revealed:", shot(teacher, "class_grid_teacher_revealed.png"))

        teacher.click("#class-reset")
        phone.wait_for_selector("#class-question", state="hidden", timeout=10_000)
        for pg in (teacher, phone):
            assert pg.evaluate(CLOSED)

        # the largest grid, 32 × 32 (1,024 heads; entropy: divided by its max), scrolls inside its card
        big = [float(i % 97) for i in range(1024)]
        atlas_current(teacher, 32, 32, big, "entropy")
        teacher.click("#class-ask")
        phone.wait_for_selector("#class-grid[data-cells='1024']", timeout=10_000)
        assert phone.text_content(".cl-question .cl-ask") == "Which head is the entropy head? Tap it."
        overflow = phone.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 1, f"the phone's page scrolls sideways by {overflow}px with a 32 × 32 grid"
        assert phone.evaluate("() => { const w = document.querySelector('.cl-grid-scroll');"
                              " return w.scrollWidth > w.clientWidth; }")
        tap_cell(phone, 31, 2)
        teacher.wait_for_function("() => (JSON.parse(document.querySelector('#class-teacher-grid').dataset.counts"
                                  " || '[]'))[31 * 32 + 2] === 1", timeout=10_000)
        print("phone, 32 × 32:", shot(phone, "class_grid_phone_32.png"))
        teacher.click("#class-reveal")
        phone.wait_for_selector("#class-grid-note", timeout=10_000)
        top = max(range(1024), key=big.__getitem__)
        assert f"top entropy head is layer {top // 32} · head {top % 32}: 0 of 1" in phone.text_content("#class-grid-note")
        for pg in (teacher, phone):
            assert pg.errors == [], pg.errors
    finally:
        for c in ctxs:
            c.close()
