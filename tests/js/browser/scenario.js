// Runs one scenario with the real browser SDK and reports into window.__result:
//   { done, scenario, eventIds, sends: [{status}], networkErrors: [msg], error }
// networkErrors is non-empty when fetch() rejected (e.g. a missing CORS header):
// that is the case the SDK counts as a "network_error" client report.
const params = new URLSearchParams(location.search);
const scenario = params.get("scenario") || "exception";
const result = (window.__result = {
  done: false, scenario, eventIds: [], sends: [], networkErrors: [], error: null,
});

// Wrap the real fetch transport to observe each send's outcome.
function recordingTransport(options) {
  const inner = Sentry.makeFetchTransport(options);
  return {
    async send(envelope) {
      try {
        const response = await inner.send(envelope);
        result.sends.push({ status: response.statusCode ?? null });
        return response;
      } catch (err) {
        result.networkErrors.push(String(err));
        throw err;
      }
    },
    flush: (timeout) => inner.flush(timeout),
  };
}

const options = {
  dsn: params.get("dsn"),
  release: "kent-test@1.0.0",
  environment: "test",
  transport: recordingTransport,
  beforeSend(event) {
    result.eventIds.push(event.event_id);
    return event;
  },
};
if (scenario === "tunnel") options.tunnel = params.get("tunnel");
if (scenario === "replay") {
  options.replaysSessionSampleRate = 1.0;
  options.integrations = [Sentry.replayIntegration({ minReplayDuration: 0 })];
}
Sentry.init(options);

function captureError() {
  Sentry.addBreadcrumb({ category: "test", message: "about to fail", level: "info" });
  try {
    null.boom();
  } catch (err) {
    Sentry.captureException(err); // a real TypeError with a stack trace
  }
}

async function clickAround() {
  for (const id of ["one", "two", "one"]) {
    document.getElementById(id).click();
    const item = document.createElement("li");
    item.textContent = `clicked ${id}`;
    document.getElementById("list").append(item);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await Sentry.getReplay().flush();
}

async function run() {
  if (scenario === "replay") await clickAround();
  else captureError();
  await Sentry.flush(5000);
}

run()
  .catch((err) => (result.error = String(err)))
  .finally(() => {
    result.done = true;
    document.getElementById("status").textContent = "done";
  });
