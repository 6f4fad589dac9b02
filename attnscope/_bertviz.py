"""bertviz's ``head_view`` and ``model_view`` signatures, drawn by AttnScope: switch with one import line.

``from bertviz import head_view, model_view`` becomes ``from attnscope import head_view, model_view``.
"""

from __future__ import annotations

import numpy as np

from attnscope._html import View, block_payload


def _stack(attention) -> np.ndarray:
    """bertviz's attention (a tuple of per-layer (batch, heads, T, T) tensors or arrays) -> (L, H, Tq, Tk)."""
    layers = []
    for a in attention:
        if hasattr(a, "detach"):  # a torch tensor
            a = a.detach().float().cpu().numpy()
        a = np.asarray(a, dtype=np.float32)
        if a.ndim == 4:
            if a.shape[0] != 1:
                raise ValueError(f"attention has a batch of {a.shape[0]}; pass one sequence (batch size 1)")
            a = a[0]
        if a.ndim != 3:
            raise ValueError(f"each layer's attention must be (batch, heads, query, key); got shape {a.shape}")
        layers.append(a)
    if not layers:
        raise ValueError("attention is empty: pass the model's outputs.attentions")
    return np.stack(layers)


def _select(w: np.ndarray, layers, heads) -> np.ndarray:
    if layers is not None:
        w = w[list(layers)]
    if heads is not None:
        w = w[:, list(heads)]
    return w


def _blocks(attention, tokens, encoder_attention, decoder_attention, cross_attention, encoder_tokens,
            decoder_tokens, layers=None, heads=None) -> list[dict]:
    if attention is not None:
        if tokens is None:
            raise ValueError("pass the token list with the attention")
        return [block_payload("encoder", _select(_stack(attention), layers, heads), tokens, tokens)]
    if encoder_tokens is None and decoder_tokens is None:
        raise ValueError("pass attention and tokens, or encoder/decoder/cross attention with their token lists")
    out = []
    for name, att, q, k in (("encoder", encoder_attention, encoder_tokens, encoder_tokens),
                            ("decoder", decoder_attention, decoder_tokens, decoder_tokens),
                            ("cross", cross_attention, decoder_tokens, encoder_tokens)):
        if att is not None:
            out.append(block_payload(name, _select(_stack(att), layers, heads), q, k))
    if not out:
        raise ValueError("no attention given")
    return out


def _out(view: View, html_action: str):
    if html_action == "return":
        return view
    if html_action != "view":
        raise ValueError("html_action must be 'view' or 'return'")
    from attnscope import _display

    return _display(view)


def head_view(attention=None, tokens=None, sentence_b_start=None, prettify_tokens=True, layer=None, heads=None,
              encoder_attention=None, decoder_attention=None, cross_attention=None, encoder_tokens=None,
              decoder_tokens=None, include_layers=None, html_action="view"):
    """One layer's heads, bertviz's ``head_view`` arguments: pick a layer and a head, hover for weights.

    ``sentence_b_start`` draws a line where sentence B starts; ``heads`` keeps only those heads;
    ``html_action="return"`` returns the figure instead of displaying it.
    """
    blocks = _blocks(attention, tokens, encoder_attention, decoder_attention, cross_attention, encoder_tokens,
                     decoder_tokens, include_layers, heads)
    view = View(blocks, view="attention", layer=layer or 0, head=0, title="Attention (head view)",
                divider=sentence_b_start)
    return _out(view, html_action)


def model_view(attention=None, tokens=None, sentence_b_start=None, prettify_tokens=True, display_mode="dark",
               encoder_attention=None, decoder_attention=None, cross_attention=None, encoder_tokens=None,
               decoder_tokens=None, include_layers=None, include_heads=None, html_action="view"):
    """Every layer x head as a thumbnail, bertviz's ``model_view`` arguments; click one to open it."""
    blocks = _blocks(attention, tokens, encoder_attention, decoder_attention, cross_attention, encoder_tokens,
                     decoder_tokens, include_layers, include_heads)
    view = View(blocks, view="model", title="Attention (model view)", divider=sentence_b_start)
    return _out(view, html_action)
