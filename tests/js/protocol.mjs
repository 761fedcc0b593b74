// Subscribes with the reference graphql-ws client, emits an event over HTTP, and waits until
// the delivery's SUCCEEDED update arrives. Exits 0 and prints the updates on success.
// Usage: node protocol.mjs <base-url> <token>
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const [base, token] = process.argv.slice(2);
const timer = setTimeout(() => { console.error('timed out'); process.exit(2); }, 30_000);

const client = createClient({
  url: base.replace(/^http/, 'ws') + '/graphql',
  webSocketImpl: WebSocket,
  connectionParams: { authorization: `Bearer ${token}` },
  retryAttempts: 0,
});

const updates = [];
const done = new Promise((resolve, reject) => {
  client.subscribe(
    { query: 'subscription { deliveryUpdates { deliveryId event status attemptCount responseStatus } }' },
    {
      next: ({ data, errors }) => {
        if (errors) return reject(new Error(JSON.stringify(errors)));
        updates.push(data.deliveryUpdates);
        if (data.deliveryUpdates.status === 'SUCCEEDED') resolve();
      },
      error: reject,
      complete: () => reject(new Error('completed before SUCCEEDED')),
    },
  );
});

// Subscribed once the server acknowledged the connection; then emit.
await new Promise((resolve) => client.on('connected', resolve));
await new Promise((resolve) => setTimeout(resolve, 100));
const response = await fetch(`${base}/graphql`, {
  method: 'POST',
  headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
  body: JSON.stringify({ query: 'mutation { emitEvent(input: { type: "User.Created", data: { via: "graphql-ws" } }) { id } }' }),
});
const emitted = await response.json();
if (emitted.errors) throw new Error(JSON.stringify(emitted.errors));

await done;
clearTimeout(timer);
console.log(JSON.stringify(updates));
await client.dispose();
process.exit(0);
