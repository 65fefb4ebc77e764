"""The HTML pages as pure functions: every item type renders, nothing escapes.

A hostile payload puts markup, script and ``javascript:`` URLs in every
string field (and key) of every item type; the rendered markup is parsed and
must contain only Kent's own tags, attributes and links.
"""

import base64
import html.parser
import re

import pytest
from helpers import EVENT_ID, envelope

import kent

HOSTILE = (
    '"\'><img src=x onerror="window.__pwned=1"><script>window.__pwned=1</script>'
    '</script><a href="javascript:alert(1)">x</a>&amp;javascript:alert(1)'
)
H = HOSTILE
NONCE = "n0nce"
TRACE_ID = "771a43a4192642f0b136d5159a501700"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def hostile_event():
    frame = {
        "filename": H,
        "function": H,
        "module": H,
        "lineno": 7,
        "colno": 3,
        "pre_context": [H, "before()"],
        "context_line": H,
        "post_context": ["after()", H],
        "in_app": True,
        "vars": {H: H, "n": 21},
    }
    return {
        "event_id": EVENT_ID,
        "level": H,
        "environment": H,
        "release": H,
        "platform": H,
        "server_name": H,
        "transaction": H,
        "logger": H,
        "timestamp": H,
        "logentry": {"formatted": H, "params": [H]},
        "sdk": {"name": H, "version": H, "integrations": [H]},
        "exception": {
            "values": [
                {"type": H, "value": H, "module": H},
                {
                    "type": H,
                    "value": H,
                    "mechanism": {"type": H, "handled": False},
                    "stacktrace": {"frames": [dict(frame, in_app=False), frame]},
                },
            ]
        },
        "threads": {
            "values": [{"id": H, "name": H, "stacktrace": {"frames": [frame]}}]
        },
        "breadcrumbs": {
            "values": [
                {
                    "timestamp": H,
                    "category": H,
                    "type": H,
                    "level": H,
                    "message": H,
                    "data": {H: H, "url": "javascript:alert(1)"},
                }
            ]
        },
        "tags": {H: H},
        "contexts": {H: {H: H}, "trace": {"trace_id": TRACE_ID, "op": H}},
        "user": {"id": H, "email": H, "ip_address": H, H: H},
        "request": {
            "url": "javascript:alert(1)//" + H,
            "method": H,
            "query_string": [[H, H]],
            "headers": {H: H, "Referer": "http://evil.example/" + H},
            "cookies": H,
            "data": {H: [H]},
            "env": {H: H},
            H: H,
        },
        "extra": {H: {H: H}},
        "fingerprint": [H],
    }


def hostile_items():
    """``(item_header, payload)`` pairs: one envelope each, every type."""
    span_attrs = {"sentry.op": {"value": H, "type": "string"}, H: {"value": H}}
    return [
        ({"type": "event"}, hostile_event()),
        (
            {"type": "transaction"},
            {
                "type": "transaction",
                "transaction": H,
                "start_timestamp": 1700000000.0,
                "timestamp": 1700000000.5,
                "contexts": {"trace": {"trace_id": TRACE_ID, "span_id": "a" * 16}},
                "spans": [
                    {
                        "span_id": "b" * 16,
                        "parent_span_id": "a" * 16,
                        "op": H,
                        "description": H,
                        "status": H,
                        "start_timestamp": 1700000000.1,
                        "timestamp": 1700000000.3,
                    }
                ],
                "breadcrumbs": [{"message": H}],
            },
        ),
        (
            {"type": "span", "item_count": 1},
            {
                "version": 2,
                "items": [
                    {
                        "trace_id": TRACE_ID,
                        "span_id": "c" * 16,
                        "name": H,
                        "status": H,
                        "start_timestamp": 1700000000.0,
                        "end_timestamp": H,
                        "attributes": span_attrs,
                    }
                ],
            },
        ),
        (
            {"type": "log", "item_count": 1},
            {
                "items": [
                    {"timestamp": H, "level": H, "body": H, "attributes": span_attrs}
                ]
            },
        ),
        (
            {"type": "trace_metric", "item_count": 1},
            {"items": [{"name": H, "type": H, "value": H, "unit": H}]},
        ),
        (
            {"type": "session"},
            {"sid": H, "status": H, "errors": H, "attrs": {"release": H, H: H}},
        ),
        ({"type": "sessions"}, {"aggregates": [{"started": H, H: H}], "attrs": {H: H}}),
        ({"type": "check_in"}, {"check_in_id": H, "monitor_slug": H, "status": H}),
        (
            {"type": "client_report"},
            {
                "timestamp": H,
                "discarded_events": [{"reason": H, "category": H, "quantity": H}],
            },
        ),
        (
            {"type": "raw_security"},
            {
                "csp-report": {
                    "effective-directive": H,
                    "blocked-uri": "javascript:alert(1)" + H,
                    "document-uri": H,
                }
            },
        ),
        (
            {"type": "feedback"},
            {"contexts": {"feedback": {"message": H, "contact_email": H}}},
        ),
        ({"type": "user_report"}, {"event_id": EVENT_ID, "comments": H, "name": H}),
        ({"type": "replay_event"}, {"replay_id": H, "urls": [H]}),
        (
            {
                "type": "attachment",
                "filename": H,
                "content_type": "text/html",
                "attachment_type": H,
            },
            H.encode(),
        ),
        (
            {
                "type": "attachment",
                "filename": "x.svg",
                "content_type": "image/svg+xml",
            },
            f"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'>{H}</svg>".encode(),
        ),
        (
            {
                "type": "attachment",
                "filename": "b.bin",
                "content_type": 'image/png"' + H,
            },
            b"\x00\x01" + H.encode(),
        ),
        ({"type": H}, {H: H}),
    ]


def stored_events(items, project=1, header=None):
    """Items as Kent stores them: one request, seq and ids assigned."""
    store = kent.EventStore()
    for item in items:
        data = envelope(
            item, header=header or {"event_id": EVENT_ID, "sdk": {"name": H}}
        )
        envelope_header, parsed, warnings = kent.parse_envelope(data)
        request = {"id": f"r{len(store.snapshot())}", "headers": {H: H}, "path": H}
        store.add(
            [
                kent.StoredEvent(project, i, request, {"sentry_key": H}, warnings)
                for i in parsed
            ]
        )
    return store


def kent_error_event(data, reason):
    item = kent.ParsedItem("kent_error", None, {"type": "kent_error"}, data)
    item.body, item.binary, item.error = data, True, reason
    event = kent.StoredEvent(3, item, {"id": "bad"}, {})
    event.status = 400
    kent.EventStore().add([event])
    return event


class SafeMarkup(html.parser.HTMLParser):
    """Collects text and fails on any tag, attribute or URL Kent does not make."""

    TAGS = frozenset(
        [
            "html",
            "head",
            "meta",
            "title",
            "style",
            "body",
            "header",
            "nav",
            "main",
            "footer",
            "a",
            "h1",
            "h2",
            "h3",
            "p",
            "div",
            "span",
            "strong",
            "table",
            "thead",
            "tbody",
            "tr",
            "th",
            "td",
            "code",
            "pre",
            "ul",
            "li",
            "dl",
            "dt",
            "dd",
            "details",
            "summary",
            "form",
            "input",
            "button",
            "select",
            "option",
            "label",
            "svg",
            "rect",
            "img",
            "br",
            "script",
        ]
    )
    ATTRS = frozenset(
        [
            "lang",
            "charset",
            "name",
            "content",
            "href",
            "class",
            "id",
            "title",
            "nonce",
            "method",
            "action",
            "type",
            "value",
            "selected",
            "colspan",
            "open",
            "download",
            "viewbox",
            "preserveaspectratio",
            "aria-hidden",
            "x",
            "y",
            "width",
            "height",
            "rx",
            "alt",
            "src",
            "data-seq",
            "data-cursor",
            "data-generation",
            "data-project",
            "data-label",
        ]
    )

    def __init__(self, nonce):
        super().__init__(convert_charrefs=True)
        self.nonce, self.text, self.scripts = nonce, [], 0

    def handle_starttag(self, tag, attrs):
        assert tag in self.TAGS, f"unexpected tag <{tag}>"
        for name, value in attrs:
            assert name in self.ATTRS, f"unexpected attribute {name}= on <{tag}>"
            if name == "href":
                assert re.fullmatch(r"/[\w/.\-]*|#[\w-]+", value), f"link to {value!r}"
            if name == "src":
                assert re.match(r"data:image/(png|jpeg|gif|webp);base64,", value)
            if name == "action":
                assert value in ("/", "/flush", "/faults/clear", "/search", "/diff/")
        if tag in ("script", "style"):
            assert dict(attrs).get("nonce") == self.nonce
            self.scripts += tag == "script"

    def handle_data(self, data):
        self.text.append(data)


def check_page(page, nonce=NONCE):
    """Parse a page; returns its text. Fails on anything Kent did not write."""
    parser = SafeMarkup(nonce)
    parser.feed(page)
    parser.close()
    assert "innerHTML" not in page
    return "".join(parser.text)


def render(event, siblings=()):
    return kent.render_event(event, list(siblings), NONCE)


@pytest.mark.parametrize("item", hostile_items(), ids=lambda i: str(i[0]["type"])[:12])
def test_event_page_escapes_every_field(item):
    store = stored_events([item])
    [event] = store.snapshot()
    page = render(event)
    text = check_page(page)
    assert H in text  # shown literally, at least once
    assert "<script" not in page.replace('<script nonce="n0nce">', "")


def test_index_escapes_every_item_and_keeps_script_nonced():
    store = stored_events(hostile_items())
    events = store.snapshot() + [kent_error_event(H.encode(), "400 " + H)]
    page = kent.render_index(events, store.stats(), "http://127.0.0.1:5000", NONCE)
    text = check_page(page)
    assert text.count(H) >= len(events) - 2  # every summary holding the payload
    assert page.count("<script") == 1


def test_index_lists_newest_first_with_dsns_counts_and_flush_forms():
    store = stored_events([({"type": "event"}, {"message": "first"})], project=1)
    store2 = stored_events([({"type": "event"}, {"message": "second"})], project=7)
    events = store.snapshot() + store2.snapshot()
    events[1].seq = 2
    stats = {"kept": 2, "dropped": 5, "received": 7, "max_events": 100}
    stats["max_bytes"] = 200 * 1024
    page = kent.render_index(events, stats, "http://127.0.0.1:5000", NONCE)
    text = check_page(page)
    assert text.index("second") < text.index("first")
    assert "http://public@127.0.0.1:5000/1" in text
    assert "http://public@127.0.0.1:5000/7" in text
    assert re.search(
        r"2\s+kept,\s+5\s+dropped by the limits \(100 items,\s+200 KiB\)",
        " ".join(text.split()),
    )
    assert '<input type="hidden" name="project" value="7">' in page
    assert 'data-cursor="2"' in page
    for event in events:  # each row links its event page and its JSON
        assert f'href="/event/{event.id}"' in page
        assert f'href="/api/event/{event.id}">JSON</a>' in page


def test_index_filters_by_project_and_type():
    items = [({"type": "event"}, {"message": "an error"})]
    items.append(({"type": "session"}, {"sid": "s", "status": "ok"}))
    events = stored_events(items, project=2).snapshot()
    events += stored_events([({"type": "event"}, {"message": "other"})], 5).snapshot()
    stats = kent.EventStore().stats()
    page = kent.render_index(
        events, stats, "http://h", NONCE, project="2", type="event"
    )
    rows = page.split('id="kent-rows"')[1]
    assert "an error" in rows
    assert "other" not in rows
    assert "session" not in rows
    assert '<option value="2" selected>2</option>' in page
    assert '<option value="session">session</option>' in page
    assert 'href="/">Clear filter' in page
    empty = kent.render_index(events, stats, "http://h", NONCE, type="check_in")
    assert "No events match this filter." in empty


def test_index_marks_warnings_rejected_items_and_empty_store():
    [event] = stored_events([({"type": "event"}, {"message": "hi"})]).snapshot()
    event.warnings = [
        {"code": "crlf", "message": "m"},
        {"code": "no-auth", "message": "m"},
    ]
    bad = kent_error_event(b"\x00garbage", "400 envelope header is not JSON")
    page = kent.render_index([event, bad], kent.EventStore().stats(), "http://h", NONCE)
    assert '<span class="badge warn" title="crlf, no-auth">2 warnings</span>' in page
    assert '<span class="badge bad">400</span>' in page
    assert "400 envelope header is not JSON" in check_page(page)
    nothing = kent.render_index([], kent.EventStore().stats(), "http://h", NONCE)
    assert "No events yet." in check_page(nothing)


def exception_event():
    frames = [
        {"filename": "lib.py", "function": "helper", "in_app": False, "lineno": 1},
        {
            "filename": "app.py",
            "function": "checkout",
            "lineno": 12,
            "pre_context": ["def checkout():", "    total = 1"],
            "context_line": "    raise ValueError('no')",
            "post_context": ["", "# end"],
            "in_app": True,
            "vars": {"total": 1, "basket": ["teapot"]},
        },
    ]
    body = {
        "level": "error",
        "environment": "staging",
        "release": "shop@2",
        "sdk": {
            "name": "sentry.python",
            "version": "2.75.0",
            "integrations": ["logging"],
        },
        "exception": {
            "values": [
                {"type": "KeyError", "value": "'teapot'"},
                {"type": "ValueError", "value": "no", "stacktrace": {"frames": frames}},
            ]
        },
        "breadcrumbs": {
            "values": [
                {"timestamp": 1700000000.25, "category": "cart", "message": "added"}
            ]
        },
        "request": {
            "url": "https://shop.example/buy",
            "method": "POST",
            "cookies": "a=b",
        },
        "tags": [["shop", "kent"]],
        "user": {"email": "a@b.example"},
    }
    return stored_events([({"type": "event"}, body)]).snapshot()[0]


def test_event_page_shows_header_chain_frames_and_breadcrumbs():
    event = exception_event()
    page = render(event)
    text = " ".join(check_page(page).split())
    for expected in (
        "staging",
        "shop@2",
        "sentry.python 2.75.0",
        "logging",
        "(2 chained)",
    ):
        assert expected in text
    assert text.index("ValueError") < text.index("caused by") < text.index("KeyError")
    assert text.index("checkout") < text.index("helper")  # most recent call first
    assert '<details class="frame app" open>' in page
    assert '<span class="cur"><span class="ln">12</span>' in page
    assert '<span class="ln">10</span>def checkout():' in page
    assert "basket" in text
    assert "2023-11-14T22:13:20.250Z" in text
    assert "https://shop.example/buy" in text
    assert 'href="https' not in page  # payload URLs stay text
    assert f'href="/api/event/{event.id}/raw"' in page


def test_event_page_links_siblings_and_lists_warnings():
    store = stored_events([({"type": "event"}, {"message": "hi"})])
    [event] = store.snapshot()
    attachment = stored_events([({"type": "attachment", "filename": "a.txt"}, b"x")])
    [other] = attachment.snapshot()
    event.warnings = [
        {"code": "crlf", "message": "CRLF after header", "relay_status": 400}
    ]
    page = render(event, [other])
    assert f'<a href="/event/{other.id}">' in page
    text = check_page(page)
    assert "CRLF after header" in text
    assert "Relay: 400" in text


def test_transaction_renders_a_waterfall_with_server_side_widths():
    [event] = stored_events([hostile_items()[1]]).snapshot()
    page = render(event)
    check_page(page)
    bars = re.findall(r'<rect x="([\d.]+)" y="1" width="([\d.]+)"', page)
    assert bars == [("0.0", "1000.0"), ("200.0", "400.0")]
    assert 'class="name d1"' in page
    assert "200.0 ms" in page
    assert "style=" not in page


def test_span_container_log_and_metric_records():
    span, log, metric = (stored_events([i]).snapshot()[0] for i in hostile_items()[2:5])
    assert "Spans (1)" in check_page(render(span))  # no bar: end is not a time
    text = check_page(render(log))
    assert "Records (1)" in text
    assert "sentry.op" in text
    assert "Records (1)" in check_page(render(metric))


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        (
            ({"type": "session"}, {"status": "crashed", "attrs": {"release": "r@1"}}),
            "attrs.release",
        ),
        (
            ({"type": "check_in"}, {"monitor_slug": "nightly", "status": "error"}),
            "nightly",
        ),
        (
            ({"type": "sessions"}, {"aggregates": [{"started": "t", "errored": 3}]}),
            "errored",
        ),
        (
            (
                {"type": "client_report"},
                {
                    "discarded_events": [
                        {"reason": "queue_overflow", "category": "error", "quantity": 4}
                    ]
                },
            ),
            "queue_overflow",
        ),
        (
            (
                {"type": "raw_security"},
                {
                    "csp-report": {
                        "effective-directive": "img-src",
                        "blocked-uri": "https://x.example/a.png",
                    }
                },
            ),
            "Directiveimg-src",
        ),
    ],
)
def test_status_like_items_show_their_fields(item, expected):
    [event] = stored_events([item]).snapshot()
    text = " ".join(check_page(render(event)).split())
    assert expected in text


def test_attachments_preview_text_image_and_binary():
    text_item = (
        {"type": "attachment", "filename": "log.txt", "content_type": "text/plain"},
        b"line <1>\n" * 1000,
    )
    png_item = (
        {"type": "attachment", "filename": "a.png", "content_type": "image/png"},
        PNG,
    )
    bin_item = ({"type": "attachment", "filename": "core"}, bytes(range(256)))
    text_event, png_event, bin_event = (
        stored_events([i]).snapshot()[0] for i in (text_item, png_item, bin_item)
    )
    page = render(text_event)
    check_page(page)
    assert "line &lt;1&gt;" in page
    assert "First 4096 of 9000 bytes." in page
    assert 'download="log.txt"' in page
    png = render(png_event)
    check_page(png)
    assert 'src="data:image/png;base64,' + base64.b64encode(PNG).decode() in png
    binary = check_page(render(bin_event))
    assert "00000000  00 01 02 03" in binary
    assert "Size256 bytes" in binary


def test_kent_error_shows_reason_and_hex_preview():
    event = kent_error_event(
        b'{"event_id":\x00<b>oops', "400 envelope header: bad JSON at byte 13"
    )
    text = check_page(render(event))
    assert "400 envelope header: bad JSON at byte 13" in text
    assert "00000000  7b 22 65 76 65 6e 74 5f" in text
    assert '{"event_id":.<b>' in text


def test_index_lists_fault_rules_readably_with_a_clear_form():
    rules = [
        kent.parse_fault({"status": 429, "project": H, "retry_after": 60}),
        kent.parse_fault("status=503&category=error,transaction&count=2"),
        kent.parse_fault("delay=5&endpoint=envelope&duration=30"),
        kent.parse_fault("action=drop"),
    ]
    extra = [
        {"id": 3, "hits": 2, "active": True},
        {"id": 4, "hits": 2, "active": False, "remaining": 0},
        {"id": 5, "hits": 0, "active": True, "seconds_left": 12.5},
        {"id": 6, "hits": 1, "active": True},
    ]
    rules = [dict(r, **more) for r, more in zip(rules, extra, strict=True)]
    page = kent.render_index([], kent.EventStore().stats(), "http://h", NONCE, rules)
    text = " ".join(check_page(page).split())
    assert "3 of 4 fault rules active" in text
    assert f"rule 3: answer 429 (Retry-After: 60) to project {H}; 2 hits" in text
    assert (
        "rule 4 (used up): answer 503 to category error, transaction; "
        "2 hits, 0 of 2 left"
    ) in text
    assert (
        "rule 5: wait 5 s, then answer as usual to endpoint envelope; "
        "0 hits, 12.5 s left"
    ) in text
    assert "rule 6: drop the connection to every ingest request; 1 hits" in text
    assert '<form class="inline" method="post" action="/faults/clear">' in page
