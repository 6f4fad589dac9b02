"""Forward hooks that are always removed, even when the forward pass raises."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from torch import nn
from torch.utils.hooks import RemovableHandle


class HookSet:
    """Collects hook handles so they can be removed together."""

    def __init__(self) -> None:
        self.handles: list[RemovableHandle] = []

    def pre(self, module: nn.Module, fn: Callable) -> None:
        self.handles.append(module.register_forward_pre_hook(fn, with_kwargs=True))

    def post(self, module: nn.Module, fn: Callable) -> None:
        self.handles.append(module.register_forward_hook(fn))

    def remove(self) -> None:
        for h in self.handles:
            h.remove()
        self.handles.clear()


def keep_output(store: dict, name: str) -> Callable:
    """A forward hook that stores the module's output (the first item of a tuple) as ``store[name]``."""

    def fn(_module, _inputs, output):
        store[name] = output[0] if isinstance(output, tuple) else output

    return fn


@contextmanager
def hooks() -> Iterator[HookSet]:
    """``with hooks() as hs: hs.post(module, fn); model(...)`` — removed in ``finally``."""
    hs = HookSet()
    try:
        yield hs
    finally:
        hs.remove()
