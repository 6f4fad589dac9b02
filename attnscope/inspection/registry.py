"""The configured models, loaded lazily once, and an LRU of recent traces bounded in bytes."""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from contextlib import nullcontext
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path

from attnscope.settings import ModelSpec, Settings
from attnscope.inspection.adapters.base import Adapter
from attnscope.inspection.sources import resolve
from attnscope.inspection.trace import Trace

log = logging.getLogger("attnscope")


class UnknownModelError(LookupError):
    """The API asked for a model id the settings do not list."""


class ModelUnavailableError(RuntimeError):
    """A configured model failed to load."""


def load_status(source: str) -> str | None:
    """What a model that is loading is doing now ("converting" the first time a GGUF is read)."""
    from attnscope.inspection import gguf_cache

    return gguf_cache.status(source)


_IMPORT_LOCK = threading.Lock()
#: one transformers load at a time (see Registry.load_all_in_background)
_HF_LOAD_LOCK = threading.Lock()
#: transformers' lazy imports are not thread-safe: models loading on two threads at once fail with
#: "cannot import name ...". Resolve every class the adapters use once, under a lock, first.
_LAZY_NAMES = ("AutoConfig", "AutoModel", "AutoModelForCausalLM", "AutoModelForSeq2SeqLM", "AutoModelForTextEncoding",
               "AutoTokenizer", "PreTrainedTokenizerFast", "BertModel", "BertConfig", "BertTokenizer",
               "BertTokenizerFast", "LlamaForCausalLM", "LlamaConfig",
               "LlamaTokenizer", "LlamaTokenizerFast", "GPT2LMHeadModel", "GPT2Config", "GPT2Tokenizer",
               "GPT2TokenizerFast")


def import_model_code() -> None:
    """Import the model and tokenizer classes of every family (idempotent, thread-safe)."""
    with _IMPORT_LOCK:
        import transformers

        for name in _LAZY_NAMES:
            getattr(transformers, name)
        import transformers.modeling_gguf_pytorch_utils  # noqa: F401  (GGUF reading)


def build_adapter(spec: ModelSpec, cache_dir: Path | None = None, device: str = "cpu",
                  dtype: str = "float32") -> Adapter:
    """Load the model a spec names and wrap it in the generic adapter of its family.

    ``spec.family`` "auto" (the default) takes the family from the model's config; an
    architecture the family table does not know gets the attention-only generic adapter.
    A model whose attention cannot be read raises (the registry records the reason).
    """
    import_model_code()
    if spec.family == "textbook":
        from attnscope.inspection.adapters.textbook import TextbookAdapter

        return TextbookAdapter()
    from attnscope.inspection.adapters.generic import HFAdapter
    from attnscope.inspection.adapters.loading import load_model

    family = None if spec.family == "auto" else spec.family
    model, tokenizer = load_model(resolve(spec.source), family, cache_dir, device=device, dtype=dtype)
    adapter = HFAdapter(spec.id, resolve(spec.source), spec.name, model=model, tokenizer=tokenizer, family=family)
    adapter.trace("Hello world")  # fails now, with its reason on /healthz, if attention cannot be read
    return adapter


class TraceCache:
    """LRU of traces keyed by (model, text, options), bounded by total bytes."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._items: OrderedDict[tuple, tuple[Trace, int]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple) -> Trace | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return item[0]

    def put(self, key: tuple, trace: Trace) -> None:
        size = trace.nbytes()
        if size > self.max_bytes:
            return
        with self._lock:
            if key in self._items and self._items[key][0].full and not trace.full:
                return  # a full trace serves every view: never replace it with a weights-only one
            if key in self._items:
                self.bytes -= self._items.pop(key)[1]
            self._items[key] = (trace, size)
            self.bytes += size
            while self.bytes > self.max_bytes:
                _, (_, n) = self._items.popitem(last=False)
                self.bytes -= n

    def __len__(self) -> int:
        return len(self._items)


class _Flight:
    """One forward pass in progress that callers asking for the same trace wait on."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.trace: Trace | None = None
        self.error: BaseException | None = None


class Registry:
    """Which models exist (the operator's settings), their adapters, and the trace cache."""

    def __init__(self, settings: Settings, builder: Callable[[ModelSpec], Adapter] | None = None):
        self.specs: dict[str, ModelSpec] = {s.id: s for s in settings.all_models()}
        self._builder = builder or partial(build_adapter, cache_dir=settings.cache, device=settings.device,
                                           dtype=settings.dtype)
        self._adapters: dict[str, Adapter] = {}
        self._errors: dict[str, str] = {}
        self._locks = {mid: threading.Lock() for mid in self.specs}
        self._bg_lock = threading.Lock()
        self._bg_thread: threading.Thread | None = None
        self.cache = TraceCache(settings.trace_cache_bytes)
        self._flights: dict[tuple, _Flight] = {}
        self._flights_lock = threading.Lock()
        #: forward passes run by trace() (cache misses that led a flight); tests and benches read it
        self.forward_passes = 0

    def ids(self) -> list[str]:
        return list(self.specs)

    def status(self) -> dict[str, str]:
        out = {}
        for mid in self.specs:
            if mid in self._adapters:
                out[mid] = "loaded"
            elif mid in self._errors:
                out[mid] = f"failed: {self._errors[mid]}"
            else:
                out[mid] = "not loaded"
        return out

    def progress(self, model_id: str) -> str:
        """"loaded", "loading", "converting" (a GGUF's first read), "failed" or "not loaded"."""
        if model_id in self._adapters:
            return "loaded"
        if model_id in self._errors:
            return "failed"
        if self._locks[model_id].locked():
            detail = load_status(self.specs[model_id].source)
            return "converting" if detail == "converting" else "loading"
        return "not loaded"

    def load_all_in_background(self) -> None:
        """Load every model not loaded yet, one after another, on one daemon thread.

        One at a time because transformers' ``from_pretrained`` swaps process-global functions
        (``tie_weights`` among them) while it runs: two loads at once can leave SmolLM2's lm_head
        untied and random. Models without transformers (the textbook model) go first.
        """
        with self._bg_lock:
            if self._bg_thread is not None and self._bg_thread.is_alive():
                return
            order = sorted(self.specs, key=lambda mid: self.specs[mid].family != "textbook")

            def load_all():
                for mid in order:
                    try:
                        self.get(mid)
                    except ModelUnavailableError:
                        pass  # recorded in self._errors; /healthz and /api/models report it

            self._bg_thread = threading.Thread(target=load_all, name="attnscope-load", daemon=True)
            self._bg_thread.start()

    def wait_loaded(self, timeout: float) -> None:
        """Start every model loading and wait up to ``timeout`` seconds for them to settle."""
        import time

        self.load_all_in_background()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(mid in self._adapters or mid in self._errors for mid in self.specs):
                return
            time.sleep(0.05)

    def loaded(self, model_id: str) -> Adapter | None:
        """The adapter if the model is loaded now, else None (never loads)."""
        return self._adapters.get(model_id)

    def get(self, model_id: str) -> Adapter:
        """The adapter of a configured model, loading it on first use."""
        if model_id not in self.specs:
            raise UnknownModelError(
                f"unknown model {model_id!r}; available models: {', '.join(self.specs)}"
            )
        adapter = self._adapters.get(model_id)
        if adapter is not None:
            return adapter
        with self._locks[model_id]:
            if model_id in self._adapters:
                return self._adapters[model_id]
            if model_id in self._errors:
                raise ModelUnavailableError(f"model {model_id!r} failed to load: {self._errors[model_id]}")
            try:
                log.info("loading model %s from %s", model_id, self.specs[model_id].source)
                spec = self.specs[model_id]
                with _HF_LOAD_LOCK if spec.family != "textbook" else nullcontext():
                    adapter = self._builder(spec)
                # show the configured source (a hub id or package), not a resolved server path
                adapter.info = replace(adapter.info, source=spec.source)
            except Exception as exc:  # noqa: BLE001 - any load failure marks the model failed
                log.exception("model %s failed to load", model_id)
                # the page shows the reason: keep file names, drop the server's directories
                reason = re.sub(r"(?:/[^/\s'\"]+)+/([^/\s'\"]+)", r"\1", f"{type(exc).__name__}: {exc}")
                reason = reason.splitlines()[0][:300]
                self._errors[model_id] = reason
                log.error("model %s failed to load: %s", model_id, reason)
                raise ModelUnavailableError(f"model {model_id!r} failed to load: {reason}") from exc
            self._adapters[model_id] = adapter
            return adapter

    def trace(self, model_id: str, text: str, target: str | None = None, full: bool = True) -> Trace:
        """The trace of ``text`` on ``model_id``, from the cache when it is there.

        ``full=False`` is enough for the views that read only weights and logits (attention, model
        view, rollout): the pass captures nothing else. A cached full trace serves both kinds; a
        weights-only one is replaced by the full trace when a view needs it.

        Single flight: concurrent calls for the same uncached trace share one forward pass; the
        first caller runs the model, the others wait for its trace (or its exception).
        """
        key = (model_id, text, target)
        hit = self.cache.get(key)
        if hit is not None and (hit.full or not full):
            return hit
        with self._flights_lock:
            # a full pass in flight serves a weights-only caller too
            flight = self._flights.get((key, full)) or (None if full else self._flights.get((key, True)))
            leader = flight is None
            if leader:
                flight = self._flights[(key, full)] = _Flight()
        if not leader:
            flight.done.wait()
            if flight.error is not None:
                raise flight.error
            return flight.trace
        try:
            adapter = self.get(model_id)
            with self._flights_lock:
                self.forward_passes += 1
            flight.trace = adapter.trace(text, target, full=full)
            self.cache.put(key, flight.trace)
            return flight.trace
        except BaseException as exc:
            flight.error = exc
            raise
        finally:
            with self._flights_lock:
                del self._flights[(key, full)]
            flight.done.set()


_shared: Registry | None = None
_shared_lock = threading.Lock()


def shared_registry() -> Registry:
    """The process's one registry of the configured models (``ATTNSCOPE_*`` settings).

    The server's app uses it (unless handed another, for other settings), and so do
    :func:`attnscope.inspection.trace` and ``attnscope trace``: a model loads once per process.
    """
    global _shared
    with _shared_lock:
        if _shared is None:
            import os

            from attnscope.settings import get_settings

            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            _shared = Registry(get_settings())
        return _shared
