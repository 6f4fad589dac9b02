"""Property-based fuzzing of every operation in /openapi.json: no 5xx, ever.

Bounded (ATTNSCOPE_FUZZ_EXAMPLES per operation, 20 by default) so the suite stays fast;
``make fuzz`` runs the same test with many more examples.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

pytestmark = pytest.mark.slow
EXAMPLES = int(os.environ.get("ATTNSCOPE_FUZZ_EXAMPLES", "20"))


from attnscope.inspection import get_registry  # noqa: E402  (the process-wide registry the other tests share)
from attnscope_server.main import create_app  # noqa: E402

# reading the schema runs the app's lifespan, which starts loading every model on a background thread.
# Wait for it here: transformers' lazy imports are not thread-safe, and the modules collected after this
# one build tiny models at collection time ("module 'transformers' has no attribute 'BertConfig'").
schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(registry=get_registry()))
get_registry().wait_loaded(600)


@pytest.fixture(autouse=True)
def models_loaded(registry):
    registry.wait_loaded(600)


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_operation_answers_5xx(case):
    response = case.call()
    assert response.status_code < 500, f"{case.method} {case.path}: {response.status_code} {response.text[:500]}"
    if response.status_code >= 400:
        detail = response.json().get("detail")
        assert isinstance(detail, str) and detail, response.text[:300]
