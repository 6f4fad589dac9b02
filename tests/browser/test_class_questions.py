"""Class questions that teach, in real Chromium: while "where does token q look?" is open, row q of the heatmap
and the asked head's thumbnails are hidden on the projector (the teacher's page) and on every student's phone,
until Reveal; Ask asks about the sentence in sight, or says why it cannot; the teacher's class panel is a compact
badge plus a side panel (legend, labelled numbers) that leave the figure above the fold at 1366×768."""

from __future__ import annotations

import re

import numpy as np
import pytest

from tests.screens import shot, watched_page

pytestmark = [pytest.mark.browser, pytest.mark.slow]
TEXT = "The animal didn't cross the street because it was tired"
URL = "/?view=attention&model=minilm&text=The+animal+didn%27t+cross+the+street+because+it+was+tired&layer=1&head=3"
LAPTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
HEAD = 3  # the URL's head (0-based), layer 1

ATTRS = "() => ({...document.body.dataset})"
Z = "() => document.getElementById('heatmap').data[0].z"
THUMB = f"() => document.getElementById('heads').data[{HEAD}].z"


def start_class(teacher):
    teacher.click("#class-start")
    teacher.wait_for_function("() => document.querySelector('#class-status')?.textContent === 'live'")


def blank(row) -> bool:
    return all(v is None or v != v for v in row)  # null (or NaN) in every cell


def overlap(a, b) -> bool:
    return not (a["x"] + a["width"] <= b["x"] or b["x"] + b["width"] <= a["x"]
                or a["y"] + a["height"] <= b["y"] or b["y"] + b["height"] <= a["y"])


def bars(page, box: str) -> list[dict]:
    """The rows of a bar chart: token, the label's text and the numbers the row carries."""
    return page.eval_on_selector_all(f"{box} .cl-row", """rs => rs.map(r => ({tok: r.querySelector('.cl-tok').textContent,
        label: r.querySelector('.cl-lab').textContent, count: +r.dataset.count,
        weight: r.dataset.weight === undefined ? null : +r.dataset.weight}))""")


def check_labels(rows, tokens, counts, weights=None):
    assert [r["tok"] for r in rows] == tokens
    for r, c, i in zip(rows, counts, range(len(rows))):
        assert r["count"] == c
        want = f"{c} student{'' if c == 1 else 's'}"
        if weights is None:
            assert r["label"] == want, r
        else:
            m = re.fullmatch(re.escape(want) + r" · model (\d\.\d\d)", r["label"])
            assert m, r
            assert abs(float(m.group(1)) - weights[i]) <= 0.005 + 1e-6, (r, weights[i])
            assert r["weight"] == pytest.approx(weights[i], abs=1e-5)


def test_a_token_question_hides_its_answer_until_reveal(browser, live_server, client):
    body = client.post("/api/attention", json={"model": "minilm", "text": TEXT, "layer": 1}).json()
    weights = np.array(body["weights"][HEAD])
    tokens = body["key_tokens"]
    qi = body["query_tokens"].index("it")
    ctxs = []
    try:
        ctx, teacher = watched_page(browser, LAPTOP)
        ctxs.append(ctx)
        teacher.goto(live_server + URL)
        teacher.wait_for_function("() => document.querySelectorAll('#heatmap .xtick text').length > 5", timeout=90_000)
        start_class(teacher)
        join_url = teacher.text_content("#class-url")
        # the badge is one compact row: the figure stays above the fold, and the two do not overlap
        badge, fig = teacher.locator("#class-panel").bounding_box(), teacher.locator("#heatmap").bounding_box()
        assert badge["height"] <= 80, badge
        assert fig["y"] < LAPTOP["height"], fig
        assert not overlap(badge, fig)
        assert teacher.is_hidden("#class-side") and teacher.is_hidden("img.cl-qr")  # QR on demand
        teacher.click("#class-qr-open")
        teacher.wait_for_function("() => document.querySelector('img.cl-qr').naturalWidth > 50")
        assert teacher.locator("img.cl-qr").bounding_box()["width"] >= 200
        teacher.click("#class-qr-close")
        assert teacher.is_hidden("img.cl-qr")

        ctx, student = watched_page(browser, PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
        ctxs.append(ctx)
        student.goto(join_url)
        student.wait_for_function("() => document.querySelector('#class-status')?.textContent === 'following'",
                                  timeout=60_000)
        student.wait_for_function("() => new URLSearchParams(location.search).get('head') === '3'", timeout=60_000)
        teacher.wait_for_function("() => document.querySelector('#class-members').textContent === '1'")
        for pg in (teacher, student):
            pg.wait_for_function(f"() => document.getElementById('heads')?.data?.length === 12"
                                 f" && document.getElementById('heatmap').data[0].z.length === {len(tokens)}",
                                 timeout=90_000)
            assert not blank(pg.evaluate(Z)[qi]) and not blank(pg.evaluate(THUMB)[0])

        # ask where "it" looks: on both pages, row qi and head 4's thumbnail are blank; the other rows are the API's
        teacher.wait_for_function(f"() => document.querySelectorAll('#class-query option').length === {len(tokens)}")
        teacher.select_option("#class-query", str(qi))
        teacher.click("#class-ask")
        for pg in (teacher, student):
            pg.wait_for_function(f"() => document.body.dataset.classQuestion === 'token'"
                                 f" && document.body.dataset.classQuery === '{qi}'", timeout=10_000)
            assert {k: v for k, v in pg.evaluate(ATTRS).items() if k.startswith("class")} == \
                {"classQuestion": "token", "classQuery": str(qi), "classLayer": "1", "classHead": str(HEAD)}
            pg.wait_for_function(f"() => document.getElementById('heatmap').data[0].z[{qi}][0] === null")
            z = pg.evaluate(Z)
            assert blank(z[qi])
            others = [i for i in range(len(z)) if i != qi]
            np.testing.assert_allclose(np.array([z[i] for i in others], dtype=float), weights[others], atol=2e-3)
            notes = pg.evaluate("() => document.getElementById('heatmap').layout.annotations.map(a => a.text)")
            assert "hidden until Reveal" in notes
            pg.wait_for_function(f"() => document.getElementById('heads').data[{HEAD}].z.flat().every(v => v === null)")
            assert not blank(pg.evaluate("() => document.getElementById('heads').data[2].z")[0])  # the others stay

        # the side panel opens over the right edge, not over the heatmap; its legend names both series
        teacher.wait_for_selector("#class-side", state="visible")
        side, fig = teacher.locator("#class-side").bounding_box(), teacher.locator("#heatmap").bounding_box()
        assert fig["y"] < LAPTOP["height"] and not overlap(side, fig) and not overlap(badge, fig)
        assert side["x"] + side["width"] == pytest.approx(LAPTOP["width"], abs=1)
        assert not overlap(side, teacher.locator("#class-reveal").bounding_box())  # the controls stay in reach
        legend = teacher.text_content("#class-side .cl-legend")
        assert "Class answers" in legend and "Model: attention weight" in legend
        check_labels(bars(teacher, "#class-hist"), tokens, [0] * len(tokens))

        student.wait_for_selector(".cl-token", timeout=10_000)
        student.click(".cl-token[data-index='2']")
        teacher.wait_for_function("() => document.querySelector('#class-answered').textContent.startsWith('1 answered')",
                                  timeout=10_000)
        tally = teacher.evaluate("() => JSON.parse(document.querySelector('#class-hist').dataset.counts)")
        assert tally == [1 if j == 2 else 0 for j in range(len(tokens))]
        check_labels(bars(teacher, "#class-hist"), tokens, tally)
        print("teacher during:", shot(teacher, "class_question_teacher_open.png"))
        student.evaluate("() => document.getElementById('heatmap').scrollIntoView()")
        print("student during:", shot(student, "class_question_student_open.png"))

        # the Model view hides the asked layer · head's thumbnail too, on both pages
        teacher.click("header nav a[data-view='model']")
        for pg in (teacher, student):
            pg.wait_for_function("() => !document.querySelector('section[data-view=model]').hidden", timeout=10_000)
            pg.wait_for_function("() => document.querySelector('#mv-fig').dataset.drawn === '72'", timeout=90_000)
            hidden = pg.eval_on_selector_all("#mv-fig [data-class-hidden]",
                                             "cs => cs.map(c => [c.dataset.layer, c.dataset.head, c.isConnected])")
            assert hidden == [["1", str(HEAD), True]]
            assert pg.locator("#mv-fig canvas").count() == 72
        teacher.click("header nav a[data-view='attention']")
        for pg in (teacher, student):
            pg.wait_for_function(f"() => !document.querySelector('section[data-view=attention]').hidden"
                                 f" && document.getElementById('heatmap').data[0].z[{qi}][0] === null", timeout=30_000)

        # reveal: row qi and the thumbnail come back (the API's weights), the attributes go, numbers are labelled
        teacher.click("#class-reveal")
        student.wait_for_selector("#class-student-reveal .cl-model", timeout=30_000)
        teacher.wait_for_selector("#class-hist .cl-w", timeout=10_000)
        for pg in (teacher, student):
            pg.wait_for_function("() => document.body.dataset.classQuestion === undefined")
            assert not any(k.startswith("class") for k in pg.evaluate(ATTRS)), pg.evaluate(ATTRS)
            pg.wait_for_function(f"() => document.getElementById('heatmap').data[0].z[{qi}][0] !== null")
            np.testing.assert_allclose(np.array(pg.evaluate(Z), dtype=float), weights, atol=2e-3)
            pg.wait_for_function(f"() => document.getElementById('heads').data[{HEAD}].z.flat().every(v => v !== null)")
            assert "hidden until Reveal" not in pg.evaluate(
                "() => (document.getElementById('heatmap').layout.annotations || []).map(a => a.text)")
        row = weights[qi]
        for pg, box in ((teacher, "#class-hist"), (student, "#class-student-reveal")):
            check_labels(bars(pg, box), tokens, tally, row.tolist())
            legend = pg.text_content(f"{box} .cl-legend")
            assert "Class answers" in legend and "Model: attention weight (layer 2 · head 4)" in legend
        top = int(np.argmax(row))
        assert teacher.text_content("#class-reveal-note") == f"The model looks most at “{tokens[top]}”: 0 of 1 guessed it."
        assert teacher.locator("#heatmap").bounding_box()["y"] < LAPTOP["height"]
        print("teacher after:", shot(teacher, "class_question_teacher_revealed.png"))
        student.evaluate("() => document.querySelector('#class-question .cl-note').scrollIntoView()")
        print("student after:", shot(student, "class_question_student_revealed.png"))

        # reset closes the side panel; end class takes the badge away
        teacher.click("#class-reset")
        teacher.wait_for_selector("#class-side", state="hidden")
        student.wait_for_selector("#class-question", state="hidden", timeout=10_000)
        teacher.click("#class-end")
        assert teacher.locator("#class-panel").count() == 0 and teacher.is_visible("#class-start")
        for pg in (teacher, student):
            assert pg.errors == [], pg.errors
    finally:
        for c in ctxs:
            c.close()


def test_ask_uses_the_sentence_in_sight_or_says_why_not(browser, live_server):
    ctx, teacher = watched_page(browser, LAPTOP)
    try:
        # a fresh page, nothing submitted: Ask asks about the Attention view's default sentence
        teacher.goto(live_server + "/")
        teacher.wait_for_function("() => document.querySelectorAll('#heatmap .xtick text').length > 5", timeout=90_000)
        assert "text=" not in teacher.url
        start_class(teacher)
        teacher.click("#class-ask")
        teacher.wait_for_function("() => document.body.dataset.classQuestion === 'token'", timeout=20_000)
        answered = teacher.text_content("#class-answered")  # "0 answered: where…" once the first tally is in
        assert re.fullmatch(r"(Where|0 answered: where) does “\[CLS\]” look\?", answered), answered
        default = teacher.input_value("#text")
        assert teacher.evaluate("() => new URLSearchParams(location.search).get('text')") == default
        assert teacher.is_hidden("#class-message")
        teacher.wait_for_function("() => document.getElementById('heatmap').data[0].z[0][0] === null")
        teacher.click("#class-reset")
        teacher.wait_for_function("() => document.body.dataset.classQuestion === undefined")

        # a view with no sentence: the badge says why, and what to do
        teacher.click("header nav a[data-view='scale']")
        teacher.wait_for_function("() => !document.querySelector('section[data-view=scale]').hidden")
        assert "text=" in teacher.url  # the URL keeps the sentence, but this view does not show one
        teacher.click("#class-ask")
        teacher.wait_for_selector("#class-message", state="visible")
        message = teacher.text_content("#class-message")
        assert "shows no sentence to ask about" in message and "open the Attention view" in message, message
        assert "classQuestion" not in teacher.evaluate(ATTRS)

        # a sentence the model refuses: the model's reason, and what to do
        long = "+".join(["word"] * 700)
        teacher.goto(f"{live_server}/?view=attention&model=minilm&text={long}")
        teacher.wait_for_selector("#error", state="visible", timeout=60_000)
        teacher.click("#class-ask")
        teacher.wait_for_function("() => document.querySelector('#class-message').textContent.includes('could not run')",
                                  timeout=20_000)
        message = teacher.text_content("#class-message")
        assert "512 tokens" in message and "Change the sentence" in message, message
        assert "classQuestion" not in teacher.evaluate(ATTRS)
        teacher.click("#class-end")
        errors = [e for e in teacher.errors if "422" not in e]  # the refused sentence's request is logged
        assert errors == [], errors
    finally:
        ctx.close()
