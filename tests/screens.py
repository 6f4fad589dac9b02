"""Screenshots the browser tests take: for failure diagnosis by default, for the README with `make screenshots`.

By default they go to ``test-artifacts/screenshots/`` (ignored by git), so ``make test`` leaves a clean
checkout clean. ``make screenshots`` sets ``ATTNSCOPE_SCREENSHOTS=docs`` to refresh the README's images.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def screenshots_dir() -> Path:
    """Where screenshots go: ``$ATTNSCOPE_SCREENSHOTS`` (relative to the repo) or the ignored default."""
    d = Path(os.environ.get("ATTNSCOPE_SCREENSHOTS", "test-artifacts/screenshots"))
    d = d if d.is_absolute() else ROOT / d
    d.mkdir(parents=True, exist_ok=True)
    return d


def shot(page, name: str, **kwargs) -> Path:
    """Save a screenshot of ``page`` as ``name`` in :func:`screenshots_dir`; return its path."""
    path = screenshots_dir() / name
    page.screenshot(path=str(path), **kwargs)
    return path


def watched_page(browser, viewport, **kw):
    """A new context and page whose JavaScript errors (page errors and console errors, the favicon aside) collect
    in ``page.errors``, so a test can assert that a page it drove threw none. Returns (context, page)."""
    ctx = browser.new_context(viewport=viewport, **kw)
    pg = ctx.new_page()
    pg.errors = []
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    pg.on("console", lambda m: pg.errors.append(m.text) if m.type == "error" and "favicon" not in m.text else None)
    return ctx, pg
