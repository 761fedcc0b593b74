// Verifies the `v1a,` (Ed25519) entries of a Standard Webhooks `webhook-signature` header with
// Node's own crypto, independently of hookd's Rust code.
// Usage: node ed25519-verify.mjs <whpk_ public key> <webhook-id> <webhook-timestamp> <body base64> <header>
// Prints {"entries": n, "verified": k}: how many v1a entries there are and how many this key verifies.
import { createPublicKey, verify } from 'node:crypto';

const [publicKey, id, timestamp, bodyBase64, header] = process.argv.slice(2);
if (!publicKey?.startsWith('whpk_')) {
  console.error('the public key must start with whpk_');
  process.exit(2);
}
const raw = Buffer.from(publicKey.slice('whpk_'.length), 'base64');
// A raw 32-byte Ed25519 key in an SPKI envelope (RFC 8410), the form Node imports.
const spki = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), raw]);
const key = createPublicKey({ key: spki, format: 'der', type: 'spki' });
const signed = Buffer.concat([Buffer.from(`${id}.${timestamp}.`), Buffer.from(bodyBase64, 'base64')]);
const entries = header.split(' ').filter((entry) => entry.startsWith('v1a,'));
const verified = entries.filter((entry) => verify(null, signed, key, Buffer.from(entry.slice(4), 'base64')));
console.log(JSON.stringify({ entries: entries.length, verified: verified.length }));
