// Drive @sentry/node in Spotlight mode against Kent, for Kent's Spotlight tests.
//
//   SENTRY_SPOTLIGHT=<kent>/stream node tests/js/node_spotlight.mjs [DSN]
//
// With no DSN the SDK sends only to Spotlight. Captures one exception and
// prints {"event_ids": [...]} on stdout once the envelope is on its way.
import * as Sentry from "@sentry/node";

const [dsn] = process.argv.slice(2);
const eventIds = [];

Sentry.init({
  dsn,
  release: "kent-test@1.0.0",
  environment: "test",
  tracesSampleRate: 0,
  defaultIntegrations: false,
  integrations: [Sentry.linkedErrorsIntegration(), Sentry.contextLinesIntegration()],
});

try {
  null.spotlight();
} catch (err) {
  eventIds.push(Sentry.captureException(err)); // a real TypeError with a stack trace
}
// Without a DSN there is no transport to flush; Node stays up until the
// Spotlight integration's request is answered.
await Sentry.flush(10000);
console.log(JSON.stringify({ event_ids: eventIds }));
