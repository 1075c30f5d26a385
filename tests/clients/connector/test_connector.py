"""binance-connector's Spot on FlowEx: account, new order, query, cancel,
and errors as ClientError with Binance's codes. binance-connector sends
every parameter in the query string, with an empty JSON-typed body."""

from decimal import Decimal

import pytest
from binance.error import ClientError
from binance.spot import Spot

from flowex_harness import FAUCET

SYMBOL = "ETHUSDT"


def test_public_basics(make_spot):
    spot = make_spot({})
    assert spot.ping() == {}
    assert spot.time()["serverTime"] > 0
    info = spot.exchange_info(symbol=SYMBOL)
    assert [s["symbol"] for s in info["symbols"]] == [SYMBOL]
    info = spot.exchange_info(symbols=["BTCUSDT", "ETHBTC"])
    assert sorted(s["symbol"] for s in info["symbols"]) == ["BTCUSDT", "ETHBTC"]


def test_account(make_spot):
    spot = make_spot({"ETH": 1, "USDT": 1})
    account = spot.account()
    balances = {b["asset"]: (Decimal(b["free"]), Decimal(b["locked"])) for b in account["balances"]}
    assert balances["ETH"] == (FAUCET["ETH"], 0)
    assert balances["USDT"] == (FAUCET["USDT"], 0)
    commission = spot.query_commission_rates(SYMBOL)
    assert commission["symbol"] == SYMBOL
    assert Decimal(commission["standardCommission"]["taker"]) > 0


def test_new_query_cancel(make_spot):
    spot = make_spot()
    o = spot.new_order(symbol=SYMBOL, side="BUY", type="LIMIT", timeInForce="GTC",
                       quantity="0.01", price="1000")
    assert (o["status"], o["type"], Decimal(o["price"])) == ("NEW", "LIMIT", Decimal("1000"))
    assert spot.get_order(SYMBOL, orderId=o["orderId"])["status"] == "NEW"
    assert [x["orderId"] for x in spot.get_open_orders(SYMBOL)] == [o["orderId"]]
    canceled = spot.cancel_order(SYMBOL, orderId=o["orderId"])
    assert (canceled["status"], canceled["origClientOrderId"]) == ("CANCELED", o["clientOrderId"])
    assert spot.get_open_orders(SYMBOL) == []
    assert spot.get_order(SYMBOL, origClientOrderId=o["clientOrderId"])["status"] == "CANCELED"


def test_trade_and_history(make_spot):
    maker, taker = make_spot(), make_spot()
    sell = maker.new_order(symbol=SYMBOL, side="SELL", type="LIMIT", timeInForce="GTC",
                           quantity="0.5", price="3000")
    buy = taker.new_order(symbol=SYMBOL, side="BUY", type="MARKET", quoteOrderQty="600")
    assert (buy["status"], Decimal(buy["executedQty"])) == ("FILLED", Decimal("0.2"))
    # As on Binance, a quote-sized order reports what it executed as origQty.
    assert (Decimal(buy["origQty"]), Decimal(buy["origQuoteOrderQty"])) == (Decimal("0.2"), Decimal("600"))
    assert Decimal(taker.get_order(SYMBOL, orderId=buy["orderId"])["origQty"]) == Decimal("0.2")
    assert maker.get_order(SYMBOL, orderId=sell["orderId"])["status"] == "PARTIALLY_FILLED"
    [trade] = taker.my_trades(SYMBOL)
    assert (trade["orderId"], Decimal(trade["qty"])) == (buy["orderId"], Decimal("0.2"))
    assert [o["orderId"] for o in maker.get_orders(SYMBOL)] == [sell["orderId"]]
    canceled = maker.cancel_open_orders(SYMBOL)
    assert [(c["orderId"], c["status"]) for c in canceled] == [(sell["orderId"], "CANCELED")]


def test_errors_are_client_errors(server, make_spot):
    spot = make_spot({})
    with pytest.raises(ClientError) as e:
        spot.new_order(symbol=SYMBOL, side="BUY", type="LIMIT", timeInForce="GTC",
                       quantity="1", price="3000")
    assert (e.value.status_code, e.value.error_code, e.value.error_message) == (
        400, -2010, "Account has insufficient balance for requested action.")
    with pytest.raises(ClientError) as e:
        spot.cancel_order(SYMBOL, orderId=123456789)
    assert (e.value.error_code, e.value.error_message) == (-2011, "Unknown order sent.")
    with pytest.raises(ClientError) as e:
        spot.get_order("NOPEUSDT", orderId=1)
    assert (e.value.error_code, e.value.error_message) == (-1121, "Invalid symbol.")
    with pytest.raises(ClientError) as e:
        spot.new_order(symbol=SYMBOL, side="BUY", type="LIMIT", quantity="1", price="3000")
    assert e.value.error_code == -1102
    forger = Spot(spot.api_key, "x" * 64, base_url=server.base)
    with pytest.raises(ClientError) as e:
        forger.account()
    assert (e.value.error_code, e.value.error_message) == (-1022, "Signature for this request is not valid.")
