"""binance-connector's listenKey user data stream on FlowEx: `Spot` with the
API key alone makes, renews and closes the key (`new_listen_key`,
`renew_listen_key`, `close_listen_key`; Binance's -1125 for an unknown one),
and the connector's WebSocket client on `/ws/<listenKey>` receives the
`executionReport`s (NEW, TRADE) and `outboundAccountPosition` of orders the
same user places through `Spot`, unwrapped as Binance sends them. ETHBTC: a
market no other test of this suite trades."""

import json
import queue
from decimal import Decimal

import pytest
from binance.error import ClientError
from binance.spot import Spot
from binance.websocket.websocket_client import BinanceWebsocketClient

D = Decimal
SYMBOL = "ETHBTC"
WAIT_S = 30
EXECUTION_REPORT_KEYS = sorted(
    "C,E,F,I,L,M,N,O,P,Q,S,T,V,W,X,Y,Z,c,e,f,g,i,l,m,n,o,p,q,r,s,t,w,x,z".split(","))


class Inbox:
    """The messages of one stream client, in order."""

    def __init__(self):
        self.messages: queue.Queue = queue.Queue()

    def __call__(self, _socket, message):
        self.messages.put(json.loads(message))

    def until(self, want, what: str) -> dict:
        while True:
            try:
                msg = self.messages.get(timeout=WAIT_S)
            except queue.Empty:
                raise AssertionError(f"no {what} within {WAIT_S} s") from None
            if want(msg):
                return msg


def test_listen_key_lifecycle_and_errors(server):
    user = server.new_user({})
    keyed = Spot(api_key=user.api_key, base_url=server.base)  # no secret: USER_STREAM
    listen_key = keyed.new_listen_key()["listenKey"]
    assert len(listen_key) == 60 and listen_key.isalnum()
    assert keyed.new_listen_key()["listenKey"] == listen_key, "one live key per API key"
    assert keyed.renew_listen_key(listen_key) == {}
    with pytest.raises(ClientError) as unknown:
        keyed.renew_listen_key("Z" * 60)
    assert (unknown.value.status_code, unknown.value.error_code) == (400, -1125)
    assert unknown.value.error_message == "This listenKey does not exist."
    assert keyed.close_listen_key(listen_key) == {}
    with pytest.raises(ClientError) as closed:
        keyed.close_listen_key(listen_key)
    assert closed.value.error_code == -1125
    assert keyed.new_listen_key()["listenKey"] != listen_key


def test_user_data_stream_gets_the_events_of_orders(server):
    maker_user = server.new_user({"ETH": 1, "BTC": 1})
    taker_user = server.new_user({"ETH": 1, "BTC": 1})
    maker = Spot(maker_user.api_key, maker_user.secret, base_url=server.base)
    taker = Spot(taker_user.api_key, taker_user.secret, base_url=server.base)
    listen_key = maker.new_listen_key()["listenKey"]
    inbox, errors = Inbox(), []
    client = BinanceWebsocketClient(
        stream_url=f"{server.ws}/ws/{listen_key}", on_message=inbox,
        on_error=lambda _s, e: errors.append(e))
    try:
        # The client's constructor returns once the server accepted the
        # stream, which it subscribes before accepting: nothing is missed.
        sell = maker.new_order(symbol=SYMBOL, side="SELL", type="LIMIT", timeInForce="GTC",
                               quantity="0.1", price="0.06543", newClientOrderId="connector-lk-1")
        new = inbox.until(lambda m: m.get("e") == "executionReport" and m.get("x") == "NEW",
                          "executionReport NEW")
        assert sorted(new) == EXECUTION_REPORT_KEYS, new
        assert (new["s"], new["c"], new["S"], new["o"], new["X"], new["i"]) == (
            SYMBOL, "connector-lk-1", "SELL", "LIMIT", "NEW", sell["orderId"])
        assert (D(new["p"]), D(new["q"]), D(new["z"])) == (D("0.06543"), D("0.1"), 0)
        position = inbox.until(lambda m: m.get("e") == "outboundAccountPosition",
                               "outboundAccountPosition")
        assert sorted(position) == ["B", "E", "e", "u"]
        eth = next(b for b in position["B"] if b["a"] == "ETH")
        assert D(eth["l"]) == D("0.1"), position

        bought = taker.new_order(symbol=SYMBOL, side="BUY", type="MARKET", quantity="0.1")
        assert bought["status"] == "FILLED"
        fill = inbox.until(lambda m: m.get("e") == "executionReport" and m.get("x") == "TRADE",
                           "executionReport TRADE")
        assert (fill["X"], fill["m"], fill["i"], fill["N"]) == ("FILLED", True, sell["orderId"], "BTC")
        assert (D(fill["L"]), D(fill["l"]), D(fill["z"])) == (D("0.06543"), D("0.1"), D("0.1"))
        assert fill["t"] == bought["fills"][0]["tradeId"]
        position = inbox.until(lambda m: m.get("e") == "outboundAccountPosition",
                               "outboundAccountPosition after the fill")
        assert {b["a"] for b in position["B"]} >= {"ETH", "BTC"}
    finally:
        client.stop()
        if maker.get_open_orders(SYMBOL):
            maker.cancel_open_orders(SYMBOL)
        maker.close_listen_key(listen_key)
    assert errors == []
