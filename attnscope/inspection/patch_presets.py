"""Prompt pairs for activation patching (``GET /api/patch/presets``): the same number of tokens on SmolLM2."""

from __future__ import annotations

#: the presets of ``GET /api/patch/presets`` (token counts checked on SmolLM2: 14 and 14, 17 and 17)
PATCH_PRESETS: dict[str, dict] = {
    "ioi": {
        "title": "Indirect object (IOI): who gets the drink?",
        "clean": "When Mary and John went to the store, John gave a drink to",
        "corrupt": "When Mary and John went to the store, Mary gave a drink to",
        "target": " Mary", "foil": " John", "metric": "logit_diff", "mode": "heads",
        "note": "SmolLM2 says ' Mary' (0.92) on the clean prompt and ' John' (0.75) on the corrupt one: which "
                "heads carry the name that was not repeated?",
    },
    "animal": {
        "title": "The animal and the street: what does 'it' refer to?",
        "clean": "The animal didn't cross the street because it was too tired. It refers to the",
        "corrupt": "The animal didn't cross the street because it was too wide. It refers to the",
        "target": " animal", "foil": " street", "metric": "logit_diff", "mode": "heads",
        "note": "The lectures' sentence (tired vs wide). SmolLM2-135M says ' animal' after both, but by a "
                "wider margin over ' street' after 'tired' (8.6 vs 6.3 logits): which heads carry that 2.4?",
    },
}
