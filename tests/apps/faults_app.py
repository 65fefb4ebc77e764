"""sentry-sdk 2.x against a Kent that injects faults.

Usage: python faults_app.py DSN SCENARIO

Scenarios: ratelimit, slow, drop. Prints one JSON line with the event ids,
what the transport saw (status of each answer, losses) and timings in
seconds. Run as a subprocess so that the SDK's worker thread never lives in
the pytest process.
"""

import json
import sys
import time

import sentry_sdk
from sentry_sdk.transport import HttpTransport

START = time.monotonic()
SEEN = {"responses": [], "losses": []}


def _now():
    return round(time.monotonic() - START, 3)


class RecordingTransport(HttpTransport):
    """The real HTTP transport, noting every answer and every loss."""

    def _handle_response(self, response, envelope):
        SEEN["responses"].append({"status": response.status, "at": _now()})
        super()._handle_response(response=response, envelope=envelope)

    def _handle_request_error(self, envelope, loss_reason="network", **kwargs):
        SEEN["losses"].append({"reason": loss_reason, "at": _now()})
        super()._handle_request_error(envelope, loss_reason, **kwargs)


def _init(dsn, **options):
    sentry_sdk.init(
        dsn=dsn,
        default_integrations=False,
        release="kent-tests@1.0.0",
        transport=RecordingTransport,
        **options,
    )


def _timed_flush(timeout):
    """How long ``sentry_sdk.flush(timeout)`` blocked, in seconds."""
    begin = time.monotonic()
    sentry_sdk.flush(timeout=timeout)
    return round(time.monotonic() - begin, 3)


def _transaction(name):
    with (
        sentry_sdk.start_transaction(name=name, op="task") as transaction,
        sentry_sdk.start_span(op="db", name="child"),
    ):
        pass
    return transaction.trace_id


def scenario_ratelimit(dsn):
    """Error answered 429 + error limit; then an error (dropped) and a transaction."""
    _init(dsn, traces_sample_rate=1.0)
    first = sentry_sdk.capture_message("first error")
    _timed_flush(10)
    second = sentry_sdk.capture_message("second error, rate limited")
    trace_id = _transaction("after-the-limit")
    _timed_flush(10)  # forces the pending client report out
    return {"first": first, "second": second, "trace_id": trace_id}


def scenario_slow(dsn):
    """One event, flushed with timeout=2 while Kent sleeps 5 s."""
    _init(dsn)
    event_id = sentry_sdk.capture_message("slow server")
    short_flush = _timed_flush(2)
    answered_during_short_flush = len(SEEN["responses"])
    long_flush = _timed_flush(15)
    return {
        "event_id": event_id,
        "short_flush": short_flush,
        "answered_during_short_flush": answered_during_short_flush,
        "long_flush": long_flush,
    }


def scenario_drop(dsn):
    """An event whose connection is dropped, then one that gets through."""
    _init(dsn)
    dropped = sentry_sdk.capture_message("dropped connection")
    first_flush = _timed_flush(10)
    after = sentry_sdk.capture_message("after the drop")
    second_flush = _timed_flush(10)
    return {
        "dropped": dropped,
        "after": after,
        "first_flush": first_flush,
        "second_flush": second_flush,
    }


SCENARIOS = {
    "ratelimit": scenario_ratelimit,
    "slow": scenario_slow,
    "drop": scenario_drop,
}


def main(argv):
    dsn, scenario = argv[1], argv[2]
    result = SCENARIOS[scenario](dsn)
    sentry_sdk.get_client().close(timeout=2)
    result.update(SEEN, scenario=scenario, total=_now())
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
