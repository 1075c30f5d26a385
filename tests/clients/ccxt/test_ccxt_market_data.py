"""ccxt's public market data on FlowEx: order book, tickers, trades
(aggTrades) and candles (klines), after a known set of trades on ETHBTC
(a market no other ccxt test trades)."""

from decimal import Decimal

import pytest

from flowex_harness import wait_until

UNIFIED, SYMBOL = "ETH/BTC", "ETHBTC"
D = Decimal


@pytest.fixture(scope="module")
def traded(server):
    """Three trades and a book: buys at 0.05 (0.1) and 0.051 (0.2) by one
    taker order, a sell at 0.049 (0.1); left resting: bids 0.4 @ 0.049 and
    0.5 @ 0.048, ask 0.4 @ 0.052."""
    from ccxt_client import binance_for

    maker = binance_for(server, server.new_user({"ETH": 1, "BTC": 1}))
    taker = binance_for(server, server.new_user({"ETH": 1, "BTC": 1}))
    maker.load_markets()
    taker.load_markets()
    maker.create_order(UNIFIED, "limit", "sell", 0.1, 0.05)
    maker.create_order(UNIFIED, "limit", "sell", 0.2, 0.051)
    maker.create_order(UNIFIED, "limit", "sell", 0.4, 0.052)
    buy = taker.create_order(UNIFIED, "market", "buy", 0.3)
    assert buy["filled"] == 0.3
    maker.create_order(UNIFIED, "limit", "buy", 0.5, 0.049)
    maker.create_order(UNIFIED, "limit", "buy", 0.5, 0.048)
    sell = taker.create_order(UNIFIED, "market", "sell", 0.1)
    assert sell["filled"] == 0.1
    public = binance_for(server)
    public.load_markets()
    # Market data follows the engine's events: wait until it has all three.
    wait_until(lambda: public.fetch_ticker(UNIFIED)["info"].get("count") == 3, "three trades in the ticker")
    yield public
    maker.cancel_all_orders(UNIFIED)


def test_fetch_order_book(traded):
    book = traded.fetch_order_book(UNIFIED)
    assert book["symbol"] == UNIFIED
    assert book["bids"] == [[0.049, 0.4], [0.048, 0.5]]
    assert book["asks"] == [[0.052, 0.4]]
    assert isinstance(book["nonce"], int) and book["nonce"] > 0
    assert traded.fetch_order_book(UNIFIED, limit=1)["bids"] == [[0.049, 0.4]]
    raw = traded.public_get_depth({"symbol": SYMBOL})
    assert [[D(p), D(q)] for p, q in raw["bids"]] == [[D("0.049"), D("0.4")], [D("0.048"), D("0.5")]]
    assert raw["lastUpdateId"] == book["nonce"]


def test_fetch_ticker(traded):
    t = traded.fetch_ticker(UNIFIED)
    assert t["symbol"] == UNIFIED
    assert (t["open"], t["high"], t["low"], t["last"], t["close"]) == (0.05, 0.051, 0.049, 0.049, 0.049)
    assert (t["bid"], t["bidVolume"], t["ask"], t["askVolume"]) == (0.049, 0.4, 0.052, 0.4)
    info = t["info"]
    assert D(info["volume"]) == D("0.4")
    assert D(info["quoteVolume"]) == D("0.05") * D("0.1") + D("0.051") * D("0.2") + D("0.049") * D("0.1")
    assert D(info["priceChange"]) == D("-0.001")
    assert info["count"] == 3


def test_fetch_tickers(traded):
    every = traded.fetch_tickers()
    assert {"BTC/USDT", "ETH/USDT", "ETH/BTC", "SOL/USDT"} <= set(every)
    assert every[UNIFIED]["last"] == 0.049
    some = traded.fetch_tickers([UNIFIED, "SOL/USDT"])
    assert set(some) == {UNIFIED, "SOL/USDT"}


def test_fetch_trades(traded):
    trades = traded.fetch_trades(UNIFIED)
    # aggTrades: one row per taker order and price.
    assert [(t["price"], t["amount"], t["side"]) for t in trades] == [
        (0.05, 0.1, "buy"), (0.051, 0.2, "buy"), (0.049, 0.1, "sell")]
    assert all(t["timestamp"] > 0 for t in trades)
    assert [t["price"] for t in traded.fetch_trades(UNIFIED, limit=1)] == [0.049]


def test_fetch_ohlcv(traded):
    candles = traded.fetch_ohlcv(UNIFIED, "1m")
    # The trades may straddle a minute: check the candles together.
    assert candles[0][1] == 0.05 and candles[-1][4] == 0.049
    assert max(c[2] for c in candles) == 0.051 and min(c[3] for c in candles) == 0.049
    raw = traded.public_get_klines({"symbol": SYMBOL, "interval": "1m"})
    assert sum(D(k[5]) for k in raw) == D("0.4")
    assert all(len(k) == 12 for k in raw)
    hourly = traded.fetch_ohlcv(UNIFIED, "1h")
    assert len(hourly) in (1, 2)
    assert sum(D(str(c[5])) for c in hourly) == pytest.approx(D("0.4"))
