"""Send what the web UI tests look at, with the real sentry-sdk.

Usage: python ui_app.py DSN [exception|transaction]

``exception``: a chained ValueError <- KeyError with breadcrumbs, local
variables and a text attachment. ``transaction``: a transaction with nested
spans. Prints one JSON line: {"scenario", "event_ids": [...]}.
Run as a subprocess so that sentry_sdk.init never touches the test process.
"""

import json
import sys
import time

import sentry_sdk

ATTACHMENT = b"order 7 of 12\nstatus: <pending>\n"


def _lookup(prices, item):
    try:
        return prices[item]
    except KeyError as exc:
        basket_total = 41  # noqa: F841 (a frame variable the test looks for)
        raise ValueError(f"no price for {item}") from exc


def scenario_exception():
    sentry_sdk.add_breadcrumb(
        category="cart", message="added item teapot", level="info"
    )
    sentry_sdk.add_breadcrumb(
        category="http", type="http", data={"url": "/checkout", "status_code": 500}
    )
    sentry_sdk.set_tag("shop", "kent-ui")
    sentry_sdk.get_isolation_scope().add_attachment(
        bytes=ATTACHMENT, filename="order.txt", content_type="text/plain"
    )
    try:
        _lookup({"kettle": 3}, "teapot")
    except ValueError:
        return [sentry_sdk.capture_exception()]


def scenario_transaction():
    with sentry_sdk.start_transaction(op="task", name="checkout") as transaction:
        with sentry_sdk.start_span(op="db", name="SELECT basket"):
            time.sleep(0.02)
        with sentry_sdk.start_span(op="http.client", name="GET /prices"):
            with sentry_sdk.start_span(op="serialize", name="parse prices"):
                time.sleep(0.01)
            time.sleep(0.01)
    return [transaction.trace_id]


def main(dsn, scenario="exception"):
    sentry_sdk.init(
        dsn=dsn,
        default_integrations=False,
        release="kent-ui@1.0",
        environment="ui-tests",
        include_local_variables=True,
        traces_sample_rate=1.0,
    )
    event_ids = globals()[f"scenario_{scenario}"]()
    sentry_sdk.flush(timeout=10)
    print(json.dumps({"scenario": scenario, "event_ids": event_ids}))


if __name__ == "__main__":
    main(*sys.argv[1:])
