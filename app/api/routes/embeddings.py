from fastapi import APIRouter
from pydantic import Field, model_validator

from attnscope_server.api.deps import RegistryDep, SettingsDep, checked_text, resolve
from attnscope.encode import encode
from attnscope_server.api.schemas import Answer, Format, ModelRequest, Strict, TextRequest
from attnscope.settings import Settings
from attnscope.inspection import embeddings as emb
from attnscope.inspection.registry import Registry
from attnscope.inspection.trace import Trace

router = APIRouter(prefix="/api", tags=["embeddings"])


class EmbeddingsRequest(TextRequest):
    format: Format = Field(default="json", description="json: nested lists; f16: base64 little-endian float16")


class TokenChoice(Strict):
    text: str = Field(description="a sentence")
    index: int | None = Field(default=None, description="position of the token in the sentence's tokens ([CLS] is 0)")
    word: str | None = Field(default=None, max_length=200,
                             description="or: the first token equal to this word (case-insensitive)")

    @model_validator(mode="after")
    def _one_of(self):
        if (self.index is None) == (self.word is None):
            raise ValueError("give either index or word, not both and not neither")
        return self


class SimilarityRequest(ModelRequest):
    a: TokenChoice = Field(description="sentence a and its token")
    b: TokenChoice = Field(description="sentence b and its token")
    format: Format = Field(default="json", description="format of within_a / within_b")


Matrix = list[list[float]]
Cube = list[list[list[float]]]


class EmbeddingShapes(Answer):
    token_embeddings: list[int] | None
    position_embeddings: list[int] | None
    hidden_states: list[int]
    norms: list[int]
    pca: list[int]


class Pca(Answer):
    points: Cube = Field(description="(layers + 1, T, 2) each token on the layer's first two components")
    explained_variance_ratio: Matrix = Field(description="(layers + 1, 2)")


class EmbeddingsResponse(Answer):
    model: str
    text: str
    tokens: list[str]
    ids: list[int]
    special: list[bool]
    vocab_size: int | None
    positional: str
    layers: int
    d_model: int
    format: Format
    shape: EmbeddingShapes
    token_embeddings: str | Matrix | None = Field(description="(T, d) in ``format``; null where the model has none")
    position_embeddings: str | Matrix | None = Field(description="(T, d) learned positions; null without a table")
    hidden_states: str | Cube = Field(description="(layers + 1, T, d) in ``format``")
    norms: Matrix = Field(description="(layers + 1, T) each hidden state's L2 norm")
    pca: Pca


class SimilarityShapes(Answer):
    within_a: list[int]
    within_b: list[int]


class SimilarityResponse(Answer):
    model: str
    tokens_a: list[str]
    tokens_b: list[str]
    a_index: int
    b_index: int
    a_token: str
    b_token: str
    layers: list[int]
    cosine: list[float] = Field(description="per layer (0 = the embedding output): the two tokens' cosine")
    format: Format
    shape: SimilarityShapes
    within_a: str | Cube = Field(description="(layers + 1, Ta, Ta) sentence a's token-by-token cosines")
    within_b: str | Cube


@router.post("/embeddings", summary="Token and position embeddings, hidden states after every layer, and their PCA.",
             response_model=EmbeddingsResponse, response_model_exclude_unset=True)
def embeddings(req: EmbeddingsRequest, registry: RegistryDep, settings: SettingsDep) -> dict:
    """Token and position embeddings, hidden states after every layer, and their PCA.

    ``hidden_states`` is (layers + 1, T, d): the input of the first layer, then the
    output of each layer (the encoder's, for encoder-decoders). ``format`` applies to
    ``token_embeddings``, ``position_embeddings`` and ``hidden_states``; ``norms`` and
    ``pca`` are always JSON. PCA is per layer (SVD of the centred token vectors), its
    component signs aligned from one layer to the next.
    """
    r = resolve(req, registry, settings)
    adapter, text = r.adapter, r.text
    trace = registry.trace(req.model, text)
    h = emb.hidden(trace)  # (L + 1, T, d)
    tok, pos = trace.token_embeddings, trace.position_embeddings
    points, ratio = emb.pca_layers(h)  # (L + 1, T, 2), (L + 1, 2)
    return {
        "model": req.model,
        "text": text,
        "tokens": trace.tokens.text,
        "ids": trace.tokens.ids,
        "special": trace.tokens.special,
        "vocab_size": emb.vocab_size(adapter),
        "positional": adapter.info.positional,
        "layers": int(h.shape[0] - 1),
        "d_model": int(h.shape[2]),
        "format": req.format,
        "shape": {
            "token_embeddings": list(tok.shape) if tok is not None else None,
            "position_embeddings": list(pos.shape) if pos is not None else None,
            "hidden_states": list(h.shape),
            "norms": list(h.shape[:2]),
            "pca": list(points.shape),
        },
        "token_embeddings": encode(tok, req.format) if tok is not None else None,
        "position_embeddings": encode(pos, req.format) if pos is not None else None,
        "hidden_states": encode(h, req.format),
        "norms": encode(emb.norms(h), "json"),
        "pca": {"points": encode(points, "json"), "explained_variance_ratio": encode(ratio, "json")},
    }


def _pick(choice: TokenChoice, trace: Trace, name: str) -> int:
    toks = trace.tokens.text
    if choice.word is not None:
        return emb.find_token(toks, choice.word, f"sentence {name}")
    if not 0 <= choice.index < len(toks):
        raise ValueError(
            f"index {choice.index} is out of range: sentence {name} has {len(toks)} tokens (0 to {len(toks) - 1})"
        )
    return choice.index


def _trace(registry: Registry, settings: Settings, model: str, choice: TokenChoice, name: str) -> Trace:
    adapter = registry.get(model)
    return registry.trace(model, checked_text(choice.text, adapter, settings, what=f"sentence {name}"))


@router.post("/similarity", summary="Cosine similarity of one token in two sentences, layer by layer.",
             response_model=SimilarityResponse, response_model_exclude_unset=True)
def similarity(req: SimilarityRequest, registry: RegistryDep, settings: SettingsDep) -> dict:
    """Cosine similarity of one token in two sentences, layer by layer (layer 0 = the embedding output).

    ``within_a`` / ``within_b`` are (layers + 1, T, T): each sentence's token-by-token cosines.
    """
    ta = _trace(registry, settings, req.model, req.a, "a")
    tb = _trace(registry, settings, req.model, req.b, "b")
    i, j = _pick(req.a, ta, "a"), _pick(req.b, tb, "b")
    ha, hb = emb.hidden(ta), emb.hidden(tb)  # (L + 1, Ta, d), (L + 1, Tb, d)
    within_a = emb.cosine_matrices(ha)
    within_b = emb.cosine_matrices(hb)
    return {
        "model": req.model,
        "tokens_a": ta.tokens.text,
        "tokens_b": tb.tokens.text,
        "a_index": i,
        "b_index": j,
        "a_token": ta.tokens.text[i],
        "b_token": tb.tokens.text[j],
        "layers": list(range(ha.shape[0])),
        "cosine": [emb.cosine(ha[layer, i], hb[layer, j]) for layer in range(ha.shape[0])],
        "format": req.format,
        "shape": {"within_a": list(within_a.shape), "within_b": list(within_b.shape)},
        "within_a": encode(within_a, req.format),
        "within_b": encode(within_b, req.format),
    }
