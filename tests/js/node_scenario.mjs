// Drive the real @sentry/node SDK against a DSN, for Kent's client tests.
//
//   node tests/js/node_scenario.mjs <DSN> <scenario>
//
// scenario: exception | message | spans | spans-stream | large | feedback
// Prints {"scenario": ..., "event_ids": [...]} on stdout, exits 0 after a flush.
import * as Sentry from "@sentry/node";

const [dsn, scenario] = process.argv.slice(2);
if (!dsn || !scenario) {
  console.error("usage: node node_scenario.mjs <DSN> <scenario>");
  process.exit(2);
}

const eventIds = [];

Sentry.init({
  dsn,
  release: "kent-test@1.0.0",
  environment: "test",
  tracesSampleRate: scenario.startsWith("spans") ? 1.0 : 0,
  // SDK 11 streams spans by default (`span` items, span v2 containers);
  // "static" gives the classic `transaction` event with child spans.
  traceLifecycle: scenario === "spans-stream" ? "stream" : "static",
  // No OpenTelemetry auto-instrumentation, no session tracking: each scenario
  // should produce exactly the envelopes it is named after.
  defaultIntegrations: false,
  integrations: [
    Sentry.linkedErrorsIntegration(),
    Sentry.nodeContextIntegration(),
    Sentry.contextLinesIntegration(),
    Sentry.dedupeIntegration(),
  ],
  beforeSend(event) {
    eventIds.push(event.event_id);
    return event;
  },
  ...(scenario === "spans-stream"
    ? {}
    : { beforeSendTransaction: (event) => (eventIds.push(event.event_id), event) }),
});
let traceId = null;

const scenarios = {
  exception() {
    Sentry.addBreadcrumb({ category: "test", message: "about to fail", level: "info" });
    try {
      null.boom();
    } catch (err) {
      Sentry.captureException(err); // a real TypeError with a stack trace
    }
  },
  message() {
    Sentry.captureMessage("hello from node", "warning");
  },
  spans() {
    scenarios["spans-stream"]();
  },
  "spans-stream"() {
    Sentry.startSpan({ name: "kent-transaction", op: "task" }, (root) => {
      traceId = root.spanContext().traceId;
      Sentry.startSpan({ name: "child-one", op: "db.query" }, () => {});
      Sentry.startSpan({ name: "child-two", op: "http.client" }, () => {
        Sentry.startSpan({ name: "grandchild", op: "serialize" }, () => {});
      });
    });
  },
  large() {
    // > 40 KiB of extra data: the Node transport gzips bodies over 32 KiB
    // and streams them, so the request is chunked with no Content-Length.
    const blob = Array.from({ length: 600 }, (_, i) => `line ${i} ${"x".repeat(64)}`);
    Sentry.captureMessage("large event", { level: "info", extra: { blob } });
  },
  feedback() {
    const id = Sentry.captureFeedback({
      message: "Kent works!",
      name: "Test User",
      email: "user@example.com",
    });
    eventIds.push(id);
  },
};

if (!(scenario in scenarios)) {
  console.error(`unknown scenario ${scenario}; one of ${Object.keys(scenarios)}`);
  process.exit(2);
}
scenarios[scenario]();
const flushed = await Sentry.flush(5000);
console.log(JSON.stringify({ scenario, event_ids: [...new Set(eventIds)], trace_id: traceId, flushed }));
process.exit(0);
