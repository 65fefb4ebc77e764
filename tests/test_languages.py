"""Real Go and Ruby SDKs from Debian against a running Kent.

sentry-go 0.11 (golang-github-getsentry-sentry-go-dev), sentry-ruby 5.3
(ruby-sentry-ruby) and raven-ruby 3.1 (ruby-sentry-raven); tests/install.sh
installs them with apt-get where it can. Each program in tests/apps/ runs once
per module against its own Kent; the tests then read what Kent stored, field by
field. Without the tools the tests skip, and fail under CI=true.
"""

import json
import os
import subprocess
import tempfile

import pytest
from helpers import (
    APPS,
    CLEAN_KEY,
    assert_clean,
    require_tool,
)

import kent

GOPATH = "/usr/share/gocode"
SENTRY_GO = f"{GOPATH}/src/github.com/getsentry/sentry-go"
TRIO = 3  # a message, an error, a transaction
# The first `go run` compiles sentry-go and its dependencies: slow on a
# loaded 2-core machine.
BUILD_TIMEOUT = 900


def run_program(command, cwd=None, env=None, timeout=120):
    """Run a client program; its JSON output (event IDs and SDK version)."""
    result = subprocess.run(
        command,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def sent(command_for_dsn, count, key=CLEAN_KEY, **run):
    """Start a Kent, run the program at it; (stored events, program output)."""
    with kent.KentServer() as server:
        out = run_program(command_for_dsn(server.dsn(1, key=key)), **run)
        events = server.wait_for(count, timeout=60)
    return {"events": events, "out": out}


def by_type(run, item_type):
    return [e for e in run["events"] if e.type == item_type]


def assert_scope(event):
    """User, tags and breadcrumbs every program sets before it sends."""
    assert event.body["user"]["id"] == "u-7"
    assert event.body["user"]["email"] == "ada@example.com"
    assert event.body["tags"] == {"shard": "eu-1"}
    crumbs = event.body["breadcrumbs"]
    crumbs = crumbs["values"] if isinstance(crumbs, dict) else crumbs
    assert [c["message"] for c in crumbs] == ["user logged in", "item added"]
    assert [c["category"] for c in crumbs] == ["auth", "cart"]
    assert crumbs[1]["data"] == {"n": 3}


def assert_transaction(event, trace_id):
    assert event.body["transaction"] == "nightly-report"
    trace = event.body["contexts"]["trace"]
    assert (trace["op"], trace["trace_id"]) == ("task", trace_id)
    [span] = event.body["spans"]
    assert (span["op"], span["description"]) == ("db", "load rows")
    assert span["parent_span_id"] == trace["span_id"]
    assert span["trace_id"] == trace_id
    assert event.request["endpoint"] == "envelope"
    assert "nightly-report" in event.summary


# -- sentry-go ------------------------------------------------------------------


@pytest.fixture(scope="module")
def go_run():
    go = require_tool("go", "apt-get install golang-go")
    require_tool(SENTRY_GO, "apt-get install golang-github-getsentry-sentry-go-dev")
    with tempfile.TemporaryDirectory(prefix="kent-go-") as cache:
        env = {
            "GOPATH": GOPATH,
            "GO111MODULE": "off",
            "GOFLAGS": "",
            # the machine's HOME may be read-only or shared: a private cache
            "GOCACHE": os.environ.get("KENT_TEST_GOCACHE", cache),
        }
        command = lambda dsn: [go, "run", "main.go", dsn]  # noqa: E731
        yield sent(command, TRIO, cwd=APPS / "go", env=env, timeout=BUILD_TIMEOUT)


GO_VERSION = "0.11.0"


def test_go_message_to_the_store_endpoint(go_run):
    message, _ = by_type(go_run, "event")
    assert message.event_id == go_run["out"]["event_ids"][0]
    assert message.body["message"] == "hello from go"
    assert message.body["level"] == "info"
    assert message.body["platform"] == "go"
    assert message.body["release"] == "kent-tests@1.0.0"
    assert message.body["environment"] == "test"
    assert message.request["endpoint"] == "store"
    assert message.auth["sentry_client"] == f"sentry.go/{GO_VERSION}"
    assert message.summary == "hello from go"
    assert_scope(message)
    assert_clean(message, "sentry.go", GO_VERSION)


def test_go_wrapped_error_is_the_old_exception_list(go_run):
    _, error = by_type(go_run, "event")
    assert error.event_id == go_run["out"]["event_ids"][1]
    exceptions = error.body["exception"]
    assert isinstance(exceptions, list)  # not {"values": [...]}
    inner, outer = exceptions
    assert (inner["type"], inner["value"]) == (
        "*errors.errorString",
        "row 42 not found",
    )
    assert outer["type"] == "*fmt.wrapError"
    assert outer["value"] == "loading order 42: row 42 not found"
    frame = outer["stacktrace"]["frames"][-1]
    assert frame["function"] == "main"
    assert frame["abs_path"].endswith("main.go")
    assert "loadRow(42)" in frame["context_line"]
    assert error.body["level"] == "error"
    assert "loading order 42" in error.summary
    assert_scope(error)
    assert_clean(error, "sentry.go", GO_VERSION)


def test_go_transaction_with_a_child_span(go_run):
    [transaction] = by_type(go_run, "transaction")
    assert_transaction(transaction, go_run["out"]["event_ids"][2])
    assert "sent_at" in transaction.envelope_header
    assert_scope(transaction)
    assert_clean(transaction, "sentry.go", GO_VERSION)


# -- sentry-ruby ----------------------------------------------------------------


def ruby_library(name, package):
    """Skip (fail in CI) unless ruby can load the gem."""
    ruby = require_tool("ruby", "apt-get install ruby")
    found = subprocess.run(
        [ruby, "-e", f"require {name!r}"], capture_output=True, timeout=60
    )
    if found.returncode != 0:
        require_tool(f"ruby gem {name}", f"apt-get install {package}")
    return ruby


@pytest.fixture(scope="module")
def ruby_run():
    ruby = ruby_library("sentry-ruby", "ruby-sentry-ruby")
    yield sent(lambda dsn: [ruby, str(APPS / "ruby_app.rb"), dsn], TRIO)


RUBY_VERSION = "5.3.0"


def test_ruby_message_in_an_envelope(ruby_run):
    message, _ = by_type(ruby_run, "event")
    assert message.event_id == ruby_run["out"]["event_ids"][0]
    assert message.body["message"] == "hello from ruby"
    assert message.body["platform"] == "ruby"
    assert message.body["release"] == "kent-tests@1.0.0"
    assert message.body["environment"] == "test"
    assert message.request["endpoint"] == "envelope"
    assert message.envelope_header["sdk"]["name"] == "sentry.ruby"
    assert "sent_at" in message.envelope_header
    assert message.summary == "hello from ruby"
    assert_scope(message)
    assert_clean(message, "sentry.ruby", RUBY_VERSION)


def test_ruby_exception_with_its_cause(ruby_run):
    _, error = by_type(ruby_run, "event")
    assert error.event_id == ruby_run["out"]["event_ids"][1]
    cause, raised = error.body["exception"]["values"]
    assert cause["type"] == "ArgumentError"
    assert cause["value"] == 'invalid value for Integer(): "order-42"'
    assert (raised["type"], raised["value"]) == ("KeyError", "order 42 not found")
    frame = raised["stacktrace"]["frames"][-1]
    assert frame["function"] == "rescue in load_order"
    assert frame["filename"].endswith("ruby_app.rb")
    assert "raise KeyError" in frame["context_line"]
    assert error.title == "KeyError: order 42 not found"
    assert_scope(error)
    assert_clean(error, "sentry.ruby", RUBY_VERSION)


def test_ruby_transaction_with_a_child_span(ruby_run):
    [transaction] = by_type(ruby_run, "transaction")
    assert_transaction(transaction, ruby_run["out"]["event_ids"][2])
    assert_scope(transaction)
    assert_clean(transaction, "sentry.ruby", RUBY_VERSION)


def test_ruby_sdk_has_no_check_ins_to_test():
    """sentry-ruby 5.3 has no check-in API (crons came in 5.12): when Debian
    ships a newer one, this fails and a check-in test belongs here."""
    ruby = ruby_library("sentry-ruby", "ruby-sentry-ruby")
    script = "require 'sentry-ruby'; print Sentry::VERSION, Sentry.respond_to?(:capture_check_in)"
    result = subprocess.run([ruby, "-e", script], capture_output=True, text=True)
    assert result.stdout == f"{RUBY_VERSION}false"


# -- raven-ruby -----------------------------------------------------------------


@pytest.fixture(scope="module")
def raven_ruby_run():
    ruby = ruby_library("raven", "ruby-sentry-raven")
    command = lambda dsn: [ruby, str(APPS / "raven_ruby_app.rb"), dsn]  # noqa: E731
    yield sent(command, 2, key=f"{CLEAN_KEY}:a-secret")


RAVEN_RUBY_VERSION = "3.1.2"


def assert_raven_ruby_request(event):
    """Legacy /store/: protocol 5 with the secret key, an octet-stream body."""
    assert event.request["endpoint"] == "store"
    assert event.request["content_type"] == "application/octet-stream"
    assert event.auth["sentry_version"] == "5"
    assert event.auth["sentry_secret"] == "a-secret"
    assert event.auth["sentry_client"] == f"raven-ruby/{RAVEN_RUBY_VERSION}"


def test_raven_ruby_message(raven_ruby_run):
    message, _ = raven_ruby_run["events"]
    assert message.event_id == raven_ruby_run["out"]["event_ids"][0]
    assert message.body["message"] == "hello from raven-ruby"
    assert message.body["platform"] == "ruby"
    assert message.body["release"] == "kent-tests@1.0.0"
    assert message.body["environment"] == "test"
    assert message.summary == "hello from raven-ruby"
    assert_raven_ruby_request(message)
    assert_scope(message)
    assert_clean(message, "raven-ruby", RAVEN_RUBY_VERSION)


def test_raven_ruby_exception_with_its_cause(raven_ruby_run):
    _, error = raven_ruby_run["events"]
    assert error.event_id == raven_ruby_run["out"]["event_ids"][1]
    cause, raised = error.body["exception"]["values"]
    assert cause["type"] == "ArgumentError"
    assert (raised["type"], raised["value"]) == ("KeyError", "order 42 not found")
    frame = raised["stacktrace"]["frames"][-1]
    assert frame["function"] == "rescue in load_order"
    assert frame["filename"].endswith("raven_ruby_app.rb")
    assert error.title == "KeyError: order 42 not found"
    assert_raven_ruby_request(error)
    assert_scope(error)
    assert_clean(error, "raven-ruby", RAVEN_RUBY_VERSION)
