"""binance-connector's Spot client pointed at the FlowEx server (BINANCE_API.md)."""

import pytest
from binance.spot import Spot


@pytest.fixture
def make_spot(server):
    """Spot clients of fresh users; their open orders are canceled afterwards."""
    made = []

    def make(funds=None):
        user = server.new_user(funds if funds is not None else {"BTC": 1, "ETH": 1, "SOL": 1, "USDT": 1})
        spot = Spot(user.api_key, user.secret, base_url=server.base)
        made.append(spot)
        return spot

    yield make
    for spot in made:
        symbols = {o["symbol"] for o in spot.get_open_orders()}
        for symbol in symbols:
            spot.cancel_open_orders(symbol)
