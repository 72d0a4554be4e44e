"""Container state in one registry: a reset forgets it all; a SnapStart restore drops only the connections."""

import sys
import types
from collections.abc import Callable

import pytest

from voipbin_ai import bus, config, container


def test_a_reset_forgets_settings_and_clients(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMS_BURST_SECONDS", "1")
    before, client = config.channel_settings(), bus._events_client()
    monkeypatch.setenv("SMS_BURST_SECONDS", "2")

    container.reset()

    assert (before.sms_burst_seconds, config.channel_settings().sms_burst_seconds) == (1, 2)
    assert bus._events_client() is not client


def test_a_restore_drops_connections_and_keeps_settings() -> None:
    settings, client = config.channel_settings(), bus._events_client()

    container.after_restore()

    assert config.channel_settings() is settings
    assert bus._events_client() is not client


def fake_runtime(monkeypatch: pytest.MonkeyPatch) -> list[Callable[[], None]]:
    """Lambda's snapshot_restore_py, recording the hooks it is given."""
    registered: list[Callable[[], None]] = []
    module = types.ModuleType("snapshot_restore_py")
    module.register_after_restore = registered.append  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", module)
    return registered


def test_a_snapstart_init_registers_the_restore_hook(monkeypatch: pytest.MonkeyPatch) -> None:
    registered = fake_runtime(monkeypatch)
    monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", "snap-start")

    container.register_with_snapstart()

    assert registered == [container.after_restore]


def test_an_on_demand_init_registers_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    registered = fake_runtime(monkeypatch)
    monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")

    container.register_with_snapstart()

    assert registered == []
