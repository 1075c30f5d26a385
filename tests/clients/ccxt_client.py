"""ccxt's `binance` class pointed at a FlowEx server, as BINANCE_API.md says
(shared by the ccxt and the two-user suites)."""

import ccxt


def binance_for(server, user=None, secret=None):
    """A ccxt binance exchange talking to `server` with `user`'s API key
    (signing with `secret` instead of the user's when given)."""
    config = {
        "options": {
            "fetchMarkets": {"types": ["spot"]},
            "fetchCurrencies": False,
            "fetchMargins": False,
            "fetchOpenOrders": {"warnWithoutSymbol": False},
        },
    }
    if user is not None:
        config["apiKey"] = user.api_key
        config["secret"] = secret or user.secret
    ex = ccxt.binance(config)
    ex.urls["api"] = {
        "public": server.base + "/api/v3",
        "private": server.base + "/api/v3",
        "ws": {"spot": server.ws + "/stream/ws", "ws-api": {"spot": server.ws + "/ws-api/v3"}},
    }
    return ex
