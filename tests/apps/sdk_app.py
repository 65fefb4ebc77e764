"""Send one scenario to a DSN with whatever sentry-sdk is importable.

Usage: python sdk_app.py DSN SCENARIO [ARG]

Prints one JSON line: {"scenario", "sdk_version", "event_ids": [...], ...}.
Run as a subprocess so that sentry_sdk.init never touches the test process.
"""

import json
import os
import sys
import tempfile
import time

import sentry_sdk

SECRET = "hunter2-SECRET-7f3a"
RELEASE = "kent-tests@1.0.0"


def _init(dsn, **options):
    options.setdefault("default_integrations", False)
    options.setdefault("release", RELEASE)
    sentry_sdk.init(dsn=dsn, **options)


def _flush():
    sentry_sdk.flush(timeout=10)


def _close():
    """Flush and close: ``get_client`` in 2.x, the Hub in 1.x."""
    _flush()
    if hasattr(sentry_sdk, "get_client"):
        sentry_sdk.get_client().close()
    else:
        sentry_sdk.Hub.current.client.close()


def _compute(number):
    answer = number * 2  # noqa: F841 (a frame variable the test looks for)
    raise ValueError(f"bad value {number}")


def scenario_message(dsn, arg):
    _init(dsn)
    return [sentry_sdk.capture_message(arg or "hello from kent tests")]


def scenario_exception(dsn, arg):
    _init(dsn)
    try:
        _compute(21)
    except ValueError:
        return [sentry_sdk.capture_exception()]


def _scrub(event, hint):
    note = event.get("extra", {}).get("customer_note")
    if note:
        event["extra"]["customer_note"] = note.replace(SECRET, "[scrubbed]")
    return event


def scenario_scrub(dsn, arg):
    _init(dsn, before_send=_scrub)
    sentry_sdk.set_extra("customer_note", f"card code {SECRET} given")
    return [sentry_sdk.capture_message("order with a note")]


def _drop_breadcrumb(crumb, hint):
    return None if crumb.get("message") == "drop me" else crumb


def scenario_breadcrumbs(dsn, arg):
    _init(dsn, before_breadcrumb=_drop_breadcrumb)
    sentry_sdk.add_breadcrumb(category="auth", message="user logged in")
    sentry_sdk.add_breadcrumb(category="noise", message="drop me")
    sentry_sdk.add_breadcrumb(category="cart", message="item added", data={"n": 3})
    return [sentry_sdk.capture_message("checkout failed")]


def _span(op, name):
    """A child span; 1.x calls the name ``description``."""
    key = "description" if sentry_sdk.VERSION.startswith("1.") else "name"
    return sentry_sdk.start_span(op=op, **{key: name})


def scenario_transaction(dsn, arg):
    _init(dsn, traces_sample_rate=1.0)
    with sentry_sdk.start_transaction(op="task", name="nightly-report") as tx:
        with _span("db", "load rows"):
            pass
        with _span("render", "render pdf"):
            pass
    return [tx.trace_id]


def scenario_attachment(dsn, arg):
    _init(dsn)
    with tempfile.NamedTemporaryFile("wb", suffix=".log", delete=False) as handle:
        handle.write(b"line 1\nline 2\n\x00\xff binary tail")
    try:
        scope = sentry_sdk.get_isolation_scope()
        scope.add_attachment(bytes=b"hello attachment", filename="note.txt")
        scope.add_attachment(path=handle.name, filename="app.log")
        return [sentry_sdk.capture_message("with attachments")]
    finally:
        _flush()
        os.unlink(handle.name)


def scenario_session(dsn, arg):
    _init(dsn)
    scope = sentry_sdk.get_isolation_scope()
    scope.start_session(session_mode="application")
    event_id = sentry_sdk.capture_message("during a session", level="error")
    scope.end_session()
    return [event_id]


def scenario_checkin(dsn, arg):
    _init(dsn)
    from sentry_sdk.crons import capture_checkin

    return [capture_checkin(monitor_slug="nightly-job", status="ok", duration=1.5)]


def scenario_logs(dsn, arg):
    _init(dsn, enable_logs=True)
    from sentry_sdk import logger as sentry_logger

    sentry_logger.info("order {order_id} shipped", order_id=4711)
    return []


def _busy(seconds):
    deadline = time.monotonic() + seconds
    total = 0
    while time.monotonic() < deadline:
        total += sum(i * i for i in range(2000))
    return total


def scenario_profile(dsn, arg):
    # Continuous profiling (transaction profiles are deprecated in 2.x and
    # warn); stopping the profiler sends the chunk it holds.
    _init(dsn, traces_sample_rate=1.0, profile_session_sample_rate=1.0)
    from sentry_sdk.profiler import start_profiler, stop_profiler

    start_profiler()
    with sentry_sdk.start_transaction(op="task", name="profiled-work"):
        _busy(0.3)
    stop_profiler()
    return []


def _drop_marked(event, hint):
    return None if event.get("message") == "drop this one" else event


def scenario_client_report(dsn, arg):
    _init(dsn, before_send=_drop_marked)
    sentry_sdk.capture_message("drop this one")
    return [sentry_sdk.capture_message("keep this one")]


def scenario_many(dsn, arg):
    _init(dsn)
    ids = []
    for number in range(int(arg or 150)):
        ids.append(sentry_sdk.capture_message(f"message {number:03d}"))
        if number % 20 == 19:
            _flush()  # the transport queue holds 100; stay well below
    return ids


def main(argv):
    dsn, name = argv[1], argv[2]
    arg = argv[3] if len(argv) > 3 else None
    event_ids = globals()[f"scenario_{name.replace('-', '_')}"](dsn, arg)
    _close()
    print(
        json.dumps(
            {
                "scenario": name,
                "sdk_version": sentry_sdk.VERSION,
                "event_ids": event_ids,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
