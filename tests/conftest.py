"""Shared test setup: Kent's own pytest plugin and the repo root on sys.path."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent
for path in (ROOT, TESTS):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

pytest_plugins = ["kent"]
