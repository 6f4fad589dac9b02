"""Exports have an opaque background that follows the theme (black labels stay readable on dark slides),
with a "transparent" option: PNG and SVG of a Plotly figure (Attention) and a canvas figure (Model view)."""

from __future__ import annotations

import re
import struct
import zlib

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def first_pixel(png: bytes) -> tuple[int, ...]:
    """The top-left pixel (RGBA or RGB) of a PNG. Whatever a row's filter, the first pixel of the first row is
    stored as it is (its left, upper and upper-left neighbours are all zero)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, ihdr = 8, b"", None
    while pos < len(png):
        n, kind = struct.unpack(">I4s", png[pos:pos + 8])
        data = png[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", data)
        elif kind == b"IDAT":
            idat += data
        pos += 12 + n
    _, _, depth, colour, *_ = ihdr
    assert depth == 8 and colour in (2, 6)
    raw = zlib.decompress(idat)
    return tuple(raw[1:1 + (4 if colour == 6 else 3)])


def download(page, button) -> bytes:
    with page.expect_download() as dl:
        button.click()
    return open(dl.value.path(), "rb").read()


def rgb(css: str) -> tuple[int, int, int]:
    return tuple(int(x) for x in re.findall(r"\d+", css)[:3])


@pytest.mark.parametrize("view,figure", [("attention", "#heatmap"), ("model", "#mv-fig")])
def test_png_and_svg_exports_are_opaque_on_the_theme_unless_transparent(page, view, figure):
    page.goto(page.base + f"/?view={view}&model=minilm&text=The+cat+sat+on+the+mat")
    ready = "#heatmap .xtick text" if view == "attention" else "#mv-fig canvas"
    page.wait_for_selector(ready, timeout=60_000)
    page.wait_for_timeout(500)
    bar = page.locator(f"{figure} + .export-bar")
    bg = page.evaluate("f => { let e = document.querySelector(f); while (e) { const c = getComputedStyle(e)"
                       ".backgroundColor; if (c && !c.endsWith(', 0)') && c !== 'transparent') return c;"
                       " e = e.parentElement; } return 'rgb(255, 255, 255)'; }", figure)
    png = download(page, bar.locator("[data-export=png]"))
    px = first_pixel(png)
    assert px[:3] == rgb(bg) and (len(px) == 3 or px[3] == 255), (px, bg)
    svg = download(page, bar.locator("[data-export=svg]")).decode()
    assert svg.startswith("<svg") or svg.startswith("<?xml")
    if view == "attention":  # Plotly's SVG carries a background rect in the theme's colour
        r, g, b = rgb(bg)
        assert re.search(rf"fill: ?rgb\({r}, ?{g}, ?{b}\)", svg) or f"#{r:02x}{g:02x}{b:02x}" in svg.lower()
    bar.locator("[data-export=transparent]").check()
    px = first_pixel(download(page, bar.locator("[data-export=png]")))
    if view == "attention":
        assert len(px) == 4 and px[3] == 0, px  # no background
    else:  # a canvas figure exports what it drew (the model view paints its own white grid)
        assert len(px) == 3 or px[3] == 255, px
    # presentation mode (white): the export follows the theme of the moment
    bar.locator("[data-export=transparent]").uncheck()
    page.keyboard.press("p")
    page.wait_for_timeout(400)
    bg2 = page.evaluate("f => { let e = document.querySelector(f); while (e) { const c = getComputedStyle(e)"
                        ".backgroundColor; if (c && !c.endsWith(', 0)') && c !== 'transparent') return c;"
                        " e = e.parentElement; } return 'rgb(255, 255, 255)'; }", figure)
    if bar.is_visible():
        assert first_pixel(download(page, bar.locator("[data-export=png]")))[:3] == rgb(bg2)
    assert page.errors == []
