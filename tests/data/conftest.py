"""Fixtures of the data tests (helpers in data_fixtures.py, a name no other test dir uses)."""

from __future__ import annotations

import socket

import pytest

from data_fixtures import FixtureServer, MiniCeleba, make_mini_celeba


@pytest.fixture(scope="session")
def mini_celeba() -> MiniCeleba:
    return make_mini_celeba()


@pytest.fixture
def server(mini_celeba):
    srv = FixtureServer(mini_celeba.contents, {f.name: f.gdrive_id for f in mini_celeba.files})
    yield srv
    srv.close()


@pytest.fixture
def dead_url():
    """A URL on 127.0.0.1 where nothing listens (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"
