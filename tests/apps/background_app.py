"""An app that reports from a worker thread, as real services do.

Usage: python background_app.py DSN [COUNT] [LABEL]

A worker thread captures COUNT messages "LABEL message N" with short pauses
(so they arrive one by one while the test waits), then the app flushes and
exits. Prints one JSON line: {"event_ids": [...]}.
"""

import json
import sys
import threading

import sentry_sdk


def work(count, label, ids, pause):
    for number in range(count):
        ids.append(sentry_sdk.capture_message(f"{label} message {number}"))
        pause.wait(0.05)  # an Event nobody sets: a pause without time.sleep


def main(argv):
    dsn = argv[1]
    count = int(argv[2]) if len(argv) > 2 else 5
    label = argv[3] if len(argv) > 3 else "background"
    sentry_sdk.init(dsn=dsn, default_integrations=False, release="bg@1.0")
    ids = []
    worker = threading.Thread(
        target=work, args=(count, label, ids, threading.Event()), name="worker"
    )
    worker.start()
    worker.join(timeout=30)
    sentry_sdk.flush(timeout=10)
    sentry_sdk.get_client().close()
    print(json.dumps({"event_ids": ids}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
