"""``attnscope.show(..., view="long")``: a long trace's deep zoom embedded in one output, within a byte budget.

The real MiniLM on ~450 tokens of seven paragraphs (an encoder: 2 zoom levels) and a tiny random LLaMA on
~1,000 tokens (a causal decoder: 3 levels). The embedded tiles are read back from the payload and checked against
the :class:`LongTrace` they came from; the saved file is opened offline in Chromium, drawn, and zoomed with the wheel.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import zlib

import numpy as np
import pytest

import attnscope
from attnscope._html import VIEWS, unpack
from attnscope._long_html import DEFAULT_MAX_BYTES, LongView, _maxpool, long_view
from tests.long.long_fixtures import passages_text, tiny_long
from tests.screens import shot

TOPICS = [
    ("The river", "The river carried stones past the old mill, and the miller listened to the water every night."),
    ("The bridge", "Children watched the boats from the stone bridge while their parents sold bread in the square."),
    ("Winter", "In winter the water froze along the banks and the village waited for the first thaw of spring."),
    ("Trade", "Merchants brought salt, cloth and news from the coast, and they left with grain and wool."),
    ("The ledger", "The miller kept a ledger of every sack of grain, every debt and every promise made at the door."),
    ("The flood", "One autumn the river rose over the fields, and the whole village carried sacks up the hill."),
    ("Afterwards", "When the water went down, they rebuilt the mill wheel and wrote the flood into the ledger."),
]
#: seven paragraphs, each a title line and a few sentences: ~450 MiniLM tokens
MINILM_TEXT = "\n\n".join(f"{title}\n" + " ".join([s] * 3) + f" That was part {i + 1} of the story of the mill."
                          for i, (title, s) in enumerate(TOPICS))


def raw_bytes(data: dict) -> int:
    """Raw bytes (before deflate) of every packed array in the payload, measured from the payload itself."""
    total = 0

    def walk(x):
        nonlocal total
        if isinstance(x, dict):
            if "b64" in x:
                total += len(zlib.decompress(base64.b64decode(x["b64"])))
            else:
                for v in x.values():
                    walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    walk(data)
    return total


def tiles_of(level: dict) -> dict:
    """{(x, y): (rows, cols, values)} of an embedded level, the bytes scaled back by each tile's scale."""
    flat = unpack(level["data"]).ravel()
    out = {}
    for t in level["tiles"]:
        n = t["shape"][0] * t["shape"][1]
        out[(t["x"], t["y"])] = (t["rows"], t["cols"],
                                 flat[t["offset"]:t["offset"] + n].reshape(t["shape"]) * t["scale"])
    return out


def thumb(data: dict, layer: int, h: int) -> np.ndarray:
    th = data["thumbs"]
    return unpack(th["data"])[layer, h] * th["scales"][layer][h]


@pytest.fixture(scope="module")
def minilm(minilm_dir):
    from transformers import AutoModel, AutoTokenizer

    model = AutoModel.from_pretrained(minilm_dir).eval()
    tok = AutoTokenizer.from_pretrained(minilm_dir)
    view = long_view(model, tok, MINILM_TEXT, layer=2, head=5)
    return model, tok, view


@pytest.fixture(scope="module")
def llama():
    adapter, model = tiny_long("llama")
    text = passages_text(8, 40)
    return model, adapter.tokenizer, text, long_view(model, adapter.tokenizer, text)


# ------------------------------------------------------------------------------------------------ the payload


def test_the_decoder_text_is_what_the_tests_say(llama):
    lt = llama[3].trace
    assert 900 <= lt.t <= 1100 and lt.zoom_levels == 3 and all(s.causal for s in lt.layers)


@pytest.mark.parametrize("which", [pytest.param("minilm", marks=pytest.mark.slow), "llama"])
def test_every_z0_overview_equals_the_trace_to_1_255(which, request):
    view = request.getfixturevalue(which)[-1]
    lt, data = view.trace, view.data()
    assert data["thumbs"]["pool"] == 1  # the default budget keeps the thumbnails whole here
    for layer in range(len(lt.layers)):
        for h in range(lt.heads + 1):
            want = lt.tile(layer, "mean" if h == lt.heads else h, 0, 0, 0, "max")["weights"]
            np.testing.assert_allclose(thumb(data, layer, h)[: want.shape[0], : want.shape[1]], want, atol=1 / 255)
    for reduce in ("max", "sum"):  # the selected head's level 0 too, sum pooling on its tile's scale
        (rows, cols, got), = tiles_of(data["levels"][reduce][0]).values()
        t = lt.tile(view.layer, view.head, 0, 0, 0, reduce)
        assert (rows, cols) == (t["rows"], t["cols"])
        np.testing.assert_allclose(got, t["weights"], atol=max(1.0, float(t["weights"].max())) / 255)


@pytest.mark.slow
def test_minilm_embeds_both_levels_and_the_finest_is_the_exact_weights(minilm):
    view = minilm[2]
    lt, data = view.trace, view.data()
    assert 420 <= lt.t <= 512 and lt.zoom_levels == 2 and len(lt.passages) == 7
    assert view.embedded_levels("max") == view.embedded_levels("sum") == [0, 1]
    assert raw_bytes(data) <= view.nbytes <= DEFAULT_MAX_BYTES
    finest = tiles_of(data["levels"]["max"][1])
    assert len(finest) == 4  # 2 x 2 tiles: an encoder leaves none out
    for (x, y), (rows, cols, got) in finest.items():
        want = lt.tile(2, 5, 1, x, y)["weights"]
        np.testing.assert_allclose(got, want, atol=float(want.max()) / 510 + 1e-6)
    full = np.zeros((lt.t, lt.t), np.float32)
    for (rows, cols, got) in finest.values():
        full[rows[0]:rows[1], cols[0]:cols[1]] = got
    np.testing.assert_allclose(full[17], lt.row(2, 5, 17), atol=1 / 510 + 1e-6)  # the exact row, to u8
    assert data["passage_mass"]["shape"] == [7, 7]
    np.testing.assert_allclose(unpack(data["passage_mass"]), lt.passage_mass(2, 5), atol=1e-6)
    bins, mean = lt.distance(2, 5)
    assert data["distance"]["bins"] == bins
    np.testing.assert_allclose(data["distance"]["mean"], mean, rtol=1e-5)
    assert data["tokens"] == lt.tokens.text and data["causal"] == [False] * 6


def test_a_decoder_leaves_out_the_tiles_above_the_diagonal(llama):
    view = llama[3]
    lt, data = view.trace, view.data()
    assert view.embedded_levels("max") == [0, 1, 2] and raw_bytes(data) <= DEFAULT_MAX_BYTES
    finest = tiles_of(data["levels"]["max"][2])
    n = -(-lt.t // 256)
    assert set(finest) == {(x, y) for y in range(n) for x in range(y + 1)}
    for y in range(n):
        for x in range(n):
            want = lt.tile(0, 0, 2, x, y)["weights"]
            if (x, y) in finest:
                np.testing.assert_allclose(finest[(x, y)][2], want, atol=float(want.max()) / 510 + 1e-6)
            else:
                assert not want.any()  # left out: every weight is masked


def test_a_budget_bounds_the_levels_and_the_finest_embedded_one_is_the_trace(llama):
    model, tok, text, full = llama
    budget = 700_000
    view = LongView(full.trace, layer=1, head=2, max_bytes=budget)
    lt, data = view.trace, view.data()
    zs = view.embedded_levels("max")
    assert zs == [0, 1]  # level 2 (the exact weights) does not fit
    assert raw_bytes(data) <= view.nbytes <= budget
    deeper = sum(np.prod(lt.tile(1, 2, 2, x, y)["weights"].shape) for y in range(4) for x in range(y + 1))
    assert view.nbytes + deeper - raw_bytes({"s": data["levels"]["sum"]}) > budget  # one more level would not fit
    for (x, y), (rows, cols, got) in tiles_of(data["levels"]["max"][-1]).items():
        want = lt.tile(1, 2, 1, x, y)["weights"]
        assert (rows, cols) == (lt.tile(1, 2, 1, x, y)["rows"], lt.tile(1, 2, 1, x, y)["cols"])
        np.testing.assert_allclose(got, want, atol=float(want.max()) / 510 + 1e-6)
    th = data["thumbs"]  # the thumbnails gave way: max-pooled further, still the trace's max
    assert th["pool"] > 1 and th["side"] >= 32
    for layer in range(2):
        for h in range(5):
            want = _maxpool(lt.tile(layer, "mean" if h == 4 else h, 0, 0, 0)["weights"], th["pool"])
            np.testing.assert_allclose(thumb(data, layer, h)[: want.shape[0], : want.shape[1]], want, atol=1 / 255)
    assert "levels 0-1 of 0-2" in repr(view)


def test_levels_caps_the_depth_and_refuses_what_does_not_fit(llama):
    lt = llama[3].trace
    one = LongView(lt, levels=1)
    assert one.embedded_levels("max") == one.embedded_levels("sum") == [0]
    assert LongView(lt, levels=9).embedded_levels("max") == [0, 1, 2]  # the trace has three
    with pytest.raises(ValueError, match=r"levels=3 needs [\d,]+ bytes .*max_bytes"):
        LongView(lt, levels=3, max_bytes=700_000)
    with pytest.raises(ValueError, match="too small"):
        LongView(lt, max_bytes=10_000)
    with pytest.raises(ValueError, match="head 4 is out of range"):
        LongView(lt, head=4)
    mean = LongView(lt, layer=1, head="mean")
    assert mean.data()["headIndex"] == 4
    want = lt.tile(1, "mean", 2, 3, 3)["weights"]
    np.testing.assert_allclose(tiles_of(mean.data()["levels"]["max"][2])[(3, 3)][2], want,
                               atol=float(want.max()) / 510 + 1e-6)


def test_show_dispatches_long_and_the_repr_is_one_short_line(llama):
    model, tok, text, _ = llama
    assert "long" in VIEWS
    view = attnscope.show(model, tok, text, view="long", layer=1, head=3, max_bytes=2_000_000)
    assert isinstance(view, LongView) and (view.layer, view.head) == (1, 3)
    r = repr(view)
    assert r.startswith("<attnscope.LongView ") and "\n" not in r and len(r) < 300 and "b64" not in r
    assert f"{view.trace.t} tokens" in r
    out = view._repr_html_()
    assert out.count("<script") == out.count("</script>") == 2  # the data and one classic script, nothing loaded
    script = out.split("</script>")[1]  # the renderer: nothing fetched, no module loader, no plotly
    assert "http" not in script and "fetch(" not in script and "require(" not in script and "Plotly." not in script


def test_import_attnscope_and_a_long_view_load_no_web_module():
    code = ("import sys, attnscope, attnscope._long_html\n"
            "web = ('fastapi', 'starlette', 'uvicorn', 'jinja2', 'redis', 'plotly', 'attnscope_server')\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in web)))")
    out = subprocess.run([sys.executable, "-c", "import json\n" + code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


# ------------------------------------------------------------------------------------------------ in Chromium


@pytest.fixture
def offline_page(browser):
    """A page (device pixel ratio 1) that aborts every request not to file:, data: or blob: and records it."""
    ctx = browser.new_context(viewport={"width": 1200, "height": 900}, device_scale_factor=1)
    pg = ctx.new_page()
    pg.blocked, pg.errors = [], []
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    pg.on("console", lambda m: pg.errors.append(m.text) if m.type == "error" else None)

    def local_only(route):
        if route.request.url.startswith(("file:", "data:", "blob:")):
            route.continue_()
        else:
            pg.blocked.append(route.request.url)
            route.abort()

    pg.route("**/*", local_only)
    yield pg
    ctx.close()


MAP = ".attnscope-output canvas.attnscope-long-map"


def open_file(page, path) -> None:
    page.goto(path.as_uri())
    page.wait_for_selector(".attnscope-output[data-ready]", timeout=30_000)
    assert page.get_attribute(".attnscope-output", "data-error") is None
    assert page.get_attribute(".attnscope-output", "data-drawn") == "1"


def wheel_until(page, attr: str, value: str, turns: int = 30) -> None:
    box = page.locator(MAP).bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.45, box["y"] + box["height"] * 0.6)
    for _ in range(turns):
        if page.get_attribute(MAP, attr) == value:
            return
        page.mouse.wheel(0, -240)
        page.wait_for_timeout(40)
    assert page.get_attribute(MAP, attr) == value


@pytest.mark.browser
def test_the_saved_file_draws_offline_and_the_wheel_zooms_to_the_next_level(llama, offline_page, tmp_path):
    view = llama[3]
    path = view.save_html(tmp_path / "long.html")
    assert path.stat().st_size < 3_000_000
    page = offline_page
    open_file(page, path)
    z0 = int(page.get_attribute(MAP, "data-z"))
    assert z0 == 1  # ~1,000 tokens in ~600 pixels: level 1's 2 x 2 cells are the first a pixel or more wide
    shot(page, "notebook-long-llama.png", full_page=True)
    wheel_until(page, "data-z", str(z0 + 1))
    assert page.get_attribute(MAP, "data-cell") == "1"
    page.mouse.move(5, 5)
    shot(page, "notebook-long-llama-zoomed.png")
    assert page.locator(".attnscope-output canvas[data-head]").count() == 2 * 5
    assert page.blocked == [] and page.errors == []


@pytest.mark.browser
def test_a_bounded_file_says_deeper_zoom_needs_the_server(llama, offline_page, tmp_path):
    view = LongView(llama[3].trace, max_bytes=700_000)
    page = offline_page
    open_file(page, view.save_html(tmp_path / "bounded.html"))
    wheel_until(page, "data-wanted", "2")
    assert page.get_attribute(MAP, "data-z") == "1"  # the finest embedded level, magnified
    text = page.locator(".attnscope-output").inner_text()
    assert "Zoom level 3 is not in this file" in text and "server" in text
    assert "pooled to" in text  # the thumbnails gave way to the budget, and the figure says so
    assert page.blocked == [] and page.errors == []


@pytest.mark.slow
@pytest.mark.browser
def test_minilm_file_opens_thumbnails_switch_heads_and_text_stays_text(minilm, offline_page, tmp_path):
    model, tok, _ = minilm
    text = MINILM_TEXT.replace("The bridge", "<b>The bridge</b> & <img src=x>")
    view = long_view(model, tok, text, layer=2, head=5)
    page = offline_page
    open_file(page, view.save_html(tmp_path / "minilm.html"))
    out = page.locator(".attnscope-output")
    assert out.locator("b").count() == 0 and out.locator("img").count() == 0
    assert page.locator(".attnscope-output canvas[data-head]").count() == 6 * 13
    assert page.locator(".attnscope-output select >> nth=0").input_value() == "2"
    assert not page.locator(".attnscope-output input[value=sum]").is_disabled()
    page.click(".attnscope-output input[value=sum]")
    page.wait_for_timeout(100)
    before = page.locator(MAP).evaluate("c => c.toDataURL()")
    page.click(".attnscope-output canvas[data-layer='4'][data-head='12']")  # layer 5, the mean head
    page.wait_for_timeout(100)
    assert page.locator(".attnscope-output select >> nth=1").input_value() == "12"
    assert page.locator(".attnscope-output input[value=sum]").is_disabled()  # only the embedded head has sum
    assert page.locator(MAP).evaluate("c => c.toDataURL()") != before
    assert "the head this figure was made for" in out.inner_text()
    shot(page, "notebook-long-minilm.png", full_page=True)
    assert page.blocked == [] and page.errors == []
