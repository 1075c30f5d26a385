"""binance-connector's SpotWebsocketStreamClient on FlowEx's market
streams, raw and combined, on SOLUSDT (a market no other test of this suite
trades): it SUBSCRIBEs with its own names (`@depth@1000ms` by default) and
gets trades, diffs, klines, tickers and book tickers of real trades."""

import json
import queue
from decimal import Decimal

from binance.spot import Spot
from binance.websocket.spot.websocket_stream import SpotWebsocketStreamClient

D = Decimal
SYMBOL = "SOLUSDT"
WAIT_S = 30


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


def is_event(e):
    return lambda m: m.get("e") == e


def test_raw_and_combined_stream_clients(server):
    maker_user = server.new_user({"SOL": 1, "USDT": 1})
    taker_user = server.new_user({"SOL": 1, "USDT": 1})
    maker = Spot(maker_user.api_key, maker_user.secret, base_url=server.base)
    taker = Spot(taker_user.api_key, taker_user.secret, base_url=server.base)
    raw, combined = Inbox(), Inbox()
    errors, closes = [], []

    def clients_of(inbox, **kw):
        return SpotWebsocketStreamClient(
            stream_url=server.ws, on_message=inbox, on_error=lambda _s, e: errors.append(e),
            on_close=lambda _s: closes.append(1), **kw)

    raw_client, combined_client = clients_of(raw), clients_of(combined, is_combined=True)
    try:
        raw_client.trade(symbol=SYMBOL, id=1)
        raw_client.diff_book_depth(symbol=SYMBOL, id=2)
        raw_client.kline(symbol=SYMBOL, interval="1m", id=3)
        assert raw.until(lambda m: m.get("id") == 3, "SUBSCRIBE reply") == {"result": None, "id": 3}
        combined_client.book_ticker(symbol=SYMBOL, id=4)
        combined_client.ticker(symbol=SYMBOL, id=5)
        assert combined.until(lambda m: m.get("id") == 5, "SUBSCRIBE reply") == {"result": None, "id": 5}
        raw_client.list_subscribe(id=6)
        listed = raw.until(lambda m: m.get("id") == 6, "LIST_SUBSCRIPTIONS reply")
        assert listed["result"] == ["solusdt@trade", "solusdt@depth@1000ms", "solusdt@kline_1m"]

        maker.new_order(symbol=SYMBOL, side="SELL", type="LIMIT", timeInForce="GTC", quantity="1.5", price="161.17")
        taker.new_order(symbol=SYMBOL, side="BUY", type="MARKET", quantity="1.5")

        trade = raw.until(is_event("trade"), "trade")
        assert (D(trade["p"]), D(trade["q"]), trade["m"]) == (D("161.17"), D("1.5"), False)
        diff = raw.until(is_event("depthUpdate"), "depth update")
        assert diff["s"] == SYMBOL and diff["U"] <= diff["u"]
        kline = raw.until(lambda m: m.get("e") == "kline" and D(m["k"]["c"]) == D("161.17"), "kline")
        k = kline["k"]
        assert (k["i"], D(k["v"]), k["n"], k["x"]) == ("1m", D("1.5"), 1, False)
        assert k["T"] == k["t"] + 59_999

        ticker = combined.until(lambda m: m.get("stream") == "solusdt@ticker"
                                and D(m["data"]["c"]) == D("161.17"), "ticker")
        assert ticker["data"]["e"] == "24hrTicker" and D(ticker["data"]["v"]) == D("1.5")
        maker.new_order(symbol=SYMBOL, side="BUY", type="LIMIT", timeInForce="GTC", quantity="2", price="150.5")
        best = combined.until(lambda m: m.get("stream") == "solusdt@bookTicker"
                              and D(m["data"]["b"]) == D("150.5"), "book ticker")
        assert D(best["data"]["B"]) == D("2") and isinstance(best["data"]["u"], int)
    finally:
        raw_client.stop()
        combined_client.stop()
        maker.cancel_open_orders(SYMBOL)
    # stop() sends a close frame: the server answers it (a clean close,
    # not a lost connection).
    assert (errors, closes) == ([], [1, 1])
