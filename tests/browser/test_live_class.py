"""Live class in real Chromium: a teacher and three students (one on a phone) join, follow, answer, reveal."""

from __future__ import annotations

import time

import pytest

from tests.conftest import CHROMIUM_ARGS  # noqa: F401  (same browser flags as the shared fixture)
from tests.screens import shot, watched_page

pytestmark = [pytest.mark.browser, pytest.mark.slow]
URL = "/?view=attention&model=minilm&text=The+animal+didn%27t+cross+the+street+because+it+was+tired&layer=1&head=3"
PHONE = {"width": 390, "height": 844}


def new_page(browser, base, viewport, **kw):
    return watched_page(browser, viewport, **kw)


def test_teacher_and_three_students(browser, live_server):
    ctxs = []
    try:
        ctx, teacher = new_page(browser, live_server, {"width": 1400, "height": 1000})
        ctxs.append(ctx)
        teacher.goto(live_server + URL)
        teacher.wait_for_function("() => document.querySelectorAll('#heatmap .xtick text').length > 5",
                                  timeout=90_000)
        teacher.click("#class-start")
        teacher.wait_for_selector("#class-code")
        code = teacher.text_content("#class-code")
        join_url = teacher.text_content("#class-url")
        assert join_url.endswith(f"/c/{code}")
        teacher.wait_for_function("() => document.querySelector('img.cl-qr').naturalWidth > 50")
        teacher.wait_for_function("() => document.querySelector('#class-status').textContent === 'live'")

        students = []
        for i, vp in enumerate([PHONE, {"width": 1200, "height": 900}, {"width": 1000, "height": 800}]):
            kw = {"is_mobile": True, "has_touch": True, "device_scale_factor": 2} if vp is PHONE else {}
            ctx, st = new_page(browser, live_server, vp, **kw)
            ctxs.append(ctx)
            if i == 1:  # one student types the code instead of opening the link
                st.goto(f"{live_server}/join?code={code.lower()}")
            else:
                st.goto(join_url)
            st.wait_for_function("() => document.querySelector('#class-status')?.textContent === 'following'",
                                 timeout=60_000)
            students.append(st)
        teacher.wait_for_function("() => document.querySelector('#class-members').textContent === '3'",
                                  timeout=20_000)
        for st in students:  # caught up with the teacher's view on joining
            st.wait_for_function("() => new URLSearchParams(location.search).get('head') === '3'", timeout=60_000)
            st.wait_for_selector("#heatmap .xtick text", timeout=90_000)

        # follow: the teacher changes head; every student's view changes within 1 s of the teacher's send
        teacher.locator("body").focus()
        teacher.keyboard.press("ArrowRight")
        teacher.wait_for_function("() => document.querySelector('#head').value === '4'")
        for st in students:
            st.wait_for_function("() => (window.__classFollow.state || {}).head === '4'", timeout=10_000)
            lag = st.evaluate("() => window.__classFollow.at - window.__classFollow.ts")
            assert lag < 1000, f"follow took {lag} ms"
            st.wait_for_function("() => document.querySelector('#head').value === '4'", timeout=30_000)
            assert "layer 2 · head 5" in st.text_content("#heatmap .gtitle")

        # a student detaches, the teacher moves, the student stays; rejoin catches up
        students[2].click("#class-follow")
        teacher.keyboard.press("ArrowRight")
        teacher.wait_for_function("() => document.querySelector('#head').value === '5'")
        students[0].wait_for_function("() => (window.__classFollow.state || {}).head === '5'", timeout=10_000)
        assert "head=4" in students[2].url
        students[2].click("#class-follow")
        students[2].wait_for_function("() => new URLSearchParams(location.search).get('head') === '5'")

        # predictions: ask where "it" (query index 9) looks, three taps, live histogram, reveal
        teacher.wait_for_function("() => document.querySelectorAll('#class-query option').length > 9")
        tokens = teacher.eval_on_selector_all("#class-query option", "os => os.map(o => o.textContent)")
        qi = next(i for i, t in enumerate(tokens) if t.endswith(": it"))
        teacher.select_option("#class-query", str(qi))
        teacher.click("#class-ask")
        picks = [2, 2, 5]
        for st, j in zip(students, picks):
            st.wait_for_selector(".cl-token", timeout=10_000)
            btn = st.locator(f".cl-token[data-index='{j}']")
            box = btn.bounding_box()
            assert box["height"] >= 40 and box["width"] >= 40
            btn.click()
        teacher.wait_for_function("() => document.querySelector('#class-answered').textContent.startsWith('3 answered')",
                                  timeout=10_000)
        counts = teacher.eval_on_selector_all("#class-hist .cl-num", "ns => ns.map(n => Number(n.textContent))")
        assert counts[2] == 2 and counts[5] == 1 and sum(counts) == 3
        teacher.click("#class-reveal")
        for st in students:
            st.wait_for_selector("#class-student-reveal .cl-model", timeout=10_000)
            assert "guessed it" in st.text_content(".cl-question .cl-note")
        note = teacher.text_content("#class-reveal-note")
        assert "of 3 guessed it" in note

        # a change of view (not only of head): every student is in Step by step within 1 s of the send
        teacher.click("header nav a[data-view='steps']")
        for st in students:
            st.wait_for_function("() => (window.__classFollow.state || {}).view === 'steps'", timeout=10_000)
            lag = st.evaluate("() => window.__classFollow.at - window.__classFollow.ts")
            assert lag < 1000, f"follow took {lag} ms"
            st.wait_for_function("() => !document.querySelector('section[data-view=steps]').hidden", timeout=10_000)

        # phone: no page-wide horizontal scroll, token labels readable
        phone = students[0]
        # (a phone emulation widens innerWidth to overflowing content: the layout viewport is clientWidth)
        overflow = phone.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 1, f"page scrolls sideways by {overflow}px"
        size = phone.evaluate("() => parseFloat(getComputedStyle(document.querySelector('.cl-token')).fontSize)")
        assert size >= 14
        print("teacher:", shot(teacher, "class_teacher.png", full_page=True))
        print("phone:", shot(phone, "class_student_phone.png", full_page=True))
        for pg in [teacher, *students]:
            assert pg.errors == [], pg.errors
    finally:
        for c in ctxs:
            c.close()
