"""python-binance's listenKey calls on FlowEx (`stream_get_listen_key`,
`stream_keepalive`, `stream_close`, with Binance's -1125 as
BinanceAPIException), and its `ReconnectingWebsocket` on `/ws/<listenKey>`
receiving the `executionReport`s (NEW, then CANCELED) and the
`outboundAccountPosition` of an order the same client places and cancels.
python-binance 1.0.37's own `user_socket()` uses the WebSocket API
(`userDataStream.subscribe`), which the ccxt suite covers."""

import asyncio
from decimal import Decimal

import pytest
from binance.exceptions import BinanceAPIException
from binance.ws.reconnecting_websocket import ReconnectingWebsocket

D = Decimal
SYMBOL = "BTCUSDT"
WAIT_S = 30


async def recv_until(socket, want, what: str) -> dict:
    while True:
        msg = await asyncio.wait_for(socket.recv(), WAIT_S)
        assert msg.get("e") != "error", f"{what}: {msg}"
        if want(msg):
            return msg


def test_listen_key_calls_and_errors(make_client):
    client = make_client({})
    listen_key = client.stream_get_listen_key()
    assert len(listen_key) == 60 and listen_key.isalnum()
    assert client.stream_get_listen_key() == listen_key, "the same key while it lives"
    assert client.stream_keepalive(listen_key) == {}
    with pytest.raises(BinanceAPIException) as unknown:
        client.stream_keepalive("Q" * 60)
    assert (unknown.value.status_code, unknown.value.code) == (400, -1125)
    assert unknown.value.message == "This listenKey does not exist."
    assert client.stream_close(listen_key) == {}
    with pytest.raises(BinanceAPIException) as closed:
        client.stream_close(listen_key)
    assert closed.value.code == -1125


def test_listen_key_socket_gets_order_events(server, make_client):
    client = make_client({"USDT": 1})
    listen_key = client.stream_get_listen_key()

    async def go():
        socket = ReconnectingWebsocket(url=server.ws + "/", path=listen_key, prefix="ws/")
        async with socket as events:
            placed = await asyncio.to_thread(
                client.order_limit_buy, symbol=SYMBOL, quantity="0.01", price="1000.5",
                newClientOrderId="pb-listen-key")
            new = await recv_until(events, lambda m: m.get("e") == "executionReport", "NEW")
            assert (new["x"], new["X"], new["c"], new["i"], new["S"]) == (
                "NEW", "NEW", "pb-listen-key", placed["orderId"], "BUY")
            assert (D(new["p"]), D(new["q"])) == (D("1000.5"), D("0.01"))
            position = await recv_until(events, lambda m: m.get("e") == "outboundAccountPosition",
                                        "outboundAccountPosition")
            usdt = next(b for b in position["B"] if b["a"] == "USDT")
            assert D(usdt["l"]) == D("10.005"), position
            await asyncio.to_thread(client.cancel_order, symbol=SYMBOL, orderId=placed["orderId"])
            canceled = await recv_until(events, lambda m: m.get("e") == "executionReport", "CANCELED")
            assert (canceled["x"], canceled["X"], canceled["i"]) == (
                "CANCELED", "CANCELED", placed["orderId"])

    try:
        asyncio.run(go())
    finally:
        client.stream_close(listen_key)
