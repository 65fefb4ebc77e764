"""Clients that misbehave on the connection: slow or idle senders, clients that
never read their answer, more connections than the cap, long-polls whose
client left, clients that hang up mid-request or mid-response.

Kent cuts them off (after --request-timeout, below the minimum data rate, or
with a 503 at the connection cap), keeps serving everyone else, and logs no
error. Every loop is bounded in count and time, loopback only.
"""

import contextlib
import json
import select
import socket
import struct
import threading
import time

import pytest
from helpers import (
    AUTH_HEADER,
    CLEAN_KEY,
    MIB,
    assert_still_serving,
    envelope,
    event_item,
    get_json,
    post_envelope,
    raw_exchange,
    split_response,
    status_of,
)

import kent

TIMEOUT = 2.0  # request_timeout of the servers that test it


# -- helpers --------------------------------------------------------------------


def connect_raw(server, timeout=10):
    return socket.create_connection(("127.0.0.1", server.port), timeout)


def read_until_closed(sock, deadline_s=10, limit=1 << 20):
    """All bytes until the peer closes (or resets), bounded in time and size."""
    sock.settimeout(0.5)
    chunks, end = [], time.monotonic() + deadline_s
    while time.monotonic() < end and sum(map(len, chunks)) < limit:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def read_all(sock, deadline_s=10):
    """Every byte until the peer closes, however many (reads in big gulps)."""
    sock.settimeout(deadline_s)
    buffer = bytearray()
    with contextlib.suppress(OSError):
        while chunk := sock.recv(1 << 20):
            buffer += chunk
    return bytes(buffer)


# -- slow, idle and too many clients ------------------------------------------------------


def drip(sock, data, interval=0.2, limit_s=15):
    """Send ``data`` a byte at a time; seconds until the server hung up."""
    started = time.monotonic()
    for byte in data:
        if time.monotonic() - started > limit_s:
            break
        try:
            sock.sendall(bytes([byte]))
            readable, _, _ = select.select([sock], [], [], interval)
            if readable and not sock.recv(65536):
                return time.monotonic() - started
        except OSError:
            return time.monotonic() - started
    return None


def drip_in_thread(sock, data):
    result = {}
    thread = threading.Thread(target=lambda: result.update(cut=drip(sock, data)))
    thread.start()
    return thread, result


def served_quickly(server, message):
    started = time.monotonic()
    data = envelope(event_item({"message": message}))
    status, _, value = post_envelope(server.url, data)
    assert status == 200 and value["success"] is True
    return time.monotonic() - started


SLOW_HEAD = (
    b"POST /api/1/envelope/ HTTP/1.1\r\nHost: localhost\r\n" + b"X-Pad: " + b"a" * 200
)


def test_slow_request_headers_are_cut_after_request_timeout(kent_log):
    with (
        kent.KentServer(request_timeout=TIMEOUT) as server,
        connect_raw(server) as sock,
    ):
        thread, result = drip_in_thread(sock, SLOW_HEAD)
        time.sleep(0.5)
        assert served_quickly(server, "normal client") < 1.0
        thread.join(20)
        assert result["cut"] is not None, "the slow client was never disconnected"
        # 5 bytes a second: below the minimum data rate after the grace second
        assert kent.MIN_RATE_GRACE - 0.3 <= result["cut"] <= TIMEOUT + 2.0
        assert [e.summary for e in server.events()] == ["normal client"]
        assert_still_serving(server.url)


SLOW_BODY = b'{"event_id":"' + b"a" * 900


def test_slow_request_body_is_cut_and_kept_as_a_kent_error(kent_log):
    head = (
        b"POST /api/1/envelope/ HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000\r\n"
        b"X-Sentry-Auth: " + AUTH_HEADER.encode() + b"\r\n\r\n"
    )
    with (
        kent.KentServer(request_timeout=TIMEOUT) as server,
        connect_raw(server) as sock,
    ):
        sock.sendall(head)
        thread, result = drip_in_thread(sock, SLOW_BODY)
        time.sleep(0.5)
        assert served_quickly(server, "normal client") < 1.0
        thread.join(20)
        assert result["cut"] is not None, "the slow body was never cut"
        # 5 bytes a second: below the minimum data rate after the grace second
        assert kent.MIN_RATE_GRACE - 0.3 <= result["cut"] <= TIMEOUT + 2.0
        [normal] = server.events(type="event")
        [partial] = server.wait_for(1, timeout=5, type="kent_error")
    assert normal.summary == "normal client"
    assert partial.status == 400 and "body ended after" in partial.error
    # the bytes that did arrive are kept for inspection, as with any bad request
    assert partial.raw and SLOW_BODY.startswith(partial.raw), partial.raw
    assert f"after {len(partial.raw)} of 1000 bytes" in partial.error


def sent_until_cut(server, request):
    """Send ``request`` and read until Kent hangs up: (bytes, seconds)."""
    with connect_raw(server) as sock:
        sock.sendall(request)
        started = time.monotonic()
        data = read_until_closed(sock, deadline_s=TIMEOUT + 5)
        return data, time.monotonic() - started


def test_idle_keep_alive_connection_is_closed_after_request_timeout(kent_log):
    request = b"GET /api/status/ HTTP/1.1\r\nHost: localhost\r\n\r\n"
    with kent.KentServer(request_timeout=TIMEOUT) as server:
        data, elapsed = sent_until_cut(server, request)
        assert_still_serving(server.url)
    head, body = split_response(data)
    assert head.startswith("HTTP/1.1 200") and b'"version"' in body
    assert TIMEOUT - 0.3 <= elapsed <= TIMEOUT + 2.0


def test_get_whose_body_never_comes_is_cut_after_request_timeout(kent_log):
    # GET cron and store routes read a body: the watchdog must cover them too.
    request = (
        f"GET /api/1/cron/nightly/?status=ok&sentry_key={CLEAN_KEY} HTTP/1.1\r\n"
        "Host: localhost\r\nContent-Length: 10\r\n\r\n"
    ).encode()
    with kent.KentServer(request_timeout=TIMEOUT) as server:
        data, elapsed = sent_until_cut(server, request)
        assert_still_serving(server.url)
        [error] = server.wait_for(1, timeout=5, type="kent_error")
    assert TIMEOUT - 0.3 <= elapsed <= TIMEOUT + 2.0, elapsed
    assert data == b""  # hung up on, as any client too slow to send
    assert "body ended after 0 of 10 bytes" in error.error


def test_client_that_never_reads_its_answer_is_cut_after_request_timeout(kent_log):
    size = 24 * MIB  # more than the socket buffers on both ends hold
    attachment = ({"type": "attachment", "filename": "big.bin"}, b"x" * size)
    with kent.KentServer(request_timeout=TIMEOUT, max_body=64 * MIB) as server:
        post_envelope(server.url, envelope(attachment))
        [stored] = server.wait_for(1, timeout=5, type="attachment")
        with connect_raw(server) as sock:
            sock.sendall(f"GET /api/event/{stored.id}/raw HTTP/1.1\r\n\r\n".encode())
            time.sleep(TIMEOUT + 1.5)  # not reading: Kent's send is stuck
            assert served_quickly(server, "normal client") < 1.0
            data = read_all(sock, deadline_s=10)
        assert_still_serving(server.url)
    head, body = split_response(data)
    assert head.startswith("HTTP/1.1 200"), head[:80]
    assert f"Content-Length: {size}" in head
    assert 0 < len(body) < size, "the answer went out whole: nobody hung up"


def test_connections_being_closed_do_not_count_against_the_cap(kent_log):
    request = b"GET /api/status/ HTTP/1.1\r\nConnection: close\r\n\r\n"
    with kent.KentServer(max_connections=2) as server:
        lingering = [connect_raw(server) for _ in range(2)]
        for sock in lingering:  # answered, but never closed by the client
            sock.sendall(request)
            assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        assert_still_serving(server.url)  # a third client is still served
        for sock in lingering:
            sock.close()


def test_connections_being_closed_are_bounded_too(kent_log):
    request = b"GET /api/status/ HTTP/1.1\r\nConnection: close\r\n\r\n"
    with kent.KentServer(max_connections=2) as server:
        lingering = []
        try:
            for _ in range(6):  # one after the other: answered, never closed
                lingering.append(connect_raw(server))
                lingering[-1].sendall(request)
                assert lingering[-1].recv(65536).startswith(b"HTTP/1.1 200")
                # its thread moves it from the served to the closing ones a
                # moment after the answer went out (longer on a loaded machine)
                until = time.monotonic() + 5
                while server._httpd._connections and time.monotonic() < until:
                    time.sleep(0.01)
            deadline = time.monotonic() + 1  # before the 2 s a gentle close takes
            while time.monotonic() < deadline and connection_threads() > 2:
                time.sleep(0.05)
            assert connection_threads() <= 2  # two draining, the rest closed at once
        finally:
            for sock in lingering:
                sock.close()


def connection_threads():
    return sum(1 for t in threading.enumerate() if t.name == "kent-connection")


def open_idle(server, count):
    return [connect_raw(server) for _ in range(count)]


def answered(sockets, wanted, wait_s=3.0):
    """The sockets that received something within ``wait_s``."""
    end, found = time.monotonic() + wait_s, []
    while len(found) < wanted and time.monotonic() < end:
        rest = [s for s in sockets if s not in found]
        readable, _, _ = select.select(rest, [], [], 0.1)
        found += readable
    return found


def assert_refused_with_503(sock):
    """The answer of a refused connection that has not sent anything yet.

    (One that already sent its request may see a reset instead: Kent closes
    without reading it, and unread data makes the kernel answer with RST.)
    """
    with sock:
        head, body = split_response(read_until_closed(sock, deadline_s=5))
    assert head.startswith("HTTP/1.1 503"), head
    assert "Connection: close" in head
    assert "error" in json.loads(body)


def served_within(server, seconds):
    """Seconds until a new client got a 200 (None when it never did)."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        with contextlib.suppress(OSError):
            answer = raw_exchange(
                server.url,
                b"GET /api/status/ HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
                timeout=5,
            )
            if status_of(answer) == 200:
                return time.monotonic() - started
        time.sleep(0.1)
    return None


def close_all(sockets):
    for sock in sockets:
        sock.close()


def test_connections_past_max_connections_get_503_and_close(kent_log):
    """At the cap with every connection in the middle of a request, a new
    one gets the 503 (nothing is idle that could make room)."""
    begun = b"POST /api/1/envelope/ HTTP/1.1\r\nHost: localhost\r\n"
    with kent.KentServer(max_connections=20, request_timeout=30) as server:
        sockets = open_idle(server, 20)
        try:
            for sock in sockets:
                sock.sendall(begun)  # a request under way: not idle
            deadline = time.monotonic() + 5
            while len(server._httpd._idle) and time.monotonic() < deadline:
                time.sleep(0.01)
            extra = open_idle(server, 3)
            refused = answered(extra, 3)
            assert len(refused) == 3
            for sock in refused:
                assert_refused_with_503(sock)
        finally:
            close_all(sockets)
        assert served_within(server, 5) is not None


def test_idle_connections_make_room_for_new_clients(kent_log):
    """25 connections that never send a byte on a cap of 20 (slowloris, or
    keep-alive SDKs gone quiet): the idle longest are closed, so every new
    client is served at once instead of waiting out --request-timeout."""
    with kent.KentServer(max_connections=20, request_timeout=30) as server:
        sockets = open_idle(server, 25)
        try:
            request = b"GET /api/status/ HTTP/1.1\r\nHost: localhost\r\n"
            for _ in range(5):  # each at the first try
                answer = raw_exchange(
                    server.url, request + b"Connection: close\r\n\r\n"
                )
                assert status_of(answer) == 200, answer[:200]
            closed = [s for s in sockets if read_until_closed(s, 0.2) == b""]
            assert len(closed) >= 5  # hung up on, not answered
        finally:
            close_all(sockets)


# -- long-polls: a waiter whose client left frees its slot; waiters get half the cap -----------

LONG_POLL = (
    b"GET /api/wait/?count=1000000&timeout=300 HTTP/1.1\r\nHost: localhost\r\n\r\n"
)
PROBE = b"GET /api/wait/?count=1000000&timeout=0 HTTP/1.1\r\nHost: localhost\r\n\r\n"


def abandon_long_polls(server, count):
    """Start ``count`` five-minute long-polls, hanging up on each at once."""
    for _ in range(count):
        with contextlib.suppress(OSError), connect_raw(server) as sock:
            sock.sendall(LONG_POLL)


def status_within(seconds, send, wanted):
    """The first status ``send()`` gives that is in ``wanted`` (retrying 503s
    and refused connections), or the last one seen when time runs out."""
    end, status = time.monotonic() + seconds, None
    while time.monotonic() < end:
        with contextlib.suppress(OSError):
            status = send()
            if status in wanted:
                return status
        time.sleep(0.05)
    return status


def probe_long_poll(server):
    """A long-poll that gives up at once: 408 when it got a slot, 503 if not."""
    return status_of(raw_exchange(server.url, PROBE, timeout=10))


def ingest(server):
    return post_envelope(server.url, envelope(event_item()))[0]


def test_abandoned_long_polls_free_their_slots_at_once(kent_log):
    with kent.KentServer(max_connections=16, request_timeout=60) as server:
        abandon_long_polls(server, 64)  # four times the connections Kent has
        # Each waiter sees its client gone within a fraction of a second; the
        # five minutes they asked for would outlast these 20 s by far.
        assert status_within(20, lambda: ingest(server), {200}) == 200
        assert status_within(20, lambda: probe_long_poll(server), {408}) == 408
        wait = "/api/wait/?count=1&timeout=30"
        assert get_json(server.url, wait)[0] == 200
        assert served_within(server, 5) is not None


def test_long_polls_past_half_the_connections_get_503_and_ingestion_goes_on(kent_log):
    with kent.KentServer(max_connections=8, request_timeout=60) as server:
        waiters = open_idle(server, 4)
        try:
            for sock in waiters:
                sock.sendall(LONG_POLL)
            assert status_within(20, lambda: probe_long_poll(server), {503}) == 503
            answer = raw_exchange(server.url, PROBE, timeout=10)
            head, body = split_response(answer)
            assert (
                "Retry-After: 1" in head and "/api/wait/" in json.loads(body)["error"]
            )
            assert ingest(server) == 200  # the other half is the SDKs'
            assert get_json(server.url, "/api/eventlist/")[0] == 200
            assert not answered(waiters, 1, 0.2)  # the four still wait
        finally:
            close_all(waiters)
        assert status_within(20, lambda: probe_long_poll(server), {408}) == 408


# -- clients that hang up mid-way ------------------------------------------------------


def hang_up(sock):
    """Close with RST (SO_LINGER 0), as a killed client does."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def post_big_attachment(url, size=8 * MIB):
    """An 8 MiB attachment; Kent's id for it (its answers are large)."""
    item = ({"type": "attachment", "filename": "big.bin"}, bytes(size))
    assert post_envelope(url, envelope(event_item(), item))[0] == 200
    _, listing = get_json(url, "/api/eventlist/?type=attachment")
    return listing["events"][-1]["event_id"]


HALF_REQUESTS = [
    b"POST /api/1/envelope/ HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100000\r\n\r\n"
    + b"{" * 1000,
    b"POST /api/1/envelope/ HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"1000\r\nabc",
    b"POST /api/1/envelope/ HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\n"
    b"Content-Length: 50\r\n\r\n",
    b"POST /api/1/envelope/ HTTP/1.1\r\nHost: localhost\r\nContent-",
    b"GET /api/eventl",
]


def disconnect_everywhere(url, port, event_id, rounds):
    """Hang up mid-request and mid-response, a few times each."""
    for i in range(rounds):
        for partial in HALF_REQUESTS:
            sock = socket.create_connection(("127.0.0.1", port), 5)
            sock.sendall(partial)
            hang_up(sock)
        for path in (f"/api/event/{event_id}/raw", f"/api/event/{event_id}"):
            sock = socket.create_connection(("127.0.0.1", port), 5)
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
            sock.recv(100)  # the answer has started
            hang_up(sock)
        data = envelope(event_item({"message": f"after round {i}"}))
        assert post_envelope(url, data)[0] == 200


def test_disconnects_mid_request_and_mid_response_leave_no_trace(kent_log):
    with kent.KentServer(max_events=1000) as server:
        event_id = post_big_attachment(server.url)
        disconnect_everywhere(server.url, server.port, event_id, rounds=5)
        messages = [e.body["message"] for e in server.events(q="after round")]
        assert messages == [f"after round {i}" for i in range(5)]
        assert_still_serving(server.url)


def test_disconnects_print_no_traceback_in_a_kent_process(kent_process):
    event_id = post_big_attachment(kent_process.url)
    port = int(kent_process.url.rsplit(":", 1)[1])
    disconnect_everywhere(kent_process.url, port, event_id, rounds=3)
    _, listing = get_json(kent_process.url, "/api/eventlist/?q=after+round")
    assert [e["summary"] for e in listing["events"]] == [
        f"after round {i}" for i in range(3)
    ]
    # the fixture asserts that stderr holds no "Traceback"


# -- slow senders cannot hold the connection cap


def _trickle(port, sent_at_once, dripped, seconds=12.0):
    """Send ``dripped`` a byte every 0.3 s; seconds until Kent hung up, or None."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), 5) as sock:
        sock.sendall(sent_at_once)
        for byte in dripped:
            if time.monotonic() - started > seconds:
                return None
            try:
                sock.sendall(bytes([byte]))
                readable, _, _ = select.select([sock], [], [], 0.3)
                if readable and not sock.recv(65536):
                    return time.monotonic() - started
            except OSError:
                return time.monotonic() - started
    return None


@pytest.mark.parametrize("slow_part", ["request line", "headers", "body"])
def test_slowloris_at_the_connection_cap_is_cut_by_the_minimum_rate(slow_part):
    head = b"POST /api/1/envelope/ HTTP/1.1\r\nHost: x\r\nContent-Length: 900\r\n"
    if slow_part == "request line":
        at_once, dripped = b"GET /", b"a" * 900
    elif slow_part == "headers":
        at_once, dripped = head[:20], head[20:] + b"X-Pad: " + b"a" * 900
    else:
        at_once, dripped = head + b"\r\n", b"{" * 900
    with kent.KentServer(port=0, max_connections=6, request_timeout=60) as server:
        cuts = [None] * 6

        def attack(index):
            cuts[index] = _trickle(server.port, at_once, dripped)

        threads = [threading.Thread(target=attack, args=(i,)) for i in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert all(cut is not None for cut in cuts), cuts  # not the 60 s timeout
        status, _, _ = post_envelope(server.url, envelope(event_item()))
        assert status == 200
