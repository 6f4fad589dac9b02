"""Where the package's data lives: read through :mod:`importlib.resources`, never from the working directory.

The build maps the repository's top-level ``static/``, ``models/`` and ``templates/`` folders into the
packages (``attnscope.static``, ``attnscope.models``, ``attnscope_server.templates``; see
``pyproject.toml``), so the same calls find them in a wheel, in an editable install and in the image.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files
from pathlib import Path


@lru_cache(maxsize=None)
def data_dir(package: str) -> Path:
    """The directory of a data package (``"attnscope.static"``...) on disk.

    Raises:
        FileNotFoundError: the package is not installed as files (a zipped install).
    """
    root = files(package)
    path = Path(str(root))
    if not path.is_dir():
        raise FileNotFoundError(f"attnscope: the package data {package!r} is not a directory on disk ({root})")
    return path


def static_dir() -> Path:
    """The page's JS, CSS and icon (``static/`` in the repository)."""
    return data_dir("attnscope.static")


def models_dir() -> Path:
    """The built-in models' shipped artifacts (``models/`` in the repository)."""
    return data_dir("attnscope.models")


def templates_dir() -> Path:
    """The page's Jinja templates (``templates/`` in the repository); part of the server."""
    return data_dir("attnscope_server.templates")
