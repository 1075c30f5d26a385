"""python-binance's Client pointed at the FlowEx server (BINANCE_API.md)."""

import pytest
from binance.client import Client


def client_for(server, user):
    # Set on the class before constructing: the constructor pings API_URL.
    Client.API_URL = server.base + "/api"
    return Client(user.api_key, user.secret)


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
