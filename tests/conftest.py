"""Shared test setup: Kent's own pytest plugin, the repo root on sys.path, and
the fixtures more than one test file uses (helpers.py has the functions)."""

import functools
import http.server
import logging
import os
import sys
import threading
from pathlib import Path

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)  # for helpers

import pytest  # noqa: E402 (after the path is set)
from helpers import (  # noqa: E402
    BROWSER_DIR,
    BUNDLE,
    ROOT,
    KentProcess,
    PageHandler,
    assert_still_serving,
    launch_chromium,
    open_page,
    require_tool,
    run_scenarios,
)

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

pytest_plugins = ["kent"]

# The tests talk to 127.0.0.1 only, never through a proxy a CI runner sets.
LOOPBACK = "127.0.0.1,localhost,::1"
for name in ("NO_PROXY", "no_proxy"):
    os.environ[name] = ",".join(filter(None, [LOOPBACK, os.environ.get(name)]))

# Inherited settings would change what the SDKs under test send (SENTRY_DEBUG
# writes to stderr, SENTRY_ENVIRONMENT adds a field), what the OpenTelemetry
# exporter does, how verbose Kent is (KENT_DEV), or how the nested pytest runs
# behave.
for name in list(os.environ):
    inherited = name.startswith(("SENTRY_", "OTEL_"))
    if inherited or name in ("KENT_DEV", "PYTEST_ADDOPTS", "PYTEST_PLUGINS"):
        del os.environ[name]


# -- Kent's log and Kent as a process ------------------------------------------------


def kent_errors(caplog):
    """Records that show Kent failed: anything at WARNING or above, tracebacks."""
    return [
        r
        for r in caplog.records
        if r.name.startswith("kent") and (r.levelno >= logging.WARNING or r.exc_info)
    ]


@pytest.fixture
def kent_log(caplog):
    """Kent's log at DEBUG; the test fails if Kent logged a warning or a traceback."""
    caplog.set_level(logging.DEBUG, logger="kent")
    yield caplog
    assert not kent_errors(caplog), [r.getMessage() for r in kent_errors(caplog)]


@pytest.fixture
def kent_process(tmp_path):
    """Kent as a subprocess with --max-body 10M; stderr must show no traceback."""
    if not Path("/proc/self/status").exists():
        pytest.skip("needs /proc to read a process's peak memory")
    process = KentProcess(tmp_path, "--max-body", "10M")
    try:
        assert_still_serving(process.url)
        yield process
    finally:
        process.stop()
    assert "Traceback" not in process.stderr(), process.stderr()[-3000:]


# -- Chromium --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium through Playwright (skipped when missing, not in CI)."""
    with launch_chromium("these tests drive Debian's Chromium") as chromium:
        yield chromium


@pytest.fixture
def page(browser, kent_server):
    """A 1280x900 page that records CSP violations and dialogs (Kent's UI)."""
    page = open_page(browser, viewport={"width": 1280, "height": 900})
    yield page
    page.context.close()  # before kent_server stops: ends the long poll


@pytest.fixture
def plain_page(browser):
    """A page in a fresh context, nothing added (the pages under ``pages``)."""
    context = browser.new_context()
    yield context.new_page()
    context.close()


@pytest.fixture(scope="module")
def pages():
    """The browser page on its own loopback port (another origin than Kent)."""
    if not BUNDLE.exists():
        require_tool(str(BUNDLE), "run tests/install.sh to build the bundle")
    handler = functools.partial(PageHandler, directory=str(BROWSER_DIR))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(5)


# -- what real sentry-sdk apps sent --------------------------------------------------


@pytest.fixture(scope="session")
def sdk_server():
    """A Kent holding what tests/apps/leaky_app.py sent, one project per scenario
    (helpers.PROJECTS). Made once for the session (the apps take seconds): a
    test that changes it (a canary, a replay to another project) undoes that."""
    import kent

    with kent.KentServer() as server:
        run_scenarios(server)
        yield server
