"""Typed answers: every JSON route's answer validates against the response model it declares in OpenAPI.

The models let unknown keys through (answers may gain fields), so each one is checked here through a
twin that forbids them: a field an answer carries but its model does not declare fails the test.
Every JSON route of /openapi.json must be called below (routes owned by other work are listed apart).
"""

from __future__ import annotations

import copy
import types
from typing import Annotated, Literal, Union, get_args, get_origin

import pytest
from pydantic import BaseModel, ConfigDict, RootModel, create_model

from tests.inspect import family_fixtures as ff

#: JSON routes whose response models belong to other work (they are checked once they declare one)
ELSEWHERE: set = {("get", "/api/atlas/{job}")}  # a job id needs a job: tests/api/test_atlas_api.py checks
# every atlas answer (202, 201, each status, the list) against these same strict twins
ELSEWHERE_PREFIXES = ("/api/long",)
FR = "je suis étudiant"
EN = "The cat sat on the mat."


# --- strict twins of the response models ------------------------------------------------------------


def strict(tp, memo: dict | None = None):
    """``tp`` with every pydantic model in it replaced by a copy that forbids undeclared keys."""
    memo = {} if memo is None else memo
    if isinstance(tp, type) and issubclass(tp, RootModel):
        f = tp.model_fields["root"]
        return RootModel[Annotated[strict(f.annotation, memo), copy.copy(f)]]
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        if tp not in memo:
            fields = {name: (strict(f.annotation, memo), copy.copy(f)) for name, f in tp.model_fields.items()}
            memo[tp] = create_model(f"{tp.__name__}Strict", __config__=ConfigDict(extra="forbid"), **fields)
        return memo[tp]
    origin, args = get_origin(tp), get_args(tp)
    if origin is None or origin is Literal:
        return tp
    if origin is Annotated:
        return Annotated[(strict(args[0], memo), *tp.__metadata__)]
    if origin in (Union, types.UnionType):
        return Union[tuple(strict(a, memo) for a in args)]
    return origin[tuple(strict(a, memo) for a in args)] if len(args) > 1 else origin[strict(args[0], memo)]


def test_a_strict_twin_refuses_an_undeclared_key():
    from attnscope_server.api.routes.heads import HeadsResponse
    from attnscope_server.api.routes.ablate import AblateResponse

    body = {"model": "m", "block": "encoder", "layers": 1, "heads": 1, "query_tokens": [], "key_tokens": [],
            "stats": [[{"entropy": 1, "entropy_norm": 1, "distance": 0, "self": None, "previous": None, "next": None,
                        "first": 0, "special": 0, "label": "mixed"}]], "labels_rules": []}
    HeadsResponse.model_validate(body)
    strict(HeadsResponse).model_validate(body)
    body["stats"][0][0]["surprise"] = 1.0
    HeadsResponse.model_validate(body)  # the app's own model lets a new key through...
    with pytest.raises(ValueError, match="surprise"):
        strict(HeadsResponse).model_validate(body)  # ...its twin does not
    enc = {"model": "m", "text": "t", "block": "encoder", "heads": [], "kind": "encoder", "before": [1.0],
           "after": [1.0], "cosine": 1.0, "tokens": ["t"], "token_cosine": [1.0]}
    strict(AblateResponse).model_validate(enc)
    with pytest.raises(ValueError):
        strict(AblateResponse).model_validate({**enc, "kl": 0.0})


# --- the routes -----------------------------------------------------------------------------------------


def json_routes(app) -> dict[tuple[str, str], dict]:
    """(method, path template) -> the OpenAPI 200 response of every operation answering JSON."""
    out = {}
    for path, ops in app.openapi()["paths"].items():
        for method, op in ops.items():
            ok = op.get("responses", {}).get("200", {})
            if "application/json" in ok.get("content", {}):
                out[(method, path)] = ok
    return out


def elsewhere(key: tuple[str, str]) -> bool:
    return key in ELSEWHERE or key[1].startswith(ELSEWHERE_PREFIXES)


def api_route(method: str, path: str):
    """The route of the app's routers (``app/api/routes/*``) answering ``method path``."""
    from fastapi.routing import APIRoute

    from attnscope_server.main import discover_routers

    for router in discover_routers():
        for r in router.routes:
            if isinstance(r, APIRoute) and r.path == path and method.upper() in r.methods:
                return r
    raise AssertionError(f"no route {method.upper()} {path}")


def response_model(method: str, path: str):
    """The model a route declares: ``response_model``, or ``responses={200: {"model": ...}}``."""
    r = api_route(method, path)
    declared = r.response_model or r.responses.get(200, {}).get("model")
    assert declared is not None, f"{method.upper()} {path} declares no response model"
    return declared


#: (route template, method, path, keyword arguments of the call)
CALLS = [
    ("/healthz", "get", "/healthz", {}),
    ("/api/models", "get", "/api/models", {}),
    ("/api/attention", "post", "/api/attention", {"json": {"model": "minilm", "text": EN, "layer": 0}}),
    ("/api/block-steps", "post", "/api/block-steps", {"json": {"model": "minilm", "text": EN, "layer": 1, "query": 2}}),
    ("/api/block-steps", "post", "/api/block-steps", {"json": {"model": "smollm2", "text": EN, "layer": 0, "query": 2}}),
    ("/api/block-steps", "post", "/api/block-steps",
     {"json": {"model": "textbook", "text": FR, "layer": 0, "query": 1}}),
    ("/api/attention", "post", "/api/attention", {"json": {"model": "minilm", "text": EN, "format": "f16"}}),
    ("/api/attention", "post", "/api/attention", {"json": {"model": "smollm2", "text": EN, "layer": 1, "format": "u8"}}),
    ("/api/attention", "post", "/api/attention",
     {"json": {"model": "textbook", "text": FR, "block": "cross", "target": "i am a student"}}),
    ("/api/rollout", "post", "/api/rollout", {"json": {"model": "minilm", "text": EN}}),
    ("/api/rollout", "post", "/api/rollout", {"json": {"model": "textbook", "text": FR, "block": "decoder", "layer": 1}}),
    ("/api/heads", "post", "/api/heads", {"json": {"model": "minilm", "text": EN}}),
    ("/api/heads", "post", "/api/heads", {"json": {"model": "textbook", "text": FR, "block": "cross"}}),
    ("/api/steps", "post", "/api/steps", {"json": {"model": "minilm", "text": EN, "layer": 1, "head": 2, "query": 3}}),
    ("/api/steps", "post", "/api/steps",
     {"json": {"model": "textbook", "text": FR, "block": "cross", "layer": 0, "head": 0, "query": 1}}),
    ("/api/ablate", "post", "/api/ablate", {"json": {"model": "minilm", "text": EN, "heads": [[0, 1]]}}),
    ("/api/ablate", "post", "/api/ablate", {"json": {"model": "smollm2", "text": EN, "heads": [[0, 0]]}}),
    ("/api/ablate", "post", "/api/ablate", {"json": {"model": "textbook", "text": FR, "heads": [[0, 0], [1, 2]]}}),
    ("/api/norms", "post", "/api/norms", {"json": {"model": "minilm", "text": EN, "layer": 5}}),
    ("/api/knockout", "post", "/api/knockout", {"json": {"model": "smollm2", "text": EN, "edges": [[0, 4, 1], [1, 5, 0]]}}),
    ("/api/embeddings", "post", "/api/embeddings", {"json": {"model": "minilm", "text": EN}}),
    ("/api/embeddings", "post", "/api/embeddings", {"json": {"model": "smollm2", "text": EN, "format": "f16"}}),
    ("/api/embeddings", "post", "/api/embeddings", {"json": {"model": "textbook", "text": FR}}),
    ("/api/similarity", "post", "/api/similarity",
     {"json": {"model": "minilm", "a": {"text": "the bank of the river", "word": "bank"},
               "b": {"text": "money in the bank", "index": 3}}}),
    ("/api/similarity", "post", "/api/similarity",
     {"json": {"model": "minilm", "a": {"text": "a cat", "index": 1}, "b": {"text": "a dog", "index": 1},
               "format": "f16"}}),
    ("/api/next-token", "post", "/api/next-token", {"json": {"model": "smollm2", "text": "The capital of France is"}}),
    ("/api/next-token", "post", "/api/next-token", {"json": {"model": "textbook", "text": FR, "target": "i am"}}),
    ("/api/generate", "post", "/api/generate", {"json": {"model": "smollm2", "text": "Once", "max_new_tokens": 3}}),
    ("/api/generate", "post", "/api/generate",
     {"json": {"model": "smollm2", "text": "Once", "max_new_tokens": 2, "strategy": "sample", "seed": 1}}),
    ("/api/generate", "post", "/api/generate",
     {"json": {"model": "smollm2", "text": "Once", "max_new_tokens": 2, "strategy": "beam", "beam_width": 2}}),
    ("/api/generate", "post", "/api/generate", {"json": {"model": "textbook", "text": FR}}),
    ("/api/generate", "post", "/api/generate",
     {"json": {"model": "textbook", "text": FR, "strategy": "beam", "beam_width": 2, "max_new_tokens": 5}}),
    ("/api/kv-cache", "get", "/api/kv-cache", {"params": {"model": "minilm"}}),
    ("/api/kv-cache", "get", "/api/kv-cache", {"params": {"model": "smollm2", "tokens": 8, "dtype": "int8"}}),
    ("/api/kv-cache", "get", "/api/kv-cache", {"params": {"model": "textbook"}}),
    ("/api/patterns", "post", "/api/patterns", {"json": {"text": FR}}),
    ("/api/patterns", "post", "/api/patterns", {"json": {"model": "textbook", "text": FR, "pattern": "global",
                                                           "tokens": [0, 2]}}),
    ("/api/playground", "post", "/api/playground", {"json": {"q": [[1, 0], [0, 1]], "k": [[1, 0], [0, 1]],
                                                               "v": [[1, 2], [3, 4]], "mask": "causal"}}),
    ("/api/playground", "post", "/api/playground",
     {"json": {"x": [[1, 0], [0, 1]], "w_q": [[1, 0], [0, 1]], "w_k": [[1, 0], [0, 1]], "w_v": [[1, 0], [0, 1]]}}),
    ("/api/playground", "post", "/api/playground", {"json": {"scores": [[1, 2], [3, 4]], "tokens": ["a", "b"]}}),
    ("/api/playground/presets", "get", "/api/playground/presets", {}),
    ("/api/positional", "get", "/api/positional", {"params": {"positions": 8, "d": 8, "k": 2}}),
    ("/api/positional", "get", "/api/positional", {"params": {"kind": "learned", "model": "minilm", "positions": 4}}),
    ("/api/positional", "get", "/api/positional",
     {"params": {"kind": "rotary", "model": "smollm2", "positions": 4, "format": "f16"}}),
    ("/api/rope-demo", "post", "/api/rope-demo", {"json": {"model": "smollm2", "text": EN, "query": 3, "key": 1,
                                                            "positions": 4}}),
    ("/api/scale", "get", "/api/scale", {}),
    ("/api/seq2seq", "post", "/api/seq2seq", {"json": {"model": "textbook", "text": FR}}),
    ("/api/slides", "get", "/api/slides", {}),
    ("/api/tokenize", "post", "/api/tokenize", {"json": {"text": "Tokenisation splits unbelievable words"}}),
    ("/api/tokenize", "post", "/api/tokenize", {"json": {"text": "hello there", "models": ["minilm", "smollm2"]}}),
    ("/api/translate", "post", "/api/translate", {"json": {"text": FR}}),
    ("/api/translate", "post", "/api/translate", {"json": {"model": "textbook", "text": "le chat xyz",
                                                             "strategy": "beam", "beam_width": 2}}),
    ("/api/class", "post", "/api/class", {}),
    ("/api/class/{code}", "get", "/api/class/{code}", {}),  # the code of the class started just before
    ("/api/atlas", "get", "/api/atlas", {}),  # reads the atlas folder, writes nothing (jobs: test_atlas_api.py)
    ("/api/lens", "post", "/api/lens", {"json": {"model": "smollm2", "text": "The capital of France is", "k": 3}}),
    ("/api/patch", "post", "/api/patch",
     {"json": {"model": "smollm2", "clean": "When Mary and John went to the store, John gave a drink to",
               "corrupt": "When Mary and John went to the store, Mary gave a drink to", "heads": [[23, 3], [0, 0]]}}),
    ("/api/patch/presets", "get", "/api/patch/presets", {}),
]
#: the same over tiny Hugging Face models: an encoder-decoder (T5) takes the Hugging Face paths
TINY_CALLS = [
    ("/api/models", "get", "/api/models", {}),
    ("/api/seq2seq", "post", "/api/seq2seq", {"json": {"model": "tiny-t5", "text": EN, "max_new_tokens": 3}}),
    ("/api/block-steps", "post", "/api/block-steps", {"json": {"model": "tiny-t5", "text": EN, "layer": 1, "query": 2}}),
    ("/api/block-steps", "post", "/api/block-steps",
     {"json": {"model": "tiny-gpt2", "text": EN, "layer": 1, "query": 2}}),
    ("/api/translate", "post", "/api/translate", {"json": {"model": "tiny-t5", "text": EN}}),
    ("/api/ablate", "post", "/api/ablate", {"json": {"model": "tiny-t5", "text": EN, "heads": [[1, 1]]}}),
    ("/api/steps", "post", "/api/steps",
     {"json": {"model": "tiny-t5", "text": EN, "block": "decoder", "target": "It sat.", "layer": 0, "head": 0,
               "query": 1}}),
    ("/api/embeddings", "post", "/api/embeddings", {"json": {"model": "tiny-gpt2", "text": EN}}),
    ("/api/positional", "get", "/api/positional", {"params": {"kind": "learned", "model": "tiny-gpt2",
                                                              "positions": 3}}),
    ("/api/lens", "post", "/api/lens", {"json": {"model": "tiny-t5", "text": EN, "target": "It sat.", "k": 2}}),
]


@pytest.fixture(scope="module")
def tiny_client(tmp_path_factory):
    """Tiny T5 and GPT-2, and a model that fails to load (a failed entry in /api/models)."""
    from fastapi.testclient import TestClient

    from attnscope.inspection.registry import Registry, build_adapter
    from attnscope.settings import ModelSpec, Settings
    from attnscope_server.main import create_app

    specs = [ModelSpec(id="tiny-t5", source="test"), ModelSpec(id="tiny-gpt2", source="test"),
             ModelSpec(id="broken", source=str(tmp_path_factory.mktemp("empty")))]

    def builder(spec):
        return ff.tiny(spec.id.removeprefix("tiny-")) if spec.source == "test" else build_adapter(spec)

    settings = Settings(models=specs, load_at_start=False, models_wait=30.0)
    with TestClient(create_app(settings, Registry(settings, builder=builder))) as c:
        for s in specs:
            c.post("/api/heads", json={"model": s.id, "text": "x"})  # load each (the broken one fails)
        yield c


def check(client, template: str, method: str, path: str, kwargs: dict, state: dict) -> None:
    if "{code}" in path:
        path = path.replace("{code}", state["code"])
    r = client.request(method.upper(), path, **kwargs)
    assert r.status_code == 200, (path, kwargs, r.text[:500])
    body = r.json()
    if path == "/api/class":
        state["code"] = body["code"]
    declared = response_model(method, template)
    declared.model_validate(body)
    strict(declared).model_validate(body)


def test_every_json_route_answers_what_its_model_declares(client):
    state: dict = {}
    for template, method, path, kwargs in CALLS:
        check(client, template, method, path, kwargs, state)
    called = {(m, t) for t, m, _, _ in CALLS}
    missing = {k for k in json_routes(client.app) if not elsewhere(k)} - called
    assert not missing, f"JSON routes with no call in CALLS: {sorted(missing)}"


def test_hugging_face_encoder_decoders_and_failed_models_answer_their_models_too(tiny_client):
    for template, method, path, kwargs in TINY_CALLS:
        check(tiny_client, template, method, path, kwargs, {})
    models = {m["id"]: m for m in tiny_client.get("/api/models").json()["models"]}
    assert models["broken"]["status"] == "failed" and not any(models["broken"]["capabilities"].values())


@pytest.mark.parametrize("app_client", ["client"])
def test_openapi_describes_every_json_answer_with_a_component(app_client, request):
    app = request.getfixturevalue(app_client).app
    spec = app.openapi()
    routes = json_routes(app)
    assert len(routes) > 20
    bad = []
    for key, ok in routes.items():
        schema = ok["content"]["application/json"].get("schema", {})
        ref = schema.get("$ref", "")
        if not (ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] in spec["components"]["schemas"]):
            bad.append(key)
    assert set(bad) <= ELSEWHERE, f"JSON answers without a component schema: {sorted(set(bad) - ELSEWHERE)}"
    attention = routes[("post", "/api/attention")]
    assert "application/octet-stream" in attention["content"]  # the binary form is still documented


def test_the_big_answers_are_documented_not_validated():
    """/api/attention and /api/rollout serialise once, as bytes: FastAPI neither validates nor re-encodes them."""
    for path in ("/api/attention", "/api/rollout"):
        route = api_route("post", path)
        assert route.response_model is None and route.response_field is None
        assert route.responses[200]["model"].__name__.endswith("Response")
