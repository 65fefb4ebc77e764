"""Diff of two stored items: added, removed and changed JSON pointers, and the
SDK's ``_meta`` annotations apart from the data; the pure function, then the
API and the diff page on events before and after a ``before_send``."""

import urllib.parse

from helpers import (
    FRAME_VARS,
    SECRET,
    api_get,
    get_json,
    http_request,
    only_event,
    page_of,
)

import kent


def test_diff_lists_added_removed_and_changed_pointers():
    a = {"level": "error", "tags": {"a": "1", "gone": "x"}, "list": [1, 2, 3], "n": 1}
    b = {"level": "fatal", "tags": {"a": "1", "new": "y"}, "list": [1, 5], "n": True}
    assert kent.diff_bodies(a, b) == {
        "added": [{"pointer": "/tags/new", "value": "y"}],
        "removed": [
            {"pointer": "/tags/gone", "value": "x"},
            {"pointer": "/list/2", "value": 3},
        ],
        "changed": [
            {"pointer": "/level", "old": "error", "new": "fatal"},
            {"pointer": "/list/1", "old": 2, "new": 5},
            {"pointer": "/n", "old": 1, "new": True},
        ],
        "meta": [],
    }
    assert kent.diff_bodies(a, a) == {
        "added": [],
        "removed": [],
        "changed": [],
        "meta": [],
    }


def test_diff_reports_meta_annotations_apart_from_data():
    a = {
        "request": {"data": "", "headers": {"Cookie": "[Filtered]"}},
        "_meta": {
            "request": {
                "data": {"": {"rem": [["!config", "x"]]}},
                "headers": {"Cookie": {"": {"rem": [["!config", "s"]]}}},
            }
        },
    }
    b = {
        "request": {"data": "x" * 61, "headers": {"Cookie": "[Filtered]"}},
        "_meta": {
            "request": {
                "data": {"": {"len": 900, "rem": [["!limit", "x", 61, 64]]}},
                "headers": {"Cookie": {"": {"rem": [["!config", "s"]]}}},
            }
        },
    }
    diff = kent.diff_bodies(a, b)
    assert [c["pointer"] for c in diff["changed"]] == ["/request/data"]
    assert diff["added"] == diff["removed"] == []
    assert diff["meta"] == [
        {
            "pointer": "/request/data",
            "annotation": "removed by the SDK's configuration (!config)",
            "side": "a",
        },
        {
            "pointer": "/request/data",
            "annotation": "trimmed to 64 (was 900)",
            "side": "b",
        },
        {
            "pointer": "/request/headers/Cookie",
            "annotation": "filtered by the SDK's configuration (!config)",
            "side": "both",
        },
    ]


def test_diff_of_two_real_events_before_and_after_before_send(sdk_server):
    before = only_event(sdk_server, "pii", "event", "RuntimeError")
    after = only_event(sdk_server, "scrubbed", "event", "RuntimeError")
    diff = kent.diff_bodies(before.body, after.body)
    changed = {c["pointer"]: c["new"] for c in diff["changed"]}
    assert changed[f"{FRAME_VARS}/db_password"] == "[Filtered]"
    assert changed[f"{FRAME_VARS}/environ/HTTP_COOKIE"] == "[Filtered]"
    assert "/extra/note" in changed  # trimmed by max_value_length=64
    removed = {r["pointer"] for r in diff["removed"]}
    assert {
        "/user",
        "/request/env/REMOTE_ADDR",
        f"{FRAME_VARS}/environ/REMOTE_ADDR",
    } <= removed
    assert not any(c["pointer"].startswith("/_meta") for c in diff["changed"])
    assert {
        "pointer": "/extra/note",
        "annotation": "trimmed to 64 (was 2000)",
        "side": "b",
    } in diff["meta"]
    assert {
        "pointer": f"{FRAME_VARS}/password",
        "annotation": "filtered by the SDK's configuration (!config)",
        "side": "both",
    } in diff["meta"]


# -- the API and the page ----------------------------------------------------------


def test_diff_api_of_events_before_and_after_before_send(sdk_server):
    before, after = only_event(sdk_server, "pii"), only_event(sdk_server, "scrubbed")
    diff = api_get(sdk_server, f"/api/diff/{before.id}/{after.id}")
    assert (diff["a"]["event_id"], diff["b"]["event_id"]) == (before.id, after.id)
    changed = {c["pointer"]: c for c in diff["changed"]}
    db_password = changed[f"{FRAME_VARS}/db_password"]
    assert SECRET in db_password["old"] and db_password["new"] == "[Filtered]"
    assert "/user" in {r["pointer"] for r in diff["removed"]}
    trimmed = [m for m in diff["meta"] if m["pointer"] == "/extra/note"]
    assert trimmed and trimmed[0]["side"] == "b"
    assert "trimmed" in trimmed[0]["annotation"]
    assert not any(p["pointer"].startswith("/_meta") for p in diff["added"])
    status, value = get_json(sdk_server.url, f"/api/diff/{before.id}/nope")
    assert status == 404 and "nope" in value["error"]


def test_diff_page_and_the_compare_form(sdk_server):
    before, after = only_event(sdk_server, "pii"), only_event(sdk_server, "scrubbed")
    _, text = page_of(sdk_server, f"/diff/{before.id}/{after.id}")
    assert f"{FRAME_VARS}/db_password" in text and "[Filtered]" in text
    assert "Annotations from _meta (not data)" in text and "trimmed" in text
    query = urllib.parse.urlencode({"a": before.id, "b": after.event_id})
    status, headers, _ = http_request(sdk_server.url, "GET", f"/diff/?{query}")
    assert (status, headers["location"]) == (303, f"/diff/{before.id}/{after.event_id}")
    status, _, _ = http_request(sdk_server.url, "GET", f"/diff/?a={before.id}&b=")
    assert status == 400
    page, _ = page_of(sdk_server, f"/event/{before.id}")
    assert 'action="/diff/"' in page and f'name="a" value="{before.id}"' in page
