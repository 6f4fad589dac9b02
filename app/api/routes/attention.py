import json

from fastapi import APIRouter, Request, Response

from attnscope_server.api.deps import RegistryDep, SettingsDep, resolve
from attnscope.encode import BINARY_TYPE, binary, encode, raw_bytes
from attnscope_server.api.schemas import AttentionRequest, AttentionResponse

router = APIRouter(prefix="/api", tags=["attention"])


#: the answer is documented, not validated: its weights are tens of megabytes, serialised once as bytes
_ANSWERS = {
    200: {
        "model": AttentionResponse,
        "description": (
            "JSON. For format f16, u8 or f32 with ``Accept: application/octet-stream``, the same answer in "
            "binary, with no base64: uint32 LE n | n bytes of UTF-8 JSON (every field but ``weights``; "
            "padded with spaces so the array starts at a multiple of 4) | the array's raw bytes "
            "(float16 or float32 LE, or uint8 round(w * 255)) in C order, shape ``shape``."),
        "content": {BINARY_TYPE: {"schema": {"type": "string", "format": "binary"}}},
    }
}


@router.post("/attention", summary="Per-head attention weights of one layer (or all layers) for a sentence.",
             response_class=Response, response_model=None, responses=_ANSWERS)
def attention(req: AttentionRequest, registry: RegistryDep, settings: SettingsDep, request: Request) -> Response:
    """Per-head attention weights of one layer (or all layers) for a sentence.

    Send ``Accept: application/octet-stream`` with format f16, u8 or f32 for a binary answer (a third
    smaller, nothing to decode from base64); every other client gets JSON, as before.
    """
    r = resolve(req, registry, settings)
    adapter, text, block, target = r.adapter, r.text, r.block, r.target
    trace = registry.trace(req.model, text, target, full=False)  # weights and logits: nothing else captured
    weights = trace.weights(block, req.layer)  # validates the layer
    q_toks, k_toks = trace.query_key_tokens(block)
    predicts = None
    if block != "encoder" and trace.logits is not None:  # row i of a decoder predicts token i + 1
        predicts = adapter.output_tokens(trace.logits.argmax(-1).tolist())
    body = {
        "model": req.model,
        "text": text,
        "block": block,
        "layer": req.layer,
        "tokens": trace.tokens.text,
        "query_tokens": q_toks.text,
        "key_tokens": k_toks.text,
        "query_special": q_toks.special,
        "key_special": k_toks.special,
        "query_offsets": q_toks.to_dict()["offsets"],
        "query_predicts": predicts,
        "key_offsets": k_toks.to_dict()["offsets"],
        "target": trace.target,
        "shape": list(weights.shape),
        "format": req.format,
    }
    if req.format != "json" and wants_binary(request.headers.get("accept", "")):
        return Response(binary(body, raw_bytes(weights, req.format)), media_type=BINARY_TYPE)
    body["weights"] = encode(weights, req.format)
    return json_response(body)


def wants_binary(accept: str) -> bool:
    """True when the client lists ``application/octet-stream`` in Accept and prefers it to JSON."""
    prefs = {}
    for part in accept.split(","):
        kind, *params = (p.strip() for p in part.split(";"))
        q = next((p[2:] for p in params if p.startswith("q=")), "1")
        try:
            prefs[kind.lower()] = float(q)
        except ValueError:
            prefs[kind.lower()] = 0.0
    octet = prefs.get(BINARY_TYPE, 0.0)
    return octet > 0 and octet >= prefs.get("application/json", 0.0)


def json_response(body: dict) -> Response:
    """The answer serialised once, as bytes, with FastAPI's encoder skipped.

    A compact format's weights are one base64 string of up to tens of megabytes; base64 needs no
    JSON escaping, so it is spliced in as bytes rather than scanned again by ``json.dumps``. A body
    without a string ``weights`` is dumped as it is.
    """
    weights = body.get("weights")
    if isinstance(weights, str):
        head = json.dumps({**body, "weights": ""}, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        marker = '"weights":""'
        i = head.rindex(marker) + len(marker) - 1
        content = b"".join((head[:i].encode("utf-8"), weights.encode("ascii"), head[i:].encode("utf-8")))
    else:
        content = json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")
    return Response(content, media_type="application/json")
