"""bertviz's ``head_view`` and ``model_view`` signatures, drawn by AttnScope: switch with one import line.

``from bertviz import head_view, model_view`` becomes ``from attnscope import head_view, model_view``.
``attention`` is what bertviz takes (a tuple of per-layer (batch=1, heads, T, T) tensors or arrays, e.g.
``outputs.attentions``) or the model's whole output; ``html_action="return"`` gives a :class:`View` whose ``.data``
is the HTML string, as bertviz's ``IPython.display.HTML`` has it.
"""

from __future__ import annotations

import inspect
import warnings

import numpy as np

from attnscope._html import View, block_payload

# Why a model output holds no attention weights, and what to do instead
NO_WEIGHTS = ("SDPA and flash attention (transformers' default is SDPA) compute no attention weights, even with "
              "output_attentions=True: load the model with attn_implementation=\"eager\" "
              "(AutoModel.from_pretrained(name, attn_implementation=\"eager\")), or draw it with "
              "attnscope.show(model, tokenizer, text), which works with any attention implementation")


def _no_weights(what: str) -> ValueError:
    return ValueError(f"{what} holds no attention weights: {NO_WEIGHTS}")


def _stack(attention, what: str = "attention") -> np.ndarray:
    """bertviz's attention (a tuple of per-layer (batch, heads, T, T) tensors or arrays) -> (L, H, Tq, Tk)."""
    if attention is None:
        raise ValueError(f"{what} is None: call the model with output_attentions=True; note that {NO_WEIGHTS}")
    layers = list(attention)
    if not layers:
        raise ValueError(f"{what} is an empty tuple. If it is outputs[-1]: in transformers 5 that is "
                         "outputs.cross_attentions, empty for a model without cross-attention, so pass "
                         f"outputs.attentions. If that is empty too: {NO_WEIGHTS}")
    if all(a is None for a in layers):
        raise _no_weights(f"{what} (a tuple of None)")
    out = []
    for a in layers:
        if a is None:
            raise _no_weights(f"{what} (some layers are None)")
        if hasattr(a, "detach"):  # a torch tensor
            a = a.detach().float().cpu().numpy()
        a = np.asarray(a, dtype=np.float32)
        if a.ndim == 4:
            if a.shape[0] != 1:
                raise ValueError(f"{what} has a batch of {a.shape[0]}; pass one sequence (batch size 1)")
            a = a[0]
        if a.ndim != 3:
            raise ValueError(f"each layer of {what} must be (batch, heads, query, key); got shape {a.shape}")
        out.append(a)
    return np.stack(out)


def _is_model_output(x) -> bool:
    """A transformers ``ModelOutput`` (or anything with an ``attentions`` field), not a tuple of tensors."""
    return not isinstance(x, (tuple, list)) and (hasattr(x, "attentions") or hasattr(x, "encoder_attentions"))


def _outputs_last_rescue(attention, n_tokens: int):
    """The attentions behind an empty ``outputs[-1]``, from the caller's variables; None if there is no such output.

    bertviz's README passes ``outputs[-1]``. In transformers 5 that is ``outputs.cross_attentions``, an empty tuple
    for a model without cross-attention. When exactly one model output in the calling code's variables ends with
    that very tuple and holds self-attention over ``n_tokens`` tokens, its ``attentions`` are what was meant.
    """
    from transformers.utils import ModelOutput

    frame = inspect.currentframe()
    try:
        f = frame.f_back if frame is not None else None
        while f is not None and f.f_globals.get("__name__") == __name__:
            f = f.f_back
        if f is None:
            return None
        found, empty = {}, []
        for name, value in {**f.f_globals, **f.f_locals}.items():
            if name.startswith("_") or not isinstance(value, ModelOutput) or id(value) in found or not len(value):
                continue
            if value[-1] is not attention:
                continue
            att = getattr(value, "attentions", None)
            if not att or any(a is None for a in att):
                empty.append(name)
            elif getattr(att[0], "shape", (0,))[-1] == n_tokens:
                found[id(value)] = (name, att)
    finally:
        del frame
    if len(found) > 1:
        names = ", ".join(n for n, _ in found.values())
        raise ValueError(f"attention is an empty tuple, and several model outputs ({names}) end with it: pass "
                         "outputs.attentions of the one you mean")
    if found:
        name, att = next(iter(found.values()))
        warnings.warn(f"attnscope: {name}[-1] is {name}.cross_attentions in transformers 5, empty for a model "
                      f"without cross-attention; drawing {name}.attentions (pass it to say so)", stacklevel=4)
        return att
    if empty:
        raise _no_weights(f"{empty[0]}.attentions")
    return None


def _causal(w: np.ndarray) -> bool:
    """Every head of every layer lower-triangular (nothing above the diagonal): a decoder's causal self-attention."""
    t = w.shape[-1]
    return w.shape[-2] == t > 1 and not np.triu(w, 1).any()


def _pick(ids, n: int, what: str) -> list[int] | None:
    if ids is None:
        return None
    ids = [int(i) for i in ids]
    if not ids or any(not 0 <= i < n for i in ids):
        raise ValueError(f"{what} must be indices in 0 to {n - 1}; got {ids}")
    return ids


def _prettify(tokens, on: bool) -> list[str]:
    """bertviz's ``prettify_tokens``: byte-level and sentencepiece space marks as spaces, BPE's ``</w>`` dropped."""
    tokens = [str(t) for t in tokens]
    return [t.replace("Ġ", " ").replace("▁", " ").replace("</w>", "") for t in tokens] if on else tokens


def _group(name: str, att, q_tokens, k_tokens, layers, heads, kind: str | None = None) -> dict:
    w = _stack(att, f"{name}_attention" if name != "self" else "attention")
    L, H = w.shape[:2]
    layers, heads = _pick(layers, L, "include_layers"), _pick(heads, H, "include_heads")
    w = w[layers] if layers is not None else w
    w = w[:, heads] if heads is not None else w
    if kind is None:  # only tensors: a decoder's attention is lower-triangular
        kind = "causal" if _causal(w) else "self"
    block = "decoder" if name == "self" and kind == "causal" else "encoder" if name == "self" else name
    return block_payload(block, w, q_tokens, k_tokens, kind=kind, layer_ids=layers, head_ids=heads)


def _blocks(attention, tokens, encoder_attention, decoder_attention, cross_attention, encoder_tokens,
            decoder_tokens, layers=None, heads=None, prettify=True) -> list[dict]:
    if _is_model_output(attention):  # the model's whole output
        if getattr(attention, "encoder_attentions", None) is not None:
            attention, encoder_attention, decoder_attention, cross_attention = (
                None, attention.encoder_attentions, attention.decoder_attentions, attention.cross_attentions)
        else:
            attention = attention.attentions  # None: the model ran without output_attentions=True
    pairs = (encoder_attention, decoder_attention, cross_attention, encoder_tokens, decoder_tokens)
    if attention is not None or (tokens is not None and all(x is None for x in pairs)):
        if tokens is None:
            raise ValueError("pass the token list with the attention: tokenizer.convert_ids_to_tokens(inputs[0])")
        if any(x is not None for x in pairs):
            raise ValueError("pass either attention and tokens (self-attention), or encoder/decoder/cross attention "
                             "with encoder_tokens/decoder_tokens, not both")
        if isinstance(attention, (tuple, list)) and not attention:
            attention = _outputs_last_rescue(attention, len(tokens)) or attention
        tokens = _prettify(tokens, prettify)
        return [_group("self", attention, tokens, tokens, layers, heads)]
    if encoder_tokens is None and decoder_tokens is None:
        raise ValueError("pass attention and tokens, or encoder/decoder/cross attention with their token lists")
    src = _prettify(encoder_tokens, prettify) if encoder_tokens is not None else None
    tgt = _prettify(decoder_tokens, prettify) if decoder_tokens is not None else None
    out = []
    for name, att, q, k, kind in (("encoder", encoder_attention, src, src, "self"),
                                  ("decoder", decoder_attention, tgt, tgt, "causal"),
                                  ("cross", cross_attention, tgt, src, "cross")):
        if att is not None:
            if q is None or k is None:
                raise ValueError(f"{name}_attention needs " + ("encoder_tokens and decoder_tokens" if name == "cross"
                                 else f"{name}_tokens"))
            out.append(_group(name, att, q, k, layers, heads, kind))
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

    ``layer`` (the model's own index) and ``heads`` (the first of them) choose what is drawn first;
    ``include_layers`` keeps only those layers; ``sentence_b_start`` draws a line where sentence B starts;
    ``html_action="return"`` returns the figure (``.data``: its HTML) instead of displaying it.
    """
    blocks = _blocks(attention, tokens, encoder_attention, decoder_attention, cross_attention, encoder_tokens,
                     decoder_tokens, include_layers, None, prettify_tokens)
    first = blocks[0]
    ids = first.get("layerIds", list(range(first["L"])))
    if layer is not None and layer not in ids:
        raise ValueError(f"layer {layer} is not among the layers drawn ({ids}): see include_layers")
    head = _pick(heads, first["H"], "heads")
    view = View(blocks, view="attention", layer=ids.index(layer) if layer is not None else 0,
                head=head[0] if head else 0, title="Attention (head view)", divider=sentence_b_start)
    return _out(view, html_action)


def model_view(attention=None, tokens=None, sentence_b_start=None, prettify_tokens=True, display_mode="dark",
               encoder_attention=None, decoder_attention=None, cross_attention=None, encoder_tokens=None,
               decoder_tokens=None, include_layers=None, include_heads=None, html_action="view"):
    """Every layer x head as a thumbnail, bertviz's ``model_view`` arguments; click one to open it.

    ``display_mode`` ("dark" or "light") is accepted for bertviz's sake: the figure follows the notebook's theme.
    """
    if display_mode not in ("dark", "light"):
        raise ValueError("display_mode must be 'dark' or 'light'")
    blocks = _blocks(attention, tokens, encoder_attention, decoder_attention, cross_attention, encoder_tokens,
                     decoder_tokens, include_layers, include_heads, prettify_tokens)
    view = View(blocks, view="model", title="Attention (model view)", divider=sentence_b_start)
    return _out(view, html_action)
