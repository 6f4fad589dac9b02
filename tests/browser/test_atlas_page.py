"""The Atlas view in headless Chromium against a live server, with the real MiniLM.

A small job (3 prompts of length 8) run from the page paints a layer × head grid of exactly layers × heads cells,
each in its score's colour; the score the page shows for a hovered and a clicked head is the API's; sorting the
table by a task puts the API's best head first; the Attention link opens that view at the head; the difference
of two seeds is A − B; the CSV, SVG and JSON exports hold the result; a bad request shows the API's 422 detail;
a model name with HTML stays text; the live class's blank grid and ``window.__atlasCurrent``; the URL restores
the view. Screenshots at 1366 × 768 (normal and presentation) go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import json
import re
import time

import httpx
import pytest

from tests.screens import shot

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PROJECTOR = {"width": 1366, "height": 768}
SCORE = re.compile(r"layer (\d+) · head (\d+) · (\w+)(?: A − B)? ([+-]?\d+\.\d+)")


def api_result(base: str, job: str, timeout: float = 180) -> dict:
    """GET /api/atlas/{job} until done; its result."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = httpx.get(f"{base}/api/atlas/{job}", timeout=30).json()
        if r["status"] == "done":
            return r["result"]
        assert r["status"] in ("queued", "running"), r
        time.sleep(0.3)
    raise AssertionError(f"atlas job {job} did not finish")


def api_job(base: str, seed: int, tasks=("previous", "induction", "duplicate", "sink")) -> tuple[str, dict]:
    r = httpx.post(f"{base}/api/atlas", json={"model": "minilm", "tasks": list(tasks), "prompts": 3, "length": 8,
                                              "seed": seed}, timeout=60)
    assert r.status_code == 202, r.text
    job = r.json()["job"]
    return job, api_result(base, job)


def score(result: dict, task: str, layer: int, head: int) -> float:
    return next(h["scores"][task] for h in result["heads"] if h["layer"] == layer and h["head"] == head)


def open_atlas(page, query: str = "") -> None:
    page.set_viewport_size(PROJECTOR)
    page.goto(f"{page.base}/?view=atlas{query}")
    page.wait_for_selector("#at-model option[value=minilm]", state="attached", timeout=60_000)


def wait_grid(page, job: str, task: str | None = None) -> None:
    page.wait_for_function("([j, t]) => window.__atlasCurrent && window.__atlasCurrent.job === j"
                           " && (!t || window.__atlasCurrent.task === t)", arg=[job, task], timeout=180_000)


def cell_xy(page, layer: int, head: int) -> tuple[float, float]:
    """The page coordinates of the centre of cell (layer, head) of the grid canvas."""
    box = page.locator("#at-grid").bounding_box()
    d = page.locator("#at-grid").evaluate("c => ({...c.dataset})")
    cw, ch, left, top = float(d["cell"]), float(d["cellH"]), float(d["left"]), float(d["top"])
    return box["x"] + left + (head + 0.5) * cw, box["y"] + top + (layer + 0.5) * ch


def shown(text: str) -> tuple[int, int, str, float]:
    m = SCORE.search(text)
    assert m, text
    return int(m[1]), int(m[2]), m[3], float(m[4])


def run_from_page(page, seed: int) -> tuple[str, dict]:
    page.fill("#at-prompts", "3")
    page.fill("#at-length", "8")
    page.fill("#at-seed", str(seed))
    page.click("#at-run")
    page.wait_for_function("() => new URLSearchParams(location.search).get('atlas')", timeout=60_000)
    job = page.evaluate("() => new URLSearchParams(location.search).get('atlas')")
    wait_grid(page, job)
    return job, api_result(page.base, job)


def test_run_hover_click_sort_and_link(page):
    open_atlas(page)
    # every value the progress text takes, to see it count prompts
    page.evaluate("""() => { window.progressSeen = [];
        new MutationObserver(() => window.progressSeen.push(document.getElementById('at-progress-text').textContent))
          .observe(document.getElementById('at-progress-text'), {childList: true, characterData: true, subtree: true}); }""")
    job, result = run_from_page(page, seed=101)
    L, H = result["layers"], result["heads_per_layer"]
    assert (L, H) == (6, 12) and len(result["heads"]) == L * H
    seen = page.evaluate("window.progressSeen")
    assert seen and re.fullmatch(r"prompt \d+ / \d+", seen[-1]) and seen[-1].split(" / ")[0] == "prompt " + seen[-1].split(" / ")[1]
    canvas = page.locator("#at-grid")
    assert canvas.get_attribute("data-layers") == str(L) and canvas.get_attribute("data-heads") == str(H)
    # every cell's centre pixel has the colour of its score (the API's): layers × heads cells drawn
    task = page.evaluate("window.__atlasCurrent.task")
    values = [score(result, task, l, h) for l in range(L) for h in range(H)]
    drawn = page.evaluate("""async (values) => {
        const g = await import('/static/js/atlas_grid.js');
        const c = document.getElementById('at-grid'), d = c.dataset, r = c.width / c.clientWidth;
        const ctx = c.getContext('2d'), L = +d.layers, H = +d.heads, cell = +d.cell, cellH = +d.cellH;
        let n = 0;
        for (let l = 0; l < L; l++) for (let h = 0; h < H; h++) {
          const px = ctx.getImageData(Math.floor((+d.left + (h + 0.5) * cell) * r), Math.floor((+d.top + (l + 0.5) * cellH) * r), 1, 1).data;
          const want = g.colorFor(values[l * H + h], 0, 1, false).match(/\\d+/g).map(Number);
          if (px[3] === 255 && want.every((v, k) => Math.abs(v - px[k]) <= 2)) n++;
        }
        return n;
    }""", values)
    assert drawn == L * H
    assert page.evaluate("window.__atlasCurrent.values") == pytest.approx(values, abs=1e-12)

    # hover: the tip and the readout show the API's score
    page.mouse.move(*cell_xy(page, 2, 5))
    page.wait_for_selector("#at-tip:not([hidden])")
    l, h, t, v = shown(page.locator("#at-tip").text_content())
    assert (l, h, t) == (2, 5, task) and abs(v - score(result, task, 2, 5)) < 1e-6
    assert shown(page.locator("#at-readout").text_content())[3] == v
    # click: the head is selected (URL, side panel, table row)
    page.mouse.click(*cell_xy(page, 4, 7))
    page.wait_for_function("() => new URLSearchParams(location.search).get('head') === '7'")
    assert page.evaluate("() => new URLSearchParams(location.search).get('layer')") == "4"
    for t in result["tasks"]:
        dd = page.locator(f"#at-detail dd[data-task={t}]")
        assert abs(float(dd.text_content()) - score(result, t, 4, 7)) < 1e-6
    assert page.locator("#at-table tr.at-selected").get_attribute("data-layer") == "4"

    # sort by each task: the API's best head comes first
    for t in ("induction", "previous"):
        page.click(f"#at-table th[data-key={t}] button")
        first = page.locator("#at-table tbody tr").first
        best = max(result["heads"], key=lambda x: x["scores"][t])
        assert (int(first.get_attribute("data-layer")), int(first.get_attribute("data-head"))) == (best["layer"], best["head"])
        assert page.locator(f"#at-table th[data-key={t}]").get_attribute("aria-sort") == "descending"

    # the Attention link opens that view on the prompt's text at that layer and head
    link = page.locator("#at-detail a[data-link=attention]").first
    href = link.get_attribute("href")
    q = dict(httpx.URL(href).params)
    assert q["view"] == "attention" and q["model"] == "minilm" and (q["layer"], q["head"]) == ("4", "7")
    assert q["text"] in result["texts"][task]
    link.click()
    page.wait_for_function("() => !document.querySelector('section[data-view=attention]').hidden", timeout=30_000)
    page.wait_for_function("() => document.getElementById('layer').value === '4' && document.getElementById('head').value === '7'",
                           timeout=60_000)
    assert page.locator("#text").input_value() == q["text"]
    assert not page.errors, page.errors


def test_compare_two_seeds(page):
    a, ra = api_job(page.base, seed=201)
    b, rb = api_job(page.base, seed=202)
    open_atlas(page, f"&atlas={a}&task=induction")
    wait_grid(page, a, "induction")
    page.select_option("#at-compare", b)
    page.wait_for_function("b => window.__atlasCurrent.compare === b && window.__atlasCurrent.diff", arg=b)
    assert b in page.locator("#at-subtitle").text_content() or rb["model"] in page.locator("#at-subtitle").text_content()
    assert "A − B" in page.locator("#at-scale").text_content() and "symmetric around 0" in page.locator("#at-scale").text_content()
    page.mouse.move(*cell_xy(page, 3, 9))
    l, h, t, v = shown(page.locator("#at-readout").text_content())
    assert (l, h, t) == (3, 9, "induction")
    assert abs(v - (score(ra, "induction", 3, 9) - score(rb, "induction", 3, 9))) < 1e-6
    assert page.evaluate("() => new URLSearchParams(location.search).get('compare')") == b
    # a reload restores the comparison
    page.reload()
    page.wait_for_function("b => window.__atlasCurrent && window.__atlasCurrent.compare === b", arg=b, timeout=60_000)
    assert page.locator("#at-compare").input_value() == b
    shot(page, "atlas_compare_1366.png")
    # an atlas of another shape cannot be compared, and the page says why
    other = httpx.post(f"{page.base}/api/atlas/upload", json=small_atlas("tiny-model"), timeout=30).json()["job"]
    page.goto(f"{page.base}/?view=atlas&atlas={a}&compare={other}")
    page.wait_for_selector("#at-error:not([hidden])", timeout=60_000)
    assert "cannot be compared" in page.locator("#at-error").text_content()
    assert not page.errors, page.errors


def small_atlas(model: str, layers: int = 2, heads: int = 3) -> dict:
    heads_ = [{"layer": l, "head": h, "scores": {"previous": (l * heads + h) / (layers * heads)}}
              for l in range(layers) for h in range(heads)]
    return {"model": model, "tasks": ["previous"], "prompts": 1, "length": 2, "seed": 0, "heads": heads_,
            "inputs": {"previous": [[5, 6, 5, 6]]}, "texts": {"previous": ["<b>bold</b> <img src=x onerror=alert(2)>"]},
            "examples": {"previous": [{"layer": 1, "head": 2, "prompt_index": 0, "score": 0.9}]}}


def test_exports(page):
    job, result = api_job(page.base, seed=301)
    open_atlas(page, f"&atlas={job}&task=sink")
    wait_grid(page, job, "sink")
    L, H, tasks = result["layers"], result["heads_per_layer"], result["tasks"]

    def download(kind: str) -> str:
        with page.expect_download() as d:
            page.click(f"#at-export [data-export={kind}]")
        return open(d.value.path(), encoding="utf-8" if kind != "png" else "latin-1").read()

    csv = download("csv").strip().split("\n")
    assert csv[0] == "layer,head,task,score" and len(csv) - 1 == L * H * len(tasks)
    for row in csv[1:]:
        l, h, t, v = row.split(",")
        assert abs(float(v) - score(result, t, int(l), int(h))) < 1e-9
    svg = download("svg")
    assert svg.startswith("<svg") and svg.count("</title></rect>") == L * H and "colour: score 0–1, linear" in svg
    assert json.loads(download("json")) == result
    assert download("png").startswith("\x89PNG")
    assert not page.errors, page.errors


def test_bad_request_shows_the_api_detail(page):
    thrown = []
    page.on("pageerror", lambda e: thrown.append(str(e)))
    open_atlas(page)
    page.fill("#at-prompts", "0")
    page.fill("#at-length", "8")
    page.click("#at-run")
    page.wait_for_selector("#at-error:not([hidden])")
    want = httpx.post(f"{page.base}/api/atlas", json={"model": "minilm", "tasks": ["previous", "induction", "duplicate", "sink"],
                                                      "prompts": 0, "length": 8, "seed": 0}, timeout=30)
    assert want.status_code == 422
    assert page.locator("#at-error").text_content() == want.json()["detail"]
    page.fill("#at-prompts", "3")
    page.fill("#at-length", "2.5")
    page.click("#at-run")
    page.wait_for_function("() => /length/.test(document.getElementById('at-error').textContent)")
    # the browser logs each 4xx response as a console error; no script error is thrown
    assert not thrown and not [e for e in page.errors if "status of 422" not in e], (thrown, page.errors)
    assert page.locator("#at-run").is_enabled()


def test_html_in_a_model_name_stays_text(page):
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    name = "<img src=x onerror=alert(1)>"
    open_atlas(page)
    page.set_input_files("#at-file", files=[{"name": "atlas.json", "mimeType": "application/json",
                                             "buffer": json.dumps(small_atlas(name)).encode()}])
    page.wait_for_function("n => window.__atlasCurrent && window.__atlasCurrent.model === n", arg=name, timeout=30_000)
    page.click("#at-table tbody tr >> nth=5")
    assert name in page.locator("#at-title").text_content()
    assert page.locator("img").count() == 0 and page.locator("b").count() == 0
    assert name in page.locator("#at-list option:checked").text_content()
    assert "not configured on this server" in page.locator("#at-detail").text_content()
    assert not dialogs and not page.errors, (dialogs, page.errors)


def test_class_question_blank_grid_and_current(page):
    job, result = api_job(page.base, seed=401)
    page.add_init_script("window.atlasEvents = []; window.addEventListener('atlas:current', (e) => window.atlasEvents.push(e.detail));")
    open_atlas(page, f"&atlas={job}&task=duplicate&layer=1&head=2")
    wait_grid(page, job, "duplicate")
    cur = page.evaluate("window.__atlasCurrent")
    assert (cur["model"], cur["layers"], cur["heads"]) == ("minilm", result["layers"], result["heads_per_layer"])
    assert cur["values"] == pytest.approx([score(result, "duplicate", l, h) for l in range(6) for h in range(12)], abs=1e-12)
    assert page.evaluate("window.atlasEvents.length") >= 1
    # the URL restored task and head
    assert page.locator("#at-task-picker input:checked").get_attribute("value") == "duplicate"
    assert page.locator("#at-table tr.at-selected").get_attribute("data-head") == "2"
    page.evaluate("document.body.dataset.classQuestion = 'grid'")
    page.wait_for_selector("#at-grid[data-blank='1']", state="attached")
    assert page.locator("#at-table-panel").is_hidden() and page.locator("#at-detail-panel").is_hidden()
    page.mouse.move(*cell_xy(page, 0, 0))
    assert page.locator("#at-tip").text_content() == "layer 0 · head 0"  # no score while it is a question
    # blank: every cell the same neutral colour
    colours = page.evaluate("""() => { const c = document.getElementById('at-grid'), d = c.dataset, ctx = c.getContext('2d');
        const r = c.width / c.clientWidth, out = new Set();
        for (let l = 0; l < +d.layers; l++) for (let h = 0; h < +d.heads; h++)
          out.add(Array.from(ctx.getImageData(Math.floor((+d.left + (h + .5) * d.cell) * r), Math.floor((+d.top + (l + .5) * d.cellH) * r), 1, 1).data).join());
        return [...out]; }""")
    assert len(colours) == 1
    page.evaluate("delete document.body.dataset.classQuestion")
    page.wait_for_selector("#at-grid[data-blank='0']", state="attached")
    assert page.locator("#at-table-panel").is_visible()
    assert not page.errors, page.errors


def test_screenshots_above_the_fold(page):
    job, _ = api_job(page.base, seed=501)
    open_atlas(page, f"&atlas={job}&task=previous&layer=0&head=2")
    wait_grid(page, job, "previous")
    page.mouse.move(*cell_xy(page, 3, 4))
    for mode in ("normal", "present"):
        if mode == "present":
            page.keyboard.press("p")
            page.wait_for_function("() => document.body.classList.contains('presenting') && +document.getElementById('at-grid').dataset.cell >= 22")
            page.mouse.move(*cell_xy(page, 3, 4))
        box = page.locator("#at-grid").bounding_box()
        assert box["y"] + box["height"] <= PROJECTOR["height"], (mode, box)
        assert float(page.locator("#at-grid").get_attribute("data-cell")) >= (22 if mode == "present" else 14)
        shot(page, f"atlas_{mode}_1366.png")
    assert not page.errors, page.errors


def test_atlas_grid_module(page):
    """static/js/atlas_grid.js alone (the notebook bundles it): scales, colours, hit-testing, the SVG."""
    page.goto(f"{page.base}/?view=atlas")
    r = page.evaluate("""async () => {
        const g = await import('/static/js/atlas_grid.js');
        const c = document.createElement('canvas');
        document.body.append(c);
        const grid = {values: [0, 0.25, 0.5, 0.75, 1, NaN], layers: 2, heads: 3, lo: 0, hi: 1, diverging: false,
                      selected: [1, 2], blank: false, cell: 20, font: 12};
        const L = g.drawGrid(c, grid), box = c.getBoundingClientRect(), hits = [];
        for (let l = 0; l < 2; l++) for (let h = 0; h < 3; h++)
          hits.push(g.cellAt(c, grid, box.left + L.left + (h + .5) * L.cellW, box.top + L.top + (l + .5) * L.cellH));
        return {hits, outside: g.cellAt(c, grid, box.left + 1, box.top + 1),
          lo: g.colorFor(0, 0, 1, false), hi: g.colorFor(1, 0, 1, false), clamp: g.colorFor(7, 0, 1, false),
          centre: g.colorFor(0, -2, 2, true), neg: g.colorFor(-2, -2, 2, true), pos: g.colorFor(2, -2, 2, true),
          entropy: g.scaleFor('entropy', [0.5, 2.5, NaN]), sink: g.scaleFor('sink', [3]), diff: g.scaleFor('sink', [-0.1, 0.3], {diff: true}),
          text: g.scaleText('induction', g.scaleFor('induction', [])), etext: g.scaleText('entropy', {lo: 0, hi: 2.5, diverging: false}),
          svg: g.gridSvg({...grid, task: 'sink'}, {title: '<b>&</b>'}), dataset: {...c.dataset}};
    }""")
    assert r["hits"] == [[l, h] for l in range(2) for h in range(3)] and r["outside"] is None
    assert (r["lo"], r["hi"], r["clamp"]) == ("rgb(68,1,84)", "rgb(253,231,37)", "rgb(253,231,37)")
    assert r["centre"] == "rgb(247,247,247)" and r["neg"] == "rgb(5,48,97)" and r["pos"] == "rgb(103,0,31)"
    assert r["entropy"] == {"lo": 0, "hi": 2.5, "diverging": False} and r["sink"] == {"lo": 0, "hi": 1, "diverging": False}
    assert r["diff"] == {"lo": -0.3, "hi": 0.3, "diverging": True}
    assert r["text"] == "colour: score 0–1, linear" and r["etext"].startswith("colour: entropy 0–2.50 nats")
    assert r["svg"].count("</title></rect>") == 6 and "&lt;b&gt;&amp;&lt;/b&gt;" in r["svg"] and "<b>" not in r["svg"]
    assert "layer 1 · head 1 · sink 1.000000" in r["svg"] and "n/a" in r["svg"]
    assert (r["dataset"]["layers"], r["dataset"]["heads"], r["dataset"]["cells"]) == ("2", "3", "6")
    assert not page.errors, page.errors
