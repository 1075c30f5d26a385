"""ccxt meets FlowEx's rate limits as it meets Binance's: on a server with a
small order limit, new orders past it are 429 -1015 with Retry-After, which
ccxt raises as a DDoSProtection (its class for 429 and 418)."""

import os

import ccxt
import pytest

from ccxt_client import binance_for
from flowex_harness import Server


@pytest.fixture(scope="module")
def strict_server():
    srv = Server(os.environ["FLOWEX_BIN"], {"FLOWEX_RATE_LIMITS__ORDERS_PER_10S": "3"})
    try:
        yield srv
    finally:
        srv.stop()


def test_orders_past_the_limit_are_refused(strict_server):
    ex = binance_for(strict_server, strict_server.new_user({"USDT": 1}))
    ex.load_markets()
    for price in (1000, 1001, 1002):
        ex.create_order("BTC/USDT", "limit", "buy", 0.01, price)
    assert ex.last_response_headers["x-mbx-order-count-10s"] == "3"
    with pytest.raises(ccxt.DDoSProtection, match="-1015"):
        ex.create_order("BTC/USDT", "limit", "buy", 0.01, 1003)
    assert int(ex.last_response_headers["retry-after"]) > 0
    # Reads are not orders: still answered.
    assert len(ex.fetch_open_orders("BTC/USDT")) == 3
