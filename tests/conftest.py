"""Shared test setup: Kent's own pytest plugin and the repo root on sys.path."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent
for path in (ROOT, TESTS):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import pytest  # noqa: E402 (after the path is set)
from helpers import launch_chromium  # noqa: E402

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


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium through Playwright (skipped when missing, not in CI)."""
    with launch_chromium("these tests drive Debian's Chromium") as chromium:
        yield chromium
