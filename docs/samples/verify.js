// Verifies the signatures of one hookd delivery with Node.js's own crypto (no packages).
//
// Usage: node verify.js < input.json
// The input is one JSON object: {"body": "<the exact body>", "headers": {"webhook-id": ...,
// "webhook-timestamp": ..., "webhook-signature": ..., "logto-signature-sha-256": ...},
// "signingKey": "whsec_..." or null, "publicKey": "whpk_..." or null, "now": <Unix seconds>}.
// It prints `logto=… standard=… ed25519=…` (each ok, bad or absent) and exits 0 when at least
// one signature is present and every signature present verifies, 1 otherwise.
// docs/delivery.md shows the verify function below; tests/it/docs.rs runs this file.
'use strict';

// docs:begin verify
const crypto = require('node:crypto');

// Reject a webhook-timestamp further than this from now, in either direction (replays).
const TOLERANCE_SECONDS = 5 * 60;
// A raw 32-byte Ed25519 key wrapped in this DER header is an SPKI key Node can import (RFC 8410).
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

function sameText(a, b) {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && crypto.timingSafeEqual(x, y);
}

// body: the raw request body (a Buffer, or the exact string); headers: lower-case names;
// signingKey: the hook's `whsec_…` key or null; publicKey: its `whpk_…` key or null;
// now: Unix seconds. Returns 'ok', 'bad' or 'absent' for each scheme.
function verify(body, headers, { signingKey, publicKey, now }) {
  const raw = Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8');
  const result = { logto: 'absent', standard: 'absent', ed25519: 'absent' };

  // Logto: hex HMAC-SHA256 of the body, keyed by the whole key string (`whsec_` included).
  const logto = headers['logto-signature-sha-256'];
  if (logto !== undefined) {
    const expected = signingKey ? crypto.createHmac('sha256', signingKey).update(raw).digest('hex') : '';
    result.logto = signingKey && sameText(expected, logto) ? 'ok' : 'bad';
  }

  // Standard Webhooks: space-separated entries, one per active key, over "{id}.{timestamp}.{body}".
  const entries = (headers['webhook-signature'] || '').split(' ');
  const v1 = entries.filter((e) => e.startsWith('v1,')).map((e) => e.slice(3));
  const v1a = entries.filter((e) => e.startsWith('v1a,')).map((e) => e.slice(4));
  const id = headers['webhook-id'];
  const timestamp = headers['webhook-timestamp'] || '';
  const fresh = Boolean(id) && /^[0-9]+$/.test(timestamp) && Math.abs(now - Number(timestamp)) <= TOLERANCE_SECONDS;
  const signed = Buffer.concat([Buffer.from(`${id}.${timestamp}.`), raw]);

  if (v1.length > 0) {
    let ok = false;
    if (fresh && signingKey) {
      const secret = Buffer.from(signingKey.replace(/^whsec_/, ''), 'base64');
      const expected = crypto.createHmac('sha256', secret).update(signed).digest('base64');
      ok = v1.some((signature) => sameText(expected, signature));
    }
    result.standard = ok ? 'ok' : 'bad';
  }

  if (v1a.length > 0) {
    let ok = false;
    if (fresh && publicKey) {
      try {
        const rawKey = Buffer.from(publicKey.replace(/^whpk_/, ''), 'base64');
        const der = Buffer.concat([ED25519_SPKI_PREFIX, rawKey]);
        const key = crypto.createPublicKey({ key: der, format: 'der', type: 'spki' });
        ok = v1a.some((signature) => crypto.verify(null, signed, key, Buffer.from(signature, 'base64')));
      } catch {
        ok = false; // not an Ed25519 public key
      }
    }
    result.ed25519 = ok ? 'ok' : 'bad';
  }
  return result;
}
// docs:end verify

function main() {
  const input = JSON.parse(require('node:fs').readFileSync(0, 'utf8'));
  const headers = {};
  for (const [name, value] of Object.entries(input.headers || {})) {
    if (typeof value === 'string') headers[name.toLowerCase()] = value;
  }
  const result = verify(input.body, headers, {
    signingKey: input.signingKey || null,
    publicKey: input.publicKey || null,
    now: input.now,
  });
  console.log(`logto=${result.logto} standard=${result.standard} ed25519=${result.ed25519}`);
  const present = Object.values(result).filter((r) => r !== 'absent');
  process.exit(present.length > 0 && present.every((r) => r === 'ok') ? 0 : 1);
}

main();
