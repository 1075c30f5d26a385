"""Fixtures shared by every client suite: one FlowEx server per test session."""

import os

import pytest

from flowex_harness import Server


@pytest.fixture(scope="session")
def server():
    binary = os.environ.get("FLOWEX_BIN")
    if not binary:
        pytest.fail("FLOWEX_BIN must name the flowex binary (see scripts/test)")
    srv = Server(binary)
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def funded(server):
    """A fresh user holding one faucet claim of every demo asset."""
    return server.new_user({"BTC": 1, "ETH": 1, "SOL": 1, "USDT": 1})
