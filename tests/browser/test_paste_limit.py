"""A paste longer than a text box's limit is announced, with the numbers (issue 25: a 30,000-character paste
was cut at 20,000 silently)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser

PASTE = """([box, n]) => {
  const el = document.querySelector(box);
  el.focus();
  el.select();
  const dt = new DataTransfer();
  dt.setData("text/plain", "x".repeat(n));
  el.dispatchEvent(new ClipboardEvent("paste", { clipboardData: dt, bubbles: true, cancelable: true }));
}"""


def test_a_long_paste_is_announced_and_the_note_goes_when_the_text_fits(page):
    page.goto(page.base + "/?view=attention&model=minilm&text=hello")
    page.wait_for_selector("#text")
    limit = page.evaluate("() => document.querySelector('#text').maxLength")
    assert limit == 20_000
    page.evaluate(PASTE, ["#text", 30_000])
    note = page.locator('.limit-note[data-for="text"]')
    assert note.text_content() == ("Pasted 30,000 characters: this box keeps 20,000 (its limit), "
                                   "so the last 10,000 were cut.")
    page.fill("#text", "The cat sat on the mat")
    assert note.count() == 0
    page.evaluate(PASTE, ["#text", 500])  # a paste that fits says nothing
    assert page.locator(".limit-note").count() == 0
    page.goto(page.base + "/?view=heads&model=minilm")  # every view's boxes are covered
    page.wait_for_selector("#hd-text")
    page.evaluate(PASTE, ["#hd-text", 25_000])
    assert "keeps 20,000" in page.locator('.limit-note[data-for="hd-text"]').text_content()
    assert page.errors == []
