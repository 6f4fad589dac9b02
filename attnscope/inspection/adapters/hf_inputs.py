"""Tokens in, tokens out, for the generic adapter: tokenising (remembered per text), decoder inputs, seq2seq.

:class:`HFInputs` is mixed into :class:`~attnscope.inspection.adapters.generic.HFAdapter`; it needs
``self.model``, ``self.tokenizer``, ``self.info``, ``self.device`` and ``self.lock``. It implements
the :class:`~attnscope.inspection.adapters.base.Adapter` methods about inputs, positions and seq2seq.
"""

from __future__ import annotations

import inspect

import numpy as np
import torch

from attnscope.inspection.adapters.hf import np32, output_tokens, tokenize
from attnscope.inspection.capture import capture
from attnscope.inspection.trace import Tokens


class HFInputs:
    """The inputs side of the generic adapter."""

    # --- tokens -------------------------------------------------------------------

    def tokenized(self, text: str) -> tuple[dict, Tokens]:
        """``tokenize(text)``, remembered for the last few texts: a request checks its length, then runs it.

        Returns a new dict each time (callers add and pop keys); the tensors are never modified.
        """
        with self._tok_lock:
            hit = self._tokenized.get(text)
            if hit is not None:
                self._tokenized.move_to_end(text)
                return dict(hit[0]), hit[1]
        enc, tokens = tokenize(self.tokenizer, text)
        with self._tok_lock:
            self._tokenized[text] = (enc, tokens)
            while len(self._tokenized) > 32:
                self._tokenized.popitem(last=False)
        return dict(enc), tokens

    def count_tokens(self, text: str) -> int:
        return len(self.tokenized(text)[1])

    def output_tokens(self, ids: list[int]) -> list[str]:
        if self.info.kind == "encoder":
            raise NotImplementedError(f"{self.info.id} has no output vocabulary")
        return output_tokens(self.tokenizer, ids)

    def inputs(self, text: str) -> tuple[dict, Tokens]:
        """Model inputs (on the model's device) and tokens of ``text``; ValueError for empty or too long text."""
        inputs, tokens = self.tokenized(text)
        if self.info.kind != "encoder" or "token_type_ids" not in inspect.signature(self.model.forward).parameters:
            inputs.pop("token_type_ids", None)
        t = len(tokens)
        if t == 0:
            raise ValueError("text is empty: type a sentence")
        if t > self.info.max_tokens:
            raise ValueError(f"text is {t} tokens long; {self.info.id} takes at most {self.info.max_tokens} tokens")
        return {k: v.to(self.device) for k, v in inputs.items()}, tokens

    def decoder_start(self) -> int:
        cfg = self.model.config
        start = getattr(cfg, "decoder_start_token_id", None)
        if start is None:
            start = getattr(self.model.generation_config, "decoder_start_token_id", None)
        if start is None:
            start = cfg.pad_token_id if cfg.pad_token_id is not None else cfg.bos_token_id
        if start is None:
            raise ValueError(f"{self.info.id} names no decoder start token")
        return int(start)

    def target_inputs(self, target: str | None) -> tuple[torch.Tensor, Tokens]:
        """(1, 1 + T) decoder input ids: the start token, then ``target``'s tokens; and their Tokens."""
        start = self.decoder_start()
        ids: list[int] = []
        toks = Tokens(text=[], ids=[], special=[], offsets=[])
        if target:
            enc, toks = tokenize(self.tokenizer, target)
            ids = toks.ids
        shown = output_tokens(self.tokenizer, [start])[0]
        all_toks = Tokens(text=[shown, *toks.text], ids=[start, *ids], special=[True, *toks.special],
                          offsets=[None, *toks.offsets])
        if len(all_toks) > self.info.max_tokens:
            raise ValueError(f"target is {len(all_toks)} tokens long; {self.info.id} takes at most "
                             f"{self.info.max_tokens}")
        return torch.tensor([all_toks.ids], device=self.device), all_toks

    # --- position facts ---------------------------------------------------------------

    #: where transformers keeps a learned absolute position table (BertModel, GPT2LMHeadModel, GPT2Model)
    _POSITION_TABLES = (("embeddings", "position_embeddings", "weight"), ("transformer", "wpe", "weight"),
                        ("wpe", "weight"))

    def position_table(self) -> np.ndarray | None:
        """The learned absolute position-embedding table, (positions, d_model) float32; None without one."""
        for path in self._POSITION_TABLES:
            obj = self.model
            for name in path:
                obj = getattr(obj, name, None)
            if obj is not None:
                return obj.detach().cpu().float().numpy()
        return None

    def layer_windows(self) -> list[int | None] | None:
        """Each layer's sliding window from the config (Mistral, Gemma 2 and 3's local layers), else None."""
        from attnscope.inspection.kv_cache import layer_windows

        windows = layer_windows(self.model.config)
        return windows if any(w is not None for w in windows) else None

    def rope_base(self) -> float | None:
        """``rope_theta`` from the model's config (``rope_parameters`` in transformers >= 5); None without."""
        cfg = self.model.config
        params = getattr(cfg, "rope_parameters", None)
        if isinstance(params, dict) and params.get("rope_theta") is not None:
            return float(params["rope_theta"])
        theta = getattr(cfg, "rope_theta", None)
        return float(theta) if theta is not None else None

    # --- encoder-decoder generation -------------------------------------------------

    def seq2seq(self, text: str, max_new_tokens: int = 32) -> dict:
        """Greedy output of an encoder-decoder for ``text``, and each output token's cross-attention.

        Returns:
            ``{"text", "source_tokens", "output_tokens", "output_ids", "cross_attention"}`` where
            ``cross_attention`` is (L, H, T_out, S) float32: row t is the attention of the
            decoder query that produced output token t (the start token is not an output).
        """
        if self.info.kind != "encoder-decoder":
            raise ValueError(f"{self.info.id!r} is an {self.info.kind}: /api/seq2seq needs an encoder-decoder")
        inputs, tokens = self.inputs(text)
        inputs.pop("token_type_ids", None)
        with self.lock, torch.inference_mode():
            gen = self.model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False, num_beams=1)
            with capture(self.model, full=False):
                out = self.model(**inputs, decoder_input_ids=gen[:, :-1], output_attentions=True, use_cache=False)
        ids = gen[0, 1:].tolist()
        cross = np.stack([np32(a[0]) for a in out.cross_attentions])  # (L, H, T_out, S)
        return {"text": self.tokenizer.decode(ids, skip_special_tokens=True), "source_tokens": tokens.text,
                "output_tokens": output_tokens(self.tokenizer, ids), "output_ids": ids, "cross_attention": cross}
