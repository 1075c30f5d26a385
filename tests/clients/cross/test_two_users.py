"""Two users trade with each other through two different clients — Alice
with ccxt, Bob with python-binance — and every balance comes out exact to
the atomic unit: the expected figures are computed here with
decimal.Decimal from the fills alone and the market's fee rates, and the
commissions each client reports must equal them.

FlowEx's fee rule: each side pays in the asset it receives, rate (maker or
taker) times the amount received, rounded up to the asset's atom (1e-8).
"""

from decimal import ROUND_CEILING, Decimal

import pytest

from ccxt_client import binance_for
from flowex_harness import FAUCET
from python_binance_client import client_for

SYMBOL, UNIFIED = "BTCUSDT", "BTC/USDT"
ATOM = Decimal("0.00000001")


def fee(amount: Decimal, rate: Decimal) -> Decimal:
    return (amount * rate).quantize(ATOM, rounding=ROUND_CEILING)


class Ledger:
    """Expected balances, moved trade by trade."""

    def __init__(self):
        self.free = {
            who: {"BTC": FAUCET["BTC"], "USDT": FAUCET["USDT"]} for who in ("alice", "bob")
        }
        self.fees = {"BTC": Decimal(0), "USDT": Decimal(0)}

    def trade(self, buyer, seller, price, qty, buyer_rate, seller_rate):
        quote = price * qty
        assert quote == quote.quantize(ATOM), "one lot at one tick is whole quote atoms"
        buyer_fee, seller_fee = fee(qty, buyer_rate), fee(quote, seller_rate)
        self.free[buyer]["BTC"] += qty - buyer_fee
        self.free[buyer]["USDT"] -= quote
        self.free[seller]["BTC"] -= qty
        self.free[seller]["USDT"] += quote - seller_fee
        self.fees["BTC"] += buyer_fee
        self.fees["USDT"] += seller_fee
        return buyer_fee, seller_fee


@pytest.fixture
def alice_and_bob(server):
    alice_user = server.new_user({"BTC": 1, "USDT": 1})
    bob_user = server.new_user({"BTC": 1, "USDT": 1})
    alice = binance_for(server, alice_user)
    alice.load_markets()
    bob = client_for(server, bob_user)
    yield alice, bob
    for o in alice.fetch_open_orders():
        alice.cancel_order(o["id"], o["symbol"])
    for o in bob.get_open_orders():
        bob.cancel_order(symbol=o["symbol"], orderId=o["orderId"])


def test_alice_with_ccxt_and_bob_with_python_binance_settle_exactly(server, alice_and_bob):
    alice, bob = alice_and_bob
    # The market's rates, as each client reads them.
    rates = alice.private_get_account_commission({"symbol": SYMBOL})["standardCommission"]
    maker, taker = Decimal(rates["maker"]), Decimal(rates["taker"])
    bob_rates = bob.get_account()["commissionRates"]
    assert (Decimal(bob_rates["maker"]), Decimal(bob_rates["taker"])) == (maker, taker)
    assert maker > 0 and taker > 0
    ledger = Ledger()

    # Alice (ccxt) rests three asks; prices and sizes chosen so that the
    # quote-side fees need rounding up.
    asks = [("60000.01", "0.00123"), ("60100.00", "0.00200"), ("60200.57", "0.00411")]
    ask_ids = [
        alice.create_order(UNIFIED, "limit", "sell", float(q), float(p), {"postOnly": True})["id"]
        for p, q in asks
    ]

    # Bob (python-binance) takes with a market order by quantity: the first
    # ask whole and part of the second.
    sweep = bob.order_market_buy(symbol=SYMBOL, quantity="0.00250")
    assert sweep["status"] == "FILLED"
    expected_fills = [(Decimal("60000.01"), Decimal("0.00123")), (Decimal("60100.00"), Decimal("0.00127"))]
    assert [(Decimal(f["price"]), Decimal(f["qty"])) for f in sweep["fills"]] == expected_fills
    for f, (price, qty) in zip(sweep["fills"], expected_fills):
        bob_fee, _ = ledger.trade("bob", "alice", price, qty, taker, maker)
        assert (Decimal(f["commission"]), f["commissionAsset"]) == (bob_fee, "BTC")
    assert Decimal(sweep["cummulativeQuoteQty"]) == sum(p * q for p, q in expected_fills)

    # Then a limit buy that takes the rest of the second ask and part of the
    # third, and rests no remainder (exactly the size available).
    take = bob.order_limit_buy(symbol=SYMBOL, quantity="0.00273", price="60200.57")
    assert take["status"] == "FILLED"
    expected_fills = [(Decimal("60100.00"), Decimal("0.00073")), (Decimal("60200.57"), Decimal("0.00200"))]
    assert [(Decimal(f["price"]), Decimal(f["qty"])) for f in take["fills"]] == expected_fills
    for f, (price, qty) in zip(take["fills"], expected_fills):
        bob_fee, _ = ledger.trade("bob", "alice", price, qty, taker, maker)
        assert Decimal(f["commission"]) == bob_fee

    # Bob rests a bid; Alice sells into it with a ccxt market order.
    bid = bob.order_limit_buy(symbol=SYMBOL, quantity="0.00300", price="59999.99")
    assert bid["status"] == "NEW"
    hit = alice.create_order(UNIFIED, "market", "sell", 0.00177)
    assert (hit["status"], hit["info"]["status"]) == ("closed", "FILLED")
    [f] = hit["info"]["fills"]
    _, alice_fee = ledger.trade("bob", "alice", Decimal("59999.99"), Decimal("0.00177"), maker, taker)
    assert (Decimal(f["price"]), Decimal(f["qty"]), Decimal(f["commission"]), f["commissionAsset"]) == (
        Decimal("59999.99"), Decimal("0.00177"), alice_fee, "USDT")

    # What is still open: Alice's third ask (0.00211 BTC) and Bob's bid
    # (0.00123 BTC at 59999.99): locked, not free.
    alice_open = {o["id"]: o for o in alice.fetch_open_orders(UNIFIED)}
    assert list(alice_open) == [ask_ids[2]]
    assert Decimal(alice_open[ask_ids[2]]["info"]["executedQty"]) == Decimal("0.00200")
    [bob_open] = bob.get_open_orders(symbol=SYMBOL)
    assert (bob_open["orderId"], Decimal(bob_open["executedQty"])) == (bid["orderId"], Decimal("0.00177"))
    locked_btc = Decimal("0.00211")
    locked_usdt = Decimal("59999.99") * Decimal("0.00123")
    ledger.free["alice"]["BTC"] -= locked_btc
    ledger.free["bob"]["USDT"] -= locked_usdt

    # Each side's trade history agrees with the other's and with the fees.
    alice_trades = alice.fetch_my_trades(UNIFIED)
    bob_trades = bob.get_my_trades(symbol=SYMBOL)
    assert [t["id"] for t in alice_trades] == [str(t["id"]) for t in bob_trades]
    assert len(bob_trades) == 5
    for a, b in zip(alice_trades, bob_trades):
        price, qty = Decimal(b["price"]), Decimal(b["qty"])
        assert (Decimal(a["info"]["price"]), Decimal(a["info"]["qty"])) == (price, qty)
        assert Decimal(b["quoteQty"]) == price * qty
        alice_rate, bob_rate = (maker, taker) if a["takerOrMaker"] == "maker" else (taker, maker)
        assert b["isMaker"] == (a["takerOrMaker"] == "taker")
        assert (Decimal(a["info"]["commission"]), a["info"]["commissionAsset"]) == (fee(price * qty, alice_rate), "USDT")
        assert (Decimal(b["commission"]), b["commissionAsset"]) == (fee(qty, bob_rate), "BTC")

    # The balances, exact, through each user's own client and through the
    # server's own account view.
    alice_raw = {b["asset"]: b for b in alice.fetch_balance()["info"]["balances"]}
    bob_raw = {b["asset"]: b for b in bob.get_account()["balances"]}
    expected = {
        "alice": {"BTC": (ledger.free["alice"]["BTC"], locked_btc), "USDT": (ledger.free["alice"]["USDT"], Decimal(0))},
        "bob": {"BTC": (ledger.free["bob"]["BTC"], Decimal(0)), "USDT": (ledger.free["bob"]["USDT"], locked_usdt)},
    }
    for who, raw in (("alice", alice_raw), ("bob", bob_raw)):
        for asset in ("BTC", "USDT"):
            got = (Decimal(raw[asset]["free"]), Decimal(raw[asset]["locked"]))
            assert got == expected[who][asset], (who, asset, got, expected[who][asset])
    # Nothing was made or lost: what the two hold plus the fees is what the faucet gave.
    for asset in ("BTC", "USDT"):
        held = sum(Decimal(raw[asset]["free"]) + Decimal(raw[asset]["locked"]) for raw in (alice_raw, bob_raw))
        assert held + ledger.fees[asset] == 2 * FAUCET[asset]
