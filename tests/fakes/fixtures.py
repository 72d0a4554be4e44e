"""Pytest fixtures of the loopback fakes, registered by tests/conftest.py (pytest_plugins)."""

from collections.abc import Iterator

import pytest

from local.voipbin_simulator import VoipbinSimulator

SIMULATOR_TOKEN = "test-token"
SIMULATOR_ACCESS_KEY = "test-access-key"
SIMULATOR_WEBHOOK_SECRET = "test-webhook-secret"


@pytest.fixture
def voipbin_simulator() -> Iterator[VoipbinSimulator]:
    """A fresh VoIPBin simulator on an ephemeral loopback port; webhook retries 50 ms apart, not 1 s."""
    simulator = VoipbinSimulator(
        token=SIMULATOR_TOKEN,
        access_key=SIMULATOR_ACCESS_KEY,
        webhook_secret=SIMULATOR_WEBHOOK_SECRET,
        webhook_retry_pause=0.05,
    )
    with simulator:
        yield simulator


@pytest.fixture
def voipbin_env(voipbin_simulator: VoipbinSimulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[VoipbinSimulator]:
    """The simulator, with VOIPBIN_API_URL and VOIPBIN_API_TOKEN set for code that uses get_client()."""
    from voipbin_ai.config import voipbin_settings
    from voipbin_ai.voipbin.client import get_client

    monkeypatch.setenv("VOIPBIN_API_URL", voipbin_simulator.base_url)
    monkeypatch.setenv("VOIPBIN_API_TOKEN", voipbin_simulator.token)
    voipbin_settings.cache_clear()
    get_client.cache_clear()
    yield voipbin_simulator
    if get_client.cache_info().currsize:
        get_client().close()
    get_client.cache_clear()
