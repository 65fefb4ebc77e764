"""Search: which stored items hold a text, in a key or a value, and where (JSON
pointers); the pure function, then the API and the search page on what real
sentry-sdk apps sent."""

from helpers import (
    CANARY,
    api_get,
    get_json,
    page_of,
)

import kent


def test_search_finds_keys_and_values_case_insensitively():
    body = {
        "message": "Payment FAILED",
        "extra": {"failed_orders": [7, 1042]},
        "tags": {"retry": True},
    }
    assert kent.search_item(body, b"", False, "failed") == [
        "/message",
        "/extra/failed_orders",
    ]
    assert kent.search_item(body, b"", False, "1042") == ["/extra/failed_orders/1"]
    assert kent.search_item(body, b"", False, "nowhere") == []
    assert kent.search_item(body, b"", False, "") == []


def test_search_points_at_a_log_record_inside_its_container():
    records = [{"body": f"record {n}", "level": "info"} for n in range(5)]
    assert kent.search_item({"items": records}, b"", False, "RECORD 3") == [
        "/items/3/body"
    ]


def test_search_in_binary_and_text_bodies():
    raw = b"\x00\x01 core dump of worker-7 \xff"
    assert kent.search_item(raw, raw, True, "WORKER-7") == [""]
    assert kent.search_item(raw, raw, True, "worker-8") == []
    assert kent.search_item("metric:1|c", b"metric:1|c", False, "METRIC") == [""]


# -- the API and the page ----------------------------------------------------------


def test_search_finds_a_canary_in_a_log_and_an_attachment(sdk_server):
    value = api_get(sdk_server, f"/api/search/?q={CANARY.upper()}")
    found = {(e["type"], tuple(e["pointers"])) for e in value["events"]}
    assert found == {("log", ("/items/0/body",)), ("attachment", ("",))}
    assert value["q"] == CANARY.upper() and value["count"] == 2
    assert api_get(sdk_server, f"/api/search/?q={CANARY}&type=log")["count"] == 1
    status, value = get_json(sdk_server.url, "/api/search/")
    assert status == 400 and "q=" in value["error"]


def test_search_page_shows_pointers_and_the_index_has_a_search_box(sdk_server):
    _, text = page_of(sdk_server, f"/search?q={CANARY}")
    assert "/items/0/body" in text and "(whole payload)" in text
    assert "2 items" in text
    page, _ = page_of(sdk_server, "/")
    assert 'action="/search"' in page and 'name="q"' in page
    _, text = page_of(sdk_server, "/search?q=no-such-text-anywhere")
    assert "Nothing stored contains no-such-text-anywhere." in text
