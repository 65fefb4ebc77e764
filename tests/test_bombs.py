"""Decompression bombs: 1 GiB of zeros in every encoding Kent inflates, and
dumps and recordings that inflate together past --max-body, sent to Kent in
its own process (--max-body 10M). Each is refused (413, or 400 when
the inner data is also bad) within seconds, with the process's peak memory
(VmHWM) grown by less than MAX_RSS_GROWTH; the refused request is kept, and
Kent goes on serving.
"""

import base64
import bz2
import gzip
import http.client
import lzma
import struct
import time
import zlib

import pytest
from helpers import (
    AUTH_HEADER,
    MIB,
    assert_still_serving,
    dump_file,
    envelope,
    get_json,
    multipart,
    replay_recording,
    require_module,
)

import kent

BOMB_SIZE = 1024 * MIB  # what every bomb inflates to
MAX_RSS_GROWTH = 300 * MIB


def _zeros_deflate_raw(size=BOMB_SIZE, chunk=MIB):
    """Raw deflate of ``size`` zero bytes, about 1 KiB per MiB.

    One MiB is compressed once and the block repeated: after Z_FULL_FLUSH a
    block refers to nothing before it, so the copies form a valid stream.
    """
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = compressor.compress(bytes(chunk)) + compressor.flush(zlib.Z_FULL_FLUSH)
    return block * (size // chunk) + compressor.flush()


def _zeros_checksums(size=BOMB_SIZE, chunk=MIB):
    crc, adler, zeros = 0, 1, bytes(chunk)
    for _ in range(size // chunk):
        crc, adler = zlib.crc32(zeros, crc), zlib.adler32(zeros, adler)
    return crc, adler


@pytest.fixture(scope="module")
def bombs():
    """1 GiB of zeros as gzip, zlib ("deflate") and raw deflate (~1 MB each)."""
    raw = _zeros_deflate_raw()
    crc, adler = _zeros_checksums()
    size = struct.pack("<I", BOMB_SIZE & 0xFFFFFFFF)
    gzip_header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    return {
        "gzip": gzip_header + raw + struct.pack("<I", crc) + size,
        "zlib": b"\x78\xda" + raw + struct.pack(">I", adler),
        "raw": raw,
    }


def post_bomb(process, path, data, headers):
    """POST to a Kent process: (status, seconds, peak memory growth)."""
    before = process.peak()
    started = time.monotonic()
    all_headers = {"X-Sentry-Auth": AUTH_HEADER, **headers}
    host, port = process.url.rsplit("/", 1)[-1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=120)
    try:
        conn.request("POST", path, data, all_headers)
        response = conn.getresponse()
        response.read()
    finally:
        conn.close()
    elapsed = time.monotonic() - started
    return response.status, elapsed, process.peak() - before


def assert_bomb_defused(process, path, data, headers, statuses=(413,)):
    before = assert_still_serving(process.url)["last_seq"]
    status, elapsed, growth = post_bomb(process, path, data, headers)
    assert growth < MAX_RSS_GROWTH, f"peak memory grew by {growth // MIB} MiB"
    assert status in statuses, status
    assert elapsed < 20
    _, listing = get_json(process.url, f"/api/eventlist/?since={before}")
    assert listing["events"], "the rejected request was not kept"
    assert all(e["status"] == status for e in listing["events"])
    _, stats = get_json(process.url, "/api/status/")
    assert stats["bytes"] <= 2 * MIB  # at most the first 64 KiB of the bomb is kept
    assert_still_serving(process.url)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("encoding", "form"),
    [("gzip", "gzip"), ("x-gzip", "gzip"), ("deflate", "zlib"), ("deflate", "raw")],
)
def test_zlib_family_bomb_is_413_with_bounded_memory(
    kent_process, bombs, encoding, form
):
    headers = {"Content-Encoding": encoding}
    assert_bomb_defused(kent_process, "/api/1/envelope/", bombs[form], headers)


@pytest.mark.slow
def test_nested_gzip_bomb_is_413_with_bounded_memory(kent_process, bombs):
    twice = zlib.compress(bombs["gzip"], 9)
    headers = {"Content-Encoding": "gzip, deflate"}
    assert_bomb_defused(kent_process, "/api/1/envelope/", twice, headers)


def _brotli_bomb():
    brotli = kent._brotli
    compressor = brotli.Compressor(quality=1)
    zeros = bytes(MIB)
    parts = [compressor.process(zeros) for _ in range(BOMB_SIZE // MIB)]
    return b"".join(parts) + compressor.finish()


@pytest.mark.slow
def test_brotli_bomb_is_413_with_bounded_memory(kent_process):
    if kent._brotli is None:
        require_module("brotli", "tests/requirements.txt")
    headers = {"Content-Encoding": "br"}
    assert_bomb_defused(kent_process, "/api/1/envelope/", _brotli_bomb(), headers)


@pytest.mark.slow
def test_zstd_bomb_is_413_with_bounded_memory(kent_process):
    if kent._zstd is None:
        require_module("zstandard", "tests/requirements.txt")
    compressor = kent._zstd.ZstdCompressor()
    stream = getattr(compressor, "compressobj", lambda: compressor)()
    zeros = bytes(MIB)
    data = b"".join(stream.compress(zeros) for _ in range(BOMB_SIZE // MIB))
    data += stream.flush()
    headers = {"Content-Encoding": "zstd"}
    assert_bomb_defused(kent_process, "/api/1/envelope/", data, headers)


# Compressed data inside a body that arrives without Content-Encoding: Kent
# inflates these too, so they need the same bound.


@pytest.mark.slow
def test_gzipped_minidump_bomb_has_bounded_memory(kent_process, bombs):
    headers = {"Content-Type": "application/octet-stream"}
    assert_bomb_defused(
        kent_process, "/api/1/minidump/", bombs["gzip"], headers, (400, 413)
    )


@pytest.mark.slow
@pytest.mark.parametrize("wrap", ["zlib", "base64 zlib"])
def test_legacy_store_zlib_bomb_has_bounded_memory(kent_process, bombs, wrap):
    data = bombs["zlib"] if wrap == "zlib" else base64.b64encode(bombs["zlib"])
    assert_bomb_defused(kent_process, "/api/1/store/", data, {}, (400, 413))


@pytest.mark.slow
def test_replay_recording_zlib_bomb_has_bounded_memory(kent_process, bombs):
    recording = b'{"segment_id":0}\n' + bombs["zlib"]
    data = envelope(({"type": "replay_recording"}, recording))
    assert_bomb_defused(kent_process, "/api/1/envelope/", data, {}, (400, 413))


# -- inner bombs: what a request holds inflates together, up to --max-body


def _dump(size):
    return b"MDMP" + bytes(size - 4)


def _minidump_form(*files):
    """A crash upload of ``(filename, bytes)`` dumps; (body, headers)."""
    body, content_type = multipart(files=[dump_file(d, name) for name, d in files])
    return body, {"Content-Type": content_type}


@pytest.mark.slow
def test_concatenated_bz2_minidump_streams_stop_at_max_body(kent_process):
    stream = bz2.compress(_dump(8 * MIB), 1)  # 8 streams: 64 MiB decoded
    body, headers = _minidump_form(("a.dmp.bz2", stream * 8))
    assert_bomb_defused(kent_process, "/api/1/minidump/", body, headers)


@pytest.mark.slow
def test_xz_minidump_stops_at_max_body(kent_process):
    body, headers = _minidump_form(
        ("a.dmp.xz", lzma.compress(_dump(64 * MIB), preset=1))
    )
    assert_bomb_defused(kent_process, "/api/1/minidump/", body, headers)


@pytest.mark.slow
def test_gzipped_minidump_parts_count_together_against_max_body(kent_process):
    part = ("a.dmp.gz", gzip.compress(_dump(4 * MIB)))
    body, headers = _minidump_form(*[part] * 10)  # 40 MiB decoded, 40 KB sent
    assert_bomb_defused(kent_process, "/api/1/minidump/", body, headers)


@pytest.mark.slow
def test_replay_recordings_count_together_against_max_body(kent_process):
    item = ({"type": "replay_recording"}, replay_recording(4 * MIB))
    data = envelope(item, item, item)  # 12 MiB decoded, about 50 KB sent
    assert_bomb_defused(kent_process, "/api/1/envelope/", data, {})
