"""Schemathesis hooks for scripts/test-api-fuzz: credentials per run mode.

FLOWEX_FUZZ_MODE picks how each generated request is authenticated:
  none    as generated (no credentials),
  bearer  `Authorization: Bearer` with a user's access token; when a
          generated call ended that session (logout, a session revoked by
          id), the next call logs in again so the rest of the run is not
          just 401s,
  signed  `X-MBX-APIKEY` plus `timestamp` and `signature` on every
          operation that accepts an API key: the HMAC-SHA256 of the exact
          query string and body that go on the wire, computed on the
          prepared request (after Schemathesis serialised the case), so
          the server checks the bytes it receives.
"""

import hashlib
import hmac
import json
import os
import time
import urllib.parse
import urllib.request

import requests
import schemathesis

MODE = os.environ.get("FLOWEX_FUZZ_MODE", "none")
BASE = os.environ.get("FLOWEX_FUZZ_BASE", "")
EMAIL = os.environ.get("FLOWEX_FUZZ_EMAIL", "")
PASSWORD = os.environ.get("FLOWEX_FUZZ_PASSWORD", "")
API_KEY = os.environ.get("FLOWEX_FUZZ_API_KEY", "")
API_SECRET = os.environ.get("FLOWEX_FUZZ_API_SECRET", "").encode()
# What the signer owns: a generated value for these would be overwritten.
SIGNING_PARAMS = {"timestamp", "signature"}

_token = {"access": os.environ.get("FLOWEX_FUZZ_TOKEN", "")}


def _login():
    """A fresh access token, when the server gives one: generated logins
    with wrong passwords can have this address throttled (429), and then
    the run goes on with the ended token (401s are documented answers)."""
    body = json.dumps({"email": EMAIL, "password": PASSWORD}).encode()
    req = urllib.request.Request(
        BASE + "/api/v1/auth/login",
        data=body,
        headers={"content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            _token["access"] = json.load(resp)["access_token"]
    except OSError:
        pass


def _accepts_api_key(case):
    security = case.operation.definition.raw.get("security") or []
    return any("apiKey" in item for item in security)


class SignRequest(requests.auth.AuthBase):
    """Adds timestamp and signature to the prepared request."""

    def __call__(self, r):
        url = urllib.parse.urlsplit(r.url)
        pairs = [
            p
            for p in url.query.split("&")
            if p and p.split("=", 1)[0] not in SIGNING_PARAMS
        ]
        pairs.append("timestamp=%d" % int(time.time() * 1000))
        query = "&".join(pairs)
        body = r.body or b""
        if isinstance(body, str):
            body = body.encode()
        mac = hmac.new(API_SECRET, query.encode() + body, hashlib.sha256)
        query += "&signature=" + mac.hexdigest()
        r.url = urllib.parse.urlunsplit(url._replace(query=query))
        r.headers["X-MBX-APIKEY"] = API_KEY
        return r


@schemathesis.hook
def before_call(context, case, kwargs):
    if MODE == "bearer":
        case.headers = dict(case.headers or {})
        case.headers["Authorization"] = "Bearer " + _token["access"]
    elif MODE == "signed" and _accepts_api_key(case):
        kwargs["auth"] = SignRequest()


@schemathesis.hook
def after_call(context, case, response):
    if MODE != "bearer" or response.status_code != 401:
        return
    try:
        code = response.json().get("error", {}).get("code")
    except (ValueError, AttributeError):
        return
    if code in ("session_revoked", "token_expired"):
        _login()
