// Sends track calls with @segment/analytics-node, for
// tests/analytics/test_clients.py.
//
// Usage: node track.js '<json>', the JSON object holding host, writeKey and
// calls (each one the library's track() argument). Flushes, then prints
// {"sent": n} or {"error": ...} (exiting 1) as one JSON line.

import { Analytics } from "@segment/analytics-node";

const { host, writeKey, calls } = JSON.parse(process.argv[2]);
const analytics = new Analytics({ writeKey, host, maxRetries: 0 });
const failures = [];
analytics.on("error", (error) => failures.push(String(error.reason ?? error)));

for (const call of calls) {
  analytics.track({ ...call, timestamp: new Date(call.timestamp) });
}
await analytics.closeAndFlush({ timeout: 20000 });

if (failures.length) {
  process.stdout.write(`${JSON.stringify({ error: failures })}\n`);
  process.exit(1);
}
process.stdout.write(`${JSON.stringify({ sent: calls.length })}\n`);
