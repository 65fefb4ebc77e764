"""The web UI in headless Chromium, against a real Kent and a real sentry-sdk.

Screenshots (laptop and phone, light and dark) go to tests/output/.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import envelope, http_request, launch_chromium, post_envelope
from test_pages import HOSTILE, hostile_items

APP = Path(__file__).parent / "apps" / "ui_app.py"
OUTPUT = Path(__file__).parent / "output"
# Runs before any page script: records CSP violations and a payload's effects.
WATCH = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__violations.push(e.violatedDirective + " " + e.blockedURI);
});
"""


@pytest.fixture(scope="module")
def browser():
    with launch_chromium("the web UI tests drive Debian's Chromium") as browser:
        yield browser


def open_page(browser, **options):
    """A page in a fresh context that records dialogs (alert, confirm)."""
    context = browser.new_context(**options)
    page = context.new_page()
    page.add_init_script(WATCH)
    page.dialogs = []
    page.on(
        "dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss())
    )
    return page


@pytest.fixture
def page(browser, kent_server):
    page = open_page(browser, viewport={"width": 1280, "height": 900})
    yield page
    page.context.close()  # before kent_server stops: ends the long poll


def run_app(server, scenario):
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
    run_app(kent_server, "exception")
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
    run_app(server, "transaction")
    run_app(server, "exception")
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
