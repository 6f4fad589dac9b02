"""Package data: the built-in models' shipped artifacts (config, weights, vocabulary, card), installed as ``attnscope.models``."""
