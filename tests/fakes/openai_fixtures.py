"""Pytest fixture of the fake OpenAI server, registered by tests/conftest.py (pytest_plugins)."""

from collections.abc import Iterator

import pytest

from local.fake_openai import FakeOpenAI


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    """A fresh fake OpenAI server on an ephemeral loopback port, no delays, any API key accepted."""
    with FakeOpenAI() as server:
        yield server
