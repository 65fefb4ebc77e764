"""Fault injection: Kent answering like a rate-limiting, failing or slow Sentry.

Real SDKs run in subprocesses (tests/apps/faults_app.py for sentry-sdk 2.x,
tests/js/node_faults.mjs for @sentry/node) and print what they saw as JSON;
the tests then assert on what Kent stored. The rules API, the CLI option and
the index page are tested through real sockets.
"""

import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
from helpers import (
    APPS,
    CLEAN_KEY,
    JS,
    KENT_PY,
    NO_BROTLI,
    envelope,
    event_item,
    exchange_until_closed,
    get_json,
    http_request,
    post_envelope,
    require_node_sdk,
    status_of,
)

import kent

NODE_SCRIPT = JS / "node_faults.mjs"
RATE_LIMIT_RULE = "status=429&rate_limits=60:error:organization&category=error&count=1"
RELAY_STATUSES = (400, 401, 403, 413, 429, 500, 502, 503)


# -- helpers --------------------------------------------------------------------


def run_python_app(server, scenario, project=1):
    """tests/apps/faults_app.py with sentry-sdk 2.x; its JSON output."""
    env = {**os.environ, "PYTHONPATH": NO_BROTLI}
    command = [sys.executable, "-W", "error", str(APPS / "faults_app.py")]
    return _run_json(command + [server.dsn(project, key=CLEAN_KEY), scenario], env)


def run_node_app(server, scenario, project=42):
    """tests/js/node_faults.mjs with @sentry/node; its JSON output."""
    node = require_node_sdk("the @sentry/node fault tests need it")
    command = [node, str(NODE_SCRIPT), server.dsn(project, key=CLEAN_KEY), scenario]
    return _run_json(command, dict(os.environ))


def _run_json(command, env, timeout=40):
    """Run an app: it must exit 0 within ``timeout`` and print one JSON line."""
    result = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def event_list(server, **params):
    """GET /api/eventlist/ (through HTTP, as a user of the read API would)."""
    query = "&".join(f"{k}={v}" for k, v in params.items())
    status, value = get_json(server.url, f"/api/eventlist/?{query}")
    assert status == 200, value
    return value


def by_sdk_id(listing, event_id):
    """The event-list entries for one SDK event id."""
    return [e for e in listing["events"] if e["sdk_event_id"] == event_id]


def client_report_losses(server, listing):
    """(reason, category, quantity) from every stored client_report body."""
    losses = []
    for entry in listing["events"]:
        if entry["type"] == "client_report":
            body = server.get(entry["event_id"]).body
            losses += [
                (d["reason"], d["category"], d["quantity"])
                for d in body["discarded_events"]
            ]
    return losses


def wait_for_hits(server, rule_id, hits, timeout=5.0):
    """Until the rule has matched ``hits`` requests (bounded; 20 ms steps)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rule = next(r for r in server.faults if r["id"] == rule_id)
        if rule["hits"] >= hits:
            return rule
        threading.Event().wait(0.02)
    raise AssertionError(f"rule {rule_id} never reached {hits} hits: {server.faults}")


def send_event(server, project=1, message="hi"):
    """POST one event envelope: (status, headers, answer)."""
    data = envelope(event_item({"message": message, "level": "error"}))
    return post_envelope(server.url, data, project=project)


def send_transaction(server, project=1):
    item = ({"type": "transaction"}, {"type": "transaction", "transaction": "t"})
    return post_envelope(server.url, envelope(item), project=project)


def send_store(server, project=1):
    """POST a legacy store event: (status, headers)."""
    body = json.dumps({"message": "via store"}).encode()
    headers = {
        "X-Sentry-Auth": f"Sentry sentry_key={CLEAN_KEY}, sentry_version=7",
        "Content-Type": "application/json",
    }
    status, answer_headers, _ = http_request(
        server.url, "POST", f"/api/{project}/store/", body, headers
    )
    return status, answer_headers


def post_rule(server, rule):
    """POST /api/faults/ with a JSON body: (status, answer)."""
    data = rule if isinstance(rule, bytes) else json.dumps(rule).encode()
    status, _, body = http_request(
        server.url,
        "POST",
        "/api/faults/",
        data,
        {"Content-Type": "application/json"},
    )
    return status, json.loads(body)


def list_rules(server):
    status, value = get_json(server.url, "/api/faults/")
    assert status == 200, value
    return value["faults"]


def delete_rules(server, rule_id=None):
    path = "/api/faults/" + (f"{rule_id}" if rule_id is not None else "")
    status, _, body = http_request(server.url, "DELETE", path)
    assert status == 200, body
    return json.loads(body)


# -- rate limits: the SDK backs off and reports it --------------------------------


def assert_rate_limit_backoff(server, output, project):
    """First error 429 with the rule id; second absent; transaction 200; report."""
    listing = event_list(server, project=project)
    first = by_sdk_id(listing, output["first"])
    assert [(e["status"], e["fault"]) for e in first] == [(429, 1)], listing
    assert by_sdk_id(listing, output["second"]) == [], "the SDK sent a limited error"
    transactions = [e for e in listing["events"] if e["type"] == "transaction"]
    assert [(t["status"], t["fault"]) for t in transactions] == [(200, None)]
    assert (
        server.get(transactions[0]["event_id"]).body["contexts"]["trace"]["trace_id"]
        == (output["trace_id"])
    )
    losses = client_report_losses(server, listing)
    assert ("ratelimit_backoff", "error", 1) in losses, losses
    assert listing["accepted"] == listing["received"] - 1


def test_python_sdk_backs_off_errors_after_429_but_sends_transactions(kent_server):
    kent_server.add_fault(RATE_LIMIT_RULE)
    output = run_python_app(kent_server, "ratelimit")
    assert [r["status"] for r in output["responses"]] == [429, 200, 200], output
    assert_rate_limit_backoff(kent_server, output, project=1)


def test_node_sdk_backs_off_errors_after_429_but_sends_transactions(kent_server):
    kent_server.add_fault(RATE_LIMIT_RULE)
    output = run_node_app(kent_server, "ratelimit")
    assert_rate_limit_backoff(kent_server, output, project=42)


# -- a slow server: flush(timeout) and other connections ------------------------


def assert_stored_after_delay(server, event_id, project):
    stored = server.wait_for(count=1, project=project, timeout=10)
    assert [(e.event_id, e.status, e.fault) for e in stored] == [(event_id, 200, 1)]


def test_python_flush_gives_up_after_its_timeout_while_kent_delays(kent_server):
    kent_server.add_fault(delay=5)
    output = run_python_app(kent_server, "slow")
    # flush(timeout=2) returns after ~2 s with nothing answered yet ...
    assert 1.8 <= output["short_flush"] < 3.5, output
    assert output["answered_during_short_flush"] == 0, output
    # ... the answer arrives once Kent's 5 s are over, and Kent stored the event.
    assert [r["status"] for r in output["responses"]] == [200], output
    assert output["responses"][0]["at"] >= 4.5, output
    assert_stored_after_delay(kent_server, output["event_id"], project=1)


def test_node_flush_gives_up_after_its_timeout_while_kent_delays(kent_server):
    kent_server.add_fault(delay=5)
    output = run_node_app(kent_server, "slow")
    assert output["short_flush"]["flushed"] is False, output
    assert 1.8 <= output["short_flush"]["seconds"] < 3.5, output
    assert output["long_flush"]["flushed"] is True, output
    assert output["total"] >= 4.5, output
    assert_stored_after_delay(kent_server, output["event_id"], project=42)


def _post_in_thread(server, project, done, answers):
    def post():
        answers.append(send_event(server, project=project, message="delayed"))
        done.set()

    thread = threading.Thread(target=post, daemon=True)
    thread.start()
    return thread


def test_a_delayed_request_does_not_hold_up_others(kent_server):
    rule = kent_server.add_fault(delay=5, project="1")
    delayed_done, answers = threading.Event(), []
    thread = _post_in_thread(kent_server, 1, delayed_done, answers)
    wait_for_hits(kent_server, rule, 1)  # Kent is now sleeping on it
    # The read API and another project's ingest answer meanwhile.
    listing = event_list(kent_server)
    assert listing["events"] == [] and listing["received"] == 0
    status, _, answer = send_event(kent_server, project=2, message="prompt")
    assert status == 200 and answer["success"] is True
    [prompt] = kent_server.wait_for(count=1, project=2, timeout=3)
    assert prompt.body["message"] == "prompt" and prompt.fault is None
    assert not delayed_done.is_set(), "the delayed request finished too early"
    # The delayed one completes afterwards, normally.
    assert delayed_done.wait(10)
    thread.join(5)
    assert answers[0][0] == 200
    [late] = kent_server.wait_for(count=1, project=1, timeout=3)
    assert (late.body["message"], late.status, late.fault) == ("delayed", 200, rule)
    assert late.seq > prompt.seq


def test_client_gone_before_the_delay_ends_is_still_stored(kent_server):
    rule = kent_server.add_fault(delay=1.5)
    data = envelope(event_item({"message": "impatient", "level": "error"}))
    head = (
        "POST /api/1/envelope/ HTTP/1.1\r\nHost: localhost\r\n"
        f"X-Sentry-Auth: Sentry sentry_key={CLEAN_KEY}, sentry_version=7\r\n"
        f"Content-Length: {len(data)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", kent_server.port), 5) as sock:
        sock.sendall(head + data)
        wait_for_hits(kent_server, rule, 1)
    [stored] = kent_server.wait_for(count=1, timeout=10)
    assert (stored.body["message"], stored.fault) == ("impatient", rule)
    status, value = get_json(kent_server.url, "/api/status/")
    assert status == 200 and value["received"] == 1


@pytest.mark.parametrize("status", [204, 304])
def test_fault_status_without_a_body_sends_no_body(kent_server, status):
    """204 and 304 have no body: bytes after the head would be read as the
    next answer on a keep-alive connection."""
    kent_server.add_fault(status=status, count=1)
    data = envelope(event_item({"message": "no body", "level": "error"}))
    request = (
        "POST /api/1/envelope/ HTTP/1.1\r\nHost: localhost\r\n"
        f"X-Sentry-Auth: Sentry sentry_key={CLEAN_KEY}, sentry_version=7\r\n"
        f"Content-Length: {len(data)}\r\n\r\n"
    ).encode() + data
    status_request = (
        b"GET /api/status/ HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    answer, closed = exchange_until_closed(kent_server.url, request + status_request)
    assert closed
    head, _, rest = answer.partition(b"\r\n\r\n")
    assert status_of(head) == status, answer[:300]
    assert b"content-length" not in head.lower()
    assert rest.startswith(b"HTTP/1.1 200 "), answer[:600]
    [stored] = kent_server.events()
    assert (stored.status, stored.fault) == (status, 1)


# -- dropped connections --------------------------------------------------------


def assert_drop_survived(server, output, project):
    listing = event_list(server, project=project)
    dropped = by_sdk_id(listing, output["dropped"])
    assert [(e["status"], e["fault"]) for e in dropped] == [(0, 1)], listing
    after = by_sdk_id(listing, output["after"])
    assert [(e["status"], e["fault"]) for e in after] == [(200, None)], listing
    # accepted counts 2xx answers only: everything but the dropped request
    assert listing["accepted"] == listing["received"] - 1, listing
    status, value = get_json(server.url, "/api/status/")
    assert status == 200 and value["accepted"] == listing["accepted"]


def test_python_sdk_survives_a_dropped_connection(kent_server):
    kent_server.add_fault(action="drop", count=1)
    output = run_python_app(kent_server, "drop")
    assert [loss["reason"] for loss in output["losses"]] == ["network"], output
    assert_drop_survived(kent_server, output, project=1)
    losses = client_report_losses(kent_server, event_list(kent_server))
    assert ("network_error", "error", 1) in losses, losses


def test_node_sdk_survives_a_dropped_connection(kent_server):
    kent_server.add_fault(action="drop", count=1)
    output = run_node_app(kent_server, "drop")
    assert output["second_flush"]["flushed"] is True, output
    assert_drop_survived(kent_server, output, project=42)


# -- the rules API ----------------------------------------------------------------


def test_rules_are_added_listed_with_hits_and_deleted(kent_server):
    status, added = post_rule(kent_server, {"status": 503, "project": "1"})
    assert status == 201, added
    assert added["fault"]["id"] == added["id"]
    assert (added["fault"]["status"], added["fault"]["project"]) == (503, ["1"])
    status, other = post_rule(kent_server, {"status": 500, "endpoint": "store"})
    assert status == 201, other
    assert [(r["id"], r["hits"]) for r in list_rules(kent_server)] == [
        (added["id"], 0),
        (other["id"], 0),
    ]
    assert send_event(kent_server)[0] == 503
    assert send_event(kent_server)[0] == 503
    hits = {r["id"]: r["hits"] for r in list_rules(kent_server)}
    assert hits == {added["id"]: 2, other["id"]: 0}
    assert delete_rules(kent_server, added["id"])["cleared"] == 1
    assert [r["id"] for r in list_rules(kent_server)] == [other["id"]]
    assert send_event(kent_server)[0] == 200
    post_rule(kent_server, {"status": 502})
    assert delete_rules(kent_server)["cleared"] == 2
    assert list_rules(kent_server) == []


def test_numeric_project_in_a_json_rule(kent_server):
    # {"project": 1} is the natural JSON; a list of numbers too.
    status, added = post_rule(kent_server, {"status": 503, "project": 1})
    assert status == 201, added
    assert added["fault"]["project"] == ["1"]
    status, added = post_rule(kent_server, {"status": 502, "project": [2, 3]})
    assert status == 201, added
    assert added["fault"]["project"] == ["2", "3"]
    assert [send_event(kent_server, project=p)[0] for p in (1, 2, 4)] == [503, 502, 200]


def test_python_api_add_clear_and_list(kent_server):
    first = kent_server.add_fault("status=429&retry_after=7&category=error")
    second = kent_server.add_fault(status=503, count=2)
    assert [(r["id"], r["status"]) for r in kent_server.faults] == [
        (first, 429),
        (second, 503),
    ]
    assert kent_server.faults[0]["retry_after"] == 7
    assert kent_server.faults[0]["category"] == ["error"]
    assert kent_server.clear_faults(first) == 1
    assert [r["id"] for r in kent_server.faults] == [second]
    assert kent_server.clear_faults() == 1 and kent_server.faults == []


def test_count_expires_after_n_hits(kent_server):
    rule = kent_server.add_fault(status=503, count=2)
    statuses = [send_event(kent_server, message=f"m{i}")[0] for i in range(3)]
    assert statuses == [503, 503, 200]
    stored = kent_server.events()
    assert [(e.body["message"], e.status, e.fault) for e in stored] == [
        ("m0", 503, rule),
        ("m1", 503, rule),
        ("m2", 200, None),
    ]
    assert kent_server.faults[0]["hits"] == 2
    assert kent_server.store.stats()["accepted"] == 1


def test_faults_api_says_which_rules_still_answer(kent_server):
    kent_server.add_fault(status=503, count=1)
    send_event(kent_server)
    [rule] = list_rules(kent_server)
    assert (rule["hits"], rule["remaining"], rule["active"]) == (1, 0, False)


def test_delay_rule_keeps_the_requests_auth_for_require_key():
    with kent.KentServer(require_keys=[CLEAN_KEY]) as server:
        server.add_fault(delay=0.1)
        status, _, _ = post_envelope(server.url, envelope(event_item()))
        [event] = server.wait_for(1)
    assert (status, event.status, event.fault) == (200, 200, 1)


def test_rules_take_json_or_query_syntax_alike(kent_server):
    # the API reads --fault's syntax, and --fault (parse_fault) reads JSON
    answer = http_request(
        kent_server.url, "POST", "/api/faults/", b"status=503&count=1"
    )
    assert answer[0] == 201
    assert kent.parse_fault('{"status": 500, "count": 2}')["count"] == 2
    assert send_event(kent_server)[0] == 503
    status, _, text = http_request(kent_server.url, "DELETE", "/api/faults/99")
    assert status == 404 and b"no fault rule 99" in text


def test_add_fault_merges_text_and_keywords(kent_server):
    rule = kent_server.add_fault("category=error", status=429)
    assert [(r["id"], r["status"], r["category"]) for r in kent_server.faults] == [
        (rule, 429, ["error"])
    ]


@pytest.mark.parametrize("body", [b'{"status": Infinity}', b'{"count": 1e999}'])
def test_an_infinite_number_in_a_rule_is_a_400(kent_server, body):
    status, _, answer = http_request(kent_server.url, "POST", "/api/faults/", body)
    assert status == 400 and b"is not a number" in answer


def test_duration_window_expires(kent_server):
    rule = kent_server.add_fault(status=500, duration=1)
    [listed] = list_rules(kent_server)
    assert 0 < listed["seconds_left"] <= 1, listed
    assert send_event(kent_server, message="inside")[0] == 500
    threading.Event().wait(listed["seconds_left"] + 0.2)  # one bounded wait
    assert send_event(kent_server, message="after")[0] == 200
    stored = kent_server.wait_for(count=2, timeout=5)
    assert [(e.body["message"], e.status, e.fault) for e in stored] == [
        ("inside", 500, rule),
        ("after", 200, None),
    ]
    assert list_rules(kent_server)[0]["seconds_left"] == 0


def test_scoped_by_project(kent_server):
    kent_server.add_fault(status=503, project="2,3")
    assert [send_event(kent_server, project=p)[0] for p in (1, 2, 3, 4)] == [
        200,
        503,
        503,
        200,
    ]


def test_scoped_by_endpoint(kent_server):
    kent_server.add_fault(status=502, endpoint="store")
    assert send_event(kent_server)[0] == 200
    assert send_store(kent_server)[0] == 502
    statuses = [(e.request["endpoint"], e.status) for e in kent_server.events()]
    assert statuses == [("envelope", 200), ("store", 502)]


def test_scoped_by_category(kent_server):
    rule = kent_server.add_fault(status=429, category="transaction", retry_after=3)
    assert send_event(kent_server)[0] == 200
    status, headers, _ = send_transaction(kent_server)
    assert (status, headers.get("retry-after")) == (429, "3")
    report = ({"type": "client_report"}, {"discarded_events": []})
    assert post_envelope(kent_server.url, envelope(report))[0] == 200
    kent_server.add_fault(status=500, category="internal")
    assert post_envelope(kent_server.url, envelope(report))[0] == 500
    faults = [(e.type, e.fault) for e in kent_server.events()]
    assert faults == [
        ("event", None),
        ("transaction", rule),
        ("client_report", None),
        ("client_report", rule + 1),
    ]


@pytest.mark.parametrize("status", RELAY_STATUSES)
def test_status_answered_like_relay(kent_server, status):
    rule = kent_server.add_fault(
        status=status, retry_after=42, rate_limits="42:error:key"
    )
    answer_status, headers, answer = send_event(kent_server)
    assert answer_status == status
    assert headers["content-type"] == "application/json"
    assert f"rule {rule}" in answer["detail"] and str(status) in answer["detail"]
    assert headers["retry-after"] == "42"
    assert headers["x-sentry-rate-limits"] == "42:error:key"
    assert headers["access-control-allow-origin"] == "*"
    [stored] = kent_server.events()
    assert (stored.status, stored.fault, stored.body["message"]) == (status, rule, "hi")


def test_delay_with_a_status_sleeps_then_fails(kent_server):
    rule = kent_server.add_fault(status=503, delay=0.5)
    begin = time.monotonic()
    status, _, answer = send_event(kent_server)
    assert status == 503 and time.monotonic() - begin >= 0.45, answer
    [stored] = kent_server.events()
    assert (stored.status, stored.fault) == (503, rule)


def test_no_retry_after_header_unless_the_rule_has_one(kent_server):
    kent_server.add_fault(status=503)
    status, headers, _ = send_event(kent_server)
    assert status == 503
    assert "retry-after" not in headers and "x-sentry-rate-limits" not in headers


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"status": "abc"}, ["status", "not a number"]),
        ({"status": 503, "colour": "red"}, ["unknown", "colour"]),
        ({"action": "explode"}, ["action", "drop"]),
        ({"status": 999}, ["999", "not an HTTP status"]),
        ({"status": 503, "delay": -1}, ["delay", "negative"]),
        ({"count": 3}, ["status", "delay", "drop"]),
        ([1, 2], ["JSON object"]),
        (b"{not json", ["not valid JSON"]),
        # A typo would otherwise give a rule that silently never matches.
        ({"status": 503, "endpoint": "envelopes"}, ["endpoint", "envelopes"]),
        ({"status": 503, "category": "errors"}, ["category", "errors"]),
        # 1xx is not an answer: clients wait for the real one or misread it.
        ({"status": 101}, ["101"]),
    ],
    ids=[
        "nan",
        "unknown",
        "action",
        "999",
        "negative",
        "nothing",
        "list",
        "json",
        "typo-endpoint",
        "typo-category",
        "1xx",
    ],
)
def test_bad_rule_is_refused_with_a_clear_message(kent_server, body, words):
    status, answer = post_rule(kent_server, body)
    assert status == 400, answer
    for word in words:
        assert word in answer["detail"], answer
    assert list_rules(kent_server) == []


# -- CLI and index page ---------------------------------------------------------


def start_cli(*args, timeout=10):
    """``kent.py run -p 0 ARGS`` and its URL, from the first stdout line."""
    command = [sys.executable, KENT_PY, "run", "-p", "0", *args]
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        ready = selector.select(timeout)
    line = proc.stdout.readline() if ready else ""
    if "listening on" not in line:
        proc.kill()
        _, err = proc.communicate(timeout=10)
        raise AssertionError(f"kent run did not start: {line!r} {err!r}")
    return proc, line.split("listening on ")[1].strip().rstrip("/")


def stop_cli(proc):
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    return out


@pytest.mark.parametrize(
    "rule",
    [
        "status=503&retry_after=9&count=1",
        '{"status": 503, "retry_after": 9, "count": 1}',
    ],
    ids=["query", "json"],
)
def test_cli_fault_applies_from_the_start(kent_server, rule):
    proc, url = start_cli("--fault", rule)
    try:
        data = envelope(event_item())
        status, headers, answer = post_envelope(url, data)
        assert (status, headers["retry-after"]) == (503, "9"), answer
        assert post_envelope(url, data)[0] == 200
        status, value = get_json(url, "/api/faults/")
        assert [(r["status"], r["hits"]) for r in value["faults"]] == [(503, 1)]
        status, listing = get_json(url, "/api/eventlist/")
        assert [e["status"] for e in listing["events"]] == [503, 200]
    finally:
        stop_cli(proc)


def test_cli_bad_fault_exits_with_a_message():
    command = [sys.executable, KENT_PY, "run", "-p", "0"]
    result = subprocess.run(
        command + ["--fault", "status=abc"],
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert result.returncode != 0
    assert "bad --fault" in result.stderr and "status" in result.stderr
    assert "listening" not in result.stdout


def test_index_page_lists_active_rules(kent_server):
    kent_server.add_fault(status=503, category="transaction", count=4)
    status, headers, page = http_request(kent_server.url, "GET", "/")
    assert status == 200 and headers["content-type"].startswith("text/html")
    text = page.decode()
    assert "503" in text and "transaction" in text, "the index page shows no rules"
    assert 'action="/faults/clear"' in text


def test_kent_server_accepts_faults_in_its_constructor():
    with kent.KentServer(faults=["status=401&count=1"]) as server:
        assert send_event(server)[0] == 401
        assert send_event(server)[0] == 200
        assert server.faults[0]["hits"] == 1


@pytest.mark.parametrize("key", ["delay", "duration"])
def test_fault_numbers_must_be_finite(kent_server, key):
    status, _, data = http_request(
        kent_server.url,
        "POST",
        "/api/faults/",
        json.dumps({"status": 503, key: "nan"}).encode(),
    )
    assert status == 400, data
    assert b"finite" in data
    assert kent_server.faults == []


@pytest.mark.parametrize("limits", ["\u2603", "1:error\r\nX-Evil: 1"])
def test_fault_rate_limits_cannot_inject_headers(kent_server, limits):
    with pytest.raises(kent.KentError, match="printable ASCII"):
        kent_server.add_fault(status=429, rate_limits=limits)
