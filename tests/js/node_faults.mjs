// Drive @sentry/node against a Kent that injects faults (tests/test_faults.py).
//
//   node tests/js/node_faults.mjs <DSN> <scenario>
//
// scenario: ratelimit | slow | drop
// Prints one JSON line: event ids, flush results and timings (seconds), then
// exits 0. Exit 2 on a usage error.
import { performance } from "node:perf_hooks";
import * as Sentry from "@sentry/node";

const [dsn, scenario] = process.argv.slice(2);
if (!dsn || !scenario) {
  console.error("usage: node node_faults.mjs <DSN> <scenario>");
  process.exit(2);
}

Sentry.init({
  dsn,
  release: "kent-test@1.0.0",
  environment: "test",
  tracesSampleRate: 1.0,
  traceLifecycle: "static", // a classic `transaction` item
  defaultIntegrations: false, // no sessions, no instrumentation: only what we send
});

const seconds = (ms) => Math.round(ms) / 1000;

async function timedFlush(timeoutMs) {
  const begin = performance.now();
  const flushed = await Sentry.flush(timeoutMs);
  return { flushed, seconds: seconds(performance.now() - begin) };
}

function transaction(name) {
  let traceId = null;
  Sentry.startSpan({ name, op: "task" }, (root) => {
    traceId = root.spanContext().traceId;
    Sentry.startSpan({ name: "child", op: "db" }, () => {});
  });
  return traceId;
}

const scenarios = {
  // An error answered 429 + X-Sentry-Rate-Limits for errors; then an error
  // (dropped by the SDK) and a transaction (sent). The last flush sends the
  // client report: flush() flushes outcomes before draining the transport,
  // so the first flush makes sure the dropped error has been recorded.
  async ratelimit() {
    const first = Sentry.captureMessage("first error", "error");
    const firstFlush = await timedFlush(5000);
    const second = Sentry.captureMessage("second error, rate limited", "error");
    const traceId = transaction("after-the-limit");
    await timedFlush(5000);
    const reportFlush = await timedFlush(5000);
    return { first, second, trace_id: traceId, first_flush: firstFlush, report_flush: reportFlush };
  },
  // One event flushed with 2 s while Kent sleeps 5 s, then a long flush.
  async slow() {
    const eventId = Sentry.captureMessage("slow server", "error");
    const shortFlush = await timedFlush(2000);
    const longFlush = await timedFlush(15000);
    return { event_id: eventId, short_flush: shortFlush, long_flush: longFlush };
  },
  // An event whose connection Kent drops, then one that gets through.
  async drop() {
    const dropped = Sentry.captureMessage("dropped connection", "error");
    const firstFlush = await timedFlush(5000);
    const after = Sentry.captureMessage("after the drop", "error");
    const secondFlush = await timedFlush(5000);
    return { dropped, after, first_flush: firstFlush, second_flush: secondFlush };
  },
};

if (!(scenario in scenarios)) {
  console.error(`unknown scenario ${scenario}; one of ${Object.keys(scenarios)}`);
  process.exit(2);
}
const begin = performance.now();
const result = await scenarios[scenario]();
await Sentry.close(2000);
console.log(JSON.stringify({ scenario, ...result, total: seconds(performance.now() - begin) }));
process.exit(0);
