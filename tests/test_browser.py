"""The web UI in headless Chromium, against a real Kent and a real sentry-sdk.

Screenshots (laptop and phone, light and dark) go to tests/output/.
"""

import json
import subprocess
import sys
from pathlib import Path

from helpers import (
    APPS,
    HOSTILE,
    envelope,
    get_json,
    hostile_items,
    http_request,
    open_page,
    post_envelope,
)

APP = APPS / "ui_app.py"
OUTPUT = Path(__file__).parent / "output"


def run_ui_app(server, scenario):
    result = subprocess.run(
        # a key that is not 32 characters: its rows carry a warning badge
        [sys.executable, str(APP), server.dsn(1, key="ui-key"), scenario],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(result.stdout)


def rows(page):
    return page.locator("#kent-rows tr[data-seq]")


def test_sdk_exception_shows_up_live_and_in_detail(page, kent_server):
    page.goto(kent_server.url + "/")
    assert "No events yet." in page.inner_text("#kent-rows")
    page.evaluate("window.__same_page = true")
    run_ui_app(kent_server, "exception")
    kent_server.wait_for(2, timeout=10)
    page.locator("#kent-rows a", has_text="ValueError: no price for teapot").wait_for(
        timeout=20000
    )
    assert page.evaluate("window.__same_page") is True  # no reload happened
    assert rows(page).count() == 2
    json_link = rows(page).first.locator("a", has_text="JSON")  # a live row
    assert json_link.get_attribute("href").startswith("/api/event/")
    badge = page.locator("#kent-rows .badge.warn").first  # the short key
    assert "public-key" in badge.get_attribute("title")
    page.locator("#kent-rows a", has_text="ValueError").click()
    page.wait_for_url("**/event/**")
    text = page.inner_text("main")
    for expected in ("_lookup", "basket_total", "KeyError", "added item teapot"):
        assert expected in text
    assert "ui-tests" in text and "kent-ui@1.0" in text
    page.locator("a", has_text="order.txt").click()
    page.wait_for_url("**/event/**")
    assert "status: <pending>" in page.inner_text("main pre")
    page.goto(kent_server.url + "/")
    page.locator("button", has_text="Flush all events").click()
    page.wait_for_url(kent_server.url + "/")
    assert "No events yet." in page.inner_text("#kent-rows")
    assert kent_server.events() == []
    assert page.evaluate("window.__violations") == []


def post_hostile(server):
    """Every item type full of markup, plus a request Kent cannot parse."""
    headers = {"User-Agent": HOSTILE}
    for item in hostile_items():
        post_envelope(server.url, envelope(item), headers=headers)
    bad = b'{"event_id":"x"}\n{"type":"event","length":999}\n' + HOSTILE.encode()
    status, _, _ = http_request(server.url, "POST", "/api/1/envelope/", bad, headers)
    assert status == 400
    return len(hostile_items()) + 1


def assert_nothing_ran(page):
    assert page.evaluate("window.__pwned") is None
    assert page.dialogs == []
    assert page.evaluate("window.__violations") == []
    assert (
        page.locator("img[src='x'], [onerror], [onload], a[href^='javascript']").count()
        == 0
    )
    assert page.locator("script").count() <= 1


def test_hostile_payloads_stay_text_live_and_on_every_page(page, kent_server):
    page.goto(kent_server.url + "/")
    expected = post_hostile(kent_server)
    # A locator wait, not wait_for_function: the page's CSP forbids the eval
    # Playwright polls a string predicate with once it is not true at once.
    rows(page).nth(expected - 1).wait_for(timeout=20000)
    literal = "<script>window.__pwned=1</script>"
    assert literal in page.inner_text("#kent-rows")  # rows added by the script
    assert_nothing_ran(page)
    for event in kent_server.events():
        page.goto(f"{kent_server.url}/event/{event.id}")
        assert_nothing_ran(page)
        assert literal in page.inner_text("main"), event.type
    page.goto(kent_server.url + "/")  # the same rows, rendered by the server
    assert rows(page).count() == expected
    assert_nothing_ran(page)


def test_filter_and_flush_one_project_without_javascript(browser, kent_server):
    for project in (1, 2):
        body = {"message": f"hello from project {project}"}
        post_envelope(kent_server.url, envelope(({"type": "event"}, body)), project)
    post_envelope(kent_server.url, envelope(({"type": "session"}, {"sid": "s"})), 2)
    page = open_page(browser, java_script_enabled=False)
    try:
        page.goto(kent_server.url + "/")
        assert "live updates need JavaScript" in page.inner_text("main")
        page.select_option("select[name=project]", "2")
        page.select_option("select[name=type]", "event")
        page.locator("button", has_text="Filter").click()
        page.wait_for_url("**/?project=2&type=event")
        assert page.inner_text("#kent-rows").count("hello from project") == 1
        assert "hello from project 2" in page.inner_text("#kent-rows")
        page.locator("button", has_text="Flush project 2").click()
        page.wait_for_url(kent_server.url + "/")
        assert [e.project_id for e in kent_server.events()] == [1]
        assert "hello from project 1" in page.inner_text("#kent-rows")
    finally:
        page.context.close()


def fill_for_screenshots(server):
    run_ui_app(server, "transaction")
    run_ui_app(server, "exception")
    log = {"items": [{"timestamp": 1.7e9, "level": "info", "body": "user signed in"}]}
    post_envelope(server.url, envelope(({"type": "log", "item_count": 1}, log)))
    http_request(server.url, "POST", "/api/2/envelope/", b"not an envelope")
    server.wait_for(5, timeout=10)
    return {e.type: e for e in server.events()}


def test_screenshots_fit_laptop_and_phone(browser, kent_server):
    by_type = fill_for_screenshots(kent_server)
    OUTPUT.mkdir(exist_ok=True)
    paths = {"index": "/", "event": f"/event/{by_type['event'].id}"}
    paths["transaction"] = f"/event/{by_type['transaction'].id}"
    for width in (1280, 390):
        for scheme in ("light", "dark"):
            page = open_page(
                browser, viewport={"width": width, "height": 900}, color_scheme=scheme
            )
            try:
                for name, path in paths.items():
                    page.goto(kent_server.url + path)
                    shot = OUTPUT / f"ui_{name}_{width}_{scheme}.png"
                    page.screenshot(path=shot, full_page=True)
                    wide = page.evaluate("document.documentElement.scrollWidth")
                    assert wide <= width, f"{name} is {wide} px wide at {width}"
                    assert_nothing_ran(page)
            finally:
                page.context.close()


LONG = "https://shop.example/checkout?token=" + "a1B2c3D4" * 58  # 500+ characters
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def long_values_items():
    """An event, a transaction and a log with a long unbroken value everywhere."""
    frame = {"filename": "app.py", "function": "buy", "lineno": 3, "in_app": True}
    frame.update(context_line="go(" + LONG + ")", vars={"url": LONG, LONG: 1})
    event = {
        "level": "info",
        "message": "long values",
        "timestamp": 1.7e9 + 0.3,
        "exception": {
            "values": [
                {"type": "ValueError", "value": LONG, "stacktrace": {"frames": [frame]}}
            ]
        },
        "breadcrumbs": [{"category": LONG, "message": LONG, "data": {"url": LONG}}],
        "tags": {"url": LONG, LONG: "x"},
        "contexts": {
            "trace": {"trace_id": TRACE, "span_id": "b" * 16},
            "x": {"u": LONG},
        },
        "request": {"url": LONG, "headers": {"Referer": LONG}, "query_string": LONG},
        "user": {"id": LONG},
        "extra": {"sql": "SELECT " + "x," * 250},
        "sdk": {"name": "sentry.python", "integrations": [LONG] * 3},
    }
    transaction = {
        "type": "transaction",
        "transaction": LONG,
        "start_timestamp": 1.7e9,
        "timestamp": 1.7e9 + 0.5,
        "contexts": {"trace": {"trace_id": TRACE, "span_id": "a" * 16}},
        "spans": [
            {
                "span_id": "c" * 16,
                "parent_span_id": "a" * 16,
                "op": LONG,
                "description": LONG,
                "start_timestamp": 1.7e9 + 0.1,
                "timestamp": 1.7e9 + 0.2,
                "data": {"http.url": LONG},
            }
        ],
    }
    record = {
        "timestamp": 1.7e9 + 0.4,
        "level": "warn",
        "body": LONG,
        "trace_id": TRACE,
    }
    record["attributes"] = {"url": {"value": LONG, "type": "string"}}
    log = {"items": [record]}
    return [
        ({"type": "event"}, event),
        ({"type": "transaction"}, transaction),
        ({"type": "log", "item_count": 1}, log),
    ]


def overflow(page):
    """How far the worst table or block sticks out (0 when none), and which."""
    return page.evaluate(
        """() => {
      const limit = document.documentElement.clientWidth;
      let worst = [document.documentElement.scrollWidth - limit, "page"];
      for (const el of document.querySelectorAll("main table, main pre, main .box")) {
        const box = el.getBoundingClientRect();
        const out = Math.max(box.right - limit, el.scrollWidth - el.clientWidth - 1);
        if (out > worst[0]) worst = [out, el.tagName + "." + el.className];
      }
      return worst;
    }"""
    )


def screenshots(browser, url, name, check):
    """Open ``url`` at both widths and colour schemes, save and ``check`` each."""
    OUTPUT.mkdir(exist_ok=True)
    for width in (1280, 390):
        for scheme in ("light", "dark"):
            page = open_page(
                browser, viewport={"width": width, "height": 800}, color_scheme=scheme
            )
            try:
                page.goto(url)
                page.screenshot(
                    path=OUTPUT / f"{name}_{width}_{scheme}.png", full_page=True
                )
                check(page, width)
                assert_nothing_ran(page)
            finally:
                page.context.close()


def test_long_values_wrap_inside_the_viewport(browser, kent_server):
    for item in long_values_items():
        post_envelope(kent_server.url, envelope(item))
    events = kent_server.wait_for(3, timeout=10)

    def check(page, width):
        out, where = overflow(page)
        assert out <= 0, f"{where} of {page.url} sticks out {out} px at {width} px"

    for event in events:
        url = f"{kent_server.url}/event/{event.id}"
        screenshots(browser, url, f"long_{event.type}", check)


def pii_event():
    """An error as sentry-python sends it with send_default_pii: 12 findings."""
    frame = {"filename": "shop/views.py", "function": "checkout", "lineno": 114}
    frame.update(
        in_app=True,
        pre_context=["def checkout(request):", "    card = request.POST['card']"],
        context_line="    charge(card, CANARY_7f3e)",
        post_context=["    return ok()"],
        vars={
            "email": "ann@shop.example",
            "password": "hunter2hunter2",
            "card": "4111 1111 1111 1111",
        },
    )
    headers = {
        "Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abcdefghij",
        "Cookie": "sessionid=abcdef0123456789abcdef",
        "X-Forwarded-For": "198.51.100.23",
        "X-Api-Key": "ak_live_51HqLyjWDarjtT1zdp7dc",
    }
    request = {"url": "https://shop.example/checkout?token=s3cr3tT0kenValue99"}
    request.update(method="POST", headers=headers, env={"REMOTE_ADDR": "198.51.100.4"})
    request["cookies"] = {"sessionid": "abcdef0123456789abcdef"}
    raised = {"type": "ValueError", "value": "no price for teapot"}
    raised.update(mechanism={"type": "django", "handled": False})
    raised["stacktrace"] = {"frames": [frame]}
    return {
        "level": "error",
        "environment": "dev",
        "release": "shop@1",
        "exception": {"values": [{"type": "KeyError", "value": "'price'"}, raised]},
        "user": {"email": "ann@shop.example", "ip_address": "203.0.113.7"},
        "request": request,
        "breadcrumbs": [
            {"category": "query", "message": f"step {n}"} for n in range(8)
        ],
    }


def test_exception_comes_first_with_a_leak_summary_line(browser, kent_server):
    kent_server.add_canary("CANARY_7f3e")  # a 13th, inside a source line
    post_envelope(kent_server.url, envelope(({"type": "event"}, pii_event())))
    (event,) = kent_server.wait_for(1, timeout=10)
    assert kent_server.leaks()["count"] == 13
    tops = {}

    def check(page, width):
        exception = page.locator("div.exc").first.bounding_box()
        tops[width] = exception["y"]
        line = page.locator(".leak-line")
        assert line.bounding_box()["y"] < exception["y"]
        assert "13 leaks" in line.inner_text() and "3 email" not in line.inner_text()
        assert page.locator("#kent-leaks").bounding_box()["y"] > exception["y"]
        assert page.locator("div.exc .leak").count() >= 3  # marks stay in place
        # every source line keeps its number, the marked one too
        numbers = page.locator(".ctx > span > .ln").all_inner_texts()
        assert numbers == ["112", "113", "114", "115"]
        assert "CANARY_7f3e" in page.locator(".ctx > span.cur").inner_text()

    screenshots(browser, f"{kent_server.url}/event/{event.id}", "leaks_event", check)
    assert tops[1280] < 700, tops


CARET_AT = """() => {
  // the left edge of the caret and of the character it points at
  const text = (span) => span.querySelector(".ln").nextSibling;
  const caret = text(document.querySelector(".snippet .caret"));
  const line = text(document.querySelector(".snippet .cur"));
  const column = caret.textContent.indexOf("^");
  const left = (node, at) => {
    const range = document.createRange();
    range.setStart(node, at);
    range.setEnd(node, at + 1);
    return range.getBoundingClientRect().left;
  };
  return [column, line.textContent[column], left(caret, column), left(line, column)];
}"""


def test_a_refused_request_shows_where_it_broke(browser, kent_server):
    bad = b'{"message":"oops","level": }'
    item = envelope(({"type": "event"}, bad))
    status, _, answer = post_envelope(kent_server.url, item)
    assert status == 400 and "line 1 column 28" in answer["detail"]
    headers = {"Content-Type": "application/json"}
    http_request(kent_server.url, "POST", "/api/1/store/", bad, headers)
    binary = envelope(({"type": "event"}, b"\x00\x9c\xffnot json\x01"))
    post_envelope(kent_server.url, binary)
    refused = kent_server.wait_for(3, timeout=10)

    def check_caret(page, width):
        column, char, caret_left, char_left = page.evaluate(CARET_AT)
        assert (column, char) == (27, "}")  # column 28, counted from 1
        assert abs(caret_left - char_left) < 1
        text = page.inner_text("main")
        assert text.count(refused_reason) == 1  # said once: the title
        assert "Where (line 1, column 28)" in text
        assert "^ Expecting value" in text
        assert "base64" not in text.split("Details")[0]

    for event, name in zip(refused[:2], ("refused_item", "refused_store"), strict=True):
        refused_reason = event.error
        url = f"{kent_server.url}/event/{event.id}"
        screenshots(browser, url, name, check_caret)

    def check_hex(page, width):
        hexdump = page.inner_text("pre.hex")
        assert "00 9c ff 6e 6f 74 20 6a" in hexdump and "...not j" in hexdump

    url = f"{kent_server.url}/event/{refused[2].id}"
    screenshots(browser, url, "refused_binary", check_hex)


def check_in(status):
    body = {"check_in_id": "c" * 32, "monitor_slug": "nightly", "status": status}
    return envelope(({"type": "check_in"}, body))


def test_related_items_link_to_each_other(browser, kent_server):
    for item in long_values_items():
        post_envelope(kent_server.url, envelope(item))
    post_envelope(kent_server.url, check_in("in_progress"))
    post_envelope(kent_server.url, check_in("ok"))
    stored = kent_server.wait_for(5, timeout=10)
    page = open_page(browser, viewport={"width": 1280, "height": 800})
    try:
        page.goto(f"{kent_server.url}/event/1")  # the console's #1
        assert page.inner_text("h1").startswith("ValueError: https:")
        page.locator("a.trace").first.click()
        page.wait_for_url(f"**/trace/{TRACE}")
        types = page.locator(".trace-items tbody tr td:nth-child(2)").all_inner_texts()
        assert types == ["transaction", "event", "log"]  # by the SDK's time
        page.goto(f"{kent_server.url}/event/5")
        page.locator("#kent-related + ul a").click()
        page.wait_for_url(f"**/event/{stored[3].id}")
        assert "in_progress" in page.inner_text("h1")
        page.select_option("#kent-diff select", stored[4].id)  # no pasted UUID
        page.locator("#kent-diff button").click()
        page.wait_for_url(f"**/diff/{stored[3].id}/{stored[4].id}")
        assert "in_progress" in page.inner_text("main")
        page.goto(f"{kent_server.url}/diff/4/5")
        assert "Changed (1)" in page.inner_text("main")
        response = page.goto(f"{kent_server.url}/event/404404")
        assert response.status == 404
        assert "Event 404404 not found" in page.inner_text("main")
        page.locator("main a", has_text="All events").click()
        page.wait_for_url(kent_server.url + "/")
        assert_nothing_ran(page)
    finally:
        page.context.close()
    url = f"{kent_server.url}/trace/{TRACE}"
    screenshots(browser, url, "trace", lambda page, width: None)

    def diff_labels(page, width):
        label = page.evaluate(
            """() => getComputedStyle(
                document.querySelector(".diff td[data-label]"), "::before").content"""
        )
        assert label == ('"Old: "' if width == 390 else "none")  # headers on laptops

    screenshots(browser, f"{kent_server.url}/diff/4/5", "diff", diff_labels)


def test_live_index_follows_flushes_new_projects_and_levels(page, kent_server):
    page.goto(kent_server.url + "/")
    page.evaluate("window.__same_page = true")
    hello = envelope(({"type": "event"}, {"message": "hello", "level": "info"}))
    post_envelope(kent_server.url, hello)
    boom = envelope(({"type": "event"}, {"message": "boom", "level": "error"}))
    post_envelope(kent_server.url, boom, project=9)
    row = page.locator("#kent-rows tr", has_text="boom")
    row.wait_for(timeout=20000)
    assert row.locator("td.level").inner_text() == "error"
    assert "bad" in row.locator("td.level .badge").get_attribute("class")
    hello_row = page.locator("#kent-rows tr", has_text="hello")
    assert hello_row.locator("td.level").inner_text() == "info"
    dsn = page.locator('.dsns tr[data-project="9"] code')
    dsn.wait_for(timeout=20000)
    assert dsn.inner_text() == kent_server.dsn(9, key=kent_server.kent.dsn_key)
    status, _, _ = http_request(kent_server.url, "POST", "/api/flush/?project=9")
    assert status == 200
    row.wait_for(state="detached", timeout=20000)
    assert hello_row.count() == 1
    page.locator("#kent-kept", has_text="1").wait_for(timeout=20000)
    _, value = get_json(kent_server.url, "/api/status/")
    assert page.inner_text("#kent-received") == str(value["received"]) == "2"
    assert page.evaluate("window.__same_page") is True  # no reload happened
    assert page.evaluate("window.__violations") == []


def log_records(count=5):
    sdk = {f"sentry.{n}": {"value": n, "type": "string"} for n in ("sdk.name", "env")}
    sdk.update({f"process.{n}": {"value": 4242, "type": "integer"} for n in "ab"})
    records = []
    for n in range(count):
        attributes = dict(sdk, **{"order.id": {"value": f"A-{n}", "type": "string"}})
        record = {"timestamp": 1.7e9 + n, "level": "error", "body": f"paid {n}"}
        records.append(dict(record, trace_id=TRACE, attributes=attributes))
    return {"items": records}


def test_logs_fold_sdk_attributes_and_spans_open_their_data(browser, kent_server):
    post_envelope(kent_server.url, envelope(({"type": "log"}, log_records())))
    transaction = long_values_items()[1]
    post_envelope(kent_server.url, envelope(transaction))
    log, trace = kent_server.wait_for(2, timeout=10)

    def check_log(page, width):
        records = page.locator("table.records")
        assert records.locator("td .badge.bad", has_text="error").count() == 5
        assert page.locator("text=order.id").first.is_visible()
        assert not page.locator("text=sentry.sdk.name").first.is_visible()
        assert page.locator("details.attrs summary").first.inner_text() == (
            "4 SDK attributes"
        )
        box = records.bounding_box()  # no sideways scroller on a phone either
        assert box["width"] <= width
        assert overflow(page)[0] <= 0, (width, overflow(page))

    screenshots(browser, f"{kent_server.url}/event/{log.id}", "logs", check_log)
    page = open_page(browser, viewport={"width": 1280, "height": 800})
    try:
        page.goto(f"{kent_server.url}/event/{trace.id}")
        data = page.locator(".wf details table")
        assert not data.is_visible()
        page.locator(".wf details summary").click()
        assert "http.url" in data.inner_text() and LONG in data.inner_text()
    finally:
        page.context.close()
