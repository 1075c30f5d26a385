"""Starts a real FlowEx server for the client suites and makes funded users.

The server is the debug `flowex` binary named by FLOWEX_BIN, run as
`flowex --data-dir TMP --port 0 up --no-bot` (nothing else trades, the port
is picked by the OS and read from the banner; `bot=True` leaves the demo
market maker on). Users are made through the
public API exactly as a person would: register, log in, take faucet funds,
create an API key.
"""

from __future__ import annotations

import itertools
import os
import queue
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from decimal import Decimal

import requests

PASSWORD = "a long enough passphrase"
# Generous: a debug build on a loaded two-core machine starts slowly.
START_TIMEOUT_S = 120
_emails = itertools.count(1)


@dataclass
class User:
    """A registered user with a bearer token and an API key."""

    email: str
    token: str
    api_key: str
    secret: str
    permissions: list[str]
    user_id: int | None = None


class Server:
    """One `flowex up --no-bot` process in its own data directory."""

    def __init__(self, binary: str, settings: dict[str, str] | None = None,
                 bot: bool = False):
        """`settings`: extra FLOWEX_* variables for this server; `bot`: run
        the demo market maker too (it then trades every market)."""
        self._dir = tempfile.TemporaryDirectory(prefix="flowex-clients-")
        # No inherited FLOWEX_* variable (FLOWEX_BIN is not a setting, and
        # flowex refuses ones it does not know; scripts/test exports test
        # switches): the server runs on defaults plus what is set here.
        env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWEX_")}
        # Plenty of orders per 10 s: a suite places many in a burst. And
        # every test makes its own accounts, all from 127.0.0.1: more than
        # the per-address registrations and faucet claims allowed an hour.
        env["FLOWEX_RATE_LIMITS__ORDERS_PER_10S"] = "10000"
        env["FLOWEX_RATE_LIMITS__REGISTRATIONS_PER_IP_PER_HOUR"] = "100000"
        env["FLOWEX_RATE_LIMITS__FAUCET_CLAIMS_PER_IP_PER_HOUR"] = "100000"
        env.update(settings or {})
        self.log_path = os.path.join(self._dir.name, "server.log")
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [binary, "--data-dir", os.path.join(self._dir.name, "data"),
             "--port", "0", "up", *([] if bot else ["--no-bot"])],
            stdout=subprocess.PIPE, stderr=self._log, env=env,
        )
        self.base = self._read_base_url()
        self.http = requests.Session()
        self._wait_ready()

    def _read_base_url(self) -> str:
        lines: queue.Queue = queue.Queue()

        def pump():
            # Keep draining stdout so the server never blocks on a full pipe.
            for raw in self.proc.stdout:
                line = raw.decode(errors="replace").rstrip("\n")
                self._log.write(raw)
                self._log.flush()
                lines.put(line)
            lines.put(None)

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=1)
            except queue.Empty:
                continue
            if line is None:
                break
            if line.startswith("FlowEx is up at "):
                return line[len("FlowEx is up at "):].split()[0].rstrip("/")
        log = self.log()
        self.stop()
        raise RuntimeError(f"flowex up did not print its address; log:\n{log}")

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                if self.http.get(self.base + "/health/ready", timeout=5).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.base}/health/ready never answered 200; log:\n{self.log()}")

    @property
    def ws(self) -> str:
        return "ws" + self.base[len("http"):]

    def log(self) -> str:
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")[-20000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        self._dir.cleanup()

    # -- the public API a person uses -------------------------------------

    def _ok(self, resp: requests.Response, status: int) -> dict:
        assert resp.status_code == status, f"{resp.request.method} {resp.url}: {resp.status_code} {resp.text}"
        return resp.json()

    def new_user(self, funds: dict[str, int] | None = None,
                 permissions: list[str] | None = None) -> User:
        """Registers, logs in, claims `funds` ({asset: faucet claims}) and
        creates an API key (READ,TRADE unless told)."""
        email = f"client{next(_emails)}-{os.getpid()}@example.com"
        creds = {"email": email, "password": PASSWORD}
        self._ok(self.http.post(self.base + "/api/v1/auth/register", json=creds), 201)
        token = self._ok(self.http.post(self.base + "/api/v1/auth/login", json=creds), 200)["access_token"]
        bearer = {"authorization": f"Bearer {token}"}
        for asset, claims in (funds or {}).items():
            for _ in range(claims):
                self._ok(self.http.post(self.base + "/api/v1/wallet/faucet",
                                        json={"asset": asset}, headers=bearer), 201)
        permissions = permissions or ["READ", "TRADE"]
        body = {"label": "client-suite", "permissions": permissions}
        key = self._ok(self.http.post(self.base + "/api/v1/account/api-keys",
                                      json=body, headers=bearer), 201)
        return User(email=email, token=token, api_key=key["api_key"], secret=key["secret"],
                    permissions=permissions)

    def balances(self, user: User) -> dict[str, tuple[Decimal, Decimal]]:
        """{asset: (free, locked)} from /api/v3/account, as exact decimals."""
        account = self._ok(self.http.get(self.base + "/api/v3/account",
                                         headers={"authorization": f"Bearer {user.token}"}), 200)
        return {b["asset"]: (Decimal(b["free"]), Decimal(b["locked"])) for b in account["balances"]}

    def get(self, path: str, **params) -> requests.Response:
        return self.http.get(self.base + path, params=params, timeout=30)


FAUCET = {"BTC": Decimal("0.5"), "ETH": Decimal("5"), "SOL": Decimal("50"), "USDT": Decimal("10000")}


def wait_until(probe, what: str, timeout_s: float = 60):
    """Polls `probe()` until it returns something truthy (market data follows
    the engine's events, a moment behind the order answers)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)
