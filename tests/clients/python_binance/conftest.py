"""Fixtures of the python-binance suite."""

import pytest

from python_binance_client import client_for


@pytest.fixture
def make_client(server):
    """Clients of fresh users; their open orders are canceled afterwards."""
    made = []

    def make(funds=None):
        user = server.new_user(funds if funds is not None else {"BTC": 1, "ETH": 1, "SOL": 1, "USDT": 1})
        client = client_for(server, user)
        made.append(client)
        return client

    yield make
    for client in made:
        for o in client.get_open_orders():
            client.cancel_order(symbol=o["symbol"], orderId=o["orderId"])
