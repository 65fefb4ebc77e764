"""The leak scanner: secrets and personal data in what an SDK sent.

Each kind of finding has a positive and a look-alike negative case; a finding
is masked and says where it is (a JSON pointer, or a byte offset in binary
data). On what real sentry-sdk 2.x apps sent (tests/apps/leaky_app.py):
default settings leak nothing, ``send_default_pii=True`` leaks at known
pointers, a ``before_send`` that scrubs leaks nothing again. Canaries (values
that must never leave) given at start and at run time. Findings in the API, on
the event page and the index, and in Chromium.
"""

import json
import re

import pytest
from helpers import (
    CANARY,
    EMAIL,
    FRAME_VARS,
    PROJECTS,
    SECRET,
    api_get,
    check_page,
    envelope,
    http_request,
    only_event,
    page_of,
    post_envelope,
)

import kent


def _findings(event, canaries=()):
    return kent.scan_leaks(event.type, event.body, event.raw, canaries)


def _by_pointer(findings):
    return {finding["pointer"]: finding["kind"] for finding in findings}


# -- each kind of finding, positive and negative -----------------------------------


GITHUB_TOKEN = "ghp_" + "a1B2c3D4e5" * 3 + "f6G7h8"
STRIPE_KEY = "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc"
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
    "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
DSN_SECRET = "b" * 32
POSITIVE_CASES = [
    (
        "email",
        {"message": "mail alice@example.com now"},
        "/message",
        "alice@example.com",
    ),
    ("ip_address", {"message": "client 203.0.113.7 said"}, "/message", "203.0.113.7"),
    (
        "ip_address",
        {"message": "from 2a00:1450:4001:82b::200e"},
        "/message",
        "2a00:1450",
    ),
    (
        "ip_address",
        {"user": {"ip_address": "127.0.0.1"}},
        "/user/ip_address",
        "127.0.0.1",
    ),
    ("card_number", {"extra": {"n": "pay 4111 1111 1111 1111."}}, "/extra/n", "4111"),
    ("card_number", {"extra": {"n": "5500-0000-0000-0004"}}, "/extra/n", "5500"),
    ("card_number", {"extra": {"n": 4012888888881881}}, "/extra/n", "4012888888881881"),
    (
        "jwt",
        {"breadcrumbs": [{"message": f"got {JWT}"}]},
        "/breadcrumbs/0/message",
        JWT,
    ),
    (
        "bearer_token",
        {"m": "sent Bearer abc123def456ghi789"},
        "/m",
        "abc123def456ghi789",
    ),
    ("aws_key", {"m": "key AKIAIOSFODNN7EXAMPLE used"}, "/m", "AKIAIOSFODNN7EXAMPLE"),
    (
        "sentry_dsn_secret",
        {"m": f"https://{'a' * 32}:{DSN_SECRET}@o1.ingest.sentry.io/1"},
        "/m",
        DSN_SECRET,
    ),
    ("github_token", {"m": f"token {GITHUB_TOKEN}"}, "/m", GITHUB_TOKEN),
    ("stripe_key", {"m": STRIPE_KEY}, "/m", STRIPE_KEY),
    ("slack_token", {"m": "xoxb-123456789012-abcdefghijkl"}, "/m", "xoxb-1234567"),
    (
        "private_key",
        {"m": "-----BEGIN RSA PRIVATE KEY-----\nMIIEow"},
        "/m",
        "-----BEGIN RSA PRIVATE KEY-----",
    ),
    (
        "secret_key",
        {"extra": {"api_key": "abc123xyz789"}},
        "/extra/api_key",
        "abc123xyz789",
    ),
    (
        "secret_key",
        {"vars": {"db_password": "'hunter2-x'"}},
        "/vars/db_password",
        "hunter2-x",
    ),
    (
        "secret_key",
        {"headers": {"X-Api-Key": "k-998877"}},
        "/headers/X-Api-Key",
        "k-998877",
    ),
    (
        "cookie",
        {"request": {"cookies": {"sessionid": "abcdef123456"}}},
        "/request/cookies/sessionid",
        "abcdef123456",
    ),
    (
        "cookie",
        {"request": {"headers": [["Cookie", "sid=zyx987654"]]}},
        "/request/headers/0/1",
        "sid=zyx987654",
    ),
    (
        "auth_header",
        {"request": {"headers": {"Authorization": "Basic dXNlcjpwYXNzd29yZA=="}}},
        "/request/headers/Authorization",
        "Basic dXNlcjpwYXNzd29yZA==",
    ),
    (
        "query_secret",
        {"request": {"query_string": "page=2&token=abc123def456"}},
        "/request/query_string",
        "abc123def456",
    ),
    (
        "query_secret",
        {"request": {"url": "https://x.example/cb?access_token=tok-55443322&a=1"}},
        "/request/url",
        "tok-55443322",
    ),
    (
        "url_password",
        {"extra": {"db": "postgres://app:s3cretpw@db/prod"}},
        "/extra/db",
        "s3cretpw",
    ),
]


NEGATIVE_CASES = [
    ("email", {"release": "myapp@1.2.3", "m": "user@localhost"}),
    ("ip_address", {"message": "connect to 127.0.0.1:5000 and 0.0.0.0"}),
    ("ip_address", {"sdk": {"version": "2.75.0.1"}, "modules": {"x": "1.2.3.4"}}),
    ("ip_address", {"extra": {"ua": "Mozilla/5.0 Chrome/120.0.0.0 Safari/537.36"}}),
    ("ip_address", {"m": "upgraded sdk version 2.75.0.1", "t": "at 12:30:45 ::1"}),
    ("card_number", {"extra": {"n": "4111 1111 1111 1112"}}),  # Luhn-invalid
    ("card_number", {"thread": "140234567890104", "ns": 1735689600123456789}),
    ("jwt", {"m": "eyJhbGciOi alone"}),
    ("bearer_token", {"m": "the Bearer of bad news"}),
    ("aws_key", {"m": "AKIA1234"}),
    ("sentry_dsn_secret", {"m": f"https://{'a' * 32}@o1.ingest.sentry.io/1"}),
    ("github_token", {"m": "ghp_short"}),
    ("stripe_key", {"m": "pk_live_" + "4eC39HqLyjWDarjtT1zdp7dc"}),
    ("slack_token", {"m": "xox"}),
    ("private_key", {"m": "-----BEGIN PUBLIC KEY-----"}),
    ("secret_key", {"extra": {"token_count": "12345", "password_reset_url": "/r"}}),
    ("cookie", {"request": {"headers": {"Cookie": "[Filtered]"}}}),
    ("auth_header", {"request": {"headers": {"Authorization": "[Filtered]"}}}),
    ("query_secret", {"request": {"query_string": "page=2&sort=asc"}}),
    ("query_secret", {"url": "https://x.example/cb?access_token=%5BFiltered%5D"}),
    ("url_password", {"url": "https://[Filtered]:[Filtered]@host.example/"}),
]


@pytest.mark.parametrize(("kind", "body", "pointer", "secret"), POSITIVE_CASES)
def test_leak_kind_is_found_at_its_pointer(kind, body, pointer, secret):
    findings = kent.scan_leaks("event", body, json.dumps(body).encode())
    assert {"pointer": pointer, "kind": kind} in [
        {"pointer": f["pointer"], "kind": f["kind"]} for f in findings
    ], findings
    assert all(secret not in f["excerpt"] for f in findings), findings


@pytest.mark.parametrize(("kind", "body"), NEGATIVE_CASES)
def test_lookalike_is_not_a_leak(kind, body):
    findings = kent.scan_leaks("event", body, json.dumps(body).encode())
    assert [f for f in findings if f["kind"] == kind] == []


@pytest.mark.parametrize(
    "value", ["[Filtered]", "[REDACTED]", "***", "", None, "'[Filtered]'", "None"]
)
def test_filter_marker_in_a_password_field_is_not_a_leak(value):
    body = {"extra": {"password": value}, "request": {"data": {"secret": value}}}
    assert kent.scan_leaks("event", body, b"") == []


def test_masked_excerpt_keeps_first_and_last_two_characters():
    [finding] = kent.scan_leaks("event", {"extra": {"password": "password"}}, b"")
    assert finding == {
        "pointer": "/extra/password",
        "kind": "secret_key",
        "excerpt": "pa***rd",
    }
    assert kent.mask_secret("abcd") == "***"


def test_pointer_escapes_slash_and_tilde_in_keys():
    body = {"contexts": {"a/b~c": {"email": "bob@example.org"}}}
    [finding] = kent.scan_leaks("event", body, b"")
    assert finding["pointer"] == "/contexts/a~1b~0c/email"


def test_binary_body_findings_carry_exact_byte_offsets():
    raw = b"\xff\xfe binary \xe9 head\nowner: carol@example.net\n"
    findings = kent.scan_leaks("attachment", raw, raw)
    offset = raw.index(b"carol")
    assert findings == [
        {"pointer": "", "kind": "email", "excerpt": f"byte {offset}: ca***et"}
    ]


def test_binary_data_is_scanned_like_strings_with_exact_offsets():
    dump = b"MDMP\x93\xa7" + bytes(range(256)) * 8  # binary: scanned like strings(1)
    dump += b"\x00\x00user=bob@example.org\x00" + bytes(64)
    offset = dump.index(b"bob")
    assert kent.scan_leaks("attachment", dump, dump) == [
        {"pointer": "", "kind": "email", "excerpt": f"byte {offset}: bo***rg"}
    ]


def test_canary_is_found_in_keys_strings_numbers_and_raw_bytes():
    body = {"extra": {"k-CANARY-1": "x", "v": "has CANARY-1 inside", "n": 990011}}
    raw = json.dumps(body).encode()
    findings = kent.scan_leaks("event", body, raw, ["CANARY-1", "990011"])
    assert _by_pointer(findings) == {
        "/extra/k-CANARY-1": "canary",
        "/extra/v": "canary",
        "/extra/n": "canary",
    }
    assert all("CANARY-1" not in f["excerpt"] for f in findings)


def test_canary_is_case_sensitive_and_found_in_raw_only_framing():
    body = {"level": "error"}
    raw = b'{"level":"error"}'
    assert kent.scan_leaks("event", body, raw, ["ERROR"]) == []
    [finding] = kent.scan_leaks("event", body, raw, ['"level":"e'])
    assert finding["pointer"] == "" and finding["excerpt"].startswith("byte 1: ")


# -- on what real sentry-sdk apps sent ---------------------------------------------


def test_default_sdk_settings_leak_nothing(sdk_server):
    types = {event.type for event in sdk_server.events(project=PROJECTS["default"])}
    assert {"event", "transaction", "session", "log"} <= types, types
    assert {
        e.type: _findings(e)
        for e in sdk_server.events(project=PROJECTS["default"])
        if _findings(e)
    } == {}
    event = only_event(sdk_server, "default", "event", "ValueError")
    assert event.body["server_name"]  # the hostname: not a leak
    assert event.body["exception"]["values"][0]["stacktrace"]["frames"][-1]["vars"]


def test_default_settings_wsgi_app_leaks_through_the_environ_frame_variable(sdk_server):
    event = only_event(sdk_server, "wsgi", "event", "RuntimeError")
    assert event.body["request"]["headers"]["Cookie"] == "[Filtered]"
    assert _by_pointer(_findings(event)) == {
        f"{FRAME_VARS}/environ/HTTP_COOKIE": "cookie",
        f"{FRAME_VARS}/environ/REMOTE_ADDR": "ip_address",
        f"{FRAME_VARS}/db_password": "secret_key",
    }


def test_send_default_pii_leaks_are_found_at_their_pointers(sdk_server):
    event = only_event(sdk_server, "pii", "event", "RuntimeError")
    findings = _findings(event)
    assert _by_pointer(findings) == {
        f"{FRAME_VARS}/environ/HTTP_COOKIE": "cookie",
        f"{FRAME_VARS}/environ/REMOTE_ADDR": "ip_address",
        f"{FRAME_VARS}/db_password": "secret_key",
        "/user/email": "email",
        "/user/ip_address": "ip_address",
        "/request/env/REMOTE_ADDR": "ip_address",
    }
    for secret in (SECRET, "alice@example.com", "203.0.113.7"):
        assert all(secret not in f["excerpt"] for f in findings)


def test_before_send_that_scrubs_leaves_no_findings(sdk_server):
    event = only_event(sdk_server, "scrubbed", "event", "RuntimeError")
    assert event.body["exception"]["values"][0]["stacktrace"]["frames"][0]["vars"]
    assert [
        e.type for e in sdk_server.events(project=PROJECTS["scrubbed"]) if _findings(e)
    ] == []


def test_canary_in_a_log_and_an_attachment_is_found_by_scan_and_search(sdk_server):
    log = only_event(sdk_server, "canary", "log")
    attachment = only_event(sdk_server, "canary", "attachment")
    assert _findings(log, [CANARY]) == [
        {"pointer": "/items/0/body", "kind": "canary", "excerpt": "ke***9a"}
    ]
    offset = attachment.raw.index(CANARY.encode())
    assert _findings(attachment, [CANARY]) == [
        {"pointer": "", "kind": "canary", "excerpt": f"byte {offset}: ke***9a"}
    ]
    assert "/items/0/body" in kent.search_item(
        log.body, log.raw, log.binary, CANARY.upper()
    )
    assert kent.search_item(attachment.body, attachment.raw, True, CANARY) == [""]
    message = only_event(sdk_server, "canary", "event")
    assert _findings(message, [CANARY]) == []


# -- findings in the API -----------------------------------------------------------


def leaks_of(server, scenario):
    return api_get(server, f"/api/leaks/?project={PROJECTS[scenario]}")


def test_pii_app_leaks_are_reported_at_their_paths(sdk_server):
    report = leaks_of(sdk_server, "pii")
    event = only_event(sdk_server, "pii")
    assert report["clean"] is False
    [entry] = [e for e in report["events"] if e["event_id"] == event.id]
    found = {f["pointer"]: f["kind"] for f in entry["findings"]}
    assert found[f"{FRAME_VARS}/db_password"] == "secret_key"
    assert found[f"{FRAME_VARS}/environ/HTTP_COOKIE"] == "cookie"
    assert found["/user/email"] == "email"
    assert report["count"] == sum(len(e["findings"]) for e in report["events"])
    assert report["kinds"]["email"] >= 1 and report["kinds"]["cookie"] >= 1
    answer = json.dumps(report)
    assert SECRET not in answer and EMAIL not in answer  # excerpts are masked
    detail = api_get(sdk_server, f"/api/event/{event.id}")
    assert detail["leaks"] == entry["findings"]
    listing = api_get(
        sdk_server, f"/api/eventlist/?project={PROJECTS['pii']}&type=event"
    )
    assert [e["leaks"] for e in listing["events"]] == [len(entry["findings"])]


def test_before_send_that_scrubs_gives_a_clean_report(sdk_server):
    assert only_event(sdk_server, "scrubbed").body["exception"]  # the event did arrive
    report = leaks_of(sdk_server, "scrubbed")
    assert report == {"events": [], "count": 0, "kinds": {}, "clean": True}


def test_default_sdk_settings_give_no_finding(sdk_server):
    listing = api_get(sdk_server, f"/api/eventlist/?project={PROJECTS['default']}")
    types = {e["type"] for e in listing["events"]}
    assert {"event", "transaction", "session", "log"} <= types
    assert {e["leaks"] for e in listing["events"]} == {0}
    assert leaks_of(sdk_server, "default")["clean"] is True


def test_leak_filters_work_like_the_event_list(sdk_server):
    report = api_get(sdk_server, "/api/leaks/?type=transaction")
    assert report["clean"] is True  # transactions of every scenario leak nothing
    everything = api_get(sdk_server, "/api/leaks/")
    projects = {e["project_id"] for e in everything["events"]}
    assert projects == {PROJECTS["wsgi"], PROJECTS["pii"]}


def test_ingest_never_scans_reading_does(kent_server):
    body = {"message": "hi", "user": {"email": EMAIL}}
    post_envelope(kent_server.url, envelope(({"type": "event"}, body)))
    [event] = kent_server.wait_for(1)
    assert event._findings is None  # nothing scanned on the request path
    detail = api_get(kent_server, f"/api/event/{event.id}")
    assert detail["leaks"] == [
        {"pointer": "/user/email", "kind": "email", "excerpt": "al***om"}
    ]
    assert event._findings == (0, detail["leaks"])


# -- canaries: at start, at run time, cache invalidation ---------------------------


def canary_findings(report):
    return {
        (e["type"], f["pointer"], f["excerpt"])
        for e in report["events"]
        for f in e["findings"]
        if f["kind"] == "canary"
    }


def test_canary_added_at_run_time_is_found_in_a_log_and_an_attachment(sdk_server):
    project = PROJECTS["canary"]
    before = leaks_of(sdk_server, "canary")  # fills the caches without the canary
    listing = api_get(sdk_server, f"/api/eventlist/?project={project}")
    assert canary_findings(before) == set()
    attachment = only_event(sdk_server, "canary", "attachment")
    offset = attachment.raw.index(CANARY.encode())
    status, _, data = http_request(
        sdk_server.url, "POST", "/api/canaries/", json.dumps({"canaries": [CANARY]})
    )
    assert status == 201 and json.loads(data)["canaries"] == [CANARY]
    try:
        after = leaks_of(sdk_server, "canary")
        assert canary_findings(after) == {
            ("log", "/items/0/body", "ke***9a"),
            ("attachment", "", f"byte {offset}: ke***9a"),
        }
        relisted = api_get(sdk_server, f"/api/eventlist/?project={project}")
        counts = {e["type"]: e["leaks"] for e in relisted["events"]}
        old = {e["type"]: e["leaks"] for e in listing["events"]}
        assert counts["log"] == old["log"] + 1
        assert counts["attachment"] == old["attachment"] + 1
    finally:
        status, _, data = http_request(sdk_server.url, "DELETE", "/api/canaries/")
    assert status == 200 and json.loads(data)["canaries"] == []
    assert canary_findings(leaks_of(sdk_server, "canary")) == set()


def test_canaries_given_at_start_and_added_in_python():
    log = {"items": [{"timestamp": 1.7e9, "level": "info", "body": "token t-111"}]}
    data = envelope(({"type": "log", "item_count": 1}, log))
    with kent.KentServer(canaries=["t-111"]) as server:
        post_envelope(server.url, data)
        [event] = server.wait_for(1)
        assert [f["kind"] for f in server.leaks()["events"][0]["findings"]] == [
            "canary"
        ]
        server.add_canary("info")
        assert server.canaries == ["t-111", "info"]
        pointers = {f["pointer"] for f in server.leaks()["events"][0]["findings"]}
        assert pointers == {"/items/0/body", "/items/0/level"}
        server.clear_canaries()
        assert server.leaks()["clean"] is True
        assert api_get(server, "/api/canaries/") == {"canaries": [], "version": 2}


@pytest.mark.parametrize(
    "body", [b'{"canaries": [""]}', b'{"canaries": "x"}x', b"[1]", b'{"canaries": 3}']
)
def test_bad_canaries_are_refused(kent_server, body):
    status, _, data = http_request(kent_server.url, "POST", "/api/canaries/", body)
    assert status == 400, data
    assert api_get(kent_server, "/api/canaries/")["canaries"] == []


def test_canary_as_a_single_value_and_bad_cli_canary(kent_server, capsys):
    status, _, data = http_request(
        kent_server.url, "POST", "/api/canaries/", b'{"canary": "abcd"}'
    )
    assert (status, json.loads(data)["canaries"]) == (201, ["abcd"])
    with pytest.raises(SystemExit, match="bad --canary"):
        kent.main(["run", "-p", "0", "--canary", " "])
    # shorter than 4 characters it would be found everywhere
    status, _, data = http_request(
        kent_server.url, "POST", "/api/canaries/", b'{"canary": "x"}'
    )
    assert status == 400 and b"shorter than 4 characters" in data


# -- findings on the pages and in the browser --------------------------------------


def test_event_page_lists_and_marks_findings(sdk_server):
    event = only_event(sdk_server, "pii")
    page, text = page_of(sdk_server, f"/event/{event.id}")
    assert "Leak findings" in text and f"{FRAME_VARS}/db_password" in text
    marked = re.findall(
        r'<span class="leak" title="leak: ([\w, ]+)">([^<]*)</span>', page
    )
    kinds = {kind for kind, _ in marked}
    assert {"email", "cookie", "secret_key"} <= kinds
    assert (
        "email",
        EMAIL,
    ) in marked  # the user view, in place
    assert any(SECRET in value for _, value in marked)  # frame vars
    assert "\x00" not in page


def test_marked_values_stay_escaped_text():
    hostile = "<script>window.__pwned=1</script>"
    body = {
        "user": {"email": f"{hostile}alice@example.com"},
        "extra": {"password": hostile, "nested": {"api_key": f"k-{hostile}"}},
        "message": "\x00not-the-nonce:0\x00",
    }
    _, items, _ = kent.parse_envelope(envelope(({"type": "event"}, body)))
    event = kent.StoredEvent(1, items[0])
    kent.EventStore().add([event])
    findings = event.findings()
    assert {f["pointer"] for f in findings} >= {"/user/email", "/extra/password"}
    page = kent.render_event(event, [], "n0nce", findings, "http://kent")
    text = check_page(page, "n0nce")  # no markup but Kent's
    assert text.count(hostile) >= 4  # user view, extra view, raw JSON (twice)
    assert page.count('<span class="leak"') >= 6
    assert "\x00n0nce" not in page and "\\u0000n0nce" not in page


def test_index_badges_rows_with_findings(sdk_server):
    page, _ = page_of(sdk_server, f"/?project={PROJECTS['pii']}")
    assert re.search(r'class="badge bad leak-count">\d+ leaks?</span>', page)
    page, _ = page_of(sdk_server, f"/?project={PROJECTS['scrubbed']}")
    assert 'class="badge bad leak-count"' not in page


def test_browser_shows_findings_highlighted_and_badged(page, kent_server):
    page.goto(kent_server.url + "/")
    assert page.locator(".leak-count").count() == 0
    body = {
        "message": "checkout failed",
        "user": {"email": EMAIL},
        "extra": {"db_password": SECRET},
    }
    post_envelope(kent_server.url, envelope(({"type": "event"}, body)))
    badge = page.locator("#kent-rows .leak-count")  # added by the live script
    badge.wait_for(timeout=20000)
    assert badge.inner_text() == "2 leaks"
    page.locator("#kent-rows a", has_text="checkout failed").first.click()
    page.wait_for_url("**/event/**")
    assert page.locator("#kent-leaks").is_visible()
    leak = page.locator("span.leak", has_text=EMAIL).first
    assert leak.is_visible()
    assert leak.get_attribute("title") == "leak: email"
    assert page.locator("span.leak", has_text=SECRET).first.is_visible()
    page.goto(kent_server.url + "/")  # the badge rendered by the server
    assert page.locator("#kent-rows .leak-count").inner_text() == "2 leaks"
    assert page.evaluate("window.__violations") == []
