"""Test-wide defaults: fake AWS credentials, Powertools settings, no real secrets, fresh caches."""

import io
import os
from collections.abc import Callable, Iterator

import pytest
from hypothesis import settings

from tests.helpers import LogCapture

# Fixtures of the loopback fakes (VoIPBin simulator, DynamoDB Local, fake OpenAI server) live with them.
pytest_plugins = [
    "tests.fakes.fixtures",
    "tests.fakes.dynamodb_local",
    "tests.fakes.openai_fixtures",
    "tests.fakes.in_process",
    "tests.fakes.bedrock",
]

# Set before any test module imports boto3 or Powertools, so nothing can reach a real account.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_SERVICE_NAME": "voipbin-ai-tests",
        "POWERTOOLS_METRICS_NAMESPACE": "VoipbinAITests",
        "POWERTOOLS_DEV": "false",
        # The fake OpenAI server answers at once; a retry would only hide an injected error.
        "LLM_MAX_RETRIES": "0",
        # The sample events are dated when they were captured; tests of the replay window set their own.
        "WEBHOOK_MAX_AGE_SECONDS": "0",
        # tests.helpers.PHONE_IDS derives the same ids.
        "PHONE_ID_PEPPER": "pepper-of-the-tests",
    }
)
for _variable in (
    "VOIPBIN_API_TOKEN",
    "VOIPBIN_ACCESS_KEY",
    "VOIPBIN_WEBHOOK_SECRET",
    "OPENAI_API_KEY",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL_EVENTBRIDGE",
    "AWS_ENDPOINT_URL_SQS",
    "AWS_ENDPOINT_URL_BEDROCK_AGENT_RUNTIME",
    "KNOWLEDGE_INDEX_FILE",
):
    os.environ.pop(_variable, None)


# Property tests: a sample on each `make unit`, thousands of examples under `make test`, which passes
# --hypothesis-profile=thorough (registered here, as pytest reads this file before that option).
settings.register_profile("quick", max_examples=200)
settings.register_profile("thorough", max_examples=1500)
settings.load_profile("quick")


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    """Settings and clients are cached per container; every test starts as a cold container, in the environment
    it found.

    The environment is restored here, last: monkeypatch undoes its changes in its own order, which can put
    back a variable that the local stack had set over it and removed already (AGENT_CONFIG_FILE).
    """
    from local.stack import cold_start

    environment = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(environment)
    cold_start()


@pytest.fixture
def logs(monkeypatch: pytest.MonkeyPatch) -> LogCapture:
    """The shared logger's output during the test (it keeps the stdout it was created with)."""
    from voipbin_ai.observability import logger

    stream = io.StringIO()
    monkeypatch.setattr(logger.registered_handler, "stream", stream)
    return LogCapture(stream)


@pytest.fixture
def emitted() -> Iterator[Callable[[], dict[str, list[float]]]]:
    """The metrics added since the test began, by name: what the handler's `log_metrics` would flush."""
    from voipbin_ai.observability import metrics

    metrics.metric_set.clear()
    yield lambda: {str(name): list(metric["Value"]) for name, metric in metrics.metric_set.items()}
    metrics.metric_set.clear()
