#!/usr/bin/env node
// Validates recorded webhook requests with the official Node server SDK (`pusher`), driven by
// tests/interop/test_webhooks_js.py: reads one JSON object from stdin,
//   {"appId": ..., "key": ..., "secret": ..., "requests": [{"headers": {...}, "body": "..."}]}
// and writes one JSON list to stdout, per request {"valid": bool, "events": [...] or null}.

'use strict';

const Pusher = require('pusher');

let input = '';
process.stdin.on('data', (chunk) => (input += chunk));
process.stdin.on('end', () => {
  const { appId, key, secret, requests } = JSON.parse(input);
  const sdk = new Pusher({ appId, key, secret });
  const results = requests.map(({ headers, body }) => {
    // The SDK reads headers by their lower-case names, as Node's http module hands them over.
    const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
    const webhook = sdk.webhook({ headers: lower, rawBody: body });
    const valid = webhook.isValid();
    return { valid, events: valid ? webhook.getEvents() : null };
  });
  process.stdout.write(JSON.stringify(results) + '\n');
});
