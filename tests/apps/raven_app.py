"""Send a message and an exception with raven 6.10 (the legacy store API).

Usage: python raven_app.py DSN   (the DSN needs key:secret@)
Prints one JSON line: {"event_ids": [...]}.
"""

import json
import sys

import raven
from raven.transport.http import HTTPTransport


def main(argv):
    # HTTPTransport sends synchronously: no thread, no setDaemon warning.
    client = raven.Client(
        argv[1],
        transport=HTTPTransport,
        install_sys_hook=False,
        release="kent-tests@1.0.0",
    )
    ids = [client.captureMessage("hello from raven", extra={"attempt": 3})]
    try:
        {}["missing-key"]
    except KeyError:
        ids.append(client.captureException())
    print(json.dumps({"event_ids": ids, "version": raven.VERSION}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
