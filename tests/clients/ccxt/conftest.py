"""Fixtures of the ccxt suite."""

import pytest

from ccxt_client import binance_for


@pytest.fixture
def make_exchange(server):
    """Builds exchanges for fresh users and cancels their open orders afterwards,
    so no test leaves liquidity behind for the next one."""
    made = []

    def make(funds=None, secret=None, user=None):
        user = user or server.new_user(funds if funds is not None else {"BTC": 1, "ETH": 1, "SOL": 1, "USDT": 1})
        ex = binance_for(server, user, secret)
        ex.load_markets()
        made.append(ex)
        ex.flowex_user = user
        return ex

    yield make
    for ex in made:
        user = ex.flowex_user
        if (ex.apiKey, ex.secret) == (user.api_key, user.secret) and "TRADE" in user.permissions:
            for o in ex.fetch_open_orders():
                ex.cancel_order(o["id"], o["symbol"])
