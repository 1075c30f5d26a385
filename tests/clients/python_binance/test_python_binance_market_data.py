"""python-binance's market-data calls on FlowEx after known trades on
SOLUSDT (a market no other python-binance test trades)."""

from decimal import Decimal

import pytest

from flowex_harness import wait_until
from python_binance_client import client_for

SYMBOL = "SOLUSDT"
D = Decimal


@pytest.fixture(scope="module")
def traded(server):
    """Trades 2 @ 150.00 and 1 @ 150.50 (a buyer taking), then 1 @ 149.90
    (a seller taking); left: bid 2 @ 149.90, ask 3 @ 151.00."""
    maker = client_for(server, server.new_user({"SOL": 1, "USDT": 1}))
    taker = client_for(server, server.new_user({"SOL": 1, "USDT": 1}))
    maker.order_limit_sell(symbol=SYMBOL, quantity="2", price="150.00")
    maker.order_limit_sell(symbol=SYMBOL, quantity="1", price="150.50")
    maker.order_limit_sell(symbol=SYMBOL, quantity="3", price="151.00")
    taker.order_market_buy(symbol=SYMBOL, quantity="3")
    maker.order_limit_buy(symbol=SYMBOL, quantity="3", price="149.90")
    taker.order_market_sell(symbol=SYMBOL, quantity="1")
    wait_until(lambda: maker.get_ticker(symbol=SYMBOL)["count"] == 3, "three trades in the ticker")
    yield maker
    for o in maker.get_open_orders(symbol=SYMBOL):
        maker.cancel_order(symbol=SYMBOL, orderId=o["orderId"])


def test_get_order_book(traded):
    book = traded.get_order_book(symbol=SYMBOL)
    assert [[D(p), D(q)] for p, q in book["bids"]] == [[D("149.9"), D("2")]]
    assert [[D(p), D(q)] for p, q in book["asks"]] == [[D("151"), D("3")]]
    assert book["lastUpdateId"] > 0
    ticker = traded.get_orderbook_ticker(symbol=SYMBOL)
    assert (D(ticker["bidPrice"]), D(ticker["bidQty"]), D(ticker["askPrice"]), D(ticker["askQty"])) == (
        D("149.9"), D("2"), D("151"), D("3"))


def test_get_klines(traded):
    klines = traded.get_klines(symbol=SYMBOL, interval="1m")
    assert all(len(k) == 12 for k in klines)
    assert D(klines[0][1]) == D("150") and D(klines[-1][4]) == D("149.9")
    assert max(D(k[2]) for k in klines) == D("150.5")
    assert min(D(k[3]) for k in klines) == D("149.9")
    assert sum(D(k[5]) for k in klines) == D("4")
    assert sum(D(k[7]) for k in klines) == D("300") + D("150.5") + D("149.9")
    assert sum(k[8] for k in klines) == 3
    daily = traded.get_klines(symbol=SYMBOL, interval="1d")
    assert sum(D(k[5]) for k in daily) == D("4")


def test_tickers_and_trades(traded):
    t = traded.get_ticker(symbol=SYMBOL)
    assert (D(t["openPrice"]), D(t["highPrice"]), D(t["lowPrice"]), D(t["lastPrice"])) == (
        D("150"), D("150.5"), D("149.9"), D("149.9"))
    assert D(traded.get_symbol_ticker(symbol=SYMBOL)["price"]) == D("149.9")
    recent = traded.get_recent_trades(symbol=SYMBOL)
    assert [(D(x["price"]), D(x["qty"]), x["isBuyerMaker"]) for x in recent] == [
        (D("150"), D("2"), False), (D("150.5"), D("1"), False), (D("149.9"), D("1"), True)]
    agg = traded.get_aggregate_trades(symbol=SYMBOL)
    assert [(D(x["p"]), D(x["q"])) for x in agg] == [(D("150"), D("2")), (D("150.5"), D("1")), (D("149.9"), D("1"))]
    avg = traded.get_avg_price(symbol=SYMBOL)
    assert D(avg["price"]) == ((D("300") + D("150.5") + D("149.9")) / 4).quantize(D("0.00000001"))
