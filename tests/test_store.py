"""EventStore: eviction, lookup, flush, waiting, filters, concurrency; and in a
running Kent, no event lost to 32 keep-alive clients at once, and a store
bounded by its budget in bytes."""

import http.client
import json
import threading
import time
import uuid

import pytest
from helpers import (
    AUTH_HEADER,
    DASHED_EVENT_ID,
    EVENT_ID,
    LONG_TESTS,
    assert_still_serving,
    envelope,
    event_item,
    get_json,
    post_envelope,
)

import kent


def make_event(project=1, body=None, item_type="event", raw=None, event_id=None):
    body = {"message": "hi"} if body is None else body
    if raw is None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    envelope_header = {"event_id": event_id} if event_id else {}
    item = kent.ParsedItem(item_type, envelope_header, {"type": item_type}, raw)
    item.body = body
    item.binary = isinstance(body, bytes)
    return kent.StoredEvent(project, item)


def messages(events):
    return [e.body["message"] for e in events]


def fill(store, count, project=1):
    return store.add([make_event(project, {"message": f"m{i}"}) for i in range(count)])


def test_add_sets_seq_id_and_time():
    ids = iter(["id-a", "id-b"])
    store = kent.EventStore(clock=lambda: 1234.5, new_id=lambda: next(ids))
    first, second = store.add([make_event(), make_event()])
    assert (first.seq, first.id, first.received) == (1, "id-a", 1234.5)
    assert (second.seq, second.id) == (2, "id-b")
    assert store.last_seq == 2 and store.snapshot() == [first, second]


def test_eviction_by_count_drops_oldest():
    store = kent.EventStore(max_events=3)
    fill(store, 5)
    assert messages(store.snapshot()) == ["m2", "m3", "m4"]
    stats = store.stats()
    assert (stats["kept"], stats["dropped"], stats["received"]) == (3, 2, 5)


def test_eviction_by_bytes_drops_oldest():
    one = make_event(body={"message": "x" * 1000})
    store = kent.EventStore(max_events=100, max_bytes=one.size * 2 + 10)
    for i in range(5):  # five requests
        store.add([make_event(body={"message": f"{i}" + "x" * 999})])
    kept = store.snapshot()
    assert len(kept) == 2
    assert [e.body["message"][0] for e in kept] == ["3", "4"]
    assert store.dropped == 3
    assert store.bytes == sum(e.size for e in kept) <= store.max_bytes


def test_a_request_over_the_byte_budget_is_kept_whole_until_the_next():
    small = make_event(body={"message": "small"})
    store = kent.EventStore(max_events=100, max_bytes=small.size * 3)
    fill(store, 3)
    big = [make_event(body={"message": "big" + "x" * small.size * 2}) for _ in "ab"]
    store.add(big)  # alone over the budget: the older ones go, not it
    assert store.snapshot() == big and store.dropped == 3
    assert store.bytes > store.max_bytes
    [after] = fill(store, 1)
    assert store.snapshot() == [after] and store.dropped == 5
    assert store.bytes <= store.max_bytes


def test_evicted_events_cannot_be_found():
    store = kent.EventStore(max_events=1)
    [old] = store.add([make_event(event_id=EVENT_ID)])
    store.add([make_event()])
    assert store.get(old.id) is None and store.get(EVENT_ID) is None


def test_flush_all():
    store = kent.EventStore()
    fill(store, 3, project=1)
    fill(store, 2, project=2)
    assert store.flush() == 5
    assert store.snapshot() == [] and store.bytes == 0


def test_flush_one_project_keeps_the_others():
    store = kent.EventStore()
    fill(store, 3, project=1)
    kept = fill(store, 2, project=2)
    assert store.flush(1) == 3
    assert store.snapshot() == kept
    assert store.get(kept[0].id) is kept[0]
    assert store.bytes == sum(e.size for e in kept)


def test_get_by_kent_id_and_sdk_id():
    store = kent.EventStore()
    [event] = store.add([make_event(event_id=EVENT_ID)])
    assert store.get(event.id) is event
    assert store.get(EVENT_ID) is event
    assert store.get(DASHED_EVENT_ID) is event
    assert store.get(EVENT_ID.upper()) is event
    assert store.get("0" * 32) is None and store.get("nope") is None


def test_get_by_sdk_id_prefers_the_event_over_its_attachment():
    store = kent.EventStore()
    attachment = make_event(body=b"bytes", item_type="attachment", event_id=EVENT_ID)
    event = make_event(event_id=EVENT_ID)
    store.add([attachment, event])
    assert store.get(EVENT_ID) is event
    assert store.get(DASHED_EVENT_ID) is event


def test_get_by_sdk_id_gives_the_newest_of_a_resent_event():
    store = kent.EventStore()
    first = make_event(body={"message": "first"}, event_id=EVENT_ID)
    again = make_event(body={"message": "again"}, event_id=EVENT_ID)
    store.add([first])
    store.add([again, make_event(body=b"x", item_type="attachment", event_id=EVENT_ID)])
    assert store.get(EVENT_ID) is again


def test_wait_for_returns_events_already_present():
    store = kent.EventStore()
    fill(store, 2)
    events, ok = store.wait_for(2, timeout=0)
    assert ok and messages(events) == ["m0", "m1"]


def test_wait_wakes_when_another_thread_adds():
    store = kent.EventStore()
    started = threading.Event()
    result = {}

    def waiter():
        started.set()
        result["value"] = store.wait_for(1, timeout=30)

    thread = threading.Thread(target=waiter)
    thread.start()
    started.wait(5)
    store.add([make_event(body={"message": "woken"})])
    thread.join(30)
    assert not thread.is_alive()
    events, ok = result["value"]
    assert ok and messages(events) == ["woken"]


def test_wait_timeout_returns_what_arrived():
    store = kent.EventStore()
    fill(store, 1)
    events, ok = store.wait_for(3, timeout=0.05)
    assert not ok and messages(events) == ["m0"]


def test_wait_since_cursor_skips_older_events():
    store = kent.EventStore()
    fill(store, 2)
    cursor = store.last_seq
    store.add([make_event(body={"message": "new"})])
    events, ok = store.wait_for(1, timeout=0, since=cursor)
    assert ok and messages(events) == ["new"]


def test_wait_with_filter_ignores_other_projects():
    store = kent.EventStore()
    fill(store, 3, project=2)
    match = kent.EventFilter(project=1)
    events, ok = store.wait_for(1, timeout=0.05, match=match)
    assert not ok and events == []
    store.add([make_event(1, {"message": "mine"})])
    events, ok = store.wait_for(1, timeout=0, match=match)
    assert ok and messages(events) == ["mine"]


EXC_BODY = {
    "message": "boom",
    "exception": {"values": [{"type": "KeyError"}, {"type": "ValueError"}]},
    "tags": {"env": "prod"},
    "level": "error",
    "count": 3,
}


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, True),
        ({"project": 1}, True),
        ({"project": "1,2"}, True),
        ({"project": 2}, False),
        ({"type": "event"}, True),
        ({"type": "event,transaction"}, True),
        ({"type": "transaction"}, False),
        ({"since": 1}, False),
        ({"since": 0}, True),
        ({"q": "BOOM"}, True),
        ({"q": "absent"}, False),
        ({"fields": {"tags.env": "prod"}}, True),
        ({"fields": {"tags.env": "dev"}}, False),
        ({"fields": {"exception.values.1.type": "ValueError"}}, True),
        ({"fields": {"exception.values.-1.type": "ValueError"}}, True),
        ({"fields": {"exception.values.0.type": "ValueError"}}, False),
        ({"fields": {"exception.values.*.type": "KeyError"}}, True),
        ({"fields": {"exception.values.*.type": "TypeError"}}, False),
        ({"fields": {"tags.*": "prod"}}, True),
        ({"fields": {"count": "3"}}, True),
        ({"fields": {"missing.path": "x"}}, False),
    ],
)
def test_event_filter(filters, expected):
    store = kent.EventStore()
    [event] = store.add([make_event(1, EXC_BODY)])
    assert kent.EventFilter(**filters)(event) is expected


def test_event_filter_from_query_rejects_bad_numbers():
    with pytest.raises(kent.BadRequest):
        kent.EventFilter.from_query({"project": "one"})
    with pytest.raises(kent.BadRequest):
        kent.EventFilter.from_query({"since": "later"})


def test_filter_from_query_treats_other_keys_as_paths():
    match = kent.EventFilter.from_query({"tags.env": "prod", "limit": "5"})
    store = kent.EventStore()
    [event] = store.add([make_event(1, EXC_BODY)])
    assert match(event)
    assert not kent.EventFilter.from_query({"tags.env": "dev"})(event)


def test_filter_from_query_reaches_a_field_named_like_a_filter_with_body_prefix():
    store = kent.EventStore()
    [event] = store.add([make_event(1, EXC_BODY)])
    assert kent.EventFilter.from_query({"type": "event", "body.count": "3"})(event)
    assert not kent.EventFilter.from_query({"body.count": "4"})(event)
    assert kent.EventFilter.from_query({"count": "4"})(event)  # count: the wait's


def test_body_prefix_also_reaches_a_reports_own_body_key():
    nel = {"type": "network-error", "body": {"type": "http.error", "status_code": 500}}
    store = kent.EventStore()
    [event] = store.add([make_event(1, nel, item_type="nel")])
    for query, expected in [
        ({"body.type": "http.error"}, True),  # the report's body.type
        ({"body.type": "network-error"}, True),  # its own "type"
        ({"body.status_code": "500"}, True),
        ({"body.type": "dns.error"}, False),
    ]:
        assert kent.EventFilter.from_query(query)(event) is expected, query
        assert kent.EventFilter(fields=query)(event) is expected, query  # Python API


def test_json_items_are_kept_as_bytes_and_parsed_on_each_read():
    # a busy breadcrumb list has hundreds of brackets but little depth
    body = {"breadcrumbs": {"values": [{"data": {"i": i}} for i in range(300)]}}
    data = b'{}\n{"type":"event"}\n' + json.dumps(body).encode() + b"\n"
    [item] = kent.parse_envelope(data)[1]
    event = kent.StoredEvent(1, item)
    assert event.body == body and event.body is not event.body
    assert event.size == len(item.raw) + 1024  # counted once: no tree is held
    view = event.parsed()
    assert view.body is view.body and view.body == body


def test_q_searches_binary_and_text_bodies():
    store = kent.EventStore()
    binary, text = store.add(
        [
            make_event(body=b"\x00needle\xff", item_type="attachment"),
            make_event(body="foo:1|c", item_type="statsd", raw=b"foo:1|c"),
        ]
    )
    assert kent.EventFilter(q="NEEDLE")(binary)
    assert kent.EventFilter(q="foo:1")(text)
    assert not kent.EventFilter(q="needle")(text)


def test_concurrent_adds_keep_seq_unique_and_monotonic():
    store = kent.EventStore(max_events=10_000)
    per_thread, threads = 200, 8
    barrier = threading.Barrier(threads)

    def writer(n):
        barrier.wait(10)
        for i in range(per_thread):
            store.add([make_event(body={"message": f"{n}-{i}"})])

    workers = [threading.Thread(target=writer, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    events = store.snapshot()
    seqs = [e.seq for e in events]
    assert seqs == list(range(1, per_thread * threads + 1))
    assert len({e.id for e in events}) == len(events)
    for n in range(threads):
        mine = [m for m in messages(events) if m.startswith(f"{n}-")]
        assert mine == [f"{n}-{i}" for i in range(per_thread)]


# -- through a running Kent: many clients at once, a budget in bytes ----------------


CLIENTS = 32
TOTAL_EVENTS = 100_000 if LONG_TESTS else 20_000  # 20,000 take ~6 s on 2 cores


def small_envelope(index):
    event_id = uuid.uuid4().hex
    data = envelope(
        event_item({"message": f"n={index}"}), header={"event_id": event_id}
    )
    return event_id, data


def send_share(port, first, total, answers, deadline):
    """One keep-alive connection sending events first, first+32, ..."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"X-Sentry-Auth": AUTH_HEADER}
    try:
        for index in range(first, total, CLIENTS):
            if time.monotonic() > deadline:
                return
            event_id, data = small_envelope(index)
            conn.request("POST", "/api/1/envelope/", data, headers)
            response = conn.getresponse()
            answers[index] = (event_id, response.status, json.loads(response.read()))
    finally:
        conn.close()


def send_concurrently(server, total):
    answers = {}
    deadline = time.monotonic() + 120
    threads = [
        threading.Thread(
            target=send_share, args=(server.port, k, total, answers, deadline)
        )
        for k in range(CLIENTS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(130)
    return answers


@pytest.mark.slow
def test_no_lost_events_from_32_concurrent_keep_alive_clients():
    with kent.KentServer(max_events=100) as server:
        answers = send_concurrently(server, TOTAL_EVENTS)
        sent = {f"n={i}": event_id for i, (event_id, _, _) in answers.items()}
        assert len(answers) == TOTAL_EVENTS
        bad = [
            (i, s, v)
            for i, (e, s, v) in answers.items()
            if (s, v.get("id")) != (200, e)
        ]
        assert not bad, bad[:5]
        status, listing = get_json(server.url, "/api/eventlist/")
    assert status == 200
    expected = {"received": TOTAL_EVENTS, "accepted": TOTAL_EVENTS, "kept": 100}
    assert {k: listing[k] for k in expected} == expected
    assert listing["dropped"] == TOTAL_EVENTS - 100
    assert listing["last_seq"] == TOTAL_EVENTS
    kept = listing["events"]
    assert [e["seq"] for e in kept] == list(range(TOTAL_EVENTS - 99, TOTAL_EVENTS + 1))
    assert len({e["sdk_event_id"] for e in kept}) == 100
    assert all(sent[e["summary"]] == e["sdk_event_id"] for e in kept)


def test_store_is_bounded_by_bytes_and_counts_what_it_dropped():
    budget = 64 * 1024
    with kent.KentServer(max_events=10_000, max_bytes=budget) as server:
        for i in range(40):
            body = {"message": f"m{i}", "extra": {"pad": "x" * 4000}}
            assert post_envelope(server.url, envelope(event_item(body)))[0] == 200
        status, listing = get_json(server.url, "/api/eventlist/")
        stats = assert_still_serving(server.url)
    assert status == 200
    kept = [e["summary"] for e in listing["events"]]
    assert 0 < len(kept) < 40
    assert kept == [f"m{i}" for i in range(40 - len(kept), 40)]  # the newest
    for value in (listing, stats):
        assert value["max_bytes"] == budget
        assert 0 < value["bytes"] <= budget
        assert value["dropped"] == 40 - len(kept)
        assert value["received"] == 40
