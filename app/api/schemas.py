"""Request bodies and answers of the API. Field names are the public contract: extend, never rename.

Requests share one base: :class:`ModelRequest` (the ``model`` field), :class:`TextRequest` (+ ``text``),
:class:`BlockRequest` (+ ``block`` and ``target``); :func:`attnscope_server.api.deps.resolve` turns one
into the adapter, the checked text, the block and the checked target.

Answers derive from :class:`Answer`. A field an answer may leave out has a default (routes serialise
with ``exclude_unset``, so it stays out rather than coming back as null); keys a model does not
declare pass through (answers may gain fields: clients should ignore what they do not know).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Format = Literal["json", "f16"]
#: attention weights lie in [0, 1], so they also have an 8-bit form
AttentionFormat = Literal["json", "f16", "u8", "f32"]
Block = Literal["encoder", "decoder", "cross"]
ModelId = Annotated[str, Field(max_length=64, description="a model id from /api/models")]
#: (start, end) character offsets of each token into its text; null for a token from no character
Offsets = list[Annotated[list[int], Field(min_length=2, max_length=2)] | None]
#: json: nested lists of floats; f16 (u8): base64 little-endian float16 (bytes of round(w * 255))
Encoded = str | list[Any]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False)


class ModelRequest(Strict):
    """A request about one model."""

    model: ModelId


class TextRequest(ModelRequest):
    """A request about one text read by one model."""

    text: str = Field(description="the input sentence (the source, for encoder-decoders)")


class BlockRequest(TextRequest):
    """A request about one attention block of a model reading a text (and, for encoder-decoders, a target)."""

    block: Block | None = Field(default=None, description="encoder | decoder | cross; default: the model's first")
    target: str | None = Field(
        default=None, description="the decoder input text (encoder-decoders); omitted = the model's own translation"
    )


class AttentionRequest(BlockRequest):
    layer: int | None = Field(default=None, description="one layer; omitted = all layers")
    format: AttentionFormat = Field(
        default="json",
        description="json: nested lists; f16: base64 little-endian float16; "
        "u8: base64 bytes, weight = byte / 255 (exact to 0.002, half of f16's bytes); "
        "f32: base64 little-endian float32 (the model's numbers as computed, twice f16's bytes)",
    )


# --- answers --------------------------------------------------------------------------------------


class Answer(BaseModel):
    """A JSON answer (keys it does not declare pass through)."""

    model_config = ConfigDict(extra="allow")


class AttentionResponse(Answer):
    """``POST /api/attention``: one layer's (or every layer's) per-head attention weights."""

    model: str
    text: str = Field(description="the text as read")
    block: Block
    layer: int | None = Field(description="the layer; null: every layer")
    tokens: list[str] = Field(description="the text's tokens (the source, for encoder-decoders)")
    query_tokens: list[str] = Field(description="the rows: the text's tokens, or the decoder input's")
    key_tokens: list[str] = Field(description="the columns")
    query_special: list[bool]
    key_special: list[bool]
    query_offsets: Offsets
    query_predicts: list[str] | None = Field(
        description="decoder and cross blocks: the token each row predicts (row i predicts token i + 1)")
    key_offsets: Offsets
    target: str | None = Field(description="the decoder input text (encoder-decoders), else null")
    shape: list[int] = Field(description="[heads, queries, keys], or [layers, heads, queries, keys] for every layer")
    format: AttentionFormat
    weights: str | list[list[list[float]]] | list[list[list[list[float]]]] = Field(
        description="json: nested lists of shape `shape`; f16: base64 float16; u8: base64 round(w * 255) "
                    "(absent from the binary answer's header)")


class Candidate(Answer):
    """One possible next token."""

    token: str = Field(description="display text")
    id: int
    logit: float
    prob: float = Field(description="softmax at temperature 1, nothing filtered")
    prob_sampled: float = Field(description="after temperature, top-k, top-p (0 for filtered tokens)")


class NextTokenResponse(Answer):
    model: str
    text: str
    tokens: list[str] = Field(description="the prompt's tokens (textbook: the French source's)")
    candidates: list[Candidate] = Field(description="most likely first")
    target: str | None = Field(default=None, description="encoder-decoders: the translation so far")
    target_tokens: list[str] | None = Field(default=None, description="encoder-decoders: <s> + the target's tokens")


class KvCacheNow(Answer):
    """The KV cache when a step's token is chosen."""

    tokens: int = Field(description="cached positions (= p)")
    bytes_per_token: int
    bytes: int
    beams: int
    bytes_all_beams: int


class GenerateStep(Answer):
    """One generated token, what produced it, and the attention of the query that produced it."""

    index: int
    token: str
    id: int
    prob: float
    prob_sampled: float
    candidates: list[Candidate]
    text: str = Field(description="the whole continuation so far")
    finished: bool
    shape: list[int] = Field(description="(layers, heads, p) of attention")
    attention: str = Field(description="base64 float16: the producing query's attention over the p tokens before it")
    kv_cache: KvCacheNow | None = Field(default=None, description="decoders")
    cross_shape: list[int] | None = Field(default=None, description="textbook: (layers, heads, source tokens)")
    cross_attention: str | None = Field(default=None, description="textbook: base64 float16 over the source")


class BeamNode(Answer):
    step: int
    parent: int = Field(description="index among the previous step's kept hypotheses (-1 at step 0)")
    token: str
    id: int
    logprob: float
    score: float = Field(description="cumulative log-probability")
    kept: bool
    finished: bool
    rank: int


class GreedyStep(Answer):
    token: str
    id: int
    logprob: float
    score: float


class BeamTree(Answer):
    """Every step's kept and pruned hypotheses of a beam search, and greedy decoding's path beside it."""

    beam_width: int
    steps: list[list[BeamNode]]
    kept: list[list[int]]
    best: list[int]
    best_score: float
    greedy: list[GreedyStep]
    greedy_score: float
    diverge_step: int | None


class GenerationStart(Answer):
    """What a generation answer (and the stream's ``start`` line) begins with."""

    model: str
    kind: str
    strategy: Literal["greedy", "sample", "beam"]
    seed: int | None
    prompt: str
    prompt_tokens: list[str]
    layers: int
    heads: int
    kv_heads: int
    format: Literal["f16"]


class GenerateResponse(GenerationStart):
    """``POST /api/generate``: the whole generation, step by step."""

    tokens: list[str]
    ids: list[int]
    text: str = Field(description="the continuation (the translation, for the textbook model)")
    full_text: str | None = Field(description="decoders: prompt + continuation")
    finished: bool
    stopped: bool
    attention_request: AttentionRequest | None = Field(
        description="the /api/attention body for the text so far")
    steps: list[GenerateStep]
    beam_tree: BeamTree | None = Field(default=None, description="strategy beam")
