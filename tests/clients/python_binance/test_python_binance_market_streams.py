"""python-binance's BinanceSocketManager on FlowEx's market streams (a
trade socket and a diff-depth socket on ETHBTC, a market no other test of
this suite trades), pointed at the server as docs/CLIENTS.md says."""

import asyncio
from decimal import Decimal

from binance import AsyncClient, BinanceSocketManager

from python_binance_client import client_for

D = Decimal
SYMBOL = "ETHBTC"
WAIT_S = 30


async def recv_until(socket, want, what: str) -> list[dict]:
    """Messages of `socket` up to and including the first `want(msg)`."""
    seen = []
    while True:
        msg = await asyncio.wait_for(socket.recv(), WAIT_S)
        assert msg.get("e") != "error", f"{what}: {msg}"
        seen.append(msg)
        if want(msg):
            return seen


def test_trade_and_depth_sockets(server):
    maker = client_for(server, server.new_user({"ETH": 1, "BTC": 1}))
    taker = client_for(server, server.new_user({"ETH": 1, "BTC": 1}))

    def trade():
        maker.order_limit_sell(symbol=SYMBOL, quantity="0.25", price="0.05321")
        return taker.order_market_buy(symbol=SYMBOL, quantity="0.25")

    async def go():
        AsyncClient.API_URL = server.base + "/api"
        client = await AsyncClient.create()
        try:
            bsm = BinanceSocketManager(client)
            bsm.STREAM_URL = server.ws + "/"
            async with bsm.trade_socket(SYMBOL) as trades, \
                    bsm.depth_socket(SYMBOL, interval=100) as depth:
                bought = await asyncio.to_thread(trade)
                assert bought["status"] == "FILLED"
                got = await recv_until(trades, lambda m: m.get("e") == "trade", "trade socket")
                t = got[-1]
                assert (t["s"], D(t["p"]), D(t["q"]), t["m"]) == (SYMBOL, D("0.05321"), D("0.25"), False)
                assert t["t"] == bought["fills"][0]["tradeId"]
                # The ask appears, then goes: "0" removes the level; U..u
                # of consecutive events follow on without a gap.
                diffs = await recv_until(
                    depth, lambda m: any(D(p) == D("0.05321") and D(q) == 0 for p, q in m.get("a", [])),
                    "depth socket")
                for before, after in zip(diffs, diffs[1:]):
                    assert after["U"] == before["u"] + 1, (before, after)
                assert all(m["e"] == "depthUpdate" and m["s"] == SYMBOL and m["U"] <= m["u"] for m in diffs)
        finally:
            await client.close_connection()

    asyncio.run(go())
