"""Who may read and change what: origins, Host (DNS rebinding), CSRF, console.

Ingestion is open to every origin (browser SDKs); the pages, the read API and
the control API answer Kent's own origin only. Over HTTP the headers are set
by hand; in Chromium a page on another origin (another loopback port) tries
what an attacker's page would.
"""

import json
import logging
import subprocess
import sys

import pytest
from helpers import (
    CLEAN_KEY,
    envelope,
    event_item,
    get_json,
    http_request,
    post_envelope,
    run_page,
)

import kent

FOREIGN = "http://attacker.example:3000"
SECRET = {"message": "login", "extra": {"password": "hunter2"}}


def stored_secret(server):
    status, _, _ = post_envelope(server.url, envelope(event_item(SECRET)))
    assert status == 200
    [event] = server.wait_for(1)
    return event


def state(server):
    """What a refused request must not have changed."""
    return (len(server.events()), server.faults, server.canaries)


# -- origins over HTTP --------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/api/eventlist/", "/api/event/{id}", "/event/{id}", "/", "/api/status/"]
)
@pytest.mark.parametrize(
    "headers",
    [{"Origin": FOREIGN}, {"Origin": "null"}, {"Sec-Fetch-Site": "cross-site"}],
)
def test_reads_from_another_origin_are_403_and_say_how_to_allow(
    kent_server, path, headers
):
    event = stored_secret(kent_server)
    path = path.format(id=event.id)
    status, answer, data = http_request(kent_server.url, "GET", path, headers=headers)
    assert status == 403 and b"hunter2" not in data
    assert "--allow-origin" in json.loads(data)["error"]
    assert "access-control-allow-origin" not in answer


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("POST", "/api/faults/", b'{"status": 503}'),
        ("POST", "/api/canaries/", b'{"canary": "hunter2"}'),
        ("DELETE", "/api/canaries/", b""),
        ("POST", "/api/flush/", b""),
        ("POST", "/flush", b""),
        ("DELETE", "/api/faults/", b""),
        ("POST", "/faults/clear", b""),
    ],
)
def test_text_plain_posts_from_another_origin_change_nothing(
    kent_server, method, path, body
):
    stored_secret(kent_server)
    kent_server.add_canary("canary-value")
    kent_server.add_fault("status=429&project=99")
    before = state(kent_server)
    for headers in ({"Origin": FOREIGN}, {"Sec-Fetch-Site": "cross-site"}):
        headers["Content-Type"] = "text/plain"
        status, _, data = http_request(kent_server.url, method, path, body, headers)
        assert status == 403, data
    assert state(kent_server) == before


def test_json_preflight_from_another_origin_is_not_permissive(kent_server):
    headers = {
        "Origin": FOREIGN,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    }
    for path in ("/api/canaries/", "/api/faults/", "/api/flush/", "/api/eventlist/"):
        status, answer, _ = http_request(kent_server.url, "OPTIONS", path, b"", headers)
        assert status == 403
        assert not any(k.startswith("access-control-") for k in answer)
    # ingestion keeps Relay's open preflight
    status, answer, _ = http_request(
        kent_server.url, "OPTIONS", "/api/1/envelope/", b"", headers
    )
    assert status == 200 and answer["access-control-allow-origin"] == "*"
    assert kent_server.canaries == [] and kent_server.faults == []


def test_ingestion_stays_open_to_every_origin_and_host(kent_server):
    headers = {"Origin": FOREIGN, "Host": "myhost.local:5000"}
    status, answer, value = post_envelope(
        kent_server.url, envelope(event_item({"message": "hi"})), headers=headers
    )
    assert status == 200 and answer["access-control-allow-origin"] == "*"
    assert answer["x-content-type-options"] == "nosniff"
    assert kent_server.wait_for(1)[0].summary == "hi"


def test_kents_own_origin_and_clients_without_origin_work(kent_server):
    own = {"Origin": kent_server.url, "Sec-Fetch-Site": "same-origin"}
    body = b'{"canary": "own-page-canary"}'
    status, answer, _ = http_request(
        kent_server.url, "POST", "/api/canaries/", body, own
    )
    assert status == 201 and "access-control-allow-origin" not in answer
    for host in ("localhost", "app.localhost:80", "[::1]:1", "127.1.2.3"):
        assert (
            get_json(kent_server.url, "/api/status/", headers={"Host": host})[0] == 200
        )
    # curl, the Python test API: no Origin at all
    assert http_request(kent_server.url, "POST", "/api/flush/")[0] == 200
    assert kent_server.canaries == ["own-page-canary"]


def test_a_link_followed_from_another_site_opens_a_page(kent_server):
    navigation = {
        "Sec-Fetch-Site": "cross-site",
        "Sec-Fetch-Mode": "navigate",
        "Sec-Fetch-Dest": "document",
    }
    status, answer, _ = http_request(kent_server.url, "GET", "/", headers=navigation)
    assert status == 200 and answer["x-frame-options"] == "DENY"
    assert answer["referrer-policy"] == "no-referrer"
    status, _, _ = http_request(
        kent_server.url, "POST", "/api/flush/", headers=navigation
    )
    assert status == 403


def test_allow_origin_lets_that_page_read_with_its_origin_not_star():
    with kent.KentServer(allow_origins=[FOREIGN + "/"]) as server:
        headers = {"Origin": FOREIGN, "Sec-Fetch-Site": "cross-site"}
        status, answer, _ = http_request(
            server.url, "GET", "/api/eventlist/", headers=headers
        )
        assert status == 200 and answer["access-control-allow-origin"] == FOREIGN
        headers["Access-Control-Request-Method"] = "POST"
        status, answer, _ = http_request(
            server.url, "OPTIONS", "/api/faults/", b"", headers
        )
        assert status == 200 and "POST" in answer["access-control-allow-methods"]
        other = {"Origin": "http://other.example"}
        assert http_request(server.url, "GET", "/", headers=other)[0] == 403


def test_allow_origin_refuses_what_is_not_an_origin():
    with pytest.raises(ValueError, match="not an origin"):
        kent.KentServer(allow_origins=["localhost:3000/app"])
    result = subprocess.run(
        [sys.executable, kent.__file__, "run", "--allow-origin", "nope"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0 and "--allow-origin" in result.stderr


# -- Host: DNS rebinding ------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/eventlist/", "/", "/api/flush/"])
def test_rebinding_host_is_403_on_a_loopback_bind(kent_server, path):
    stored_secret(kent_server)
    method = "POST" if "flush" in path else "GET"
    headers = {"Host": f"rebind.test:{kent_server.port}"}
    status, _, data = http_request(kent_server.url, method, path, headers=headers)
    assert status == 403 and b"hunter2" not in data
    assert "--allow-host rebind.test" in json.loads(data)["error"]
    assert len(kent_server.events()) == 1


def test_allow_host_and_the_name_kent_was_started_with():
    with kent.KentServer(allow_hosts=["rebind.test"]) as server:
        headers = {"Host": f"rebind.test:{server.port}"}
        assert get_json(server.url, "/api/status/", headers=headers)[0] == 200
    with kent.KentServer(host="localhost") as server:
        headers = {"Host": f"localhost:{server.port}"}
        assert http_request(server.url, "GET", "/", headers=headers)[0] == 200


def test_host_check_is_off_on_a_non_loopback_bind_unless_hosts_are_named():
    with kent.KentServer(host="0.0.0.0") as server:
        url = f"http://127.0.0.1:{server.port}"
        status, value = get_json(url, "/api/status/", headers={"Host": "kent:5000"})
        assert status == 200 and value["dsn"].startswith("http://public@kent:5000/")
    with kent.KentServer(host="0.0.0.0", allow_hosts=["kent"]) as server:
        url = f"http://127.0.0.1:{server.port}"
        assert get_json(url, "/api/status/", headers={"Host": "kent:5000"})[0] == 200
        assert get_json(url, "/api/status/", headers={"Host": "evil:5000"})[0] == 403


@pytest.mark.parametrize(
    "headers",
    [
        {"Host": "a b"},
        {"Host": "x/y"},
        {"Host": "[::1"},
        {"Host": "x:123456"},
        {"Origin": "garbage"},
        {"Origin": "http://"},
        {"Origin": "http://[zz"},
        {"Origin": "http://a:99999999"},
        {"Origin": "\u00e9://x"},
    ],
)
def test_malformed_host_or_origin_is_400(kent_server, headers):
    headers = {k: v.encode("utf-8").decode("latin-1") for k, v in headers.items()}
    status, _, data = http_request(kent_server.url, "GET", "/api/status/", b"", headers)
    assert status == 400 and "malformed" in json.loads(data)["error"]


# -- headers and downloads ------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type, attached",
    [("text/html", True), ("image/svg+xml", True), ("text/plain", False)],
)
def test_raw_html_and_svg_are_downloads(kent_server, content_type, attached):
    item = (
        {"type": "attachment", "filename": "x", "content_type": content_type},
        b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>",
    )
    post_envelope(kent_server.url, envelope(item))
    [event] = kent_server.wait_for(1, type="attachment")
    _, answer, _ = http_request(kent_server.url, "GET", f"/api/event/{event.id}/raw")
    assert answer["content-type"] == content_type
    assert answer["content-security-policy"].startswith("sandbox")
    assert (answer.get("content-disposition") == "attachment") is attached
    assert answer["x-content-type-options"] == "nosniff"


# -- the console ---------------------------------------------------------------------


def test_terminal_escapes_in_a_payload_print_escaped(kent_server, caplog):
    caplog.set_level(logging.INFO, logger="kent")
    body = {
        "message": "\x1b]0;OWNED\x07\x1b[2J\x9b2J\u202e\u200f",
        "sdk": {"name": "evil\n[2026-01-01] INFO: #999 forged", "version": "1"},
    }
    # A Host with control characters never reaches the console: it is a 400.
    refused = {"Host": "h\x1b[31m:1"}
    status, _, _ = post_envelope(
        kent_server.url, envelope(event_item({})), headers=refused
    )
    assert status == 400
    # the link on the line is Kent's own address, never the sender's Host
    rebound = {"Host": "rebind.example:666"}
    post_envelope(kent_server.url, envelope(event_item(body)), headers=rebound)
    kent_server.wait_for(1)
    [line] = [r.getMessage() for r in caplog.records if "OWNED" in r.getMessage()]
    assert not any(c in line for c in "\x1b\x07\n\x9b\u202e\u200f")
    assert "\\x1b]0;OWNED\\x07\\x1b[2J\\x9b2J\\u202e\\u200f" in line
    assert "rebind.example" not in line and f"{kent_server.url}/event/" in line
    assert "evil\\n[2026-01-01] INFO: #999 forged" in line
    payload = kent.render_console_payload(kent_server.events()[0])
    assert "\x9b" not in payload and "\x1b" not in payload


# -- in Chromium: a page on another origin, and Kent's own page -------------------------

ATTACK = """async (kent) => {
  const out = {reads: {}, posts: {}};
  for (const path of kent.reads) {
    try { out.reads[path] = await (await fetch(kent.url + path)).text(); }
    catch (e) { out.reads[path] = "blocked"; }
  }
  for (const [method, path, body] of kent.posts) {
    try {
      const r = await fetch(kent.url + path, {method, body, mode: "no-cors",
        headers: {"Content-Type": "text/plain"}});
      out.posts[path] = r.type;
    } catch (e) { out.posts[path] = "blocked"; }
  }
  try {
    await fetch(kent.url + "/api/canaries/", {method: "POST",
      headers: {"Content-Type": "application/json"}, body: '{"canary": "abcdef"}'});
    out.json = "sent";
  } catch (e) { out.json = "blocked"; }
  return out;
}"""
POSTS = [
    ["POST", "/api/flush/", ""],
    ["POST", "/flush", ""],
    ["POST", "/api/faults/", '{"status": 503}'],
    ["POST", "/api/canaries/", '{"canary": "hunter2"}'],
    ["DELETE", "/api/canaries/", ""],
]


def test_page_on_another_origin_cannot_read_or_change_kent(
    kent_server,
    pages,
    plain_page,
):
    event = stored_secret(kent_server)
    kent_server.add_canary("canary-value")
    before = state(kent_server)
    plain_page.goto(f"{pages}/csp.html")
    reads = ["/api/eventlist/", f"/api/event/{event.id}", f"/event/{event.id}"]
    target = {"url": kent_server.url, "reads": reads, "posts": POSTS}
    out = plain_page.evaluate(ATTACK, target)
    assert out["reads"] == {path: "blocked" for path in reads}
    assert out["json"] == "blocked"  # its preflight was refused
    assert state(kent_server) == before
    # the same page's Sentry browser SDK still delivers, cross-origin
    result = run_page(
        plain_page, pages, dsn=kent_server.dsn(42, CLEAN_KEY), scenario="exception"
    )
    assert result["networkErrors"] == []
    kent_server.wait_for(1, type="event", project=42)


def test_allow_origin_lets_that_page_read(pages, plain_page):
    with kent.KentServer(allow_origins=[pages]) as server:
        event = stored_secret(server)
        plain_page.goto(f"{pages}/csp.html")
        target = {"url": server.url, "reads": [f"/api/event/{event.id}"], "posts": []}
        out = plain_page.evaluate(ATTACK, target)
        assert "hunter2" in out["reads"][f"/api/event/{event.id}"]
        assert server.canaries == ["abcdef"]  # its JSON preflight passed
        plain_page.goto("about:blank")  # end any request before the server stops


def test_kents_own_index_flushes_adds_and_live_updates(kent_server, plain_page):
    plain_page.goto(f"{kent_server.url}/")
    post_envelope(kent_server.url, envelope(event_item({"message": "live row"})))
    plain_page.locator("#kent-rows a", has_text="live row").wait_for(timeout=20000)
    added = plain_page.evaluate(
        """async () => [
          (await fetch("/api/canaries/", {method: "POST",
            headers: {"Content-Type": "application/json"},
            body: '{"canary": "from-the-page"}'})).status,
          (await fetch("/api/faults/", {method: "POST",
            body: "status=429&project=99"})).status,
          (await fetch("/api/eventlist/")).status,
        ]"""
    )
    assert added == [201, 201, 200]
    assert kent_server.canaries == ["from-the-page"] and len(kent_server.faults) == 1
    plain_page.locator("button", has_text="Flush all events").click()
    plain_page.wait_for_url(f"{kent_server.url}/")
    assert kent_server.events() == []
    plain_page.goto("about:blank")  # ends the long poll before kent_server stops


@pytest.mark.parametrize(
    "content_type",
    ["text/html", "text/plain\r\nSet-Cookie: a=b", "text/\u2603"],
)
def test_raw_download_never_serves_a_page_or_a_header_of_the_sender(
    kent_server, content_type
):
    body = b"<script>alert(1)</script>"
    item = {"type": "attachment", "filename": "x.html", "content_type": content_type}
    status, _, _ = post_envelope(kent_server.url, envelope((item, body)))
    assert status == 200
    [attachment] = kent_server.events(type="attachment")
    status, headers, data = http_request(
        kent_server.url, "GET", f"/api/event/{attachment.id}/raw"
    )
    assert status == 200 and data == body
    assert headers["content-type"] in ("text/html", "application/octet-stream")
    assert "sandbox" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert "set-cookie" not in headers
