"""sentry-sdk 2.x apps for the leak scanner: what each setting sends.

Usage: SENTRY_DSN=... python leaky_app.py SCENARIO

    default    an exception, a message, a transaction, a session, a log
    wsgi       a WSGI app that raises: its environ frame variable has a cookie
    pii        the same with send_default_pii=True: the user's e-mail and IP too
    scrubbed   the same with a before_send that scrubs what leaked
    canary     a log record and an attachment that carry CANARY
"""

import sys
import warnings
import wsgiref.util

warnings.simplefilter("ignore", DeprecationWarning)  # send_default_pii is deprecated
import sentry_sdk  # noqa: E402 (after the warnings filter)
from sentry_sdk.integrations.wsgi import SentryWsgiMiddleware  # noqa: E402

CANARY = "kent-canary-5d1f9a"
SECRET = "correct-horse-battery"
RELEASE = "kent-tests@1.0.0"


# (blank lines keep these constants out of the frames' context lines)


def compute(number):
    answer = number * 2  # noqa: F841 (a frame variable)
    raise ValueError(f"bad value {number}")


def checkout_app(environ, start_response):
    password = SECRET  # noqa: F841 -- in the SDK's denylist: always "[Filtered]"
    db_password = SECRET  # noqa: F841 -- not in the denylist: sent as is
    if sentry_sdk.get_client().should_send_default_pii():
        sentry_sdk.set_user({"email": "alice@example.com"})
    sentry_sdk.set_extra("note", "n" * 2000)
    raise RuntimeError("checkout failed")


def call_wsgi():
    environ = {
        "PATH_INFO": "/checkout",
        "QUERY_STRING": "page=2",
        "HTTP_COOKIE": "sessionid=" + SECRET + "; theme=dark",
        "REMOTE_ADDR": "203.0.113.7",
    }
    wsgiref.util.setup_testing_defaults(environ)
    try:  # noqa: SIM105 (the app's own frames stay as an app writes them)
        SentryWsgiMiddleware(checkout_app)(environ, lambda *args: None)
    except RuntimeError:
        pass


def scrub(event, hint):
    for value in event.get("exception", {}).get("values", []):
        for frame in value.get("stacktrace", {}).get("frames", []):
            variables = frame.get("vars", {})
            if "db_password" in variables:
                variables["db_password"] = "[Filtered]"
            if isinstance(variables.get("environ"), dict):
                variables["environ"]["HTTP_COOKIE"] = "[Filtered]"
                variables["environ"].pop("REMOTE_ADDR", None)
    event.get("request", {}).get("env", {}).pop("REMOTE_ADDR", None)
    event.pop("user", None)
    return event


def run_default():
    sentry_sdk.init(release=RELEASE, traces_sample_rate=1.0, enable_logs=True)
    try:
        compute(21)
    except ValueError:
        sentry_sdk.capture_exception()
    sentry_sdk.capture_message("hello from kent tests")
    with sentry_sdk.start_transaction(op="task", name="nightly-report"):  # noqa: SIM117
        with sentry_sdk.start_span(op="db", name="load rows"):
            pass
    scope = sentry_sdk.get_isolation_scope()
    scope.start_session(session_mode="application")
    scope.end_session()
    sentry_sdk.logger.info("order {order} shipped", order=1042)


def run_wsgi(**options):
    sentry_sdk.init(release=RELEASE, auto_session_tracking=False, **options)
    call_wsgi()


def run_canary():
    sentry_sdk.init(release=RELEASE, enable_logs=True)
    sentry_sdk.logger.warning("processing order with marker " + CANARY)
    notes = ("notes\nmarker=" + CANARY + "\n").encode()
    sentry_sdk.get_current_scope().add_attachment(bytes=notes, filename="notes.txt")
    sentry_sdk.capture_message("order with notes")


SCENARIOS = {
    "default": run_default,
    "wsgi": run_wsgi,
    "pii": lambda: run_wsgi(send_default_pii=True),
    "scrubbed": lambda: run_wsgi(
        send_default_pii=True, before_send=scrub, max_value_length=64
    ),
    "canary": run_canary,
}

if __name__ == "__main__":
    SCENARIOS[sys.argv[1]]()
    sentry_sdk.flush(timeout=10)
