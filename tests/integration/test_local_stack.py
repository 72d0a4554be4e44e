"""The in-process local stack (`make demo`, `make serve`, the benchmarks) as the functions see it."""

import pytest

from local.stack import LocalStack
from voipbin_ai.observability import metrics

pytestmark = pytest.mark.integration


def test_the_shared_metrics_take_the_stacks_namespace_though_made_before_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # As when a process imports the package before it starts the stack (the benchmarks do): no namespace,
    # and every flush of the shared metrics would fail, a webhook answered 500.
    monkeypatch.setattr(metrics, "namespace", None)
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "VoipbinAILocal")

    with LocalStack({"EVENT_BUS_NAME": "voipbin-ai-local"}).running():
        assert metrics.namespace == "VoipbinAILocal"
