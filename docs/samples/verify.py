"""Verifies the signatures of one hookd delivery with Python 3.

HMAC needs only the standard library; Ed25519 needs the `cryptography` package
(`pip install cryptography`), imported only when a request carries an Ed25519 signature.

Usage: python3 verify.py < input.json
The input is one JSON object: {"body": "<the exact body>", "headers": {"webhook-id": ...,
"webhook-timestamp": ..., "webhook-signature": ..., "logto-signature-sha-256": ...},
"signingKey": "whsec_..." or null, "publicKey": "whpk_..." or null, "now": <Unix seconds>}.
It prints `logto=… standard=… ed25519=…` (each ok, bad or absent) and exits 0 when at least
one signature is present and every signature present verifies, 1 otherwise.
docs/delivery.md shows the verify function below; tests/it/docs.rs runs this file.
"""

import json
import sys

# docs:begin verify
import base64
import binascii
import hashlib
import hmac
import re

# Reject a webhook-timestamp further than this from now, in either direction (replays).
TOLERANCE_SECONDS = 5 * 60


def verify(body: bytes, headers: dict, signing_key=None, public_key=None, now=0) -> dict:
    """body: the raw request body; headers: lower-case names; signing_key: the hook's
    `whsec_…` key or None; public_key: its `whpk_…` key or None; now: Unix seconds.
    Returns "ok", "bad" or "absent" for each scheme."""
    result = {"logto": "absent", "standard": "absent", "ed25519": "absent"}

    # Logto: hex HMAC-SHA256 of the body, keyed by the whole key string (`whsec_` included).
    logto = headers.get("logto-signature-sha-256")
    if logto is not None:
        ok = False
        if signing_key:
            expected = hmac.new(signing_key.encode(), body, hashlib.sha256).hexdigest()
            ok = hmac.compare_digest(expected.encode(), logto.encode())
        result["logto"] = "ok" if ok else "bad"

    # Standard Webhooks: space-separated entries, one per active key, over "{id}.{timestamp}.{body}".
    entries = headers.get("webhook-signature", "").split(" ")
    v1 = [e[len("v1,"):] for e in entries if e.startswith("v1,")]
    v1a = [e[len("v1a,"):] for e in entries if e.startswith("v1a,")]
    msg_id = headers.get("webhook-id", "")
    timestamp = headers.get("webhook-timestamp", "")
    fresh = (
        msg_id != ""
        and re.fullmatch(r"[0-9]+", timestamp) is not None
        and abs(now - int(timestamp)) <= TOLERANCE_SECONDS
    )
    signed = f"{msg_id}.{timestamp}.".encode() + body

    if v1:
        ok = fresh and bool(signing_key) and hmac_verifies(signing_key, signed, v1)
        result["standard"] = "ok" if ok else "bad"
    if v1a:
        ok = fresh and bool(public_key) and ed25519_verifies(public_key, signed, v1a)
        result["ed25519"] = "ok" if ok else "bad"
    return result


def hmac_verifies(signing_key: str, signed: bytes, signatures: list) -> bool:
    """Whether one of the base64 `v1,` signatures is the HMAC of `signed` under the key."""
    try:
        secret = base64.b64decode(signing_key.removeprefix("whsec_"), validate=True)
    except binascii.Error:
        return False  # not a whsec_ key
    expected = base64.b64encode(hmac.new(secret, signed, hashlib.sha256).digest())
    return any(hmac.compare_digest(expected, s.encode()) for s in signatures)


def ed25519_verifies(public_key: str, signed: bytes, signatures: list) -> bool:
    """Whether the `whpk_…` key verifies one of the base64 `v1a,` signatures of `signed`.
    Needs the `cryptography` package."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        raw = base64.b64decode(public_key.removeprefix("whpk_"), validate=True)
        key = Ed25519PublicKey.from_public_bytes(raw)
    except (binascii.Error, ValueError):
        return False  # not an Ed25519 public key
    for signature in signatures:
        try:
            key.verify(base64.b64decode(signature, validate=True), signed)
            return True
        except (binascii.Error, InvalidSignature):
            pass
    return False
# docs:end verify


def main() -> int:
    data = json.load(sys.stdin)
    headers = {name.lower(): value for name, value in (data.get("headers") or {}).items() if isinstance(value, str)}
    result = verify(
        data["body"].encode("utf-8"),
        headers,
        signing_key=data.get("signingKey"),
        public_key=data.get("publicKey"),
        now=data["now"],
    )
    print(f"logto={result['logto']} standard={result['standard']} ed25519={result['ed25519']}")
    present = [r for r in result.values() if r != "absent"]
    return 0 if present and all(r == "ok" for r in present) else 1


if __name__ == "__main__":
    sys.exit(main())
