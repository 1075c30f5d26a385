"""binance-connector's market-data calls on FlowEx after known trades on
BTCUSDT (the connector trading tests use ETHUSDT)."""

from decimal import Decimal

import pytest
from binance.spot import Spot

from flowex_harness import wait_until

SYMBOL = "BTCUSDT"
D = Decimal


@pytest.fixture(scope="module")
def traded(server):
    """Trades 0.01 @ 60000 (buyer taking) and 0.005 @ 59000 (seller taking);
    left: bid 0.005 @ 59000, ask 0.02 @ 61000."""
    maker_user = server.new_user({"BTC": 1, "USDT": 1})
    taker_user = server.new_user({"BTC": 1, "USDT": 1})
    maker = Spot(maker_user.api_key, maker_user.secret, base_url=server.base)
    taker = Spot(taker_user.api_key, taker_user.secret, base_url=server.base)
    limit = {"type": "LIMIT", "timeInForce": "GTC"}
    maker.new_order(symbol=SYMBOL, side="SELL", quantity="0.01", price="60000", **limit)
    maker.new_order(symbol=SYMBOL, side="SELL", quantity="0.02", price="61000", **limit)
    taker.new_order(symbol=SYMBOL, side="BUY", type="MARKET", quantity="0.01")
    maker.new_order(symbol=SYMBOL, side="BUY", quantity="0.01", price="59000", **limit)
    taker.new_order(symbol=SYMBOL, side="SELL", type="MARKET", quantity="0.005")
    public = Spot(base_url=server.base)
    wait_until(lambda: public.ticker_24hr(SYMBOL)["count"] == 2, "two trades in the ticker")
    yield public
    maker.cancel_open_orders(SYMBOL)


def test_depth(traded):
    book = traded.depth(SYMBOL, limit=5)
    assert [[D(p), D(q)] for p, q in book["bids"]] == [[D("59000"), D("0.005")]]
    assert [[D(p), D(q)] for p, q in book["asks"]] == [[D("61000"), D("0.02")]]
    assert book["lastUpdateId"] > 0


def test_klines(traded):
    klines = traded.klines(SYMBOL, "1m")
    assert all(len(k) == 12 for k in klines)
    assert D(klines[0][1]) == D("60000") and D(klines[-1][4]) == D("59000")
    assert sum(D(k[5]) for k in klines) == D("0.015")
    assert sum(D(k[7]) for k in klines) == D("600") + D("295")
    assert traded.klines(SYMBOL, "1w", limit=1)[0][8] == 2
    assert traded.ui_klines(SYMBOL, "1m")[-1][4] == klines[-1][4]


def test_tickers_and_trades(traded):
    t = traded.ticker_24hr(SYMBOL)
    assert (D(t["openPrice"]), D(t["highPrice"]), D(t["lowPrice"]), D(t["lastPrice"])) == (
        D("60000"), D("60000"), D("59000"), D("59000"))
    both = traded.ticker_24hr(symbols=[SYMBOL, "ETHUSDT"])
    assert sorted(x["symbol"] for x in both) == [SYMBOL, "ETHUSDT"]
    assert D(traded.ticker_price(SYMBOL)["price"]) == D("59000")
    book = traded.book_ticker(SYMBOL)
    assert (D(book["bidPrice"]), D(book["askPrice"])) == (D("59000"), D("61000"))
    trades = traded.trades(SYMBOL)
    assert [(D(x["price"]), D(x["qty"])) for x in trades] == [(D("60000"), D("0.01")), (D("59000"), D("0.005"))]
    agg = traded.agg_trades(SYMBOL)
    assert [(D(x["p"]), D(x["q"]), x["m"]) for x in agg] == [
        (D("60000"), D("0.01"), False), (D("59000"), D("0.005"), True)]
    # Quote volume over base volume: 59666.666…, to within one atom of USDT.
    assert abs(D(traded.avg_price(SYMBOL)["price"]) - D("895") / D("0.015")) < D("0.00000001")
