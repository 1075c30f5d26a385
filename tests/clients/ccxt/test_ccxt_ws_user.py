"""ccxt.pro (in the pinned ccxt package) on FlowEx's WebSocket API
(`/ws-api/v3`), configured exactly as docs/CLIENTS.md says:
`watch_orders`, `watch_balance` and `watch_my_trades` receive the events of
orders placed through ccxt REST, with the right fields; `create_order_ws`,
`fetch_open_orders_ws` and `cancel_order_ws` trade over the socket.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import ccxt.pro

from ccxt_client import binance_for

D = Decimal
SYMBOL = "ETH/USDT"
WAIT_S = 30


def pro_for(server, user):
    ex = ccxt.pro.binance({
        "apiKey": user.api_key,
        "secret": user.secret,
        "options": {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False, "fetchMargins": False},
    })
    ex.urls["api"] = {
        "public": server.base + "/api/v3",
        "private": server.base + "/api/v3",
        "ws": {"spot": server.ws + "/stream/ws", "ws-api": {"spot": server.ws + "/ws-api/v3"}},
    }
    return ex


async def until(watch, want):
    """Calls `watch()` until one of its results satisfies `want`."""
    while True:
        got = await asyncio.wait_for(watch(), WAIT_S)
        for item in got if isinstance(got, list) else [got]:
            if want(item):
                return item


def test_watch_orders_balance_and_my_trades_see_rest_orders(server):
    maker_user = server.new_user({"ETH": 1})
    taker_user = server.new_user({"USDT": 1})
    maker_rest = binance_for(server, maker_user)
    taker_rest = binance_for(server, taker_user)
    maker_rest.load_markets()
    taker_rest.load_markets()

    async def main():
        ex = pro_for(server, maker_user)
        try:
            await ex.load_markets()
            # Subscribe first (the first watch call subscribes and waits).
            orders = asyncio.ensure_future(until(lambda: ex.watch_orders(SYMBOL), lambda o: o["status"] == "open"))
            await asyncio.sleep(1)
            placed = await asyncio.to_thread(maker_rest.create_order, SYMBOL, "limit", "sell", 0.5, 2000)
            opened = await orders
            assert opened["id"] == placed["id"]
            assert (opened["side"], opened["type"], D(str(opened["amount"])), D(str(opened["price"]))) == ("sell", "limit", D("0.5"), D("2000"))
            balance = asyncio.ensure_future(until(lambda: ex.watch_balance(), lambda b: D(str(b.get("ETH", {}).get("used") or 0)) == 0))
            trades = asyncio.ensure_future(until(lambda: ex.watch_my_trades(SYMBOL), lambda t: t["order"] == placed["id"]))
            filled = asyncio.ensure_future(until(lambda: ex.watch_orders(SYMBOL), lambda o: o["status"] == "closed"))
            await asyncio.sleep(1)
            await asyncio.to_thread(taker_rest.create_order, SYMBOL, "market", "buy", 0.5)
            done = await filled
            assert (done["id"], D(str(done["filled"])), D(str(done["remaining"]))) == (placed["id"], D("0.5"), D("0"))
            trade = await trades
            assert (trade["side"], trade["takerOrMaker"], D(str(trade["amount"])), D(str(trade["price"]))) == ("sell", "maker", D("0.5"), D("2000"))
            assert trade["fee"]["currency"] == "USDT"
            b = await balance
            rest = await asyncio.to_thread(server.balances, maker_user)
            assert D(str(b["ETH"]["free"])) == rest["ETH"][0]
        finally:
            await ex.close()

    asyncio.run(asyncio.wait_for(main(), WAIT_S * 4))


def test_order_entry_over_the_websocket_api(server):
    user = server.new_user({"USDT": 1})

    async def main():
        ex = pro_for(server, user)
        try:
            await ex.load_markets()
            o = await ex.create_order_ws(SYMBOL, "limit", "buy", 0.1, 1000)
            assert (o["status"], o["side"], D(str(o["amount"]))) == ("open", "buy", D("0.1"))
            open_orders = await ex.fetch_open_orders_ws(SYMBOL)
            assert [x["id"] for x in open_orders] == [o["id"]]
            canceled = await ex.cancel_order_ws(o["id"], SYMBOL)
            assert canceled["status"] == "canceled"
            assert await ex.fetch_open_orders_ws(SYMBOL) == []
        finally:
            await ex.close()

    asyncio.run(asyncio.wait_for(main(), WAIT_S * 4))
