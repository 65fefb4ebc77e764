"""Send an exception and a transaction through Spotlight with sentry-sdk.

Usage: python spotlight_app.py [--spotlight URL] [--dsn DSN]

With no ``--spotlight`` the SDK reads ``SENTRY_SPOTLIGHT`` as users set it;
with no ``--dsn`` it runs DSN-less (Spotlight only: everything sampled,
``send_default_pii`` on). Prints one JSON line: {"event_id", "trace_id"}.
"""

import argparse
import json

import sentry_sdk


def _compute(number):
    raise ValueError(f"bad value {number}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--spotlight")
    parser.add_argument("--dsn")
    args = parser.parse_args()
    options = {"spotlight": args.spotlight} if args.spotlight else {}
    if args.dsn:  # DSN-less Spotlight mode samples everything by itself
        options["traces_sample_rate"] = 1.0
    sentry_sdk.init(
        dsn=args.dsn, default_integrations=False, release="kent-tests@1.0.0", **options
    )
    sentry_sdk.set_user({"email": "spot@example.com"})
    with sentry_sdk.start_transaction(name="spotlight-checkout", op="task") as span:
        try:
            _compute(21)
        except ValueError:
            event_id = sentry_sdk.capture_exception()
    sentry_sdk.flush(timeout=10)
    print(
        json.dumps(
            {
                "event_id": event_id,
                "trace_id": span.trace_id,
            }
        )
    )


if __name__ == "__main__":
    main()
