"""A program for ``kent exec`` tests: sentry-python with SENTRY_DSN from the
environment (as ``kent exec`` sets it), doing what its argument says.

    python exec_app.py leak | scrub | nothing | exit3 | faults | wait | ignore
"""

import os
import signal
import sys
import time

import sentry_sdk


def scrub(event, hint):
    """The before_send a careful team writes: no e-mail, no frame secrets."""
    event.get("user", {}).pop("email", None)
    for exception in event.get("exception", {}).get("values", []):
        for frame in exception.get("stacktrace", {}).get("frames", []):
            frame.get("vars", {}).pop("db_password", None)
    return event


def connect():
    db_password = "hunter2-Tr0ub4dor&3"  # noqa: F841 -- a frame variable
    raise ConnectionError("database refused the connection")


def report_error():
    sentry_sdk.set_user({"id": "42", "email": "jane.doe@example.com"})
    try:
        connect()
    except ConnectionError:
        sentry_sdk.capture_exception()


def wait_for_signal(ignore):
    if ignore:  # a COMMAND that will not stop: only a kill ends it
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:  # a Ctrl-C may come as soon as "ready" is out
        print(f"ready {os.getpid()} {os.environ['SENTRY_DSN']}", flush=True)
        time.sleep(300)
    except KeyboardInterrupt:
        print("COMMAND interrupted", flush=True)
        sys.exit(130)


def main(mode):
    sentry_sdk.init(
        before_send=scrub if mode == "scrub" else None,
        default_integrations=False,
    )
    if mode in ("leak", "scrub"):
        report_error()
    elif mode == "faults":  # the first is answered 429, the second accepted
        sentry_sdk.capture_message("first")
        sentry_sdk.flush()
        sentry_sdk.capture_message("second")
    elif mode in ("wait", "ignore"):
        wait_for_signal(mode == "ignore")
    elif mode == "message":
        sentry_sdk.capture_message(sys.argv[2])
    sentry_sdk.flush()
    print(f"{mode} done", flush=True)
    return 3 if mode == "exit3" else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
