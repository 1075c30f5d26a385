"""ccxt.pro (in the pinned ccxt package) on FlowEx's WebSocket market
streams, configured exactly as docs/CLIENTS.md says.

- `watch_order_book` follows BTC/USDT for a minute on a second server
  that runs the demo market maker, while a load task trades there too:
  ccxt.pro checks every diff's `U`/`u` against the previous one (a gap
  raises ChecksumError), and at the end the local book equals REST
  `depth` at the same `lastUpdateId`. That run is started when the module
  starts and checked by its last test, so the other tests run meanwhile.
- `watch_trades`, `watch_ticker`, `watch_tickers`, `watch_ohlcv` and
  `watch_bids_asks` see trades and quotes made through ccxt REST on
  SOL/USDT of the session's server, with the right values.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from decimal import Decimal

import ccxt.pro
import pytest

from flowex_harness import Server

D = Decimal
UNIFIED = "SOL/USDT"
BOOK_MARKET = "BTC/USDT"
SYNC_SECONDS = 60
# The load task's fixed seed (printed on failure with the rest of the run).
LOAD_SEED = 20261202
# Every await on a stream is bounded: a missing message fails, never hangs.
WAIT_S = 30


def pro_for(server, user=None):
    """A ccxt.pro binance exchange on `server`, as docs/CLIENTS.md says."""
    config = {
        "options": {
            "fetchMarkets": {"types": ["spot"]},
            "fetchCurrencies": False,
            "fetchMargins": False,
        },
    }
    if user is not None:
        config["apiKey"] = user.api_key
        config["secret"] = user.secret
    ex = ccxt.pro.binance(config)
    ex.urls["api"] = {
        "public": server.base + "/api/v3",
        "private": server.base + "/api/v3",
        "ws": {"spot": server.ws + "/stream/ws", "ws-api": {"spot": server.ws + "/ws-api/v3"}},
    }
    return ex


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, WAIT_S * 4))


# -- the one-minute order book run ----------------------------------------


class BookRun:
    """watch_order_book plus a load task on a server with the market maker,
    in a thread of its own; `join()` returns what it saw."""

    def __init__(self, binary: str):
        self.server = Server(binary, bot=True)
        self.result: dict | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._main, daemon=True)
        self.thread.start()

    def _main(self):
        try:
            self.result = asyncio.run(self._run())
        except BaseException as e:  # reported by the test, not lost in the thread
            self.error = e

    async def _run(self) -> dict:
        trader = self.server.new_user({"BTC": 4, "USDT": 4})
        watcher, load = pro_for(self.server), pro_for(self.server, trader)
        try:
            await watcher.load_markets()
            await load.load_markets()
            stop = asyncio.Event()
            loader = asyncio.create_task(trade_load(load, stop))
            seen = await watch_book_for(watcher, SYNC_SECONDS)
            stop.set()
            placed = await loader
            seen["placed"] = placed
            seen["final"] = await book_equals_rest(watcher, load)
            return seen
        finally:
            await watcher.close()
            await load.close()

    def join(self) -> dict:
        self.thread.join(SYNC_SECONDS + 240)
        assert not self.thread.is_alive(), "the order book run did not finish"
        if self.error is not None:
            raise AssertionError(f"order book run failed (load seed {LOAD_SEED}): {self.error!r}\n"
                                 f"server log:\n{self.server.log()}") from self.error
        return self.result

    def stop(self):
        self.thread.join(SYNC_SECONDS + 240)
        self.server.stop()


async def trade_load(ex, stop: asyncio.Event) -> int:
    """About four orders a second on BOOK_MARKET around the market maker's
    quotes: resting limits on both sides, some crossing, some cancelled, so
    levels appear, change and vanish. Returns how many were placed."""
    rng = random.Random(LOAD_SEED)
    resting: list[str] = []
    placed = 0
    while not stop.is_set():
        ticker = await ex.fetch_order_book(BOOK_MARKET, limit=5)
        bid = D(str(ticker["bids"][0][0])) if ticker["bids"] else D("64000")
        ask = D(str(ticker["asks"][0][0])) if ticker["asks"] else bid + 10
        mid = (bid + ask) / 2
        side = rng.choice(["buy", "sell"])
        # Within ±0.3 % of the middle, on the 0.01 tick: some cross.
        price = (mid * (1 + D(rng.randint(-30, 30)) / 10000)).quantize(D("0.01"))
        amount = D(rng.randint(1, 40)).scaleb(-4)
        order = await ex.create_order(BOOK_MARKET, "limit", side, float(amount), float(price))
        placed += 1
        if order["status"] == "open":
            resting.append(order["id"])
        if len(resting) > 12 or (resting and rng.random() < 0.3):
            victim = resting.pop(rng.randrange(len(resting)))
            try:
                await ex.cancel_order(victim, BOOK_MARKET)
            except ccxt.OrderNotFound:
                pass  # filled meanwhile by the market maker
        await asyncio.sleep(0.25)
    await ex.cancel_all_orders(BOOK_MARKET)
    return placed


async def watch_book_for(ex, seconds: float) -> dict:
    """Calls watch_order_book for `seconds`; any ChecksumError (a gap in
    `U`/`u`) or InvalidNonce propagates. Returns the updates seen."""
    deadline = time.monotonic() + seconds
    updates, first_nonce, last_nonce = 0, None, None
    while time.monotonic() < deadline:
        book = await asyncio.wait_for(ex.watch_order_book(BOOK_MARKET), WAIT_S)
        nonce = book["nonce"]
        assert last_nonce is None or nonce >= last_nonce, (last_nonce, nonce)
        first_nonce = nonce if first_nonce is None else first_nonce
        last_nonce = nonce
        updates += 1
    return {"updates": updates, "first_nonce": first_nonce, "last_nonce": last_nonce}


def levels(side) -> list[tuple[Decimal, Decimal]]:
    return [(D(str(p)), D(str(q))) for p, q, *_ in side]


async def book_equals_rest(watcher, rest) -> dict:
    """The local book at REST depth's `lastUpdateId` equals that snapshot.
    The market maker keeps trading, so this waits for a moment where the
    local book sits exactly at the snapshot's id (tries a few snapshots)."""
    for _ in range(40):
        snap = await rest.public_get_depth({"symbol": BOOK_MARKET.replace("/", ""), "limit": 1000})
        want = snap["lastUpdateId"]
        while True:
            book = await asyncio.wait_for(watcher.watch_order_book(BOOK_MARKET), WAIT_S)
            if book["nonce"] >= want:
                break
        if book["nonce"] == want:
            local = (levels(book["bids"]), levels(book["asks"]))
            remote = (levels(snap["bids"]), levels(snap["asks"]))
            assert local == remote, f"local book at {want} differs from REST depth"
            return {"nonce": want, "bids": len(local[0]), "asks": len(local[1])}
    raise AssertionError("the local book never sat exactly at a REST snapshot's lastUpdateId")


@pytest.fixture(scope="module")
def book_run():
    import os

    run_ = BookRun(os.environ["FLOWEX_BIN"])
    yield run_
    run_.stop()


# -- streams after known trades on the session's server ------------------


@pytest.fixture(scope="module")
def makers(server, book_run):  # book_run: start the minute-long run first
    maker = server.new_user({"SOL": 1, "USDT": 1})
    taker = server.new_user({"SOL": 1, "USDT": 1})
    return maker, taker


async def trade_once(server, maker, taker, price: str, amount: str) -> dict:
    """The maker rests a sell, the taker buys it all: one trade."""
    m, t = pro_for(server, maker), pro_for(server, taker)
    try:
        await m.load_markets()
        await t.load_markets()
        await m.create_order(UNIFIED, "limit", "sell", float(amount), float(price))
        return await t.create_order(UNIFIED, "market", "buy", float(amount))
    finally:
        await m.close()
        await t.close()


async def until(what: str, call, good):
    """Awaits `call()` until `good(result)`; bounded."""
    deadline = time.monotonic() + WAIT_S
    while True:
        got = await asyncio.wait_for(call(), WAIT_S)
        if good(got):
            return got
        assert time.monotonic() < deadline, f"no {what} as expected; last: {got}"


def test_watch_trades(server, makers):
    async def go():
        ex = pro_for(server)
        try:
            await ex.load_markets()
            task = asyncio.create_task(until(
                "trade", lambda: ex.watch_trades(UNIFIED),
                lambda ts: any(x["price"] == 151.25 for x in ts)))
            await asyncio.sleep(1)  # subscribed before the trade
            await trade_once(server, *makers, "151.25", "0.7")
            trades = await task
            t = next(x for x in trades if x["price"] == 151.25)
            assert (t["symbol"], t["amount"], t["side"]) == (UNIFIED, 0.7, "buy")
            assert D(t["info"]["p"]) == D("151.25") and D(t["info"]["q"]) == D("0.7")
            assert t["info"]["m"] is False and isinstance(t["timestamp"], int)
        finally:
            await ex.close()

    run(go())


def test_watch_ticker_and_tickers(server, makers):
    async def go():
        ex = pro_for(server)
        try:
            await ex.load_markets()
            await trade_once(server, *makers, "152.5", "0.2")
            # ccxt 4.5 watches `@miniTicker` by default; `name` picks `@ticker`.
            t = await until("mini ticker", lambda: ex.watch_ticker(UNIFIED), lambda t: t["last"] == 152.5)
            assert t["symbol"] == UNIFIED and t["high"] >= 152.5 and t["baseVolume"] >= 0.2
            assert t["info"]["e"] == "24hrMiniTicker" and D(t["info"]["c"]) == D("152.5")
            full = await until("ticker", lambda: ex.watch_ticker(UNIFIED, {"name": "ticker"}),
                               lambda t: t["info"].get("e") == "24hrTicker" and t["last"] == 152.5)
            assert D(full["info"]["q"]) >= D("152.5") * D("0.2")
            # watch_tickers answers with what just arrived; ex.tickers holds all.
            await until("tickers", lambda: ex.watch_tickers([UNIFIED, BOOK_MARKET]),
                        lambda _: ex.tickers.get(UNIFIED, {}).get("last") == 152.5
                        and BOOK_MARKET in ex.tickers)
            assert ex.tickers[UNIFIED]["info"]["e"] == "24hrMiniTicker"
        finally:
            await ex.close()

    run(go())


def test_watch_ohlcv(server, makers):
    async def go():
        ex = pro_for(server)
        try:
            await ex.load_markets()
            await trade_once(server, *makers, "153.75", "0.3")
            candles = await until("candle", lambda: ex.watch_ohlcv(UNIFIED, "1m"),
                                  lambda cs: cs and cs[-1][4] == 153.75)
            ts, _open, high, low, close, volume = candles[-1]
            assert ts % 60_000 == 0 and high >= close >= low and volume >= 0.3
        finally:
            await ex.close()

    run(go())


def test_watch_bids_asks(server, makers):
    async def go():
        maker, _ = makers
        ex, m = pro_for(server), pro_for(server, maker)
        try:
            await ex.load_markets()
            await m.load_markets()
            # bookTicker pushes on a change of the best levels: watch first.
            task = asyncio.create_task(until(
                "best bid and ask", lambda: ex.watch_bids_asks([UNIFIED]),
                lambda qs: UNIFIED in qs and qs[UNIFIED]["bid"] == 140.5
                and qs[UNIFIED]["ask"] == 170.25))
            await asyncio.sleep(1)
            await m.create_order(UNIFIED, "limit", "buy", 0.4, 140.5)
            await m.create_order(UNIFIED, "limit", "sell", 0.6, 170.25)
            q = await task
            best = q[UNIFIED]
            assert (best["bidVolume"], best["askVolume"]) == (0.4, 0.6)
            assert isinstance(best["info"]["u"], int)
        finally:
            await m.cancel_all_orders(UNIFIED)
            await ex.close()
            await m.close()

    run(go())


# -- last: the minute-long run's verdict ---------------------------------


def test_watch_order_book_stays_in_sync_for_a_minute(book_run):
    seen = book_run.join()
    print(f"order book run: {seen}")
    assert seen["updates"] >= SYNC_SECONDS, seen  # the book moved all along
    assert seen["last_nonce"] > seen["first_nonce"], seen
    assert seen["placed"] >= SYNC_SECONDS, seen
    assert seen["final"]["bids"] > 0 and seen["final"]["asks"] > 0, seen
