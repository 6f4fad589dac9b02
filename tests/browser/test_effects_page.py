"""The Effects view (issue 26) in real Chromium on SmolLM2: activation patching as a layers × heads grid, the
lesson "Attention is not explanation" (weight, norm, patching effect, knockout), and the live class's "which head
matters most?" grid question. Every number the page shows is checked against the same API call made here."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlencode, urlparse

import httpx
import numpy as np
import pytest

from tests.browser.test_generate_page import wait_loaded
from tests.browser.test_live_class_grid import CLOSED, OPEN, PHONE, tap_cell
from tests.screens import shot, watched_page

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(600)]
DESKTOP = {"width": 1366, "height": 768}
MODEL = "smollm2"


def post(base: str, path: str, body: dict, status: int = 200) -> dict:
    r = httpx.post(base + path, json=body, timeout=300)
    assert r.status_code == status, r.text[:500]
    return r.json()


def presets(base: str) -> dict:
    return httpx.get(base + "/api/patch/presets", timeout=60).json()["presets"]


def patch_body(p: dict) -> dict:
    return {"model": MODEL, **{k: p[k] for k in ("clean", "corrupt", "target", "foil", "metric", "mode")}}


def argmax(effects: list[list[float | None]]) -> tuple[int, int]:
    cells = [(v, l, h) for l, row in enumerate(effects) for h, v in enumerate(row) if v is not None]
    _, l, h = max(cells)
    return l, h


def index(tokens: list[str], word: str) -> int:
    return next(i for i, t in enumerate(tokens) if t.strip().lower() == word)


def page_errors(page) -> list[str]:
    """Script errors and console errors, less the browser's own line for each 422 answer the test asked for."""
    return [e for e in page.errors if "status of 422" not in e]


def cell_position(page, div: str, x: int, y: int) -> list[float]:
    """Page coordinates of the centre of heatmap cell (column x, row y) of the Plotly figure `div`."""
    return page.evaluate("""([id, x, y]) => {
        const el = document.getElementById(id), xa = el._fullLayout.xaxis, ya = el._fullLayout.yaxis;
        const box = el.getBoundingClientRect();
        return [box.left + xa._offset + xa.l2p(x), box.top + ya._offset + ya.l2p(y)];
    }""", [div, x, y])


def click_cell(page, div: str, layer: int, col: int) -> None:
    """Click a cell of the grid `div` until it is the selected one (a click while the figure redraws after a
    layout change, a scrollbar appearing, can miss)."""
    want = f"{layer},{col}"
    for _ in range(3):
        page.mouse.click(*cell_position(page, div, col, layer))
        try:
            page.wait_for_function("([d, s]) => document.getElementById(d).dataset.selected === s", arg=[div, want],
                                   timeout=5_000)
            return
        except Exception:  # noqa: BLE001 - try again; the last try's state is asserted below
            page.wait_for_timeout(300)
    assert page.get_attribute(f"#{div}", "data-selected") == want


def open_effects(page, **query) -> None:
    wait_loaded(page.base, MODEL)
    page.set_viewport_size(DESKTOP)
    page.goto(f"{page.base}/?{urlencode({'view': 'effects', **query})}")


def test_ioi_preset_runs_and_the_clicked_head_is_the_apis(page):
    open_effects(page)
    page.wait_for_selector("#eff-presets .chip[data-preset=ioi]")
    ioi = presets(page.base)["ioi"]
    with page.expect_response(lambda r: r.url.endswith("/api/patch"), timeout=300_000) as resp:
        page.click("#eff-presets .chip[data-preset=ioi]")
        page.wait_for_function("() => document.getElementById('eff-status').textContent.startsWith('running')")
        assert page.text_content("#eff-status") == "running: 270 heads in 10 batched passes…"
    shown = resp.value.json()
    assert resp.value.request.post_data_json == patch_body(ioi)
    page.wait_for_function("() => document.getElementById('eff-grid').dataset.cells === '270'", timeout=60_000)
    assert page.text_content("#eff-status") == \
        f"done: {shown['forwards']} forward passes ({shown['batch']} patched runs each) in {shown['seconds']:.2f} s"
    api = post(page.base, "/api/patch", patch_body(ioi))
    np.testing.assert_allclose(np.array(shown["effects"], dtype=float), np.array(api["effects"], dtype=float), atol=1e-6)

    z = page.evaluate("() => document.getElementById('eff-grid').data[0].z")
    assert len(z) == 30 and all(len(row) == 9 for row in z)
    np.testing.assert_allclose(np.array(z, dtype=float), np.array(api["effects"], dtype=float), atol=1e-6)
    scale = page.text_content("#eff-scale")
    assert scale.startswith("colour: share of the clean−corrupt difference restored, 1 = fully") and "centred on 0" in scale
    assert "grey: undefined" in scale

    # strips: the differing tokens marked; answer vs foil with the metric's two values
    for strip in page.query_selector_all("#eff-strips .eff-strip"):
        marked = [int(s.get_attribute("data-pos")) for s in strip.query_selector_all(".eff-diff")]
        assert marked == api["differing"] == [9]
    pair = page.text_content("#eff-pair")
    assert f"clean {api['clean_value']:.3f}" in pair and f"corrupt {api['corrupt_value']:.3f}" in pair
    assert "‘ Mary’" in pair and "foil ‘ John’" in pair

    # the top heads: the five most effective, the first the argmax
    l, h = argmax(api["effects"])
    top = page.locator("#eff-top-list li")
    assert top.count() == 5 and top.first.text_content().startswith(f"layer {l} · head {h}: +")

    # click a head that is not the top one, then the top one: the readout is the API's effect, to 1e-6
    for (cl, ch) in ((3, 5), (l, h)):
        click_cell(page, "eff-grid", cl, ch)
        assert float(page.get_attribute("#eff-head", "data-effect")) == pytest.approx(api["effects"][cl][ch], abs=1e-6)
        assert page.text_content("#eff-head .eff-head-line").startswith(f"layer {cl} · head {ch}: effect")
    q = parse_qs(urlparse(page.url).query)
    assert q["layer"] == [str(l)] and q["head"] == [str(h)] and q["clean"] == [ioi["clean"]]
    page.mouse.move(5, 5)
    page.mouse.move(*cell_position(page, "eff-grid", h, l), steps=3)  # the hover says the same number
    page.wait_for_selector("#eff-grid .hovertext")
    assert f"effect {api['effects'][l][h]:.4f}" in page.text_content("#eff-grid .hovertext")
    box = page.evaluate("() => document.getElementById('eff-grid').getBoundingClientRect().toJSON()")
    assert box["top"] < 768 / 2 and box["bottom"] <= 768, box  # the whole grid above the fold at 1366 × 768
    print("patching grid:", shot(page, "effects_patching.png"))

    # CSV: layer,head,effect for every head
    with page.expect_download() as dl:
        page.click("#eff-grid + .export-bar button[data-export=csv]")
    rows = open(dl.value.path(), encoding="utf-8").read().strip().split("\n")
    assert rows[0] == "layer,head,effect" and len(rows) == 271
    got = {(int(a), int(b)): float(e) for a, b, e in (r.split(",") for r in rows[1:])}
    assert got[(l, h)] == pytest.approx(api["effects"][l][h], abs=1e-6)

    # presentation mode: larger type, the grid redrawn (the selected head still outlined)
    page.keyboard.press("p")
    page.wait_for_function("() => document.body.classList.contains('presenting') && "
                           "document.getElementById('eff-grid')._fullLayout.font.size > 12")
    page.wait_for_timeout(300)
    assert page.get_attribute("#eff-grid", "data-selected") == f"{l},{h}"
    page.wait_for_function("() => document.body.dataset.layout !== 'pending'")
    box = page.evaluate("() => document.getElementById('eff-grid').getBoundingClientRect().toJSON()")
    assert box["top"] < 768 / 2 and box["bottom"] <= 768, box
    print("patching, presenting:", shot(page, "effects_patching_presenting.png"))
    page.keyboard.press("p")
    page.wait_for_function("() => !document.body.classList.contains('presenting')")

    # the Attention link opens the clean prompt at that layer and head
    href = page.get_attribute("#eff-attn-link", "href")
    link = parse_qs(urlparse(href).query)
    assert link == {"view": ["attention"], "model": [MODEL], "text": [ioi["clean"]], "layer": [str(l)], "head": [str(h)]}
    page.click("#eff-attn-link")
    page.wait_for_function("([l, h]) => document.getElementById('layer')?.value === l && "
                           "document.getElementById('head')?.value === h && "
                           "document.querySelector('#heatmap .gtitle')?.textContent"
                           ".endsWith(`layer ${+l + 1} · head ${+h + 1}`)",
                           arg=[str(l), str(h)], timeout=90_000)
    assert page.input_value("#text") == ioi["clean"]
    assert page_errors(page) == []


def test_residual_mode_the_reason_and_the_422_of_mismatched_prompts(page):
    open_effects(page)
    page.wait_for_selector("#eff-presets .chip")
    # the residual stream: layers × positions, the tokens as x labels, the differing position framed
    body = {"model": MODEL, "clean": "The cat sat on the mat", "corrupt": "The dog sat on the mat",
            "metric": "prob", "mode": "residual"}
    page.fill("#eff-clean", body["clean"])
    page.fill("#eff-corrupt", body["corrupt"])
    page.fill("#eff-answer-in", "")  # the IOI preset's answer and foil fill the form on a first visit
    page.fill("#eff-foil-in", "")
    page.select_option("#eff-metric", "prob")
    page.select_option("#eff-mode", "residual")
    page.click("#eff-run")
    page.wait_for_function("() => document.getElementById('eff-grid').dataset.mode === 'residual'", timeout=300_000)
    api = post(page.base, "/api/patch", body)
    assert page.get_attribute("#eff-grid", "data-cells") == str(30 * len(api["columns"]))
    fig = page.evaluate("() => { const el = document.getElementById('eff-grid');"
                        " return {z: el.data[0].z, ticks: el.layout.xaxis.ticktext, shapes: el.layout.shapes}; }")
    np.testing.assert_allclose(np.array(fig["z"], dtype=float), np.array(api["effects"], dtype=float), atol=1e-6)
    assert api["differing"] == [1] and "cat" in fig["ticks"][1] and "color" in fig["ticks"][1]
    assert fig["ticks"][0] == "The" and [(s["x0"], s["x1"]) for s in fig["shapes"]] == [(0.5, 1.5)]
    assert "orange frame: where the prompts differ" in page.text_content("#eff-scale")
    assert page.text_content("#eff-top-list li").startswith("layer ")
    assert "position" in page.text_content("#eff-top-list li")
    print("residual:", shot(page, "effects_residual.png"))

    page.select_option("#eff-metric", "logit_diff")
    page.select_option("#eff-mode", "heads")
    page.fill("#eff-clean", "The cat sat on the mat")
    page.fill("#eff-corrupt", "The cat sat on the mat")
    page.click("#eff-run")
    page.wait_for_function("() => document.getElementById('eff-grid').dataset.cells === '270'", timeout=300_000)
    api = post(page.base, "/api/patch", {"model": MODEL, "clean": "The cat sat on the mat", "corrupt": "The cat sat on the mat",
                                         "metric": "logit_diff", "mode": "heads"})
    assert api["effects"] is None
    assert page.is_visible("#eff-reason") and page.text_content("#eff-reason") == f"No effects: {api['reason']}."

    page.fill("#eff-corrupt", "The cat sat on the red mat")
    page.click("#eff-run")
    page.wait_for_selector("#eff-error:not([hidden])", timeout=60_000)
    detail = post(page.base, "/api/patch", {"model": MODEL, "clean": "The cat sat on the mat",
                                            "corrupt": "The cat sat on the red mat"}, status=422)["detail"]
    assert page.text_content("#eff-error") == detail
    assert "clean is 6 tokens" in detail and "corrupt is 7" in detail
    assert page.get_attribute("#eff-grid", "data-cells") == ""  # the figure is cleared
    assert page.text_content("#eff-top-list") == "" and page.evaluate("window.__effectsCurrent") is None
    assert page_errors(page) == []


def test_the_lesson_shows_the_apis_numbers_at_every_step(page):
    base = page.base
    animal = presets(base)["animal"]
    open_effects(page, tab="lesson", step=1)
    page.wait_for_function("() => document.getElementById('eff-l-readout').dataset.row", timeout=300_000)
    patched = post(base, "/api/patch", patch_body(animal))
    l, h = argmax(patched["effects"])
    assert (page.input_value("#eff-l-layer"), page.input_value("#eff-l-head")) == (str(l), str(h))
    assert f"layer {l} · head {h}: the most effective head" in page.text_content("#eff-l-why")
    q = parse_qs(urlparse(page.url).query)  # the head found goes into the URL (a class follows it without patching)
    assert (q["tab"], q["step"], q["layer"], q["head"]) == (["lesson"], ["1"], [str(l)], [str(h)])
    assert page.evaluate("window.__effectsCurrent") is None  # no heads grid in sight at step 1

    # 1: the weight — the row of "it" in that head, over the tokens it can see
    att = post(base, "/api/attention", {"model": MODEL, "text": animal["clean"], "layer": l})
    i = index(att["query_tokens"], "it")
    row = np.array(att["weights"][h][i][: i + 1])
    np.testing.assert_allclose(json.loads(page.get_attribute("#eff-l-readout", "data-row")), row, atol=1e-3)
    np.testing.assert_allclose(page.evaluate("() => document.getElementById('eff-l-fig').data[0].y"), row, atol=1e-3)
    a = index(att["key_tokens"], "animal")
    assert f"‘animal’ {row[a]:.3f}" in page.text_content("#eff-l-readout")
    assert "where the head looks, not what it moves" in page.text_content("#eff-l-not")
    print("lesson 1:", shot(page, "effects_lesson_1.png"))

    # 2: the norm beside the weight
    page.click("#eff-next")
    page.wait_for_function("() => document.getElementById('eff-l-readout').dataset.norm", timeout=120_000)
    assert parse_qs(urlparse(page.url).query)["step"] == ["2"]
    norms = post(base, "/api/norms", {"model": MODEL, "text": animal["clean"], "layer": l})
    np.testing.assert_allclose(json.loads(page.get_attribute("#eff-l-readout", "data-norm")),
                               np.array(norms["norms_normalised"][h][i][: i + 1]), atol=1e-3)
    np.testing.assert_allclose(json.loads(page.get_attribute("#eff-l-readout", "data-row")),
                               np.array(norms["weights"][h][i][: i + 1]), atol=1e-3)
    assert "not in the norm" in page.text_content("#eff-l-not")
    print("lesson 2:", shot(page, "effects_lesson_2.png"))

    # 3: the patching grid of the animal pair, that head outlined
    page.keyboard.press("ArrowRight")
    page.wait_for_function("s => document.getElementById('eff-l-fig').dataset.selected === s", arg=f"{l},{h}", timeout=120_000)
    assert float(page.get_attribute("#eff-l-readout", "data-effect")) == pytest.approx(patched["effects"][l][h], abs=1e-6)
    assert page.get_attribute("#eff-l-fig", "data-cells") == "270"
    assert page.locator("#eff-l-top-list li").first.text_content().startswith(f"layer {l} · head {h}")
    assert "for this pair of prompts only" in page.text_content("#eff-l-shows")
    cur = page.evaluate("window.__effectsCurrent")  # the class's "which head matters most?" asks over this grid
    assert (cur["task"], cur["layers"], cur["heads"]) == ("patching", 30, 9)
    np.testing.assert_allclose(cur["values"], [0 if v is None else v for r in patched["effects"] for v in r], atol=1e-6)
    print("lesson 3:", shot(page, "effects_lesson_3.png"))

    # 4: the knockout of "it" -> "animal" in every layer: the next token before and after
    page.click("#eff-next")
    page.wait_for_function("() => document.getElementById('eff-l-readout').dataset.before", timeout=120_000)
    ko = post(base, "/api/knockout", {"model": MODEL, "text": animal["clean"],
                                      "edges": {"from_passage": [i, i + 1], "to_passage": [a, a + 1]}})
    out = page.locator("#eff-l-readout")
    assert float(out.get_attribute("data-before")) == pytest.approx(ko["top_token"]["prob_before"], abs=1e-9)
    assert float(out.get_attribute("data-after")) == pytest.approx(ko["top_token"]["prob_after"], abs=1e-9)
    assert f"p {ko['top_token']['prob_before']:.4f} before → {ko['top_token']['prob_after']:.4f} after" in out.text_content()
    bars = page.evaluate("() => document.getElementById('eff-l-fig').data.map((t) => t.x)")
    np.testing.assert_allclose(bars[0], [t["prob"] for t in ko["before"]], atol=1e-9)
    np.testing.assert_allclose(bars[1], [t["prob"] for t in ko["after"]], atol=1e-9)
    assert "the other weights renormalise" in page.text_content("#eff-l-not")
    assert page.is_disabled("#eff-next")
    print("lesson 4:", shot(page, "effects_lesson_4.png"))

    # presentation mode: larger type, the figure redrawn to its new size; back to step 3 keeps the head
    width = page.evaluate("() => document.getElementById('eff-l-fig').getBoundingClientRect().width")
    page.keyboard.press("p")
    page.wait_for_function("() => document.body.classList.contains('presenting')")
    page.click("#eff-back")
    page.wait_for_function("() => document.getElementById('eff-l-fig').dataset.cells === '270'")
    page.wait_for_function("w => Math.abs(document.getElementById('eff-l-fig').querySelector('.main-svg')"
                           ".getBoundingClientRect().width - document.getElementById('eff-l-fig')"
                           ".getBoundingClientRect().width) < 2 && document.getElementById('eff-l-fig')"
                           ".getBoundingClientRect().width !== w", arg=width)
    assert page.evaluate("() => document.getElementById('eff-l-fig')._fullLayout.font.size") > 12
    page.wait_for_function("() => document.body.dataset.layout !== 'pending'")
    page.wait_for_timeout(300)
    box = page.evaluate("() => document.getElementById('eff-l-fig').getBoundingClientRect().toJSON()")
    assert box["top"] < 768 / 2 and box["bottom"] <= 768, box  # the grid in sight at 1366 × 768
    print("lesson 3, presenting:", shot(page, "effects_lesson_3_presenting.png"))
    assert page_errors(page) == []


def test_which_head_matters_most_in_the_live_class(browser, live_server):
    wait_loaded(live_server, MODEL)
    ioi = presets(live_server)["ioi"]
    api = post(live_server, "/api/patch", patch_body(ioi))
    l, h = argmax(api["effects"])
    top = l * 9 + h
    ctxs = []
    try:
        ctx, teacher = watched_page(browser, DESKTOP)
        ctxs.append(ctx)
        q = {"view": "effects", "model": MODEL, **{k: ioi[k] for k in ("clean", "corrupt", "metric")},
             "answer": ioi["target"], "foil": ioi["foil"]}
        teacher.goto(f"{live_server}/?{urlencode(q)}")  # the URL's prompts run at once
        teacher.wait_for_function("() => window.__effectsCurrent && window.__effectsCurrent.values", timeout=300_000)
        cur = teacher.evaluate("window.__effectsCurrent")
        assert (cur["task"], cur["layers"], cur["heads"], cur["job"]) == ("patching", 30, 9, None)
        np.testing.assert_allclose(cur["values"], [0 if v is None else v for row in api["effects"] for v in row], atol=1e-6)
        teacher.click("#class-start")
        teacher.wait_for_function("() => document.querySelector('#class-status')?.textContent === 'live'")
        teacher.wait_for_function("() => document.querySelector('#class-ask').textContent === 'Ask: which head matters most?'")
        join_url = teacher.text_content("#class-url")

        ctx, phone = watched_page(browser, PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
        ctxs.append(ctx)
        phone.goto(join_url)
        phone.wait_for_function("() => document.querySelector('#class-status')?.textContent === 'following'", timeout=60_000)
        phone.wait_for_function("() => new URLSearchParams(location.search).get('view') === 'effects'")
        teacher.wait_for_function("() => document.querySelector('#class-members').textContent === '1'")

        teacher.click("#class-ask")
        phone.wait_for_selector("#class-grid[data-cells='270']", timeout=10_000)
        for pg in (teacher, phone):
            pg.wait_for_function(OPEN, timeout=10_000)
        assert phone.text_content(".cl-question .cl-ask") == "Which head matters most? Tap it."
        teacher.wait_for_function("() => document.getElementById('eff-grid').dataset.blank === '1'")
        assert teacher.is_hidden("#eff-top-box") and teacher.is_hidden("#eff-head")
        tap_cell(phone, 2, 5)
        phone.wait_for_function("() => document.querySelector('#class-grid').dataset.mine === '23'")
        teacher.wait_for_function("() => (JSON.parse(document.querySelector('#class-teacher-grid').dataset.counts"
                                  " || '[]'))[23] === 1", timeout=10_000)
        overflow = phone.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 1, f"the phone's page scrolls sideways by {overflow}px"
        print("phone, open:", shot(phone, "effects_class_phone_open.png"))
        print("teacher, open:", shot(teacher, "effects_class_teacher_open.png"))

        teacher.click("#class-reveal")
        phone.wait_for_selector("#class-grid-note", timeout=10_000)
        where = f"layer {l} · head {h}"
        assert phone.text_content("#class-grid-note") == \
            f"The most effective head (activation patching) is {where}: 0 of 1 found it. You picked layer 2 · head 5."
        assert phone.get_attribute("#class-grid", "data-top") == str(top)
        teacher.wait_for_function("() => document.querySelector('#class-reveal-note').textContent.includes('found it')")
        assert teacher.text_content("#class-reveal-note") == \
            f"The most effective head (activation patching) is {where}: 0 of 1 found it."
        for pg in (teacher, phone):
            pg.wait_for_function(CLOSED, timeout=10_000)
        teacher.wait_for_function("() => document.getElementById('eff-grid').dataset.blank === ''")
        assert teacher.is_visible("#eff-top-box")
        phone.locator(".cl-grid-key").scroll_into_view_if_needed()
        print("phone, revealed:", shot(phone, "effects_class_phone_revealed.png"))
        for pg in (teacher, phone):
            assert page_errors(pg) == [], pg.errors
    finally:
        for c in ctxs:
            c.close()
