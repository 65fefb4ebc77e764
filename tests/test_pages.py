"""The HTML pages as pure functions: every item type renders, nothing escapes.

A hostile payload puts markup, script and ``javascript:`` URLs in every
string field (and key) of every item type; the rendered markup is parsed and
must contain only Kent's own tags, attributes and links.
"""

import base64
import re

import pytest
from helpers import (
    EVENT_ID,
    NONCE,
    H,
    check_page,
    envelope,
    hostile_items,
)

import kent

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


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
