"""python-binance's Client on FlowEx: ping and time, account, orders
(limit and market, query, list, cancel), trades, and Binance's errors as
BinanceAPIException with their codes."""

import time
from decimal import Decimal

import pytest
from binance.client import Client
from binance.exceptions import BinanceAPIException

from flowex_harness import FAUCET

SYMBOL = "BTCUSDT"


def test_ping_time_and_exchange_info(make_client):
    client = make_client({})
    assert client.ping() == {}
    server_time = client.get_server_time()["serverTime"]
    assert abs(server_time - time.time() * 1000) < 5000
    info = client.get_symbol_info(SYMBOL)
    assert (info["baseAsset"], info["quoteAsset"], info["status"]) == ("BTC", "USDT", "TRADING")
    filters = {f["filterType"]: f for f in info["filters"]}
    assert Decimal(filters["PRICE_FILTER"]["tickSize"]) == Decimal("0.01")
    assert Decimal(filters["LOT_SIZE"]["stepSize"]) == Decimal("0.00001")


def test_account_and_asset_balance(make_client):
    client = make_client({"BTC": 1, "USDT": 1})
    account = client.get_account()
    assert account["canTrade"] is True
    balances = {b["asset"]: b for b in account["balances"]}
    assert (Decimal(balances["BTC"]["free"]), Decimal(balances["BTC"]["locked"])) == (FAUCET["BTC"], 0)
    assert Decimal(client.get_asset_balance(asset="USDT")["free"]) == FAUCET["USDT"]


def test_limit_order_query_list_cancel(make_client):
    client = make_client()
    o = client.order_limit_buy(symbol=SYMBOL, quantity="0.01", price="1000")
    assert (o["status"], o["type"], o["side"], o["timeInForce"]) == ("NEW", "LIMIT", "BUY", "GTC")
    assert Decimal(o["origQty"]) == Decimal("0.01")
    assert [x["orderId"] for x in client.get_open_orders(symbol=SYMBOL)] == [o["orderId"]]
    locked = Decimal(client.get_asset_balance(asset="USDT")["locked"])
    assert locked == Decimal("10")

    got = client.get_order(symbol=SYMBOL, orderId=o["orderId"])
    assert (got["status"], got["clientOrderId"]) == ("NEW", o["clientOrderId"])
    by_client_id = client.get_order(symbol=SYMBOL, origClientOrderId=o["clientOrderId"])
    assert by_client_id["orderId"] == o["orderId"]

    canceled = client.cancel_order(symbol=SYMBOL, orderId=o["orderId"])
    assert (canceled["orderId"], canceled["status"], canceled["origClientOrderId"]) == (
        o["orderId"], "CANCELED", o["clientOrderId"])
    assert client.get_open_orders(symbol=SYMBOL) == []
    assert client.get_order(symbol=SYMBOL, orderId=o["orderId"])["status"] == "CANCELED"
    assert [x["status"] for x in client.get_all_orders(symbol=SYMBOL)] == ["CANCELED"]


def test_create_order_with_every_parameter_style(make_client):
    client = make_client()
    o = client.create_order(symbol=SYMBOL, side=Client.SIDE_SELL, type=Client.ORDER_TYPE_LIMIT,
                            timeInForce=Client.TIME_IN_FORCE_GTC, quantity="0.001", price="90000",
                            newClientOrderId="pb-1", newOrderRespType="RESULT")
    assert (o["clientOrderId"], o["status"]) == ("pb-1", "NEW")
    assert "fills" not in o
    ack = client.create_order(symbol=SYMBOL, side="SELL", type="LIMIT_MAKER", quantity="0.001",
                              price="91000", newOrderRespType="ACK")
    assert set(ack) >= {"symbol", "orderId", "clientOrderId", "transactTime"} and "status" not in ack
    stop = client.create_order(symbol=SYMBOL, side="SELL", type="STOP_LOSS_LIMIT", quantity="0.001",
                               price="40000", stopPrice="41000", timeInForce="GTC")
    assert client.get_order(symbol=SYMBOL, orderId=stop["orderId"])["type"] == "STOP_LOSS_LIMIT"
    assert client.create_test_order(symbol=SYMBOL, side="BUY", type="MARKET", quantity="0.001") == {}
    assert len(client.get_open_orders()) == 3


def test_trade_between_two_clients(make_client):
    maker, taker = make_client(), make_client()
    sell = maker.order_limit_sell(symbol=SYMBOL, quantity="0.002", price="60000")
    buy = taker.order_market_buy(symbol=SYMBOL, quantity="0.002")
    assert (buy["status"], Decimal(buy["executedQty"]), Decimal(buy["cummulativeQuoteQty"])) == (
        "FILLED", Decimal("0.002"), Decimal("120"))
    [fill] = buy["fills"]
    assert (Decimal(fill["price"]), Decimal(fill["qty"]), fill["commissionAsset"]) == (
        Decimal("60000"), Decimal("0.002"), "BTC")
    assert maker.get_order(symbol=SYMBOL, orderId=sell["orderId"])["status"] == "FILLED"
    [mt] = maker.get_my_trades(symbol=SYMBOL)
    [tt] = taker.get_my_trades(symbol=SYMBOL)
    assert mt["id"] == tt["id"] == fill["tradeId"]
    assert (mt["isMaker"], mt["isBuyer"], tt["isMaker"], tt["isBuyer"]) == (True, False, False, True)
    assert Decimal(tt["commission"]) == Decimal(fill["commission"])


def test_errors_are_binance_api_exceptions(make_client):
    client = make_client({"USDT": 1})
    with pytest.raises(BinanceAPIException) as e:
        client.order_limit_buy(symbol=SYMBOL, quantity="1", price="60000")
    assert (e.value.code, e.value.message) == (-2010, "Account has insufficient balance for requested action.")
    with pytest.raises(BinanceAPIException) as e:
        client.get_order(symbol=SYMBOL, orderId=987654321)
    assert (e.value.code, e.value.status_code) == (-2013, 400)
    with pytest.raises(BinanceAPIException) as e:
        client.cancel_order(symbol=SYMBOL, orderId=987654321)
    assert (e.value.code, e.value.message) == (-2011, "Unknown order sent.")
    with pytest.raises(BinanceAPIException) as e:
        client.get_open_orders(symbol="NOPEUSDT")
    assert (e.value.code, e.value.message) == (-1121, "Invalid symbol.")
    with pytest.raises(BinanceAPIException) as e:
        client.order_limit_buy(symbol=SYMBOL, quantity="0.000001", price="1000")
    assert (e.value.code, e.value.message) == (-1013, "Filter failure: LOT_SIZE")
    forger = Client(client.API_KEY, "x" * 64)
    with pytest.raises(BinanceAPIException) as e:
        forger.get_account()
    assert (e.value.code, e.value.message) == (-1022, "Signature for this request is not valid.")
