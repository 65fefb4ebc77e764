// An @sentry/node program for `kent exec` tests: the DSN comes from
// SENTRY_DSN (as `kent exec` sets it), the user's e-mail leaks.
//
//   node tests/js/exec_leak.mjs
import * as Sentry from "@sentry/node";

Sentry.init({
  sendDefaultPii: true,
  defaultIntegrations: false,
  integrations: [Sentry.linkedErrorsIntegration(), Sentry.dedupeIntegration()],
});
Sentry.setUser({ id: "42", email: "jane.doe@example.com" });
try {
  throw new Error("payment declined");
} catch (err) {
  Sentry.captureException(err);
}
await Sentry.close(10000);
console.log("node done");
