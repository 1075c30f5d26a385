"""python-binance's Client pointed at a FlowEx server, as BINANCE_API.md says
(shared by the python-binance and the two-user suites)."""

from binance.client import Client


def client_for(server, user):
    # Set on the class before constructing: the constructor pings API_URL.
    Client.API_URL = server.base + "/api"
    return Client(user.api_key, user.secret)
