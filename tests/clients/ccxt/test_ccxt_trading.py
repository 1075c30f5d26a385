"""ccxt's binance class trading on FlowEx: every order type ccxt can send,
queries, cancels, history, balances and the mapping of errors to ccxt's
exception classes.

Each test uses fresh users and cancels what it left open (conftest), so the
books are empty when a test starts and nothing else trades (`--no-bot`).
"""

import time
from decimal import Decimal

import ccxt
import pytest

from flowex_harness import FAUCET

SYMBOL = "BTC/USDT"


def d(s):
    return Decimal(s)


def test_load_markets_matches_exchange_info(make_exchange):
    ex = make_exchange({})
    markets = ex.load_markets()
    assert {"BTC/USDT", "ETH/USDT", "ETH/BTC", "SOL/USDT"} <= set(markets)
    m = markets[SYMBOL]
    assert (m["id"], m["base"], m["quote"], m["spot"], m["active"]) == ("BTCUSDT", "BTC", "USDT", True, True)
    # Precision and limits come from PRICE_FILTER / LOT_SIZE / NOTIONAL.
    assert m["precision"]["price"] == pytest.approx(0.01)
    assert m["precision"]["amount"] == pytest.approx(0.00001)
    assert m["limits"]["amount"]["min"] == pytest.approx(0.00001)
    assert m["limits"]["price"]["min"] > 0


def test_fetch_time_is_the_server_clock(make_exchange):
    ex = make_exchange({})
    before = int(time.time() * 1000)
    t = ex.fetch_time()
    after = int(time.time() * 1000)
    assert before - 1000 <= t <= after + 1000


def test_limit_gtc_rests_then_cancels(make_exchange):
    ex = make_exchange()
    o = ex.create_order(SYMBOL, "limit", "buy", 0.02, 1000)
    assert (o["status"], o["type"], o["side"], o["timeInForce"]) == ("open", "limit", "buy", "GTC")
    assert (o["amount"], o["filled"], o["remaining"], o["price"]) == (0.02, 0.0, 0.02, 1000.0)
    assert len(o["info"]["clientOrderId"]) > 0

    # Read-your-writes: the order and its locked funds show at once.
    assert [x["id"] for x in ex.fetch_open_orders(SYMBOL)] == [o["id"]]
    assert [x["id"] for x in ex.fetch_open_orders()] == [o["id"]]
    balance = ex.fetch_balance()
    usdt = next(b for b in balance["info"]["balances"] if b["asset"] == "USDT")
    assert (d(usdt["free"]), d(usdt["locked"])) == (FAUCET["USDT"] - 20, d("20"))
    assert balance["USDT"]["used"] == 20.0

    fetched = ex.fetch_order(o["id"], SYMBOL)
    assert (fetched["id"], fetched["status"], fetched["clientOrderId"]) == (o["id"], "open", o["clientOrderId"])

    canceled = ex.cancel_order(o["id"], SYMBOL)
    assert (canceled["id"], canceled["status"]) == (o["id"], "canceled")
    assert ex.fetch_open_orders(SYMBOL) == []
    # Closed orders come from the history.
    again = ex.fetch_order(o["id"], SYMBOL)
    assert (again["status"], again["filled"]) == ("canceled", 0.0)
    assert [(x["id"], x["status"]) for x in ex.fetch_orders(SYMBOL)] == [(o["id"], "canceled")]
    assert ex.fetch_balance()["USDT"]["used"] == 0.0


def test_fetch_order_by_client_order_id(make_exchange):
    ex = make_exchange()
    o = ex.create_order(SYMBOL, "limit", "buy", 0.01, 1000, {"clientOrderId": "my-order-1"})
    assert o["clientOrderId"] == "my-order-1"
    fetched = ex.fetch_order(None, SYMBOL, {"origClientOrderId": "my-order-1"})
    assert fetched["id"] == o["id"]
    canceled = ex.cancel_order(None, SYMBOL, {"origClientOrderId": "my-order-1"})
    assert canceled["status"] == "canceled"


def test_ioc_fills_what_it_can_and_expires_the_rest(make_exchange):
    maker, taker = make_exchange(), make_exchange()
    maker.create_order(SYMBOL, "limit", "sell", 0.002, 60000)
    o = taker.create_order(SYMBOL, "limit", "buy", 0.003, 60000, {"timeInForce": "IOC"})
    assert (o["timeInForce"], o["status"], o["filled"], o["remaining"]) == ("IOC", "expired", 0.002, 0.001)
    assert o["cost"] == 120.0
    assert taker.fetch_open_orders(SYMBOL) == []
    # Nothing there: an IOC expires untouched.
    o = taker.create_order(SYMBOL, "limit", "buy", 0.001, 60000, {"timeInForce": "IOC"})
    assert (o["status"], o["filled"]) == ("expired", 0.0)


def test_fok_fills_all_or_nothing(make_exchange):
    maker, taker = make_exchange(), make_exchange()
    maker.create_order(SYMBOL, "limit", "sell", 0.002, 61000)
    o = taker.create_order(SYMBOL, "limit", "buy", 0.003, 61000, {"timeInForce": "FOK"})
    assert (o["timeInForce"], o["status"], o["filled"]) == ("FOK", "expired", 0.0)
    o = taker.create_order(SYMBOL, "limit", "buy", 0.002, 61000, {"timeInForce": "FOK"})
    assert (o["status"], o["filled"], o["cost"]) == ("closed", 0.002, 122.0)


def test_market_order_by_amount(make_exchange):
    maker, taker = make_exchange(), make_exchange()
    maker.create_order(SYMBOL, "limit", "sell", 0.001, 62000)
    maker.create_order(SYMBOL, "limit", "sell", 0.001, 62100)
    o = taker.create_order(SYMBOL, "market", "buy", 0.0015)
    assert (o["type"], o["status"], o["filled"]) == ("market", "closed", 0.0015)
    # As on Binance, a market order reports timeInForce GTC.
    assert (o["timeInForce"], o["info"]["timeInForce"]) == ("GTC", "GTC")
    assert d(o["info"]["cummulativeQuoteQty"]) == d("62") + d("0.0005") * 62100
    assert [(f["price"], f["amount"]) for f in o["trades"]] == [(62000.0, 0.001), (62100.0, 0.0005)]
    # Selling by amount into a book with no bids expires.
    o = taker.create_order(SYMBOL, "market", "sell", 0.001)
    assert (o["status"], o["filled"]) == ("expired", 0.0)


def test_market_buy_by_cost(make_exchange):
    maker, taker = make_exchange(), make_exchange()
    maker.create_order(SYMBOL, "limit", "sell", 0.01, 50000)
    o = taker.create_market_buy_order_with_cost(SYMBOL, 100)
    assert (o["status"], o["amount"], o["filled"], o["remaining"], o["cost"]) == ("closed", 0.002, 0.002, 0.0, 100.0)
    assert d(o["info"]["origQty"]) == d("0.002")
    assert d(o["info"]["origQuoteOrderQty"]) == d("100")
    # ccxt turns a market buy with a price into quoteOrderQty = amount * price.
    o = taker.create_order(SYMBOL, "market", "buy", 0.001, 50000)
    assert (o["status"], o["filled"], o["cost"]) == ("closed", 0.001, 50.0)
    # quoteOrderQty passed straight through.
    o = taker.create_order(SYMBOL, "market", "buy", None, None, {"quoteOrderQty": "25"})
    assert (o["status"], o["filled"], o["cost"]) == ("closed", 0.0005, 25.0)


def test_post_only_rests_or_is_refused(make_exchange):
    maker, other = make_exchange(), make_exchange()
    o = maker.create_order(SYMBOL, "limit", "sell", 0.001, 63000, {"postOnly": True})
    assert (o["status"], o["postOnly"], o["info"]["type"]) == ("open", True, "LIMIT_MAKER")
    fetched = other.create_order(SYMBOL, "limit", "buy", 0.001, 62000, {"postOnly": True})
    assert fetched["info"]["type"] == "LIMIT_MAKER"
    with pytest.raises(ccxt.OrderImmediatelyFillable):
        other.create_order(SYMBOL, "limit", "buy", 0.001, 63000, {"postOnly": True})


def test_stop_loss_limit_and_take_profit_limit(make_exchange):
    ex = make_exchange()
    sl = ex.create_order(SYMBOL, "STOP_LOSS_LIMIT", "sell", 0.001, 40000, {"stopPrice": 41000})
    tp = ex.create_order(SYMBOL, "TAKE_PROFIT_LIMIT", "sell", 0.001, 90000, {"stopPrice": 89000})
    # ccxt's unified spelling of the same: a limit with stopLossPrice / takeProfitPrice.
    usl = ex.create_order(SYMBOL, "limit", "sell", 0.001, 40000, {"stopLossPrice": 41000})
    utp = ex.create_order(SYMBOL, "limit", "sell", 0.001, 90000, {"takeProfitPrice": 89000})
    opened = {o["id"]: o for o in ex.fetch_open_orders(SYMBOL)}
    assert set(opened) == {sl["id"], tp["id"], usl["id"], utp["id"]}
    for o, kind, stop in [(sl, "STOP_LOSS_LIMIT", 41000.0), (tp, "TAKE_PROFIT_LIMIT", 89000.0),
                          (usl, "STOP_LOSS_LIMIT", 41000.0), (utp, "TAKE_PROFIT_LIMIT", 89000.0)]:
        got = opened[o["id"]]
        assert (got["info"]["type"], got["stopPrice"], got["status"]) == (kind, stop, "open"), got["info"]
        assert got["triggerPrice"] == stop
    # The stops lock their base asset.
    assert ex.fetch_balance()["BTC"]["used"] == 0.004
    canceled = ex.cancel_all_orders(SYMBOL)
    assert {o["id"] for o in canceled} == set(opened)
    assert all(o["status"] == "canceled" for o in canceled)
    assert ex.fetch_open_orders(SYMBOL) == []


def test_stop_loss_limit_triggers_on_a_trade(make_exchange):
    market = "SOL/USDT"
    stopper, maker, taker = make_exchange(), make_exchange(), make_exchange()
    stop = stopper.create_order(market, "STOP_LOSS_LIMIT", "sell", 1, 139, {"stopPrice": 140})
    assert stop["status"] == "open"
    # A trade at 140 triggers it; it then rests as a limit sell at 139 and
    # meets the buyer waiting at 139.5.
    maker.create_order(market, "limit", "buy", 1, 139.5)
    maker.create_order(market, "limit", "sell", 0.5, 140)
    taker.create_order(market, "limit", "buy", 0.5, 140)
    got = stopper.fetch_order(stop["id"], market)
    assert (got["status"], got["filled"], got["average"]) == ("closed", 1.0, 139.5), got["info"]


def test_trades_closed_orders_and_order_history(make_exchange):
    maker, taker = make_exchange(), make_exchange()
    sell = maker.create_order(SYMBOL, "limit", "sell", 0.004, 64000)
    buy = taker.create_order(SYMBOL, "limit", "buy", 0.004, 64000)
    assert buy["status"] == "closed"

    [mt] = maker.fetch_my_trades(SYMBOL)
    [tt] = taker.fetch_my_trades(SYMBOL)
    assert mt["id"] == tt["id"]
    assert (mt["order"], mt["side"], mt["takerOrMaker"], mt["price"], mt["amount"]) == (
        sell["id"], "sell", "maker", 64000.0, 0.004)
    assert (tt["order"], tt["side"], tt["takerOrMaker"]) == (buy["id"], "buy", "taker")
    # Fees: each side pays in the asset it receives.
    assert (mt["fee"]["currency"], tt["fee"]["currency"]) == ("USDT", "BTC")
    assert d(tt["info"]["commission"]) == d(buy["info"]["fills"][0]["commission"])

    [closed] = maker.fetch_closed_orders(SYMBOL)
    assert (closed["id"], closed["status"], closed["filled"], closed["average"]) == (sell["id"], "closed", 0.004, 64000.0)
    assert [o["id"] for o in taker.fetch_orders(SYMBOL)] == [buy["id"]]
    # since / limit go through as startTime / limit.
    assert taker.fetch_my_trades(SYMBOL, since=tt["timestamp"] + 1) == []
    assert len(taker.fetch_orders(SYMBOL, limit=1)) == 1
    assert taker.fetch_orders(SYMBOL, since=buy["timestamp"] + 1) == []


def test_fetch_balance_is_exact(make_exchange):
    ex = make_exchange({"BTC": 1, "USDT": 2})
    balance = ex.fetch_balance()
    raw = {b["asset"]: (d(b["free"]), d(b["locked"])) for b in balance["info"]["balances"]}
    assert raw["BTC"] == (FAUCET["BTC"], 0)
    assert raw["USDT"] == (2 * FAUCET["USDT"], 0)
    assert balance["total"]["BTC"] == 0.5 and balance["free"]["USDT"] == 20000.0


def test_cancel_all_orders(make_exchange):
    ex = make_exchange()
    ids = {ex.create_order(SYMBOL, "limit", "buy", 0.01, p)["id"] for p in (1000, 1001, 1002)}
    other = ex.create_order("ETH/USDT", "limit", "buy", 0.1, 100)
    canceled = ex.cancel_all_orders(SYMBOL)
    assert {o["id"] for o in canceled} == ids
    assert [o["id"] for o in ex.fetch_open_orders()] == [other["id"]]


def test_insufficient_funds(make_exchange):
    ex = make_exchange({"USDT": 1})
    with pytest.raises(ccxt.InsufficientFunds):
        ex.create_order(SYMBOL, "limit", "buy", 1, 60000)
    with pytest.raises(ccxt.InsufficientFunds):
        ex.create_order(SYMBOL, "limit", "sell", 0.001, 60000)


def test_unknown_order(make_exchange):
    ex = make_exchange()
    with pytest.raises(ccxt.OrderNotFound):
        ex.fetch_order("999999", SYMBOL)
    with pytest.raises(ccxt.OrderNotFound):
        ex.cancel_order("999999", SYMBOL)
    with pytest.raises(ccxt.OrderNotFound):
        ex.fetch_order(None, SYMBOL, {"origClientOrderId": "never-sent"})


def test_another_users_order_is_not_found(make_exchange):
    owner, other = make_exchange(), make_exchange()
    o = owner.create_order(SYMBOL, "limit", "buy", 0.01, 1000)
    with pytest.raises(ccxt.OrderNotFound):
        other.fetch_order(o["id"], SYMBOL)
    with pytest.raises(ccxt.OrderNotFound):
        other.cancel_order(o["id"], SYMBOL)
    assert owner.fetch_order(o["id"], SYMBOL)["status"] == "open"


def test_bad_symbol(make_exchange):
    ex = make_exchange()
    # ccxt checks unified symbols against load_markets ...
    with pytest.raises(ccxt.BadSymbol):
        ex.create_order("NOPE/USDT", "limit", "buy", 1, 1)
    # ... and maps the server's -1121 for raw ones.
    with pytest.raises(ccxt.BadSymbol):
        ex.private_get_openorders({"symbol": "NOPEUSDT"})
    with pytest.raises(ccxt.BadSymbol):
        ex.private_post_order({"symbol": "NOPEUSDT", "side": "BUY", "type": "LIMIT",
                               "timeInForce": "GTC", "quantity": "1", "price": "1"})


def test_bad_signature(server, make_exchange):
    user = server.new_user({})
    ex = make_exchange(user=user, secret="x" * 64)
    with pytest.raises(ccxt.AuthenticationError):
        ex.fetch_balance()
    with pytest.raises(ccxt.AuthenticationError):
        ex.create_order(SYMBOL, "limit", "buy", 0.01, 1000)


def test_unknown_api_key(server, make_exchange):
    ex = make_exchange({})
    ex.apiKey = "A" * 64
    with pytest.raises(ccxt.AuthenticationError):
        ex.fetch_balance()


def test_read_only_key_cannot_trade(server, make_exchange):
    user = server.new_user({"USDT": 1}, permissions=["READ"])
    ex = make_exchange(user=user)
    assert ex.fetch_balance()["USDT"]["free"] == 10000.0
    # -2015, as Binance answers; ccxt raises AuthenticationError for it, or
    # DDoSProtection once the key has worked before (it then suspects an IP ban).
    with pytest.raises((ccxt.AuthenticationError, ccxt.DDoSProtection), match="-2015"):
        ex.create_order(SYMBOL, "limit", "buy", 0.01, 1000)


def test_self_trade_prevention(make_exchange):
    ex = make_exchange()
    resting = ex.create_order(SYMBOL, "limit", "sell", 0.01, 65000)
    # The market's default mode (EXPIRE_MAKER): the resting order goes, the new one rests.
    taker = ex.create_order(SYMBOL, "limit", "buy", 0.01, 65000)
    assert (taker["status"], taker["filled"]) == ("open", 0.0)
    gone = ex.fetch_order(resting["id"], SYMBOL)
    assert (gone["status"], gone["info"]["status"]) == ("expired", "EXPIRED_IN_MATCH")
    # EXPIRE_TAKER, asked for by parameter: the new order goes.
    o = ex.create_order(SYMBOL, "limit", "sell", 0.01, 65000, {"selfTradePreventionMode": "EXPIRE_TAKER"})
    assert (o["status"], o["info"]["status"], o["info"]["selfTradePreventionMode"]) == (
        "expired", "EXPIRED_IN_MATCH", "EXPIRE_TAKER")
    assert ex.fetch_order(taker["id"], SYMBOL)["status"] == "open"
    assert ex.fetch_my_trades(SYMBOL) == []


def test_stale_or_early_timestamps(make_exchange):
    ex = make_exchange({})
    # ccxt signs with its clock minus options["timeDifference"].
    ex.options["timeDifference"] = 120_000
    with pytest.raises(ccxt.InvalidNonce, match="-1021"):
        ex.fetch_balance()
    ex.options["timeDifference"] = -120_000
    with pytest.raises(ccxt.InvalidNonce, match="-1021"):
        ex.fetch_balance()
    ex.options["timeDifference"] = 0
    assert ex.fetch_balance()["info"]["canTrade"] is True


def test_edit_order_cancels_and_replaces(make_exchange):
    ex = make_exchange()
    o = ex.create_order(SYMBOL, "limit", "buy", 0.01, 1000)
    # ccxt's edit_order on Binance spot is POST order/cancelReplace.
    edited = ex.edit_order(o["id"], SYMBOL, "limit", "buy", 0.02, 1100)
    assert edited["id"] != o["id"]
    assert (edited["status"], edited["amount"], edited["price"]) == ("open", 0.02, 1100.0)
    assert [(x["id"], x["price"]) for x in ex.fetch_open_orders(SYMBOL)] == [(edited["id"], 1100.0)]
    assert ex.fetch_order(o["id"], SYMBOL)["status"] == "canceled"
    assert ex.fetch_balance()["USDT"]["used"] == 22.0
    # Editing an order that is gone: the cancel half fails, nothing is placed.
    with pytest.raises(ccxt.ExchangeError, match="-2022"):
        ex.edit_order(o["id"], SYMBOL, "limit", "buy", 0.02, 1200)
    assert len(ex.fetch_open_orders(SYMBOL)) == 1
