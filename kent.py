# This Source Code Form is subject to the terms of the Mozilla Public
# License, v. 2.0. If a copy of the MPL was not distributed with this
# file, You can obtain one at https://mozilla.org/MPL/2.0/.
"""Kent: a fake Sentry server for debugging and integration tests.

Point any Sentry SDK's DSN at Kent (``http://public@127.0.0.1:5000/1``) and
see exactly what it sent, on a web page and through a JSON API::

    python -m kent run            # or: python kent.py run, kent-server run

Kent is one file with no dependencies: copy ``kent.py`` into your project
(vendoring) and it works. In a test suite::

    import kent, sentry_sdk

    with kent.KentServer() as server:
        sentry_sdk.init(dsn=server.dsn(1))
        sentry_sdk.capture_message("hello")
        [event] = server.wait_for(1, timeout=5, type="event")
        assert event.body["message"] == "hello"

The file reads top to bottom as a request flows; its sections, numbered as
the banners that open them (each uses only the sections above it; the CLI
may use all, and Assets, last, is read only when a page is rendered)::

     1. Header                licence, what Kent is, this map
     2. Constants             defaults, limits, the logger
     3. Errors                every refusal: one HTTP status each
     4. Decoding and parsing  pure: bytes in, items or a KentError out
     5. Debugging             pure: leak scanner, search, diff
     6. Store                 recent items, bounded, waitable; faults
     7. Rendering             pure: JSON answers, curl lines, pages
     8. Console               one line per item, the printer thread
     9. HTTP handler          MCP answers, who may ask, views, routes, transport
    10. Server object         KentServer and the pytest plugin
    11. Client                samples, replay, exec, tail, MCP bridge
    12. CLI                   build_parser() and main()
    13. Assets                CSS, templates, script (string.Template)
"""

import argparse
import base64
import binascii
import bisect
import collections
import contextlib
import copy
import datetime
import functools
import html
import http.client
import http.server
import ipaddress
import json
import logging
import os
import re
import select
import shlex
import signal
import socket
import string
import struct
import sys
import threading
import time
import urllib.parse
import uuid
import zlib

__version__ = "3.0.0"

__all__ = [
    "KentError",
    "KentServer",
    "EventStore",
    "StoredEvent",
    "decode_body",
    "parse_envelope",
    "build_parser",
    "main",
    "__version__",
]


# ---------------------------------------------------------------------------
# 2. Constants
# ---------------------------------------------------------------------------


DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5000
DEFAULT_MAX_EVENTS = 100
DEFAULT_MAX_BYTES = 256 * 1024 * 1024  # memory budget of the store
DEFAULT_MAX_BODY = 100 * 1024 * 1024  # one request, compressed and decoded
DEFAULT_MAX_CONNECTIONS = 256


# Seconds a connection may wait on its client, for a request and its body or
# to read an answer: ends idle keep-alive connections, clients that trickle
# bytes and clients that never read.
DEFAULT_REQUEST_TIMEOUT = 30.0
MAX_WAIT_TIMEOUT = 300.0  # seconds; the longest long-poll Kent allows


# A request that has begun must keep coming at this many bytes a second
# after its first second, or the connection is closed (slowloris).
MIN_DATA_RATE = 1024
MIN_RATE_GRACE = 1.0
MAX_SECURITY_REPORTS = 1000  # in one request (one item each)
CLIENT_GONE_POLL = 0.2  # seconds between a long-poll's checks that its client is there
KEPT_OF_TOO_LARGE = 64 * 1024  # bytes of a refused oversized body kept to look at
PARSED_JSON_FACTOR = 6  # memory of json.loads' objects per byte of JSON, roughly
# Python's objects take up to about 64 bytes for each comma, colon or opening
# bracket of a JSON document (a 3 MB array of ``[]`` takes 67 MB), so those
# are capped: what one document takes to decode stays bounded whatever its
# size. A real SDK's largest items, profiles and replays, have under 300,000.
MAX_JSON_VALUES = 1_000_000
JSON_BYTES_PER_VALUE = 64
# Drawing an item (page or API) holds its parsed tree and the text written,
# about twice the tree: eight concurrent views of one 5.8 MB event took 1 GB.
# Views share the memory budget and take turns past it, waiting this long.
VIEW_WAIT = 30.0  # seconds
VIEW_TURN_FLOOR = 1024 * 1024  # items cheaper to draw go without a turn
DEFAULT_PROJECT_KEY = "public"


# Spotlight: SDKs with SENTRY_SPOTLIGHT=1 post envelopes to this port's /stream,
# with no DSN; such items go to this project unless the envelope names one.
SPOTLIGHT_PORT = 8969
SPOTLIGHT_PROJECT_ID = 0
STREAM_HEARTBEAT = 15.0  # seconds between comments on an idle event stream


# Relay's default limits (relay-config Limits::default), used for warnings.
MIB = 1024 * 1024
RELAY_MAX_ENVELOPE = 200 * MIB
RELAY_MAX_EVENT = 1 * MIB
RELAY_ITEM_LIMITS = {
    "event": RELAY_MAX_EVENT,
    "transaction": RELAY_MAX_EVENT,
    "security": RELAY_MAX_EVENT,
    "raw_security": RELAY_MAX_EVENT,
    "replay_event": RELAY_MAX_EVENT,
    "feedback": RELAY_MAX_EVENT,
    "attachment": 200 * MIB,
    "check_in": 100 * 1024,
    "client_report": 100 * 1024,
    "profile": 50 * MIB,
    "profile_chunk": 50 * MIB,
    "replay_recording": 10 * MIB,
    "statsd": 1 * MIB,
    "metric_buckets": 1 * MIB,
}


# Relay shifts an event's timestamps by the SDK's clock drift (received time
# minus sent_at) only from this much on, either way (MINIMUM_CLOCK_DRIFT).
RELAY_MIN_CLOCK_DRIFT = 55 * 60  # seconds


# Items that share Relay's single "event" slot: at most one per envelope.
EVENT_LIKE_TYPES = frozenset(
    ("event", "transaction", "security", "raw_security", "feedback", "user_report")
)
JSON_ITEM_TYPES = frozenset(
    (
        "event",
        "transaction",
        "session",
        "sessions",
        "client_report",
        "user_report",
        "feedback",
        "replay_event",
        "profile",
        "profile_chunk",
        "profile_chunk_ui",
        "check_in",
        "span",
        "log",
        "trace_metric",
        "otel_log",
        "otel_span",
        "metric_buckets",
        "raw_security",
        "security",
        "nel",
    )
)
CONTAINER_TYPES = frozenset(("log", "span", "trace_metric"))
logger = logging.getLogger("kent")


# ---------------------------------------------------------------------------
# 3. Errors
# ---------------------------------------------------------------------------


class KentError(Exception):
    """A request Kent cannot accept; ``status`` is the HTTP answer.

    Every refusal in Kent is one of these, answered by ``render_error``.
    ``status`` may be given for the answers Relay (or a fault rule) picks.
    """

    status = 400

    def __init__(self, message, *, partial=None, status=None):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        # Items understood before the error, kept so nothing is lost.
        self.partial = partial or []


def is_accepted(status):
    """A 2xx: what Sentry and its SDKs count as accepted (0 is no answer)."""
    return 200 <= status < 300


class BadRequest(KentError):
    status = 400


class EnvelopeError(BadRequest):
    """Envelope framing that cannot be understood (with a byte offset)."""


class Unauthorized(KentError):
    status = 401


class Forbidden(KentError):
    status = 403


class NotFound(KentError):
    status = 404


class MethodNotAllowed(KentError):
    status = 405


class PayloadTooLarge(KentError):
    status = 413


class TooManyValues(PayloadTooLarge):
    """JSON with more values than Kent decodes (``MAX_JSON_VALUES``)."""

    def __init__(self, count, limit):
        super().__init__(
            f"JSON too complex to decode: {count:,} of its bytes are commas, "
            f"colons or opening brackets, each one a value or more; Kent decodes "
            f"at most {limit:,} (as Python objects they could take "
            f"{count * JSON_BYTES_PER_VALUE // MIB:,} MiB)"
        )


class UnsupportedEncoding(KentError):
    status = 415


class UnsupportedMediaType(KentError):
    status = 415


class ServiceUnavailable(KentError):
    status = 503


class HeaderError(KentError):
    status = 431


class WaitTimeout(AssertionError):
    """Fewer events than wanted arrived in time; says what did arrive."""

    def __init__(self, count, timeout, matched, listing, missing_fields=()):
        self.matched = matched
        super().__init__(
            f"timed out after {timeout} s waiting for {count} matching events; "
            f"{len(matched)} matched (waits count stored events; raise "
            "max_events if older ones were dropped)."
            + (f"\n{listing}" if listing else "\nNothing is stored.")
            + "".join(
                f"\nNo stored event (of the newest 200, of any type) has a field "
                f"{name!r}: a typo, or no event with it came?"
                for name in missing_fields
            )
        )


# ---------------------------------------------------------------------------
# 4. Decoding and parsing
# ---------------------------------------------------------------------------


# -- Decoding: Content-Encoding -> bytes

try:  # optional: sentry-python sends "br" whenever brotli is importable
    import brotli as _brotli
except ImportError:
    try:
        import brotlicffi as _brotli
    except ImportError:
        _brotli = None


try:  # optional: Python 3.14 has zstd in the standard library ...
    from compression import zstd as _zstd
except ImportError:
    try:  # ... and elsewhere the zstandard package may be installed
        import zstandard as _zstd
    except ImportError:
        _zstd = None


try:  # optional in a Python built without liblzma / libbz2
    import lzma as _lzma
except ImportError:
    _lzma = None


try:
    import bz2 as _bz2
except ImportError:
    _bz2 = None


# What decompressors raise on bad data (bz2 raises OSError, lzma LZMAError).
_CORRUPT_ERRORS = (zlib.error, OSError, EOFError, ValueError) + tuple(
    getattr(module, name)
    for module, name in ((_lzma, "LZMAError"), (_brotli, "error"), (_zstd, "ZstdError"))
    if module is not None and hasattr(module, name)
)
_IDENTITY_ENCODINGS = ("", "identity", "utf-8", "utf8")


def _wire_int(text, digits=18):
    """A non-negative decimal from a header, path or query; None if it is not one."""
    text = text.strip() if isinstance(text, str) else ""
    if text.isascii() and text.isdigit() and len(text) <= digits:
        return int(text)
    return None


def _too_large(what, limit):
    return PayloadTooLarge(
        f"{what} is larger than the limit of {limit} bytes (raise it with --max-body)"
    )


# Compressed bytes fed to a decompressor at a time: what is left over after
# one gzip member is at most this much, so many members decode in linear time.
_DECODE_CHUNK = 64 * 1024
# Decoded bytes taken from a decompressor at a time: each piece is counted
# against the memory budget before the next is made.
_DECODE_PIECE = 1024 * 1024
MAX_MEMBERS = 1000  # gzip members (or xz, bz2, zstd streams) in one body


class _BoundedOutput:
    """Decoded bytes, refused (413) past ``limit``; keeps the first 64 KiB.
    ``hold(size)``, when given, is told of each piece as it comes (the
    server counts it against its memory budget, and may refuse: 503)."""

    def __init__(self, limit, name, hold=None):
        self.limit, self.name, self.parts, self.size = limit, name, [], 0
        self.hold = hold

    def room(self):
        return self.limit + 1 - self.size  # one more byte says "too large"

    def add(self, piece):
        self.parts.append(piece)
        self.size += len(piece)
        if self.size > self.limit:
            exc = _too_large(f"decoded {self.name} body", self.limit)
            exc.kept = b"".join(self.parts[:64])[:KEPT_OF_TOO_LARGE]
            raise exc
        if self.hold is not None:
            self.hold(len(piece))


class _ZlibStream:
    """``zlib.decompressobj`` with the API of lzma/bz2/zstd decompressors."""

    def __init__(self, wbits):
        self._dec, self._tail = zlib.decompressobj(wbits), b""

    def decompress(self, data, max_length):
        out = self._dec.decompress(self._tail or data, max_length)
        self._tail = self._dec.unconsumed_tail
        return out

    needs_input = property(lambda self: not self._tail)
    eof = property(lambda self: self._dec.eof)
    unused_data = property(lambda self: self._dec.unused_data)


def _decode_member(dec, view, pos, pending, out, name):
    """Feed one member to ``dec``; returns (position, bytes left over)."""
    while not dec.eof:
        chunk = b""
        if dec.needs_input:
            if pending:
                chunk, pending = pending, b""
            elif pos < len(view):
                chunk = view[pos : pos + _DECODE_CHUNK]
                pos += len(chunk)
            else:
                raise BadRequest(f"{name} data is truncated after {out.size} bytes")
        out.add(dec.decompress(chunk, min(out.room(), _DECODE_PIECE)))
    return pos, dec.unused_data


def _decode_stream(data, limit, name, start, members=True, hold=None):
    """The one bounded streaming decompressor every decoder in Kent uses.

    ``start()`` makes a decompressor (zlib, lzma, bz2, zstd style); output
    stops at ``limit`` (413, the first 64 KiB kept on the error); with
    ``members`` concatenated members are decoded, at most ``MAX_MEMBERS``.
    """
    out, view = _BoundedOutput(limit, name, hold), memoryview(data)
    pos, pending, count = 0, b"", 0
    while True:
        count += 1
        if count > MAX_MEMBERS:
            raise BadRequest(f"{name} data has more than {MAX_MEMBERS} members")
        try:
            pos, pending = _decode_member(start(), view, pos, pending, out, name)
        except _CORRUPT_ERRORS as exc:
            raise BadRequest(f"{name} data is corrupt: {exc}") from None
        if not members or (not pending and pos >= len(view)):
            return b"".join(out.parts)


def _inflate(data, wbits, limit, name, hold=None):
    """zlib/gzip/raw deflate with a bound on the output (bomb-safe)."""
    members = wbits == 47  # gzip may hold several members
    start = lambda: _ZlibStream(wbits)  # noqa: E731
    return _decode_stream(data, limit, name, start, members, hold)


class DecodeBudget:
    """What one request may still inflate: its body and everything decoded
    from inside it (replay recordings, compressed minidumps) stay within
    --max-body together; ``hold`` is told of what is decoded (see
    ``_BoundedOutput``)."""

    def __init__(self, limit, used=0, hold=None):
        self.left = max(0, limit - used)
        self.hold = hold

    def inflate(self, decode, data):
        out = decode(data, self.left, self.hold)
        self.left -= len(out)
        return out


def _gunzip(data, limit, hold=None):
    return _inflate(data, 47, limit, "gzip", hold)  # 47: gzip or zlib header


def _undeflate(data, limit, hold=None):
    # HTTP "deflate" is zlib-wrapped (RFC 1950); some clients send raw.
    try:
        return _inflate(data, 15, limit, "deflate", hold)
    except PayloadTooLarge:
        raise
    except BadRequest:
        return _inflate(data, -15, limit, "deflate", hold)


class _BrotliStream:
    """A brotli decompressor with the API of lzma/bz2/zstd decompressors."""

    def __init__(self):
        self._dec = _brotli.Decompressor()

    def decompress(self, data, max_length):
        try:
            return self._dec.process(data, output_buffer_limit=max_length)
        except TypeError:  # brotlicffi / older brotli: no output limit
            return self._dec.process(data)

    @property
    def needs_input(self):
        more = getattr(self._dec, "can_accept_more_data", None)
        return more() if more else True

    eof = property(lambda self: self._dec.is_finished())
    unused_data = b""


def _unbrotli(data, limit, hold=None):
    if _brotli is None:
        raise UnsupportedEncoding(
            "Content-Encoding 'br' needs a brotli module: pip install brotli "
            "(or kent[brotli]), or make the SDK use gzip, e.g. sentry-python "
            '_experiments={"transport_compression_algo": "gzip"}'
        )
    return _decode_stream(data, limit, "br", _BrotliStream, False, hold)


class _ZstandardStream:
    """The zstandard package's decompressor with the API of compression.zstd's.

    It has no output limit: input goes in 64-byte slices (at most a few MiB
    out each), and what is not fed yet waits as the tail.
    """

    def __init__(self):
        self._dec, self._tail = _zstd.ZstdDecompressor().decompressobj(), b""
        self.unused_data = b""

    def decompress(self, data, max_length):
        data, parts, size, pos = self._tail or data, [], 0, 0
        while pos < len(data) and size < max_length and not self._dec.eof:
            parts.append(self._dec.decompress(data[pos : pos + 64]))
            size, pos = size + len(parts[-1]), pos + 64
        self._tail = data[pos:]
        if self._dec.eof:  # the next frame's bytes: the slice's rest and the tail
            self.unused_data = self._dec.unused_data + bytes(self._tail)
            self._tail = b""
        return b"".join(parts)

    needs_input = property(lambda self: not self._tail)
    eof = property(lambda self: self._dec.eof)


def _zstd_decompressor():
    if hasattr(_zstd, "ZstdDecompressor") and not hasattr(
        _zstd.ZstdDecompressor(), "stream_reader"
    ):
        return _zstd.ZstdDecompressor()  # compression.zstd: bounded output
    return _ZstandardStream()


def _unzstd(data, limit, hold=None):
    if _zstd is None:
        raise UnsupportedEncoding(
            "Content-Encoding 'zstd' needs Python 3.14 (compression.zstd) or "
            "the zstandard package (pip install kent[zstd]); or make the SDK "
            "use gzip"
        )
    return _decode_stream(data, limit, "zstd", _zstd_decompressor, True, hold)


DECODERS = {
    "gzip": _gunzip,
    "x-gzip": _gunzip,
    "deflate": _undeflate,
    "br": _unbrotli,
    "zstd": _unzstd,
}


def supported_encodings():
    """The Content-Encoding values this Kent can decode right now."""
    names = ["gzip", "deflate"]
    names += ["br"] if _brotli is not None else []
    names += ["zstd"] if _zstd is not None else []
    return names


def decode_body(data, content_encoding="", limit=DEFAULT_MAX_BODY, hold=None):
    """Undo ``Content-Encoding``; raise a ``KentError`` for anything else.

    Several codings ("gzip, br") are undone last first, as HTTP says;
    ``hold`` is told of what is decoded (see ``_BoundedOutput``).
    """
    codings = [c.strip().lower() for c in (content_encoding or "").split(",")]
    for coding in reversed(codings):
        if coding in _IDENTITY_ENCODINGS:
            continue
        decoder = DECODERS.get(coding)
        if decoder is None:
            raise UnsupportedEncoding(
                f"unsupported Content-Encoding {coding!r}; Kent decodes "
                f"{', '.join(supported_encodings())} (Relay would answer 415 "
                "too); send one of those or no encoding"
            )
        data = decoder(data, limit, hold)
    if len(data) > limit:
        raise _too_large("request body", limit)
    return data


# -- Parsing: envelopes, items, store bodies, security reports, auth
# https://develop.sentry.dev/sdk/data-model/envelopes/


def make_warning(code, message, relay_status=None):
    """A protocol problem Kent tolerates but a real Sentry may not."""
    return {"code": code, "message": message, "relay_status": relay_status}


class ParsedItem:
    """One item understood from a request, before it is stored."""

    __slots__ = (
        "type",
        "envelope_header",
        "header",
        "raw",
        "body",
        "body_is_raw_json",
        "binary",
        "error",
        "warnings",
        "index",
        "offset",
        "decoded_size",
        "made_up_headers",
    )

    def __init__(self, item_type, envelope_header, header, raw, index=0):
        self.type = item_type
        self.envelope_header = envelope_header
        self.header = header
        self.raw = raw  # the item payload, exactly as sent (decoded transport)
        self.body = None
        self.body_is_raw_json = False  # body == json_loads(raw): stored lazily
        self.binary = False
        self.error = None
        self.warnings = []
        self.index = index
        self.offset = None  # where the payload starts in the envelope, if in one
        self.decoded_size = 0  # bytes inflated from raw (a replay recording)
        # Headers Kent wrote for a body that came without any (/store/,
        # /security/): the page and downloads use them, the JSON API says null.
        self.made_up_headers = False

    def __repr__(self):
        return f"<ParsedItem {self.index} {self.type} {len(self.raw)} bytes>"


def json_value_count(data):
    """At least as many as the values ``data`` holds: its ``, : [ {`` bytes
    (those in strings too: cheap to count, and never too few)."""
    return sum(data.count(c) for c in ("[{,:" if isinstance(data, str) else b"[{,:"))


def json_loads(data, max_values=MAX_JSON_VALUES):
    """``json.loads`` that reports absurd nesting as a ``ValueError``, and
    a document of more than ``max_values`` values as ``TooManyValues``."""
    if max_values is not None and len(data) > max_values:
        count = json_value_count(data)
        if count > max_values:
            raise TooManyValues(count, max_values)
    try:
        return json.loads(data)
    except RecursionError:
        raise ValueError("JSON is nested too deeply to decode") from None


# JSON has no NaN or infinities, though Python's json reads and writes them:
# in Kent's answers they are these strings, everywhere the same.
_NON_FINITE_JSON = {"nan": '"NaN"', "inf": '"Infinity"', "-inf": '"-Infinity"'}


def _json_scalar(value, escape):
    """One JSON scalar as text; anything else as its ``str()``, a string."""
    if isinstance(value, str):
        return escape(value)
    if value is None or value is True or value is False:
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        return _NON_FINITE_JSON.get(repr(value)) or float.__repr__(value)
    return escape(str(value))


def _json_key(key, escape):
    if isinstance(key, str):
        return escape(key)
    text = _json_scalar(key, escape)  # as json.dumps: 1 -> "1", None -> "null"
    return text if text.startswith('"') else escape(text)


def _json_container(value, depth, indent, separators, escape):
    """``(opening, [(text before, child)...], closing)`` of a dict or list."""
    item_sep, key_sep = separators
    pad = "" if indent is None else "\n" + " " * (indent * (depth + 1))
    end = "" if indent is None else "\n" + " " * (indent * depth)
    if isinstance(value, dict):
        entries = [(_json_key(k, escape) + key_sep, v) for k, v in value.items()]
        opening, closing = "{", "}"
    else:
        entries = [("", v) for v in value]
        opening, closing = "[", "]"
    children = [
        ((item_sep if i else "") + pad + key, child)
        for i, (key, child) in enumerate(entries)
    ]
    return opening, children, (end + closing) if entries else closing


def _json_walk(value, indent, separators, escape):
    """The JSON text of ``value``, walked with a list, not the call stack."""
    out, stack = [], [(value, 0)]
    while stack:
        top = stack.pop()
        if isinstance(top, str):  # text between values
            out.append(top)
            continue
        value, depth = top
        if not isinstance(value, (dict, list, tuple)):
            out.append(_json_scalar(value, escape))
            continue
        opening, children, closing = _json_container(
            value, depth, indent, separators, escape
        )
        out.append(opening)
        stack.append(closing)
        for text, child in reversed(children):
            stack += [(child, depth + 1), text]
    return "".join(out)


def json_text(value, indent=None, ensure_ascii=False, separators=None):
    """``json.dumps`` that no stored value can break.

    Any depth (a body nested near the parser's limit, read on a deeper
    stack), NaN and infinities as the strings of ``_NON_FINITE_JSON``,
    other objects as ``str()``. The fast C encoder first; the walk only
    when it fails.
    """
    if separators is None:
        separators = (", ", ": ") if indent is None else (",", ": ")
    try:
        return json.dumps(
            value,
            indent=indent,
            ensure_ascii=ensure_ascii,
            separators=separators,
            default=str,
            allow_nan=False,
        )
    except (ValueError, RecursionError, TypeError):
        escape = (
            json.encoder.encode_basestring_ascii
            if ensure_ascii
            else json.encoder.encode_basestring
        )
        return _json_walk(value, indent, separators, escape)


def _json_error_text(exc):
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at line {exc.lineno} column {exc.colno} (char {exc.pos})"
    return str(exc)  # UnicodeDecodeError says where itself


def _read_line(data, pos):
    """The line at ``pos`` without its newline, the next position and CR flag."""
    end = data.find(b"\n", pos)
    if end == -1:
        end = len(data)
    line = data[pos:end]
    crlf = line.endswith(b"\r")
    return (line[:-1] if crlf else line), end + 1, crlf


def _parse_header(data, pos, what):
    """A one-line JSON object header at ``pos``: (dict, next_pos, warnings)."""
    line, nxt, crlf = _read_line(data, pos)
    try:
        header = json_loads(line)
    except (ValueError, UnicodeDecodeError) as exc:
        detail = _json_error_text(exc)
        raise EnvelopeError(
            f"{what} at byte {pos} is not valid JSON: {detail}"
        ) from None
    if not isinstance(header, dict):
        raise EnvelopeError(f"{what} at byte {pos} is not a JSON object")
    warnings = []
    if crlf:
        warnings.append(
            make_warning(
                "crlf",
                f"{what} at byte {pos} ends with \\r\\n; Relay rejects this "
                "('missing newline after header or payload')",
                400,
            )
        )
    return header, nxt, warnings


def _looks_like_json_line(line):
    try:
        json_loads(line)
    except ValueError:
        return False
    return True


def _payload_with_length(data, start, length, index, item_type):
    """Payload of declared ``length``; tolerate a JSON line of another size."""
    end = start + length
    if end <= len(data) and (end == len(data) or data[end] == 0x0A):
        return data[start:end], end + 1, []
    if end > len(data):
        raise EnvelopeError(
            f"item {index} ({item_type}): declared length {length} but only "
            f"{len(data) - start} bytes remain (payload starts at byte {start})"
        )
    line, nxt, _ = _read_line(data, start)
    if item_type in JSON_ITEM_TYPES and line and _looks_like_json_line(line):
        warning = make_warning(
            "length-mismatch",
            f"item {index} ({item_type}): declared length {length} but the "
            f"JSON payload is {len(line)} bytes; Relay rejects this envelope",
            400,
        )
        return line, nxt, [warning]
    raise EnvelopeError(
        f"item {index} ({item_type}): declared length {length} ends at byte "
        f"{end}, which is {data[end : end + 1]!r}, not a newline"
    )


def _split_items(data, pos, envelope_header, seen):
    """Yield (ParsedItem, warnings) pairs for every item after ``pos``.

    ``seen["trailing"]`` is set when blank lines end the envelope.
    """
    index = 0
    while pos < len(data):
        if data[pos] == 0x0A:  # blank line between items: tolerated
            pos += 1
            seen["trailing"] = pos >= len(data)
            continue
        index += 1
        header, start, warnings = _parse_header(data, pos, f"item {index} header")
        item_type = header.get("type")
        if not isinstance(item_type, str) or not item_type:
            item_type = "unknown"
            warnings.append(
                make_warning(
                    "missing-type",
                    f"item {index} header has no 'type'; Relay rejects it",
                    400,
                )
            )
        length = header.get("length")
        if isinstance(length, int) and not isinstance(length, bool) and length >= 0:
            raw, pos, more = _payload_with_length(data, start, length, index, item_type)
            warnings += more
        else:
            raw, pos, crlf = _read_line(data, start)
            raw = raw + b"\r" if crlf else raw  # Relay keeps the \r in payload
        item = ParsedItem(item_type, envelope_header, header, raw, index)
        item.offset = start
        yield item, warnings


def _trailing_warning(seen):
    if seen.get("trailing"):
        return [
            make_warning(
                "trailing-newlines",
                "the envelope ends with more than one newline; Relay answers "
                "400 ('unexpected end of file')",
                400,
            )
        ]
    return []


def parse_envelope(data, limit=DEFAULT_MAX_BODY, hold=None):
    """Split envelope bytes into ``(envelope_header, items, warnings)``.

    Lenient where the meaning is still clear (``\\r\\n``, extra newlines, a
    JSON line whose declared length is wrong): those become warnings. Framing
    that cannot be understood raises ``EnvelopeError`` whose ``partial``
    holds the items read before it.
    """
    if not data:
        raise BadRequest("empty request body")
    data = bytes(data)
    envelope_header, pos, warnings = _parse_header(data, 0, "envelope header")
    items, seen, budget = [], {}, DecodeBudget(limit, len(data), hold)
    try:
        for item, item_warnings in _split_items(data, pos, envelope_header, seen):
            item.warnings = item_warnings
            items.append(item)
    except EnvelopeError as exc:
        exc.partial = [decode_item(item, budget) for item in items]
        raise
    for item in items:
        decode_item(item, budget)
    return envelope_header, items, warnings + _trailing_warning(seen)


def _decode_json_payload(item):
    try:
        item.body = json_loads(item.raw)
        item.body_is_raw_json = True
    except (ValueError, UnicodeDecodeError) as exc:
        item.error = f"item {item.index} ({item.type}): {_payload_error(item, exc)}"
        item.body = item.raw
        item.binary = True


def _payload_error(item, exc):
    """Why a JSON payload is bad, and where in the envelope (in bytes)."""
    if not item.raw.strip():
        return "empty payload where JSON was expected"
    detail = _json_error_text(exc)
    if item.offset is not None and isinstance(exc, json.JSONDecodeError):
        at = item.offset + len(exc.doc[: exc.pos].encode("utf-8", "surrogatepass"))
        detail = (
            f"{exc.msg} at byte {at} of the envelope (line {exc.lineno} "
            f"column {exc.colno} of the payload)"
        )
    return f"invalid JSON: {detail}"


def _decode_replay_recording(item, budget):
    """``{"segment_id":N}\\n`` then rrweb JSON, raw or zlib-compressed."""
    line, nxt, _ = _read_line(item.raw, 0)
    try:
        segment = json_loads(line)
        rest = item.raw[nxt:]
        compressed = not rest.lstrip().startswith(b"[")
        if compressed:  # within what the request may still decode
            inflate = lambda d, limit, hold: _inflate(  # noqa: E731
                d, 15, limit, "replay recording", hold
            )
            rest = budget.inflate(inflate, rest)
            item.decoded_size = len(rest)
        events = json_loads(rest)
    except PayloadTooLarge:
        raise  # the whole request is refused: 413
    except (ValueError, UnicodeDecodeError, KentError) as exc:
        item.error = f"item {item.index} (replay_recording): cannot decode: {exc}"
        item.body, item.binary = item.raw, True
        item.decoded_size = 0  # only the raw bytes are kept, not the inflated
        return
    item.body = {"segment": segment, "compressed": compressed, "events": events}


def decode_item(item, budget=None):
    """Fill ``item.body`` from ``item.raw`` by item type; errors go on the item."""
    if item.type in JSON_ITEM_TYPES:
        _decode_json_payload(item)
    elif item.type == "replay_recording":
        _decode_replay_recording(item, budget or DecodeBudget(DEFAULT_MAX_BODY))
    elif item.type == "statsd":
        item.body = item.raw.decode("utf-8", "replace")
    elif item.type not in ("attachment", "unknown") and item.raw[:1] in (b"{", b"["):
        _decode_json_payload(item)  # unknown types: JSON when it is JSON
        if item.error:
            item.error, item.body, item.binary = None, item.raw, True
            item.body_is_raw_json = False
    else:
        item.body, item.binary = item.raw, True
    return item


def _sniff_store_body(data, budget):
    """Legacy /store/ bodies: JSON, base64 JSON, zlib, or base64 zlib."""
    if data.lstrip()[:1] == b"{":
        return data
    candidates = [data]
    with contextlib.suppress(binascii.Error, ValueError):
        candidates.insert(0, base64.b64decode(data.strip(), validate=False))
    for candidate in candidates:
        if candidate.lstrip()[:1] == b"{":
            return candidate
        try:
            return _inflate(candidate, 15, budget.left, "zlib", budget.hold)
        except BadRequest:
            continue
    return data  # let the JSON parser say what is wrong


_STORE_TYPES = {
    "transaction": "transaction",
    "csp": "security",
    "hpkp": "security",
    "expectct": "security",
    "expectstaple": "security",
    "feedback": "feedback",
}


def parse_store_body(data, limit=DEFAULT_MAX_BODY, hold=None):
    """A legacy /store/ body: one event as JSON (maybe base64 and/or zlib)."""
    if not data:
        raise BadRequest("empty request body")
    raw = _sniff_store_body(bytes(data), DecodeBudget(limit, len(data), hold))
    try:
        body = json_loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        detail = _json_error_text(exc)
        raise BadRequest(f"invalid JSON data: {detail}") from None
    if not isinstance(body, dict):
        raise BadRequest("invalid JSON data: the event must be a JSON object")
    kind = body.get("type")  # any JSON: a list cannot be a dict key
    item_type = _STORE_TYPES.get(kind, "event") if isinstance(kind, str) else "event"
    item = ParsedItem(item_type, None, {"type": item_type}, raw, 1)
    item.body, item.body_is_raw_json = body, True
    return item


SECURITY_CONTENT_TYPES = frozenset(
    (
        "application/json",
        "application/csp-report",
        "application/expect-ct-report",
        "application/expect-ct-report+json",
        "application/expect-staple-report",
        "application/reports+json",
    )
)


def parse_security_reports(data, content_type=""):
    """CSP/HPKP/Expect-CT reports: one item per report, as a list."""
    if not data:
        raise BadRequest("empty request body")
    try:
        reports = json_loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        detail = _json_error_text(exc)
        raise BadRequest(f"invalid JSON in security report: {detail}") from None
    single = isinstance(reports, dict)
    if single:
        reports = [reports]
    if not isinstance(reports, list) or not all(isinstance(r, dict) for r in reports):
        raise BadRequest("a security report must be a JSON object or a list of them")
    if len(reports) > MAX_SECURITY_REPORTS:
        raise BadRequest(
            f"{len(reports)} security reports in one request; Kent takes at most "
            f"{MAX_SECURITY_REPORTS} (browsers send a few at a time)"
        )
    items = []
    for index, report in enumerate(reports, 1):
        raw = bytes(data) if single else to_json(report)
        item = ParsedItem("security", None, {"type": "security"}, raw, index)
        # Stored as bytes, parsed when read: a list of many reports held as
        # Python objects took ten times what the store counted.
        item.body, item.body_is_raw_json = report, True
        items.append(item)
    mime = content_type.split(";")[0].strip().lower()
    if mime not in SECURITY_CONTENT_TYPES:
        for item in items:
            item.warnings.append(
                make_warning(
                    "content-type",
                    f"Content-Type {mime or '(none)'!r} is not one Relay "
                    "accepts for security reports; Relay answers 415",
                    415,
                )
            )
    return items


# -- Multipart uploads: minidumps and attachments (relay utils/multipart.rs)

MINIDUMP_ATTACHMENT_TYPES = {
    "upload_file_minidump": "event.minidump",
    "__sentry-event": "event.payload",
    "__sentry-breadcrumb1": "event.breadcrumbs",
    "__sentry-breadcrumb2": "event.breadcrumbs",
    "view-hierarchy.json": "event.view_hierarchy",
}
_COMPRESSED_DUMPS = (
    (b"\x1f\x8b", ".gz", _gunzip),
    (
        b"\xfd7zXZ\x00",
        ".xz",
        lambda d, limit, hold: _decode_stream(
            d, limit, "xz", _lzma.LZMADecompressor, True, hold
        ),
    ),
    (
        b"BZh",
        ".bz2",
        lambda d, limit, hold: _decode_stream(
            d, limit, "bz2", _bz2.BZ2Decompressor, True, hold
        ),
    ),
    (b"\x28\xb5\x2f\xfd", ".zst", _unzstd),
)


class FormPart:
    """One part of a multipart/form-data body."""

    __slots__ = ("name", "filename", "content_type", "data")

    def __init__(self, name, filename, content_type, data):
        self.name, self.filename = name, filename
        self.content_type, self.data = content_type, data


def _disposition_params(value):
    params = {}
    for match in re.finditer(r';\s*([\w*-]+)="?((?:[^";\\]|\\.)*)"?', value):
        params[match.group(1).lower()] = match.group(2)
    return params


def _parse_part(chunk, index):
    head, sep, data = chunk.partition(b"\r\n\r\n")
    if not sep:
        raise BadRequest(f"multipart part {index} has no blank line after its headers")
    headers = {}
    for line in head.decode("utf-8", "replace").split("\r\n"):
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    params = _disposition_params(headers.get("content-disposition", ""))
    return FormPart(
        params.get("name", ""),
        params.get("filename"),
        headers.get("content-type"),
        data,
    )


def parse_multipart(data, content_type):
    """``multipart/form-data`` -> list of ``FormPart``."""
    match = re.search(r'boundary="?([^";]+)"?', content_type or "")
    if not content_type.lower().startswith("multipart/") or not match:
        raise BadRequest("expected multipart/form-data with a boundary")
    delimiter = b"--" + match.group(1).encode("latin-1")
    pieces = bytes(data).split(delimiter)
    if len(pieces) < 3:
        raise BadRequest(f"no multipart parts with boundary {match.group(1)!r}")
    parts = []
    for index, piece in enumerate(pieces[1:], 1):
        if piece.startswith(b"--"):
            break
        piece = piece[2:] if piece.startswith(b"\r\n") else piece.lstrip(b"\n")
        parts.append(
            _parse_part(piece[:-2] if piece.endswith(b"\r\n") else piece, index)
        )
    return parts


MAX_FORM_DEPTH = 32  # levels of sentry[a][b]... in a crash upload's form


def _set_bracketed(target, key, value):
    """``sentry[tags][k]=v`` -> target["tags"]["k"] = v."""
    names = re.findall(r"\[([^\]]*)\]", key)
    if len(names) > MAX_FORM_DEPTH:  # deeper stays one key: no 2000-deep event
        names[MAX_FORM_DEPTH - 1 :] = ["][".join(names[MAX_FORM_DEPTH - 1 :])]
    for name in names[:-1]:
        target = target.setdefault(name, {})
        if not isinstance(target, dict):
            return
    target[names[-1]] = value


def event_from_form(fields):
    """The event a crash upload describes: ``sentry`` JSON, chunks, brackets."""
    event, extra = {}, {}
    chunks = sorted(
        (k for k in fields if re.fullmatch(r"sentry__\d+", k)), key=lambda k: int(k[8:])
    )
    text = fields.get("sentry") or "".join(fields[k] for k in chunks)
    if text:
        try:
            parsed = json_loads(text)
        except ValueError as exc:
            raise BadRequest(
                f"the 'sentry' form field is not valid JSON: {exc}"
            ) from None
        event.update(parsed if isinstance(parsed, dict) else {})
    for key, value in fields.items():
        if key.startswith("sentry[") and key.endswith("]"):
            _set_bracketed(event, key, value)
        elif key != "sentry" and key not in chunks:
            extra[key] = value
    if extra:
        event.setdefault("extra", {}).update(extra)
    return event


def _inflate_minidump(part, budget):
    for magic, suffix, inflate in _COMPRESSED_DUMPS:
        if part.data.startswith(magic):
            try:
                part.data = budget.inflate(inflate, part.data)
            except PayloadTooLarge:
                raise
            except Exception as exc:  # zlib, lzma and bz2 raise their own types
                raise BadRequest(f"invalid compression container: {exc}") from None
            if part.filename and part.filename.endswith(suffix):
                part.filename = part.filename[: -len(suffix)]
    if not part.data.startswith((b"MDMP", b"PMDM")):
        raise BadRequest("invalid minidump: it does not start with MDMP")


def _attachment_item(part, index, attachment_type):
    header = {
        "type": "attachment",
        "length": len(part.data),
        "filename": part.filename or part.name,
        "content_type": part.content_type or "application/octet-stream",
        "attachment_type": attachment_type,
        "field_name": part.name,
    }
    item = ParsedItem("attachment", None, header, part.data, index)
    item.body, item.binary = part.data, True
    return item


def parse_crash_upload(parts, limit=DEFAULT_MAX_BODY, hold=None):
    """Form parts -> (event_id, [event item, attachment items...])."""
    budget = DecodeBudget(limit, sum(len(p.data) for p in parts), hold)
    files = [p for p in parts if p.filename is not None]
    fields = {
        p.name: p.data.decode("utf-8", "replace") for p in parts if p.filename is None
    }
    dumps = [p for p in files if p.name == "upload_file_minidump"]
    if not dumps:
        raise BadRequest("missing minidump: no file part named upload_file_minidump")
    for part in dumps:
        _inflate_minidump(part, budget)
    body = event_from_form(fields)
    event_id = normalize_event_id(body.get("event_id")) or uuid.uuid4().hex
    body["event_id"] = event_id
    envelope_header = {"event_id": event_id}
    header = {"type": "event", "kent_source": "crash upload form"}
    event = ParsedItem("event", envelope_header, header, to_json(body), 1)
    event.body = body
    items = [event]
    for index, part in enumerate(files, len(items) + 1):
        kind = MINIDUMP_ATTACHMENT_TYPES.get(part.name, "event.attachment")
        items.append(_attachment_item(part, index, kind))
    for item in items:
        item.envelope_header = envelope_header
    return event_id, items


def to_json(value, ensure_ascii=False):
    """Compact JSON bytes (sentry-python style with ``ensure_ascii=True``)."""
    text = json_text(value, ensure_ascii=ensure_ascii, separators=(",", ":"))
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate ("\ud800"): only \u escapes hold it
        return json_text(value, ensure_ascii=True, separators=(",", ":")).encode()


def _iso(timestamp):
    when = datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


NEL_CONTENT_TYPES = frozenset(("application/json", "application/reports+json"))


def parse_nel_reports(data, content_type="application/json"):
    """Network Error Logging: a JSON list of reports, one item each."""
    items = parse_security_reports(data, "application/json")
    mime = content_type.split(";")[0].strip().lower()
    for item in items:
        item.type, item.header = "nel", {"type": "nel"}
        if mime not in NEL_CONTENT_TYPES:
            item.warnings.append(
                make_warning(
                    "content-type",
                    f"Content-Type {mime or '(none)'!r} is not one Relay "
                    "accepts for NEL reports; Relay answers 415",
                    415,
                )
            )
    return items


def parse_otlp(data, content_type, otlp_signal):
    """OTLP/HTTP traces or logs: JSON decoded, protobuf kept as bytes."""
    mime = (content_type or "").split(";")[0].strip().lower()
    item_type = f"otel_{otlp_signal}"
    header = {"type": item_type, "content_type": mime}
    item = ParsedItem(item_type, {}, header, bytes(data), 1)
    if mime == "application/json":
        _decode_json_payload(item)
        if item.error:
            raise BadRequest(item.error)
    elif mime == "application/x-protobuf":
        item.body, item.binary = item.raw, True
    else:
        raise UnsupportedMediaType(
            f"OTLP wants Content-Type application/json or application/x-protobuf, "
            f"not {mime or '(none)'!r}"
        )
    return item


def check_in_from_query(slug, params, body=None):
    """A cron check-in sent by URL: ``/cron/<slug>/?status=ok&duration=3``."""
    if "status" not in params:
        raise BadRequest("a check-in by URL needs ?status=in_progress|ok|error")
    check_in = dict(body) if isinstance(body, dict) else {}
    check_in.update(monitor_slug=slug, status=params["status"])
    for key in ("check_in_id", "environment"):
        if key in params:
            check_in[key] = params[key]
    if "duration" in params:
        try:
            check_in["duration"] = float(params["duration"])
        except ValueError:
            raise BadRequest(
                f"duration {params['duration']!r} is not a number"
            ) from None
    check_in.setdefault("check_in_id", uuid.uuid4().hex)
    item = ParsedItem("check_in", {}, {"type": "check_in"}, to_json(check_in), 1)
    item.body = check_in
    return item


_EVENT_ID = re.compile(
    r"[0-9a-fA-F]{32}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
    r"[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)


def parse_project_id(text):
    """A project id from a path, query or form field: an int, or BadRequest."""
    text = str(text)
    number = _wire_int(text) if text.isdigit() else None
    if number is not None:
        return number
    if text.isdigit():
        raise BadRequest(f"bad project id {text[:40]!r}...: too long")
    raise BadRequest(f"bad project {text!r}: a project id is a positive integer")


def normalize_event_id(value):
    """32 lowercase hex digits, or None when ``value`` is not an event id."""
    if not isinstance(value, str) or not _EVENT_ID.fullmatch(value):
        return None
    return value.replace("-", "").lower()


# -- Auth: every place Relay reads it (relay-server extractors/request_meta.rs)


def _parse_sentry_auth(value):
    """``Sentry sentry_key=..., sentry_version=7`` -> dict of its fields."""
    fields = {}
    for part in value.split(" ", 1)[1].split(","):
        key, _, val = part.partition("=")
        if key.strip():
            fields[key.strip()] = val.strip()
    return fields


def _parse_basic_auth(value):
    try:
        decoded = base64.b64decode(value.split(" ", 1)[1].strip()).decode()
    except (ValueError, UnicodeDecodeError, IndexError):
        return None
    return {"sentry_key": decoded.partition(":")[0]}


def _auth_sources(headers, query, path_key):
    sources = []
    for name in ("X-Sentry-Auth", "Authorization"):
        value = headers.get(name) or ""
        if value[:7].lower() == "sentry ":
            sources.append((name.lower(), _parse_sentry_auth(value)))
        elif name == "Authorization" and value[:6].lower() == "basic ":
            basic = _parse_basic_auth(value)
            if basic:
                sources.append(("basic", basic))
    if "sentry_" in query:
        fields = {
            k: v[0]
            for k, v in urllib.parse.parse_qs(query).items()
            if k.startswith("sentry_")
        }
        if fields:
            sources.append(("query", fields))
    if path_key:
        sources.append(("path", {"sentry_key": path_key}))
    return sources


def build_dsn(base_url, project_id, key):
    """``http://127.0.0.1:5000``, 1, ``public`` -> ``http://public@127.0.0.1:5000/1``."""
    return base_url.replace("://", f"://{key}@", 1) + f"/{project_id}"


def parse_dsn(dsn):
    """``https://key@host/prefix/42`` -> (public key, project id) or None."""
    try:
        parts = urllib.parse.urlsplit(dsn)
        match = re.match(r"\d+", parts.path.rstrip("/").rsplit("/", 1)[-1])
        return parts.username or "", match.group(0) if match else ""
    except (ValueError, AttributeError):
        return None


def _auth_warnings(auth):
    warnings = []
    key = auth.get("sentry_key") or ""
    if auth["source"] is None:
        warnings.append(
            make_warning(
                "no-auth",
                "no auth found (X-Sentry-Auth, Authorization, sentry_key in "
                "the query, or an envelope dsn); Relay answers 401",
                401,
            )
        )
    elif len(key.split(".")[0]) != 32 and key != DEFAULT_PROJECT_KEY:
        # Kent's own DSN key "public" reaches no Relay: no warning on every event.
        warnings.append(
            make_warning(
                "public-key",
                f"public key {key!r} is not 32 characters; Relay answers 400 "
                "'bad sentry DSN public key'",
                400,
            )
        )
    version = str(auth.get("sentry_version") or "7").split(".")[0]
    if not version.isdigit() or int(version) > 7:
        warnings.append(
            make_warning(
                "protocol-version",
                f"sentry_version {version!r}: Relay accepts 7 or lower",
                400 if version.isdigit() else 401,
            )
        )
    return warnings


def parse_auth(headers, query="", path_key=None, envelope_dsn=None):
    """Where the request authenticated, its fields, and Relay's objections.

    Returns ``(auth, warnings)``; ``auth["source"]`` is None without auth.
    """
    sources = _auth_sources(headers, query, path_key)
    warnings = []
    if len(sources) > 1:
        names = ", ".join(name for name, _ in sources)
        warnings.append(
            make_warning(
                "multiple-auth",
                f"auth found in several places ({names}); Relay answers 401 "
                "'multiple authorization payloads detected'",
                401,
            )
        )
    if sources:
        source, fields = sources[0]
    elif isinstance(envelope_dsn, str) and parse_dsn(envelope_dsn):
        source, fields = "envelope-dsn", {"sentry_key": parse_dsn(envelope_dsn)[0]}
    else:
        source, fields = None, {}
    auth = dict(fields, source=source)
    return auth, warnings + _auth_warnings(auth)


# -- Envelope-level checks, shown as warnings (Relay would reject or alter)


_FRACTION = re.compile(r"\.(\d+)")


def parse_rfc3339(text):
    """An RFC 3339 time (``Z``, any number of fraction digits) as an aware
    datetime, UTC when it names no zone; ``ValueError`` otherwise. Python
    3.10's ``fromisoformat`` takes only 3 or 6 fraction digits: Go sends 9."""
    text = text.strip().replace("Z", "+00:00").replace("z", "+00:00")
    text = _FRACTION.sub(lambda m: "." + (m.group(1) + "000000")[:6], text, count=1)
    when = datetime.datetime.fromisoformat(text)
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    return when


def _sent_at_warnings(envelope_header, now):
    sent_at = envelope_header.get("sent_at")
    if sent_at is None:
        # Optional: Relay then corrects no clock drift and changes nothing.
        # sentry-native and sentry-cli leave it out.
        return []
    try:
        drift = parse_rfc3339(str(sent_at)).timestamp() - now
    except ValueError:
        return [
            make_warning(
                "bad-sent-at",
                f"sent_at {sent_at!r} is not an RFC 3339 time; Relay answers 400",
                400,
            )
        ]
    if abs(drift) >= RELAY_MIN_CLOCK_DRIFT:
        way = "ahead of" if drift > 0 else "behind"
        return [
            make_warning(
                "clock-drift",
                f"sent_at is {abs(drift) / 60:.0f} min {way} Kent's clock; Relay "
                f"will shift the event's timestamps by that much",
            )
        ]
    return []


def _event_id_warnings(envelope_header, items):
    warnings = []
    header_id = envelope_header.get("event_id")
    if header_id is not None and normalize_event_id(header_id) is None:
        warnings.append(
            make_warning(
                "bad-event-id",
                f"envelope event_id {header_id!r} is not a UUID; Relay answers 400",
                400,
            )
        )
    for item in items:
        if item.type not in EVENT_LIKE_TYPES or not isinstance(item.body, dict):
            continue
        body_id = normalize_event_id(item.body.get("event_id"))
        if header_id and body_id and body_id != normalize_event_id(header_id):
            item.warnings.append(
                make_warning(
                    "event-id-mismatch",
                    f"item {item.index}: body event_id {body_id} differs from the "
                    f"envelope's {header_id}; Relay keeps the envelope's",
                )
            )
    return warnings


def _count_warnings(items):
    event_like = [i for i in items if i.type in EVENT_LIKE_TYPES]
    if len(event_like) > 1:
        kinds = ", ".join(i.type for i in event_like)
        return [
            make_warning(
                "several-events",
                f"{len(event_like)} event-like items in one envelope ({kinds}); "
                "Relay allows one: it answers 200, then drops the others as "
                "duplicates",
            )
        ]
    return []


def _item_warnings(item):
    warnings = []
    limit = RELAY_ITEM_LIMITS.get(item.type)
    if limit is not None and len(item.raw) > limit:
        warnings.append(
            make_warning(
                "too-large",
                f"item {item.index} ({item.type}) is {len(item.raw)} bytes, over "
                f"Relay's limit of {limit}; Relay answers 413",
                413,
            )
        )
    declared = item.header.get("item_count")
    if item.type in CONTAINER_TYPES and isinstance(item.body, dict):
        actual = item.body.get("items")
        actual = len(actual) if isinstance(actual, list) else None
        if declared is not None and actual is not None and declared != actual:
            warnings.append(
                make_warning(
                    "item-count",
                    f"item {item.index} ({item.type}): item_count {declared} but "
                    f"the container holds {actual}; Relay rejects the envelope",
                    400,
                )
            )
    return warnings


def check_envelope(envelope_header, items, data_size, project_id, auth, now):
    """Envelope-wide warnings; item warnings are added to the items."""
    warnings = _sent_at_warnings(envelope_header, now)
    warnings += _event_id_warnings(envelope_header, items)
    warnings += _count_warnings(items)
    for item in items:
        item.warnings += _item_warnings(item)
    if data_size > RELAY_MAX_ENVELOPE:
        warnings.append(
            make_warning(
                "too-large",
                f"envelope is {data_size} bytes, over Relay's 200 MiB",
                413,
            )
        )
    dsn = envelope_header.get("dsn")
    parsed = parse_dsn(dsn) if isinstance(dsn, str) else None
    if parsed:
        key, dsn_project = parsed
        if dsn_project and dsn_project != str(project_id):
            warnings.append(
                make_warning(
                    "dsn-mismatch",
                    f"envelope dsn names project {dsn_project} but the URL "
                    f"project {project_id}; Relay answers 400",
                    400,
                )
            )
        if auth.get("sentry_key") and key and key != auth.get("sentry_key"):
            warnings.append(
                make_warning(
                    "dsn-mismatch",
                    f"envelope dsn key {key!r} differs from the request's "
                    f"{auth.get('sentry_key')!r}; Relay answers 400",
                    400,
                )
            )
    return warnings


# -- Summaries: one line that says what an item is, for every item type


def _get(value, *path):
    """``value[path[0]][path[1]]...`` or None; tolerates any shape."""
    for key in path:
        if isinstance(value, dict):
            value = value.get(key)
        elif (
            isinstance(value, list)
            and isinstance(key, int)
            and -len(value) <= key < len(value)
        ):
            value = value[key]
        else:
            return None
    return value


def _text(value, limit=200):
    text = value if isinstance(value, str) else json_text(value)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _message_of(body):
    for path in (("logentry", "formatted"), ("logentry", "message"), ("message",)):
        value = _get(body, *path)
        if isinstance(value, dict):
            value = value.get("formatted") or value.get("message")
        if value:
            return _text(value)
    return None


def _summarize_event(body, header):
    values = _get(body, "exception", "values")
    if not isinstance(values, list) and isinstance(_get(body, "exception"), list):
        values = body["exception"]
    if isinstance(values, list) and values and isinstance(values[-1], dict):
        main = values[-1]  # Sentry lists causes first, the raised one last
        kind, value = main.get("type"), main.get("value")
        if kind and value:
            return _text(f"{kind}: {value}")
        if kind or value:
            return _text(kind or value)
    message = _message_of(body)
    if message:
        return message
    if _get(body, "type") == "transaction" or _get(body, "transaction"):
        return _summarize_transaction(body, header)
    if header.get("kent_source"):
        return _text(f"native crash upload, release {_get(body, 'release')}")
    return _text(f"event {_get(body, 'level') or ''} (no message)".replace("  ", " "))


def _epoch(value):
    """A Sentry timestamp, epoch seconds or RFC 3339 text (sentry-python sends
    text), as a float; None when it is neither."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        with contextlib.suppress(ValueError, OverflowError):
            return parse_rfc3339(value).timestamp()
    return None


def _summarize_transaction(body, header):
    name = _get(body, "transaction") or "(unnamed)"
    op = _get(body, "contexts", "trace", "op")
    spans = _get(body, "spans")
    start = _epoch(_get(body, "start_timestamp"))
    end = _epoch(_get(body, "timestamp"))
    parts = [f"transaction {name}"]
    if op:
        parts.append(f"op={op}")
    if isinstance(spans, list):
        parts.append(f"{len(spans)} spans")
    if start is not None and end is not None:
        parts.append(f"{(end - start) * 1000:.1f} ms")
    return _text(" ".join(parts))


def _or_missing(value, name):
    """``value``, or ``(no name)`` where the payload left it out."""
    return f"(no {name})" if value is None or value == "" else value


def _summarize_session(body, header):
    status = _or_missing(_get(body, "status"), "status")
    release = _get(body, "attrs", "release") or _get(body, "release")
    errors = _get(body, "errors") or 0
    release = f", release {release}" if release else ""
    return _text(f"session {status}, {errors} errors{release}")


def _summarize_sessions(body, header):
    aggregates = _get(body, "aggregates") or []
    totals = collections.Counter()
    for bucket in aggregates if isinstance(aggregates, list) else []:
        for key, count in bucket.items() if isinstance(bucket, dict) else []:
            if isinstance(count, int) and key != "started":
                totals[key] += count
    counts = ", ".join(f"{k}={v}" for k, v in sorted(totals.items())) or "empty"
    return _text(f"session aggregates: {counts}")


def _summarize_check_in(body, header):
    slug = _or_missing(_get(body, "monitor_slug"), "monitor_slug")
    status = _or_missing(_get(body, "status"), "status")
    duration = _get(body, "duration")
    extra = f" ({duration:.2f} s)" if isinstance(duration, (int, float)) else ""
    return _text(f"check-in {slug}: {status}{extra}")


def _summarize_container(body, header, noun):
    records = _get(body, "items")
    records = records if isinstance(records, list) else []
    first = _get(records, 0, "body") or _get(records, 0, "name")
    first = first or _get(records, 0, "description") or ""
    plural = "" if len(records) == 1 else "s"
    return _text(f"{len(records)} {noun}{plural}: {_text(first, 120)}")


def _summarize_spans(body, header):
    """Streamed spans: named by the root span (no parent among them), not by
    whichever span the SDK happened to put first."""
    spans = _get(body, "items")
    if not isinstance(spans, list):
        return _text(f"span {_get(body, 'op') or ''} {_get(body, 'description') or ''}")
    spans = [s for s in spans if isinstance(s, dict)]
    ids = {s.get("span_id") for s in spans}
    root = next((s for s in spans if s.get("parent_span_id") not in ids), None)
    if root is None or root is _get(spans, 0):
        return _summarize_container(body, header, "span")
    name = root.get("name") or root.get("description") or ""
    plural = "" if len(spans) == 1 else "s"
    return _text(f"{len(spans)} span{plural}: {_text(name, 120)}")


def _summarize_client_report(body, header):
    dropped = []
    for key in ("discarded_events", "rate_limited_events", "filtered_events"):
        for entry in _get(body, key) or []:
            if isinstance(entry, dict):
                reason = entry.get("reason") or key.split("_")[0]
                dropped.append(
                    f"{entry.get('quantity')} {entry.get('category')} ({reason})"
                )
    return _text(
        "SDK dropped: " + ", ".join(dropped) if dropped else "SDK dropped nothing"
    )


def _summarize_attachment(body, header):
    name = header.get("filename") or "(no filename)"
    size = len(body) if isinstance(body, (bytes, bytearray)) else header.get("length")
    kind = header.get("content_type") or "application/octet-stream"
    attachment_type = header.get("attachment_type")
    extra = f", {attachment_type}" if attachment_type else ""
    return _text(f"attachment {name} ({size} bytes, {kind}{extra})")


def _summarize_security(body, header):
    report = _get(body, "csp-report")
    if isinstance(report, dict):
        directive = report.get("effective-directive") or report.get(
            "violated-directive"
        )
        return _csp_line(directive, report.get("blocked-uri"))
    if _get(body, "type") == "csp-violation":
        inner = _get(body, "body") or {}
        return _csp_line(_get(inner, "effectiveDirective"), _get(inner, "blockedURL"))
    for key in ("expect-ct-report", "expect-staple-report", "known-pins"):
        if _get(body, key) is not None:
            host = _get(body, key, "hostname") or _get(body, "hostname")
            name = key.replace("known-pins", "hpkp")
            return _text(f"{name}: {_or_missing(host, 'hostname')}")
    return _text(f"security report {_or_missing(_get(body, 'type'), 'type')}")


def _csp_line(directive, blocked):
    directive = _or_missing(directive, "directive")
    return _text(f"csp-report: {directive} blocked {_or_missing(blocked, 'URL')}")


def _summarize_replay(body, header):
    if isinstance(body, dict) and "segment" in body:
        events = body.get("events")
        count = len(events) if isinstance(events, list) else "?"
        segment = _get(body, "segment", "segment_id")
        return f"replay recording segment {segment}: {count} rrweb events"
    replay_id = _or_missing(_get(body, "replay_id"), "replay_id")
    segment = _or_missing(_get(body, "segment_id"), "segment_id")
    return _text(
        f"replay {replay_id} segment {segment}"
        f" ({_get(body, 'replay_type') or 'session'})"
    )


def _summarize_profile(body, header):
    platform = _get(body, "platform") or header.get("platform") or "?"
    samples = _get(body, "profile", "samples")
    count = f", {len(samples)} samples" if isinstance(samples, list) else ""
    name = _get(body, "transaction", "name") or _get(body, "profiler_id") or ""
    return _text(f"profile ({platform}{count}) {name}".strip())


def _summarize_feedback(body, header):
    message = _get(body, "contexts", "feedback", "message") or _get(body, "comments")
    who = _get(body, "contexts", "feedback", "contact_email") or _get(body, "email")
    return _text(f"feedback: {message}" + (f" ({who})" if who else ""))


def _summarize_otlp(body, header):
    otlp_signal = header.get("type", "otel").replace("otel_", "OTLP ")
    if isinstance(body, (bytes, bytearray)):
        return f"{otlp_signal} (protobuf, {len(body)} bytes, kept as raw bytes)"
    key = "spans" if "traces" in otlp_signal else "logRecords"
    records = [
        record
        for resource in _get(body, "resourceSpans") or _get(body, "resourceLogs") or []
        for scope in (_get(resource, "scopeSpans") or _get(resource, "scopeLogs") or [])
        for record in (_get(scope, key) or [])
    ]
    first = _get(records, 0, "name") or _get(records, 0, "body", "stringValue") or ""
    return _text(f"{otlp_signal}: {len(records)} {key}: {first}")


def _summarize_nel(body, header):
    return _text(
        f"NEL {_get(body, 'body', 'type')}: {_get(body, 'url')} "
        f"(status {_get(body, 'body', 'status_code')})"
    )


SUMMARIZERS = {
    "event": _summarize_event,
    "transaction": _summarize_transaction,
    "session": _summarize_session,
    "sessions": _summarize_sessions,
    "check_in": _summarize_check_in,
    "log": lambda b, h: _summarize_container(b, h, "log record"),
    "span": _summarize_spans,
    "trace_metric": lambda b, h: _summarize_container(b, h, "metric"),
    "client_report": _summarize_client_report,
    "attachment": _summarize_attachment,
    "security": _summarize_security,
    "raw_security": _summarize_security,
    "replay_event": _summarize_replay,
    "replay_recording": _summarize_replay,
    "profile": _summarize_profile,
    "profile_chunk": _summarize_profile,
    "feedback": _summarize_feedback,
    "user_report": lambda b, h: _text(
        f"user report: {_get(b, 'comments')} ({_get(b, 'email') or _get(b, 'name')})"
    ),
    "nel": _summarize_nel,
    "otel_traces": _summarize_otlp,
    "otel_logs": _summarize_otlp,
    "statsd": lambda b, h: _text(f"statsd: {b}"),
}


# Kent 2.x's ``summary`` is the contract existing tests assert on, so it is
# kept to the byte: the first exception (2.x did not pick the raised one), the
# message, a CSP directive; nothing shortened. Kent's own line is ``title``.
_NO_2X_SUMMARY = None


def _2x_exception_summary(body):
    first = _get(body, "exception", "values", 0)
    if isinstance(first, dict) and "type" in first and "value" in first:
        return f"{first['type']}: {first['value']}"
    return _NO_2X_SUMMARY  # 2.x answered 500 here


def _2x_csp_summary(body):
    if "csp-report" in body:
        report = body["csp-report"]
        if isinstance(report, dict):
            return f"csp-report: {report.get('violated-directive', 'unknown')}"
        return _NO_2X_SUMMARY
    if body.get("type") == "csp-violation":
        inner = body.get("body", {})
        if isinstance(inner, dict):
            return f"csp-report: {inner.get('effectiveDirective', 'unknown')}"
    return _NO_2X_SUMMARY


def _2x_text(value):
    """A 2.x summary that was text; 2.x passed other values on as they were."""
    return value if isinstance(value, str) else _NO_2X_SUMMARY


def summarize_2x(body):
    """Kent 2.x's summary of a JSON body, or None where 2.x said 'no summary'
    or gave no text (a message object, an exception without a type)."""
    if not isinstance(body, dict) or not body:
        return _NO_2X_SUMMARY
    if body.get("error"):  # 2.x's own parse errors were bodies like this
        return _2x_text(body["error"])
    if _get(body, "exception", "values"):
        return _2x_exception_summary(body)
    if body.get("message"):
        return _2x_text(body["message"])
    return _2x_csp_summary(body)


def summarize(item_type, body, header=None, error=None):
    """One line describing an item; never raises, never says 'no summary'."""
    header = header or {}
    if error:
        return _text(error, 300)
    summarizer = SUMMARIZERS.get(item_type)
    try:
        if summarizer is not None and not isinstance(body, (bytes, bytearray)):
            return summarizer(body, header)
        if summarizer in (_summarize_attachment, _summarize_otlp):
            return summarizer(body, header)
    except (TypeError, ValueError, AttributeError, KeyError, ArithmeticError) as exc:
        return f"{item_type} item (cannot summarize: {exc})"
    if isinstance(body, (bytes, bytearray)):
        return f"{item_type} item, {len(body)} bytes"
    return f"{item_type} item, {_json_shape(body)}"


def _json_shape(value):
    """``JSON object with 3 keys: a, b, c``: what an unknown item holds."""
    if isinstance(value, dict) and value:
        keys = ", ".join(_text(str(k), 40) for k in list(value)[:5])
        more = ", ..." if len(value) > 5 else ""
        return _text(f"JSON object with {len(value)} keys: {keys}{more}")
    if isinstance(value, dict):
        return "empty JSON object"
    if isinstance(value, list):
        return f"JSON list of {len(value)}"
    return _text(f"JSON {type(value).__name__}: {value!r}", 120)


# -- Building envelopes (the inverse of parsing; samples and replay use it)

ENVELOPE_CONTENT_TYPE = "application/x-sentry-envelope"


def _item_bytes(header, payload):
    payload = (
        payload if isinstance(payload, bytes) else to_json(payload, ensure_ascii=True)
    )
    header = dict(header, length=len(payload))
    return to_json(header, ensure_ascii=True) + b"\n" + payload + b"\n"


def build_envelope(envelope_header, items):
    """Envelope bytes from a header and ``(item_header, payload)`` pairs."""
    return (
        to_json(envelope_header, ensure_ascii=True)
        + b"\n"
        + b"".join(_item_bytes(h, p) for h, p in items)
    )


# -- Accepting a request: each ingestion route's parser, pure
#
# ``accept_*(request, data, auth, warnings)``: the decoded body of one
# request to an ingestion route -> an ``Accepted`` (or a KentError). The
# handler reads, decodes, stores and answers; these only understand.


class Accepted:
    """What an endpoint understood: items to store and the answer to give."""

    def __init__(
        self,
        items,
        warnings,
        *,
        status=200,
        value=None,
        content_type="application/json",
        auth=None,
    ):
        self.items = items
        self.warnings = warnings
        self.status = status
        self.value = value  # JSON value, or bytes sent as they are
        self.content_type = content_type
        self.auth = auth
        self.project_id = None  # set when the body names the project (tunnel)


def query_params(query):
    """``a=1&b=2`` -> ``{"a": "1", "b": "2"}``; the last of a repeated key."""
    pairs = urllib.parse.parse_qs(query, keep_blank_values=True)
    return {k: v[-1] for k, v in pairs.items()}


class IngestRequest:
    """What a parser reads of a request besides its body: the headers, the
    query, the route's path parts (``args``) and ``--max-body``."""

    __slots__ = ("headers", "query", "args", "max_body", "hold")

    def __init__(
        self, headers, query="", args=None, max_body=DEFAULT_MAX_BODY, hold=None
    ):
        self.headers = headers
        self.query = query
        self.args = args or {}
        self.max_body = max_body
        self.hold = hold  # told of what is decoded from inside the body

    def params(self):
        return query_params(self.query)

    @property
    def content_type(self):
        """The media type alone, lower-case (``multipart/form-data``)."""
        return (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()


# A 1x1 transparent GIF, Relay's answer to GET /store/ image beacons.
PIXEL_GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


def _envelope_event_id(header, items):
    """The envelope's event id, else the first event-like item's."""
    return normalize_event_id(header.get("event_id")) or next(
        (
            normalize_event_id(_get(i.body, "event_id"))
            for i in items
            if i.type in EVENT_LIKE_TYPES
        ),
        None,
    )


def accept_envelope(request, data, auth, warnings, project_id=None):
    """An envelope to ``/api/<project>/envelope/`` (or a route that names
    the project another way: ``project_id``)."""
    if project_id is None:
        project_id = request.args.get("project")
    header, items, found = parse_envelope(data, request.max_body, request.hold)
    if auth["source"] is None and header.get("dsn"):
        auth, warnings = parse_auth(
            request.headers, request.query, envelope_dsn=header["dsn"]
        )
    found += warnings + check_envelope(
        header, items, len(data), project_id, auth, time.time()
    )
    event_id = _envelope_event_id(header, items)
    value = {"id": event_id, "success": True} if event_id else {"success": True}
    return Accepted(items, found, value=value, auth=auth)


def _dsn_project(data):
    """The project of an envelope's ``dsn`` header (digits, as written), or None."""
    header = _parse_header(bytes(data), 0, "envelope header")[0] if data else {}
    dsn = header.get("dsn")
    dsn = parse_dsn(dsn) if isinstance(dsn, str) else None
    return dsn[1] if dsn and _wire_int(dsn[1]) is not None else None


def accept_tunnel(request, data, auth, warnings):
    """A tunnel target: the project comes from the envelope's ``dsn``."""
    project = _dsn_project(data)
    if project is None:
        raise BadRequest(
            "a tunnelled envelope needs a 'dsn' envelope header naming "
            "the project (the JS SDK adds it when 'tunnel' is set)"
        )
    accepted = accept_envelope(request, data, auth, warnings, project)
    accepted.project_id = int(project)
    return accepted


def accept_spotlight(request, data, auth, warnings):
    """Spotlight's ``POST /stream``: an envelope with no auth and no project
    in the URL. The project is the envelope ``dsn``'s (an SDK with a DSN and
    ``spotlight`` sends a copy here), else Spotlight's."""
    # Spotlight never sends auth; saying so on every item is noise.
    warnings = [w for w in warnings if w["code"] != "no-auth"]
    project = _dsn_project(data)
    project = SPOTLIGHT_PROJECT_ID if project is None else int(project)
    accepted = accept_envelope(request, data, auth, warnings, project)
    accepted.project_id = project
    return accepted


def _made_up_event_id(item):
    """The item's own event id, else a new one, as its envelope header."""
    event_id = normalize_event_id(item.body.get("event_id")) or uuid.uuid4().hex
    item.envelope_header = {"event_id": event_id}
    item.made_up_headers = True
    return event_id


def accept_store(request, data, auth, warnings):
    """The legacy ``/store/`` body: one event (or an envelope, by type)."""
    if request.content_type == "application/x-sentry-envelope":
        return accept_envelope(request, data, auth, warnings)
    item = parse_store_body(data, request.max_body, request.hold)
    event_id = _made_up_event_id(item)
    return Accepted([item], warnings, value={"id": event_id, "success": True})


def accept_store_beacon(request, data, auth, warnings):
    """raven-js image beacons: ``GET /store/?sentry_data=<json>``; a GIF."""
    payload = request.params().get("sentry_data")
    if not payload:
        raise BadRequest("GET /store/ needs ?sentry_data=<event JSON>")
    item = parse_store_body(payload.encode("utf-8"))
    _made_up_event_id(item)
    return Accepted([item], warnings, value=PIXEL_GIF, content_type="image/gif")


def accept_security(request, data, auth, warnings):
    """CSP, Expect-CT and HPKP reports; release and environment by query."""
    items = parse_security_reports(data, request.headers.get("Content-Type") or "")
    params = request.params()
    for item in items:
        item.envelope_header = {"event_id": uuid.uuid4().hex}
        item.made_up_headers = True
        for key in ("sentry_release", "sentry_environment"):
            if key in params:
                item.header[key] = params[key]
    return Accepted(items, warnings, value={"success": True})


def accept_nel(request, data, auth, warnings):
    items = parse_nel_reports(data, request.headers.get("Content-Type") or "")
    return Accepted(items, warnings, value=b"")


def accept_minidump(request, data, auth, warnings):
    """Crash uploads (sentry-native, Crashpad, Breakpad): text event id."""
    if request.content_type in ("application/octet-stream", "application/x-dmp"):
        parts = [FormPart("upload_file_minidump", "Minidump", None, bytes(data))]
    else:
        parts = parse_multipart(data, request.headers.get("Content-Type") or "")
    event_id, items = parse_crash_upload(parts, request.max_body, request.hold)
    text = str(uuid.UUID(event_id)).encode()
    return Accepted(items, warnings, value=text, content_type="text/plain")


def accept_attachments(request, data, auth, warnings):
    """Attachments for an event already sent; Relay answers 201."""
    parts = parse_multipart(data, request.headers.get("Content-Type") or "")
    event_id = request.args["event_id"]
    header = {"event_id": normalize_event_id(event_id) or event_id}
    files = (p for p in parts if p.filename is not None)
    items = [_attachment_item(p, i, "event.attachment") for i, p in enumerate(files, 1)]
    for item in items:
        item.envelope_header = header
    return Accepted(items, warnings, status=201, value=b"")


def accept_unreal(request, data, auth, warnings):
    """An Unreal Engine crash report: kept as one attachment."""
    event_id = uuid.uuid4().hex
    header = {
        "type": "attachment",
        "filename": "UE4CrashReport.zip",
        "attachment_type": "unreal.report",
    }
    item = ParsedItem("attachment", {"event_id": event_id}, header, bytes(data), 1)
    item.body, item.binary = item.raw, True
    text = str(uuid.UUID(event_id)).encode()
    return Accepted([item], warnings, value=text, content_type="text/plain")


def accept_cron(request, data, auth, warnings):
    """Check-ins by URL; Relay answers 202 and never 429."""
    body = None
    if data.strip()[:1] == b"{":
        try:
            body = json_loads(data)
        except ValueError as exc:
            raise BadRequest(f"check-in body is not valid JSON: {exc}") from None
    item = check_in_from_query(request.args["slug"], request.params(), body)
    return Accepted([item], warnings, status=202, value=b"")


def accept_otlp(request, data, auth, warnings):
    """OpenTelemetry traces or logs (OTLP/HTTP, JSON or protobuf)."""
    signal_name = request.args["otlp_signal"]
    item = parse_otlp(data, request.headers.get("Content-Type"), signal_name)
    return Accepted([item], warnings, status=202, value=b"{}")


# ---------------------------------------------------------------------------
# 5. Debugging
# ---------------------------------------------------------------------------


# -- Leak scanner: secrets and personal data in what an SDK sent

LEAK_SCAN_LIMIT = 4 * 1024 * 1024  # bytes of a binary item scanned for patterns
LEAK_TEXT_LIMIT = 256 * 1024  # characters of one string value scanned for patterns
LEAK_MAX_LEAVES = 100_000  # keys and values of one JSON item scanned
LEAK_MAX_FINDINGS = 200  # per item: a dump full of e-mails stays readable
CANARY_MAX_HITS = 20  # raw-byte occurrences reported per canary and item


# Values that show a field was already scrubbed: "[Filtered]", "***", "",
# None, "{{auto}}" (ask Relay to fill in the IP), also as a Python repr.
# Matched against stripped text: "\s*" on both ends of an optional middle
# would be quadratic on a long run of spaces.
_FILTER_MARKER = re.compile(
    r"""^['"]?(?:\[[A-Za-z][\w .:!-]*\]|%5B\w+%5D|\*+|x{3,}|<[\w .-]*>"""
    r"""|\{\{auto\}\}|none|null|undefined|)['"]?$""",
    re.IGNORECASE,
)
_BOOLEAN_TEXT = frozenset(("true", "false", "'true'", "'false'"))
_VERSION_KEYS = frozenset(
    ("modules", "sdk", "packages", "integrations", "release", "dist", "build")
)


# Cookie and Authorization keys, also as WSGI environ keys (HTTP_COOKIE).
_COOKIE_WORDS = frozenset(("cookie", "cookies"))
_AUTH_WORDS = frozenset(("authorization",))


# Source lines sent as frame context: a hard-coded token there is a leak, an
# address or e-mail in a literal or comment is not worth a finding.
_SOURCE_KEYS = frozenset(("pre_context", "context_line", "post_context"))
_SOURCE_QUIET_KINDS = frozenset(("email", "ip_address", "card_number"))
_IP_KEY_ENDINGS = frozenset(
    (
        ("ip",),
        ("ipaddress",),
        ("ip", "address"),
        ("remote", "addr"),
        ("remote", "address"),
        ("client", "ip"),
        ("client", "address"),
        ("forwarded", "for"),
        ("real", "ip"),
        ("connecting", "ip"),
    )
)


# A key is secret when its last word is one of these (so ``db_password`` and
# ``X-Api-Key`` are, ``token_count`` and ``password_reset_url`` are not).
_SECRET_LAST_WORDS = frozenset(
    (
        "password",
        "passwd",
        "passphrase",
        "secret",
        "token",
        "apikey",
        "credentials",
        "credential",
        "privatekey",
        "sessionid",
        "phpsessid",
        "csrftoken",
        "xsrf",
        "csrf",
        "auth",
        "jwt",
    )
)
_SECRET_LAST_PAIRS = frozenset(
    (
        ("api", "key"),
        ("private", "key"),
        ("access", "key"),
        ("secret", "key"),
        ("session", "id"),
        ("session", "key"),
        ("connect", "sid"),
        ("mysql", "pwd"),
    )
)
_SECRET_WHOLE_KEYS = frozenset(("session", "user session", "symfony"))
_CONTEXT_KINDS = frozenset(("cookie", "auth_header", "secret_key"))


@functools.lru_cache(maxsize=4096)  # the same keys come in every event
def _key_words(key):
    """``X-Api-Key`` / ``apiKey`` / ``api_key`` -> ``["api", "key"]``."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", str(key))
    return tuple(
        word.rstrip("0123456789") or word
        for word in re.findall(r"[a-z0-9]+", spaced.lower())
    )


def _is_secret_key(words):
    if not words:
        return False
    return (
        words[-1] in _SECRET_LAST_WORDS
        or tuple(words[-2:]) in _SECRET_LAST_PAIRS
        or " ".join(words) in _SECRET_WHOLE_KEYS
    )


def _key_kind(key):
    """What a key says about its value: cookie, auth_header, secret_key, ip_field."""
    words = _key_words(key)
    if words[-1:] and words[-1] in _COOKIE_WORDS:
        return "cookie"
    if words[-1:] and words[-1] in _AUTH_WORDS:
        return "auth_header"
    if tuple(words[-2:]) in _IP_KEY_ENDINGS or tuple(words[-1:]) in _IP_KEY_ENDINGS:
        return "ip_field"
    return "secret_key" if _is_secret_key(words) else None


def _is_version_key(key):
    words = _key_words(key)
    return "version" in words or " ".join(words) in _VERSION_KEYS


def mask_secret(secret):
    """A masked excerpt that never holds the whole secret: ``pa***rd``."""
    secret = str(secret)
    if len(secret) >= 8:
        masked = f"{secret[:2]}***{secret[-2:]}"
    elif len(secret) >= 5:
        masked = f"{secret[0]}***{secret[-1]}"
    else:
        masked = "***"
    # Lone surrogates (from undecodable bytes) would break JSON answers.
    return masked.encode("utf-8", "replace").decode("utf-8")


def _pointer_token(key):
    """One JSON pointer segment (RFC 6901: ``~`` -> ``~0``, ``/`` -> ``~1``)."""
    return str(key).replace("~", "~0").replace("/", "~1")


def _is_pair(item):
    """``["Cookie", "a=b"]``: headers, cookies and query strings as pairs."""
    return isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)


def _child_context(key, pointer, context):
    """What a key says about everything below it (see ``_walk_json``)."""
    if context == "quiet" or _is_version_key(key) or (key == "_meta" and not pointer):
        return "quiet"
    if key in _SOURCE_KEYS:
        return "source"
    return _sticky_kind(key, context)


def _sticky_kind(key, context):
    """Below a cookie or Authorization key every value is that, whatever its key."""
    if context in ("cookie", "auth_header"):
        return context
    return _key_kind(key) or context


def _json_children(pointer, value, context):
    """Entries one level below a dict or list, in document order.

    A dict key comes as its own leaf (``is_key``) right before its value.
    """
    if isinstance(value, dict):
        for key, child in value.items():
            child_pointer = f"{pointer}/{_pointer_token(key)}"
            yield child_pointer, key, True, context
            yield child_pointer, child, False, _child_context(key, pointer, context)
        return
    for index, item in enumerate(value):
        child_pointer = f"{pointer}/{index}"
        if _is_pair(item) and context != "quiet":
            yield f"{child_pointer}/0", item[0], False, context
            pair_context = _sticky_kind(item[0], context)
            yield f"{child_pointer}/1", item[1], False, pair_context
        else:
            yield child_pointer, item, False, context


def _walk_json(value, pointer="", context=None):
    """Yield ``(pointer, leaf, is_key, context)`` for every key and scalar.

    ``context`` is what the nearest telling key said: a ``_key_kind``,
    ``"source"`` (frame context lines) or ``"quiet"`` (versions, ``_meta``:
    only canaries count there). Iterative: any nesting depth json.loads
    accepts is fine.
    """
    stack = [iter([(pointer, value, False, context)])]
    while stack:
        entry = next(stack[-1], None)
        if entry is None:
            stack.pop()
        elif not entry[2] and isinstance(entry[1], (dict, list)):
            stack.append(_json_children(entry[0], entry[1], entry[3]))
        else:
            yield entry


def _leaf_text(value):
    """Strings and numbers as text; booleans and null hold nothing."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return repr(value)
    return None


# -- Patterns: (kind, regex, group holding the secret, validator(match, text))


def _luhn_valid(digits):
    total = 0
    for position, char in enumerate(reversed(digits)):
        number = int(char)
        if position % 2:
            number = number * 2 - 9 if number > 4 else number * 2
        total += number
    return total % 10 == 0


# Issuer prefixes (Visa, Mastercard, Amex, Discover, JCB, Diners, UnionPay):
# a Luhn check alone flags one in ten thread ids and nanosecond timestamps.
_CARD_PREFIX = re.compile(
    r"^(?:4|5[1-5]|2[2-7]|3[47]|6011|64[4-9]|65|62|35|30[0-5]|36|38)"
)


def _is_card_number(match, text):
    digits = re.sub(r"[ -]", "", match.group(0))
    return (
        13 <= len(digits) <= 19
        and bool(_CARD_PREFIX.match(digits))
        and _luhn_valid(digits)
    )


def _version_nearby(text, start):
    before = text[max(0, start - 16) : start].lower()
    return any(word in before for word in ("version", "release", "sdk", "build"))


def _is_reportable_ip(match, text):
    """An IP in free text, unless it is loopback, unspecified, reserved or a version."""
    candidate = match.group(1)
    try:
        address = ipaddress.ip_address(candidate)
    except ValueError:
        return False
    if address.version == 6 and "::" not in candidate and candidate.count(":") != 7:
        return False
    if address.is_loopback or address.is_unspecified or address.is_multicast:
        return False
    if address.is_reserved or address.is_link_local or candidate.startswith("0."):
        return False
    return not _version_nearby(text, match.start(1))


def _is_secret_query(match, text):
    value = urllib.parse.unquote_plus(match.group(2))
    return _key_kind(
        urllib.parse.unquote_plus(match.group(1))
    ) in _CONTEXT_KINDS and not _FILTER_MARKER.match(value.strip())


def _is_not_marker(match, text):
    return not _FILTER_MARKER.match(urllib.parse.unquote(match.group(1)).strip())


def _is_plausible_email(match, text):
    """A top-level domain in one case (``.com``, ``.COM``), as people write it."""
    tld = match.group(0).rsplit(".", 1)[1]
    return tld.islower() or tld.isupper()


def _bearer_looks_random(match, text):
    token = match.group(1)
    return len(token) >= 20 or any(char.isdigit() for char in token)


_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"


# Linear time on any input (the scanner holds the GIL: one slow value stalls
# every request). Each pattern may only start where the run of characters it
# accepts begins (a lookbehind, not \b, which matches inside "a.a.a."), and
# every repeat is bounded, so no start reads more than a few hundred
# characters. tests/test_limits.py scans 1 MB adversarial strings per pattern.
_SCHEME = r"(?<![a-z0-9+.-])[a-z][a-z0-9+.-]{0,31}://"


# Priority order: a span claimed by an earlier pattern is not reported again
# (a JWT in a Bearer header is one "jwt", not also a "bearer_token").
_LEAK_PATTERNS = (
    (
        "private_key",
        re.compile(r"-----BEGIN (?:[A-Z0-9]{1,16} ){0,4}PRIVATE KEY-----"),
        0,
        None,
    ),
    (
        "sentry_dsn_secret",
        re.compile(_SCHEME + r"[0-9a-f]{32}:([0-9a-f]{32})@", re.I),
        1,
        None,
    ),
    (
        "sentry_dsn_secret",
        re.compile(r"\bsentry_secret=([0-9a-f]{32})\b", re.I),
        1,
        None,
    ),
    (
        "url_password",
        re.compile(_SCHEME + r"[^\s:/?#@]{1,256}:([^\s/?#@]{1,256})@", re.I),
        1,
        _is_not_marker,
    ),
    (
        "jwt",
        re.compile(r"(?<![\w-])eyJ[\w-]{5,8192}\.eyJ[\w-]{5,8192}\.[\w-]{0,8192}"),
        0,
        None,
    ),
    (
        "bearer_token",
        re.compile(r"\bBearer\s{1,16}([\w.~+/-]{8,4096}={0,3})"),
        1,
        _bearer_looks_random,
    ),
    ("aws_key", re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b"), 0, None),
    (
        "github_token",
        re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_\w{22,255})\b"),
        0,
        None,
    ),
    (
        "stripe_key",
        re.compile(r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,255}\b"),
        0,
        None,
    ),
    (
        "slack_token",
        re.compile(
            r"(?<![\w-])xox[abposr]-[A-Za-z0-9-]{10,255}"
            r"|https://hooks\.slack\.com/services/[\w/]{1,255}"
        ),
        0,
        None,
    ),
    (
        "query_secret",  # a value ends at the next separator, "?" included
        re.compile(r"(?:^|(?<=[?&;]))([^=&?;#\s]{1,128})=([^&?#\s;]{1,4096})"),
        2,
        _is_secret_query,
    ),
    (
        "card_number",
        re.compile(r"(?<![\w.-])\d(?:[ -]?\d){12,18}(?![\w-]|[ .]\d)"),
        0,
        _is_card_number,
    ),
    (
        "email",
        re.compile(
            r"(?<![\w.%+-])[\w.%+-]{1,64}@[A-Za-z0-9-]{1,63}"
            r"(?:\.[A-Za-z0-9-]{1,63}){0,8}\.[A-Za-z]{2,24}\b"
        ),
        0,
        _is_plausible_email,
    ),
    (
        "ip_address",
        re.compile(rf"(?<![\w.@/-])({_OCTET}(?:\.{_OCTET}){{3}})(?![\w-]|\.\d)"),
        1,
        _is_reportable_ip,
    ),
    (
        "ip_address",
        re.compile(
            r"(?<![\w:.])([0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7})(?![\w:.])"
        ),
        1,
        _is_reportable_ip,
    ),
)


def _overlaps(span, starts, ends):
    """Whether ``span`` overlaps one of the disjoint, sorted spans taken."""
    index = bisect.bisect_right(starts, span[0])
    if index and ends[index - 1] > span[0]:
        return True
    return index < len(starts) and starts[index] < span[1]


# Something every pattern above needs; most strings in an event have none of
# it, and one search is far cheaper than fifteen.
_LEAK_TRIGGER = re.compile(
    r"-----BEGIN|://|sentry_secret|eyJ|Bearer|A[KSB]IA|ACCA|gh[pousr]_|github_pat_"
    r"|[sr]k_(?:live|test)_|xox|=|@|\d(?:[ -]?\d){12}|\d\.\d{1,3}\.\d"
    r"|[0-9A-Fa-f]{0,4}:[0-9A-Fa-f]{0,4}:"
)


def find_leak_spans(text, limit=LEAK_MAX_FINDINGS):
    """``[(kind, start, end)]`` of the secrets in ``text``, in text order."""
    if not _LEAK_TRIGGER.search(text):
        return []
    found, starts, ends = [], [], []
    for kind, pattern, group, is_valid in _LEAK_PATTERNS:
        for match in pattern.finditer(text):
            span = match.span(group)
            if _overlaps(span, starts, ends) or (
                is_valid and not is_valid(match, text)
            ):
                continue
            index = bisect.bisect_left(starts, span[0])
            starts.insert(index, span[0])
            ends.insert(index, span[1])
            found.append((kind, span[0], span[1]))
            if len(found) >= limit:
                return sorted(found, key=lambda entry: entry[1])
    return sorted(found, key=lambda entry: entry[1])


def _finding(pointer, kind, secret, prefix=""):
    return {"pointer": pointer, "kind": kind, "excerpt": prefix + mask_secret(secret)}


def _is_secret_value(text):
    stripped = text.strip()
    if _FILTER_MARKER.match(stripped) or stripped.lower() in _BOOLEAN_TEXT:
        return False
    return not (stripped.isdigit() and len(stripped) <= 3)


def _ip_in_field(text):
    """The first IP in a field meant for IPs (``1.2.3.4, 5.6.7.8`` too)."""
    for part in re.split(r"[,\s]+", text.strip()):
        try:
            ipaddress.ip_address(part.strip("[]'\""))
        except ValueError:
            continue
        return part.strip("[]'\"")
    return None


def _canaries_in(pointer, text, canaries):
    return [
        _finding(pointer, "canary", canary) for canary in canaries if canary in text
    ]


def _leaf_findings(pointer, text, context):
    """Findings for one string or number, given what its key said."""
    if context == "quiet":
        return []
    if context in _CONTEXT_KINDS:
        secret = text.strip().strip("'\"")  # frame vars are reprs: 'hunter2'
        return [_finding(pointer, context, secret)] if _is_secret_value(text) else []
    if context == "ip_field":
        address = _ip_in_field(text)
        if address:
            return [_finding(pointer, "ip_address", address)]
    spans = find_leak_spans(text[:LEAK_TEXT_LIMIT])
    if context == "source":
        spans = [span for span in spans if span[0] not in _SOURCE_QUIET_KINDS]
    return [_finding(pointer, kind, text[start:end]) for kind, start, end in spans]


def _scan_json(body, canaries, seen_canaries):
    """Findings leaf by leaf; canaries met are added to ``seen_canaries``.

    At most LEAK_MAX_LEAVES keys and values: a 300,000-frame event took
    seconds, holding the GIL (the raw canary search still reads all)."""
    leaves = _walk_json(body)
    for count, (pointer, leaf, is_key, context) in enumerate(leaves):
        if count >= LEAK_MAX_LEAVES:
            return
        text = _leaf_text(leaf)
        if text is None:
            continue
        yield from _canaries_in(pointer, text, canaries)
        seen_canaries.update(c for c in canaries if c in text)
        if is_key:
            continue
        if isinstance(leaf, str):
            yield from _leaf_findings(pointer, text, context)
        elif abs(leaf) >= 10**12 and context not in ("quiet", "source"):
            yield from _leaf_findings(pointer, text, None)  # a card as a number


def _raw_canary_offsets(raw, canary):
    needle = canary.encode("utf-8")
    offset = raw.find(needle)
    while offset != -1 and offset < len(raw):
        yield offset
        offset = raw.find(needle, offset + 1)


def _raw_canary_findings(raw, canaries, limit=CANARY_MAX_HITS):
    for canary in canaries:
        for count, offset in enumerate(_raw_canary_offsets(raw, canary)):
            if count >= limit:
                break
            yield _finding("", "canary", canary, f"byte {offset}: ")


_PRINTABLE_RUN = re.compile(rb"[\t\n\r\x20-\x7e]{8,}")
_CONTROL_BYTES = bytes(range(9)) + bytes(range(14, 32)) + b"\x7f"


def _looks_like_text(data):
    """Few control bytes in the first 8 KiB: text (any encoding), else binary."""
    sample = data[:8192]
    controls = len(sample) - len(sample.translate(None, _CONTROL_BYTES))
    return controls * 20 <= len(sample)


def _text_segments(data):
    """``(byte offset, text)`` to scan: the whole text, or like ``strings(1)``
    the printable runs of binary data (a minidump, an image)."""
    if _looks_like_text(data):
        yield 0, data.decode("utf-8", "surrogateescape")  # re-encodes exactly
        return
    for run in _PRINTABLE_RUN.finditer(data):
        yield run.start(), run.group().decode("ascii")


def _segment_findings(base, text):
    position, offset = 0, base
    for kind, start, end in find_leak_spans(text):
        offset += len(text[position:start].encode("utf-8", "surrogateescape"))
        position = start
        yield _finding("", kind, text[start:end], f"byte {offset}: ")


def _scan_binary(raw, canaries):
    """Attachments and other bytes: the decoded text, with byte offsets."""
    yield from _raw_canary_findings(raw, canaries)
    for base, text in _text_segments(raw[:LEAK_SCAN_LIMIT]):
        yield from _segment_findings(base, text)


def _unique(findings, limit=LEAK_MAX_FINDINGS):
    seen, result = set(), []
    for finding in findings:
        key = (finding["pointer"], finding["kind"], finding["excerpt"])
        if key not in seen:
            seen.add(key)
            result.append(finding)
        if len(result) >= limit:
            break
    return result


def _raw_bytes(raw, body):
    if isinstance(raw, (bytes, bytearray)):
        return bytes(raw)
    if isinstance(body, (bytes, bytearray)):
        return bytes(body)
    return (body if isinstance(body, str) else "").encode("utf-8")


def scan_leaks(item_type, body, raw, canaries=()):
    """Secrets and personal data in one item: ``[{pointer, kind, excerpt}]``.

    JSON bodies are scanned leaf by leaf (pointer per RFC 6901), binary and
    text bodies as decoded text (pointer ``""``, byte offset in the excerpt).
    A canary is any case-sensitive occurrence of a value the user planted.
    ``item_type`` is accepted for callers; every type is scanned the same way.
    """
    canaries = [c for c in dict.fromkeys(canaries or ()) if isinstance(c, str) and c]
    raw = _raw_bytes(raw, body)
    if isinstance(body, (bytes, bytearray, str)) or body is None:
        return _unique(_scan_binary(raw, canaries))
    seen_canaries = set()
    findings = list(_scan_json(body, canaries, seen_canaries))
    hidden = [c for c in canaries if c not in seen_canaries]
    findings += _raw_canary_findings(raw, hidden)  # e.g. inside a \\u escape
    return _unique(findings)


# -- Search: where in an item a text occurs


def search_item(body, raw, binary, q):
    """JSON pointers of keys and values containing ``q`` (case-insensitive).

    Binary and text bodies answer ``[""]`` when their decoded text holds it.
    """
    needle = str(q or "").lower()
    if not needle:
        return []
    if binary or isinstance(body, (bytes, bytearray, str)) or body is None:
        text = _raw_bytes(raw, body).decode("utf-8", "replace")
        return [""] if needle in text.lower() else []
    hits = {}
    for pointer, leaf, _, _ in _walk_json(body):
        text = leaf if isinstance(leaf, str) else json.dumps(leaf)
        if needle in text.lower():
            hits[pointer] = True
    return list(hits)


# -- Diff: two bodies field by field; the SDK's _meta annotations apart
# https://develop.sentry.dev/sdk/data-model/event-payloads/#meta (AnnotatedValue)

_REMARK_ACTIONS = {
    "x": "removed",
    "s": "filtered",
    "m": "masked",
    "p": "pseudonymized",
    "e": "encrypted",
}


def _describe_remark(remark, original_length):
    """``["!limit", "x", 253, 256]`` -> ``trimmed to 256 (was 1000)``."""
    remark = remark if isinstance(remark, list) else [remark]
    rule = str(remark[0]) if remark else "?"
    action = remark[1] if len(remark) > 1 and isinstance(remark[1], str) else ""
    action = _REMARK_ACTIONS.get(action, "changed")
    if rule == "!limit":
        size = remark[3] if len(remark) > 3 else None
        trimmed = f"trimmed to {size}" if size is not None else "trimmed"
        return trimmed + (f" (was {original_length})" if original_length else "")
    if rule == "!config":
        return f"{action} by the SDK's configuration (!config)"
    if rule == "!raw":
        return f"{action}: raw data the SDK could not parse (!raw)"
    return f"{action} by rule {rule}"


def describe_meta(meta):
    """A readable line for one ``_meta`` node (``{"rem": ..., "len": ...}``)."""
    if not isinstance(meta, dict):
        return _text(meta, 80)
    length = meta.get("len")
    remarks = meta.get("rem") if isinstance(meta.get("rem"), list) else []
    parts = [_describe_remark(remark, length) for remark in remarks]
    if length is not None and not any(str(_get(r, 0)) == "!limit" for r in remarks):
        parts.append(f"original length {length}")
    for error in meta.get("err") or []:
        parts.append(
            f"error: {_text(error[0] if isinstance(error, list) else error, 80)}"
        )
    if "val" in meta:
        parts.append(f"original value {_text(meta['val'], 60)}")
    return "; ".join(parts) or "annotated"


def _meta_annotations(meta):
    """``{pointer: description}`` for a whole ``_meta`` tree."""
    found, stack = {}, [("", meta)]
    while stack:
        pointer, node = stack.pop()
        if not isinstance(node, dict):
            continue
        if "" in node:
            found[pointer] = describe_meta(node[""])
        children = [(k, v) for k, v in node.items() if k != ""]
        for key, child in reversed(children):
            stack.append((f"{pointer}/{_pointer_token(key)}", child))
    return found


def _same(old, new):
    return type(old) is type(new) and old == new


def _diff_dicts(old, new, pointer, out):
    """Report keys only one side has; return the pairs to compare deeper."""
    deeper = []
    for key in old:
        child = f"{pointer}/{_pointer_token(key)}"
        if key in new:
            deeper.append((old[key], new[key], child))
        else:
            out["removed"].append({"pointer": child, "value": old[key]})
    for key in new:
        if key not in old:
            child = f"{pointer}/{_pointer_token(key)}"
            out["added"].append({"pointer": child, "value": new[key]})
    return deeper


def _diff_lists(old, new, pointer, out):
    """Report indexes only one side has; return the pairs to compare deeper."""
    for index in range(len(new), len(old)):
        out["removed"].append({"pointer": f"{pointer}/{index}", "value": old[index]})
    for index in range(len(old), len(new)):
        out["added"].append({"pointer": f"{pointer}/{index}", "value": new[index]})
    pairs = zip(old, new, strict=False)
    return [(a, b, f"{pointer}/{index}") for index, (a, b) in enumerate(pairs)]


def _diff_values(old, new, pointer, out):
    """Append what differs between ``old`` and ``new`` to ``out`` (iterative)."""
    stack = [(old, new, pointer)]
    while stack:
        old, new, pointer = stack.pop()
        if isinstance(old, dict) and isinstance(new, dict):
            stack += reversed(_diff_dicts(old, new, pointer, out))
        elif isinstance(old, list) and isinstance(new, list):
            stack += reversed(_diff_lists(old, new, pointer, out))
        elif not _same(old, new):
            out["changed"].append({"pointer": pointer, "old": old, "new": new})


def _without_meta(body):
    if isinstance(body, dict) and "_meta" in body:
        return {key: value for key, value in body.items() if key != "_meta"}
    return body


def _meta_entries(old, new):
    """One entry per annotated pointer and side: ``a``, ``b`` or ``both``."""
    left = _meta_annotations(_get(old, "_meta"))
    right = _meta_annotations(_get(new, "_meta"))
    entries = []
    for pointer in dict.fromkeys([*left, *right]):
        if left.get(pointer) == right.get(pointer):
            entries.append(
                {"pointer": pointer, "annotation": left[pointer], "side": "both"}
            )
            continue
        for side, annotations in (("a", left), ("b", right)):
            if pointer in annotations:
                entry = {
                    "pointer": pointer,
                    "annotation": annotations[pointer],
                    "side": side,
                }
                entries.append(entry)
    return entries


def diff_bodies(a, b):
    """``{added, removed, changed, meta}`` between two bodies (JSON pointers).

    Dicts compare by key and lists by index; ``_meta`` (what the SDK trimmed
    or filtered) is reported under ``meta`` with a readable annotation per
    side instead of as data. Bytes bodies differ as a whole at ``""``.
    """
    out = {"added": [], "removed": [], "changed": [], "meta": _meta_entries(a, b)}
    if isinstance(a, (bytes, bytearray)) or isinstance(b, (bytes, bytearray)):
        if a != b:
            out["changed"].append(
                {"pointer": "", "old": _binary_note(a), "new": _binary_note(b)}
            )
        return out
    _diff_values(_without_meta(a), _without_meta(b), "", out)
    return out


def _binary_note(value):
    if isinstance(value, (bytes, bytearray)):
        return f"<{len(value)} bytes>"
    return value


# ---------------------------------------------------------------------------
# 6. Store
# ---------------------------------------------------------------------------


def _sdk_of(item, auth):
    """(name, version) of the SDK from the body, envelope header or auth."""
    for source in (_get(item.body, "sdk"), _get(item.envelope_header, "sdk")):
        if isinstance(source, dict) and source.get("name"):
            return {"name": source.get("name"), "version": source.get("version")}
    client = auth.get("sentry_client") if auth else None
    if client:
        name, _, version = client.partition("/")
        return {"name": name, "version": version or None}
    return None


_BODY_IS_RAW_JSON = object()  # StoredEvent._body: parse raw when read


def _parse_kept_json(raw):
    """``json.loads`` of a body that parsed at ingest.

    JSON nested near the recursion limit parsed then, from a shallow stack,
    and may not from a deeper one: parse it again on a fresh thread.
    """
    try:
        return json.loads(raw)
    except RecursionError:
        box = []

        def parse():
            try:
                box.append(json_loads(raw))
            except ValueError as exc:  # said in the caller, not by excepthook
                box.append(exc)

        worker = threading.Thread(target=parse)
        worker.start()
        worker.join()
        if isinstance(box[0], ValueError):
            raise box[0] from None
        return box[0]


class StoredEvent:
    """One received item: what every API, page and feature reads.

    ``id`` is Kent's own id (a UUID string, as Kent 2.x); ``event_id`` is the
    SDK's event id (32 hex) when the item belongs to an event.
    """

    __slots__ = (
        "seq",
        "id",
        "project_id",
        "event_id",
        "type",
        "envelope_header",
        "header",
        "made_up_headers",
        "_body",
        "raw",
        "binary",
        "received",
        "request",
        "auth",
        "warnings",
        "error",
        "status",
        "fault",
        "request_id",
        "summary",
        "title",
        "sdk",
        "level",
        "size",
        "_findings",
        "_summary_json",
        "_view_cost",
    )

    def __init__(self, project_id, item, request=None, auth=None, warnings=()):
        self.seq = 0
        self.id = ""
        self.received = 0.0
        self.project_id = project_id
        self.type = item.type
        self.envelope_header = item.envelope_header
        self.header = item.header
        self.made_up_headers = item.made_up_headers
        # A parsed tree kept for every stored event made the garbage collector
        # walk all of them again and again (it halved ingest speed), and held
        # each payload twice. Where the body is the raw JSON, keep only bytes.
        lazy = item.body_is_raw_json
        self._body = _BODY_IS_RAW_JSON if lazy else item.body
        self.raw = item.raw
        self.binary = item.binary
        self.error = item.error
        self.request = request or {}
        self.auth = auth or {}
        self.warnings = list(warnings) + item.warnings
        self.event_id = normalize_event_id(
            _get(item.envelope_header, "event_id") or _get(item.body, "event_id")
        )
        self.status = 200
        self.fault = None
        self.request_id = self.request.get("id")
        self.sdk = _sdk_of(item, self.auth)
        # ``title`` is Kent's line for every item; ``summary`` is Kent 2.x's
        # wherever 2.x had one, so tests written against 2.x keep passing.
        self.title = summarize(item.type, item.body, item.header, item.error)
        self.summary = summarize_2x(item.body) or self.title
        level = _get(item.body, "level") if isinstance(item.body, dict) else None
        self.level = level if isinstance(level, str) else None
        # A body held parsed beside its raw bytes is counted twice.
        twice = not (item.binary or lazy)
        self.size = len(item.raw) * (2 if twice else 1) + 1024
        # Inflated and parsed (a replay recording): Python objects take
        # several times the JSON's bytes.
        self.size += item.decoded_size * PARSED_JSON_FACTOR
        self._findings = None  # (canary version, findings)
        self._summary_json = None  # (canary version, list entry): read often
        self._view_cost = None

    def __repr__(self):
        return f"<StoredEvent {self.seq} {self.type} {self.title!r}>"

    @property
    def body(self):
        """The decoded payload. A JSON item is kept as its bytes and parsed on
        every read: each read gives a fresh copy, and changes to it are not
        kept. Read it once per use (or use ``parsed()``)."""
        body = self._body
        return _parse_kept_json(self.raw) if body is _BODY_IS_RAW_JSON else body

    def as_text(self):
        """This event with its payload as text (a body too deep to draw)."""
        view = copy.copy(self)
        view._body = bytes(self.raw).decode("utf-8", "replace")
        return view

    def parsed(self):
        """This event with its body parsed once: for readers that look often."""
        if self._body is not _BODY_IS_RAW_JSON:
            return self
        view = copy.copy(self)
        view._body = _parse_kept_json(self.raw)
        return view

    @body.setter
    def body(self, value):
        self._body = value

    @property
    def accepted(self):
        return is_accepted(self.status)

    def findings(self, canaries=(), version=0):
        """``scan_leaks`` of this item, cached until the canaries change.

        Scanning costs about 2 ms for a 5 KB event, so it runs when someone
        reads the findings (API, page, console printer), never on ingest.
        """
        cached = self._findings
        if cached is None or cached[0] != version:
            cached = (version, scan_leaks(self.type, self.body, self.raw, canaries))
            self._findings = cached
        return cached[1]

    def has_findings(self, version):
        return self._findings is not None and self._findings[0] == version

    def view_cost(self):
        """Roughly the bytes that drawing this item takes while it is drawn:
        its parsed tree and the text written (see ``VIEW_WAIT``; measured:
        300 MB for 29.7 MB of 900,000 short strings, 124 MB for 5.8 MB of
        140,000 frames). Counted
        once (a millisecond a megabyte): the raw bytes never change."""
        if self._view_cost is None:
            tree = 0 if self.binary else json_value_count(self.raw)
            self._view_cost = 2 * tree * JSON_BYTES_PER_VALUE + 6 * len(self.raw)
        return self._view_cost

    def search_text(self):
        """The decoded payload as text, for ``q=`` and search. Not kept: kept
        for every item searched, the texts took as much again as the store."""
        body = None if self.binary else self.body
        if isinstance(body, str):
            return body
        if self.binary or isinstance(body, bytes):
            return bytes(self.raw).decode("utf-8", "replace")
        return json_text(body)


def _path_values(value, path):
    """Every value at a dotted path; ``*`` matches any list element or key."""
    values = [value]
    for key in path:
        found = []
        for current in values:
            if key == "*":
                if isinstance(current, list):
                    found += current
                elif isinstance(current, dict):
                    found += list(current.values())
            elif isinstance(current, dict) and key in current:
                found.append(current[key])
            elif isinstance(current, list) and key.lstrip("-").isdigit():
                index = int(key)
                if -len(current) <= index < len(current):
                    found.append(current[index])
        values = found
    return values


def _equals(value, expected):
    if isinstance(value, str):
        return value == expected
    return json_text(value, ensure_ascii=True) == expected


def _field_paths(key):
    """``a.b`` -> [[a, b]]; ``body.x`` -> [[body, x], [x]]: a report's own
    ``body`` key, or a field named like a filter (``body.type``)."""
    path = key.split(".")
    return [path, path[1:]] if path[0] == "body" and len(path) > 1 else [path]


def _no_turn(event):
    return contextlib.nullcontext()


class EventFilter:
    """Which stored events a listing or a wait is about.

    Built from query parameters: ``project``, ``type`` (comma list),
    ``since`` (sequence cursor), ``q`` (text in the payload) and any other
    ``dotted.path=value`` compared against the body; ``body.`` in front
    makes any path a field, e.g. ``body.type=error`` for the body's "type".
    """

    RESERVED = frozenset(
        ("project", "project_id", "type", "since", "q", "count", "timeout", "limit")
    )

    def __init__(self, project=None, type=None, since=0, q=None, fields=None):
        self.projects = _int_set(project)
        types = type.split(",") if isinstance(type, str) else type
        self.types = {t.strip() for t in types if t.strip()} if types else None
        if self.types and "transaction" in self.types:
            self.types.add("span")  # streamed spans are a transaction in pieces
        self.since = int(since or 0)
        self.q = q.lower() if q else None
        self.fields = [(_field_paths(k), str(v)) for k, v in (fields or {}).items()]
        # turn(event): a context for parsing ``event``; a server sets one that
        # makes readers of large items take turns (Kent.turn_for)
        self.turn = _no_turn

    @classmethod
    def from_query(cls, params):
        """From ``{name: value}``; raises ``BadRequest`` for bad numbers."""
        for name in ("project", "project_id", "since"):
            value = params.get(name) or "0"
            digits = [part.strip().removeprefix("-") for part in value.split(",")]
            if not all(part.isdigit() for part in digits):
                raise BadRequest(
                    f"bad filter {name}={value!r}: expected a number"
                    + (" or a comma list of numbers" if name != "since" else "")
                )
        try:
            return cls(
                project=params.get("project") or params.get("project_id"),
                type=params.get("type"),
                since=params.get("since") or 0,
                q=params.get("q"),
                fields={k: v for k, v in params.items() if k not in cls.RESERVED},
            )
        except ValueError as exc:
            raise BadRequest(f"bad filter: {exc}") from None

    def missing_fields(self, events, look=200):
        """The field paths no event in ``events`` has: a typo for a filter?

        Nothing when there are no events to tell (or no field filters); the
        newest ``look`` bodies are parsed, newest first, until every path
        has been seen.
        """
        missing = {".".join(paths[0]): paths for paths, _ in self.fields}
        if not events:
            return []
        for event in events[: -look - 1 : -1]:
            if not missing:
                break
            if event.binary:
                continue
            with self.turn(event):
                body = event.body
                for name, paths in list(missing.items()):
                    if any(_path_values(body, p) for p in paths):
                        del missing[name]
        return list(missing)

    def failures(self, event):
        """Which filters ``event`` fails, in words; empty when it matches."""
        out = []
        if self.projects is not None and event.project_id not in self.projects:
            wanted = ",".join(map(str, sorted(self.projects)))
            out.append(f"project {event.project_id}, not {wanted}")
        if self.types is not None and event.type not in self.types:
            out.append(f"type {event.type}, not {','.join(sorted(self.types))}")
        if self.q is not None or self.fields:
            with self.turn(event):
                out += self._payload_failures(event)
        return out

    def _payload_failures(self, event):
        out = []
        if self.q is not None and self.q not in event.search_text().lower():
            out.append(f"no {self.q!r} in the payload")
        body = event.body if self.fields else None
        for paths, expected in self.fields:
            values = [v for path in paths for v in _path_values(body, path)]
            if not any(_equals(v, expected) for v in values):
                has = _text(_ui_plain(values[0]), 60) if values else "no such field"
                out.append(f"{'.'.join(paths[0])}: {has}, not {expected!r}")
        return out

    def __call__(self, event):
        if event.seq <= self.since:
            return False
        if self.projects is not None and event.project_id not in self.projects:
            return False
        if self.types is not None and event.type not in self.types:
            return False
        if self.q is None and not self.fields:
            return True
        with self.turn(event):
            return self._payload_matches(event)

    def _payload_matches(self, event):
        if self.q is not None and self.q not in event.search_text().lower():
            return False
        body = event.body if self.fields else None  # parsed once, not per field
        for paths, expected in self.fields:
            values = [v for path in paths for v in _path_values(body, path)]
            if not any(_equals(v, expected) for v in values):
                return False
        return True


def _ui_plain(value):
    return value if isinstance(value, str) else json_text(value)


def describe_stored(match, stored, shown=10):
    """The last stored events, each with the filters it fails (a wait's miss).

    A test's fixture server holds that test's events only, so all are shown.
    """
    lines = []
    for event in stored[-shown:]:
        failed = match.failures(event) if event.seq > match.since else ["too old"]
        why = "matched" if not failed else "fails " + "; ".join(failed)
        lines.append(
            f"#{event.seq} project {event.project_id} {event.type}: "
            f"{_text(event.title, 80)} [{why}]"
        )
    more = len(stored) - len(lines)
    head = (
        f"The last {len(lines)} of {len(stored)} stored events"
        if more
        else (f"The {len(lines)} stored events")
    )
    return f"{head} (oldest first):\n  " + "\n  ".join(lines) if lines else ""


def _int_set(value):
    if value is None or value == "":
        return None
    if isinstance(value, int):
        return {value}
    if isinstance(value, str):
        value = value.split(",")
    return {int(v) for v in value}


class EventStore:
    """A thread-safe deque of ``StoredEvent``, newest last.

    Bounded by count and by bytes (oldest go first); every addition wakes
    waiters. ``clock`` and ``new_id`` are injectable for tests.
    """

    def __init__(
        self,
        max_events=DEFAULT_MAX_EVENTS,
        max_bytes=DEFAULT_MAX_BYTES,
        clock=time.time,
        new_id=None,
    ):
        self.max_events = max_events
        self.max_bytes = max_bytes
        self.clock = clock
        self.new_id = new_id or (lambda: str(uuid.uuid4()))
        self._events = collections.deque()
        self._by_id = {}
        self._cond = threading.Condition(threading.Lock())
        self.last_seq = 0
        self.bytes = 0
        self.dropped = 0  # evicted by the limits
        self.received = 0  # every item ever stored
        self.accepted = 0  # ... of which answered with a 2xx
        self.closing = False  # set while the server stops: waits give up
        self.generation = 0  # flushes so far: a live page knows to drop rows

    def add(self, events):
        """Store events (a list); returns them with seq, id and time set."""
        ids = [self.new_id() for _ in events]
        now = self.clock()
        with self._cond:
            for event, event_id in zip(events, ids, strict=False):
                self.last_seq += 1
                event.seq, event.id, event.received = self.last_seq, event_id, now
                self._events.append(event)
                self._by_id[event_id] = event
                self.bytes += event.size
            self.received += len(events)
            self.accepted += sum(1 for e in events if is_accepted(e.status))
            self._evict(keep=len(events))
            self._cond.notify_all()
        return events

    def _evict(self, keep=0):
        """Drop the oldest until both limits hold; the byte budget never drops
        the ``keep`` newest (one request over the budget would empty the store
        and then itself, and a test would see nothing)."""
        while self._events and (
            len(self._events) > self.max_events
            or (self.bytes > self.max_bytes and len(self._events) > keep)
        ):
            old = self._events.popleft()
            self._by_id.pop(old.id, None)
            self.bytes -= old.size
            self.dropped += 1

    def snapshot(self, match=None):
        """The stored events, oldest first, optionally filtered."""
        with self._cond:
            events = list(self._events)
        return events if match is None else [e for e in events if match(e)]

    def _newer_than(self, seq):
        with self._cond:
            if not self._events or self._events[-1].seq <= seq:
                return []
            if self._events[0].seq > seq:
                return list(self._events)
            return [e for e in self._events if e.seq > seq]

    def get(self, ident):
        """By Kent's id, by ``seq`` (digits, as the console prints ``#17``), or
        by the SDK's event id: the newest event item with it (an SDK's retry
        or a replay sends an id again), else any item."""
        with self._cond:
            event = self._by_id.get(ident)
            events = list(self._events) if event is None else None
        if event is not None:
            return event
        if ident.isdigit() and len(ident) < 20:  # the console's #seq
            return next((e for e in events if e.seq == int(ident)), None)
        sdk_id = normalize_event_id(ident)
        matches = [e for e in reversed(events) if sdk_id and e.event_id == sdk_id]
        matches.sort(key=lambda e: e.type not in EVENT_LIKE_TYPES)
        return matches[0] if matches else None

    def siblings(self, event):
        """Other items that arrived in the same request."""
        return [
            e
            for e in self.snapshot()
            if e.request_id == event.request_id and e is not event
        ]

    def flush(self, project_id=None):
        """Forget all events, or one project's; returns how many went."""
        with self._cond:
            keep = [
                e
                for e in self._events
                if project_id is not None and e.project_id != project_id
            ]
            gone = len(self._events) - len(keep)
            self.generation += 1 if gone else 0
            self._events = collections.deque(keep)
            self._by_id = {e.id: e for e in keep}
            self.bytes = sum(e.size for e in keep)
        return gone

    def wait_for(self, count, timeout, match=None, since=0, gone=None):
        """Wait until ``count`` events newer than ``since`` match.

        Returns ``(events, arrived_in_time)``. The lock is held only to copy
        new events, so waiting never blocks ingestion. ``gone()``, asked a few
        times a second, ends the wait early (the client hung up).
        """
        deadline = time.monotonic() + max(0.0, min(timeout, MAX_WAIT_TIMEOUT))
        cursor, found = since, []  # seqs, not events: evicted ones can go
        nap = MAX_WAIT_TIMEOUT if gone is None else CLIENT_GONE_POLL
        next_check = 0.0  # gone() at most every nap, however often events come
        while True:
            new = self._newer_than(cursor)
            if new:
                cursor = new[-1].seq
                found += [e.seq for e in new if match is None or match(e)]
            if len(found) >= count:
                return self._still_kept(found), True
            now = time.monotonic()
            if now >= deadline:
                return self._still_kept(found), False
            if gone is not None and now >= next_check:
                if gone():
                    return self._still_kept(found), False
                next_check = now + nap
            if not self._wait_past(cursor, min(deadline - now, nap)):
                return self._still_kept(found), False

    def _still_kept(self, seqs):
        """The events with these seqs that the store still holds."""
        if not seqs:
            return []
        wanted = set(seqs)
        return [e for e in self._newer_than(seqs[0] - 1) if e.seq in wanted]

    def _wait_past(self, cursor, timeout):
        """Sleep until an item newer than ``cursor`` is stored or ``timeout``
        passes; False when the server is stopping."""
        with self._cond:
            if self.closing:
                return False
            if self.last_seq <= cursor:
                self._cond.wait(timeout)
            return not self.closing

    def follow(self, since, timeout):
        """Items newer than ``since``, waiting up to ``timeout`` for the first;
        ``None`` once the server is stopping. For streams: the lock is held
        only to copy, never while a reader writes to its socket."""
        new = self._newer_than(since)
        if not new and self._wait_past(since, timeout):
            new = self._newer_than(since)
        return None if self.closing else new

    def wake_waiters(self, closing):
        """Release every waiter (the server is stopping) or allow waits again."""
        with self._cond:
            self.closing = closing
            self._cond.notify_all()

    def stats(self):
        with self._cond:
            return {
                "kept": len(self._events),
                "dropped": self.dropped,
                "received": self.received,
                "accepted": self.accepted,
                "bytes": self.bytes,
                "last_seq": self.last_seq,
                "generation": self.generation,
                "max_events": self.max_events,
                "max_bytes": self.max_bytes,
            }


# -- Fault injection: answer like a Sentry that is rate-limiting, failing, slow

# Item type -> Sentry data category, as the SDKs map them for rate limits.
DATA_CATEGORIES = {
    "event": "error",
    "transaction": "transaction",
    "attachment": "attachment",
    "session": "session",
    "sessions": "session",
    "client_report": "internal",
    "log": "log_item",
    "check_in": "monitor",
    "span": "span",
    "profile": "profile",
    "profile_chunk": "profile_chunk",
    "replay_event": "replay",
    "replay_recording": "replay",
    "feedback": "feedback",
    "security": "security",
    "trace_metric": "trace_metric",
}
FAULT_ENDPOINTS = frozenset(
    [
        "envelope",
        "store",
        "security",
        "minidump",
        "attachments",
        "nel",
        "cron",
        "otlp",
        "unreal",
        "tunnel",
    ]
)
FAULT_CATEGORIES = frozenset(DATA_CATEGORIES.values()) | {"default"}
_FAULT_KEYS = frozenset(
    (
        "status",
        "retry_after",
        "rate_limits",
        "delay",
        "action",
        "project",
        "endpoint",
        "category",
        "count",
        "duration",
    )
)


def _fault_list(value):
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):  # {"project": 1} in JSON
        value = [value]
    items = value.split(",") if isinstance(value, str) else list(value)
    return {str(v).strip() for v in items if str(v).strip()}


def _check_fault_names(rule, key, known):
    unknown = (rule[key] or set()) - known
    if unknown:
        raise BadRequest(
            f"unknown fault {key} {', '.join(sorted(unknown))}; "
            f"one of {', '.join(sorted(known))}"
        )


def _fault_number(spec, key, kind):
    value = spec.get(key)
    if value is None or value == "":
        return None
    try:
        number = kind(value)
    except (TypeError, ValueError, OverflowError):  # int(inf) overflows
        raise BadRequest(f"fault {key}={value!r} is not a number") from None
    if number != number or number in (float("inf"), float("-inf")) or number < 0:
        raise BadRequest(f"fault {key} must be a finite, non-negative number")
    return number


def fault_spec(text):
    """A rule's text, JSON or ``status=429&count=1``, as it says (unchecked)."""
    if text.strip()[:1] in ("{", "["):
        try:
            return json_loads(text)
        except ValueError as exc:
            raise BadRequest(f"the fault rule is not valid JSON: {exc}") from None
    return {k: v[-1] for k, v in urllib.parse.parse_qs(text.strip()).items()}


def parse_fault(spec):
    """A fault rule from a dict, its JSON, or ``status=429&category=error``.

    Keys: status, retry_after, rate_limits (Relay's X-Sentry-Rate-Limits
    syntax), delay (seconds), action (respond or drop), project, endpoint
    and category (comma lists), count (next N requests), duration (seconds).
    """
    if isinstance(spec, str):
        spec = fault_spec(spec)
    if not isinstance(spec, dict):
        raise BadRequest("a fault rule is a JSON object or key=value&... text")
    unknown = set(spec) - _FAULT_KEYS
    if unknown:
        raise BadRequest(f"unknown fault keys: {', '.join(sorted(unknown))}")
    rule = {
        "status": _fault_number(spec, "status", int),
        "retry_after": _fault_number(spec, "retry_after", int),
        "rate_limits": spec.get("rate_limits") or None,
        "delay": _fault_number(spec, "delay", float) or 0.0,
        "action": spec.get("action") or "respond",
        "project": _fault_list(spec.get("project")),
        "endpoint": _fault_list(spec.get("endpoint")),
        "category": _fault_list(spec.get("category")),
        "count": _fault_number(spec, "count", int),
        "duration": _fault_number(spec, "duration", float),
    }
    limits = rule["rate_limits"]
    if limits is not None and not (
        isinstance(limits, str) and re.fullmatch(r"[\x20-\x7e]*", limits)
    ):
        raise BadRequest("fault rate_limits is printable ASCII in Relay's syntax")
    if rule["delay"] > MAX_WAIT_TIMEOUT:
        raise BadRequest(f"fault delay is at most {MAX_WAIT_TIMEOUT:.0f} seconds")
    if rule["action"] not in ("respond", "drop"):
        raise BadRequest("fault action is 'respond' or 'drop' (close the connection)")
    if rule["status"] is not None and not 200 <= rule["status"] <= 599:
        raise BadRequest(f"fault status {rule['status']} is not an HTTP status 200-599")
    _check_fault_names(rule, "endpoint", FAULT_ENDPOINTS)
    _check_fault_names(rule, "category", FAULT_CATEGORIES)
    if rule["status"] is None and rule["action"] == "respond" and not rule["delay"]:
        raise BadRequest("a fault needs a status, a delay, or action=drop")
    return rule


def fault_headers(rule):
    """``Retry-After`` and ``X-Sentry-Rate-Limits`` as the rule asks."""
    headers = []
    if rule.get("retry_after") is not None:
        headers.append(("Retry-After", str(rule["retry_after"])))
    if rule.get("rate_limits"):
        headers.append(("X-Sentry-Rate-Limits", rule["rate_limits"]))
    return headers


class FaultRules:
    """The active rules; the first that matches a request answers it."""

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self._rules = []
        self._lock = threading.Lock()
        self._next_id = 0

    def add(self, spec):
        rule = parse_fault(spec)
        with self._lock:
            self._next_id += 1
            rule.update(id=self._next_id, hits=0, created=self.clock())
            self._rules.append(rule)
        return dict(rule)

    def clear(self, rule_id=None):
        with self._lock:
            before = len(self._rules)
            self._rules = [
                r for r in self._rules if rule_id is not None and r["id"] != rule_id
            ]
            return before - len(self._rules)

    def list(self):
        with self._lock:
            return [self._public(r) for r in self._rules]

    def _public(self, rule):
        """The rule as the API shows it, with whether it still answers."""
        now = self.clock()
        public = {k: (sorted(v) if isinstance(v, set) else v) for k, v in rule.items()}
        public.pop("created", None)
        if rule["duration"] is not None:
            left = rule["created"] + rule["duration"] - now
            public["seconds_left"] = round(max(0.0, left), 3)
        if rule["count"] is not None:
            public["remaining"] = max(0, rule["count"] - rule["hits"])
        public["active"] = self._live(rule, now)
        return public

    def _live(self, rule, now):
        if rule["count"] is not None and rule["hits"] >= rule["count"]:
            return False
        expired = (
            rule["duration"] is not None and now > rule["created"] + rule["duration"]
        )
        return not expired

    def match(self, project_id, endpoint, item_types):
        """The rule for this request (its hit counted), or None."""
        categories = {DATA_CATEGORIES.get(t, "default") for t in item_types}
        now = self.clock()
        with self._lock:
            for rule in self._rules:
                if not self._live(rule, now) or not _fault_applies(
                    rule, project_id, endpoint, categories
                ):
                    continue
                rule["hits"] += 1
                return self._public(rule)
        return None


def _fault_applies(rule, project_id, endpoint, categories):
    if rule["project"] is not None and str(project_id) not in rule["project"]:
        return False
    if rule["endpoint"] is not None and endpoint not in rule["endpoint"]:
        return False
    return rule["category"] is None or bool(rule["category"] & categories)


# ---------------------------------------------------------------------------
# 7. Rendering
# ---------------------------------------------------------------------------


# -- JSON answers


def body_to_json(event):
    """The body as JSON plus how it is encoded: json, text or base64."""
    if event.binary:
        return base64.b64encode(event.raw).decode("ascii"), "base64"
    body = event.body
    return body, "text" if isinstance(body, str) else "json"


def event_to_summary(event, leaks=None):
    """One entry of ``GET /api/eventlist/`` (Kent 2.x fields first).

    ``leaks`` is the number of leak findings, when the caller knows it.
    """
    entry = {
        "event_id": event.id,
        "project_id": event.project_id,
        "summary": event.summary,
        "title": event.title,
        "seq": event.seq,
        "type": event.type,
        "sdk_event_id": event.event_id,
        "received": _iso(event.received),
        "sdk": event.sdk,
        "level": event.level,
        "status": event.status,
        "error": event.error,
        "warnings": [w["code"] for w in event.warnings],
        "fault": event.fault,
        "request_id": event.request_id,
        "endpoint": event.request.get("endpoint"),
        "size": len(event.raw),
    }
    if leaks is not None:
        entry["leaks"] = leaks
    return entry


def event_summary_json(event, count_leaks=None, version=0):
    """``event_to_summary`` as JSON bytes, cached per canary ``version``.

    ``count_leaks(event)`` gives the ``leaks`` field; it runs only when the
    cached entry is older than ``version`` (the item itself never changes).
    """
    cached = event._summary_json
    if cached is None or cached[0] != version:
        leaks = count_leaks(event) if count_leaks else None
        cached = (version, to_json_bytes(event_to_summary(event, leaks)))
        event._summary_json = cached
    return cached[1]


def event_list_json(events, extra, count_leaks=None, version=0):
    """The ``GET /api/eventlist/`` answer, assembled from cached entries."""
    head = to_json_bytes(extra)[:-1]
    entries = b",".join(event_summary_json(e, count_leaks, version) for e in events)
    return b'{"events":[' + entries + b"]" + (b"," + head[1:] if extra else b"") + b"}"


def envelope_filename(event):
    """The name the envelope download gets (and the curl command reads)."""
    return f"kent-{event.id}.envelope"


def event_to_dict(event, findings=None, curl=None):
    """``GET /api/event/<id>``: Kent 2.x shape plus everything Kent knows.

    ``findings`` (the leak scanner's) and ``curl`` (a command that sends
    the envelope download again) are added when given.
    """
    body, encoding = body_to_json(event)
    made_up = event.made_up_headers
    entry = event_to_summary(event, None if findings is None else len(findings))
    entry.update(
        payload={
            # null for /store/ and /security/ bodies, as Kent 2.x said
            "envelope_header": None if made_up else event.envelope_header,
            "header": None if made_up else event.header,
            "body": body,
            "body_encoding": encoding,
        },
        warnings=event.warnings,
        warning_codes=[w["code"] for w in event.warnings],
        request=event.request,
        auth=event.auth,
        downloads={
            "raw": f"/api/event/{event.id}/raw",
            "envelope": f"/api/event/{event.id}/envelope",
            "envelope_filename": envelope_filename(event),
        },
    )
    if findings is not None:
        entry["leaks"] = findings
    if curl is not None:
        entry["curl"] = curl
    return entry


def _event_heading(event):
    """What a search result or leak report says about an item."""
    return {
        "event_id": event.id,
        "project_id": event.project_id,
        "type": event.type,
        "summary": event.summary,
        "title": event.title,
    }


def leaks_report(found):
    """``GET /api/leaks/`` from ``[(event, findings)]`` of the items with findings."""
    kinds = collections.Counter(f["kind"] for _, findings in found for f in findings)
    events = [dict(_event_heading(e), findings=f) for e, f in found]
    count = sum(kinds.values())
    return {"events": events, "count": count, "kinds": dict(kinds), "clean": not count}


# -- curl: a stored request as a command to paste into a shell

CURL_HEADERS = ("Content-Type", "Content-Encoding", "X-Sentry-Auth", "User-Agent")


def _header_value(headers, name):
    pairs = headers.items() if isinstance(headers, dict) else headers or ()
    for key, value in pairs:
        if str(key).lower() == name.lower():
            return value
    return None


def curl_command(url, headers, body_path):
    """A copy-pasteable curl command that POSTs ``body_path`` like the original.

    Keeps Content-Type, Content-Encoding, X-Sentry-Auth and User-Agent from
    ``headers`` (a dict or pairs); the file must hold the body as it was sent
    (still compressed when Content-Encoding is kept).
    """
    words = ["curl", "-sS", "-X", "POST", str(url)]
    for name in CURL_HEADERS:
        value = _header_value(headers, name)
        if value is not None:
            words += ["-H", f"{name}: {value}"]
    words += ["--data-binary", f"@{body_path}"]
    return " ".join(shlex.quote(word) for word in words)


def _replay_item_header(event):
    """The item header as the SDK sent it, without Kent's own keys."""
    header = event.header if isinstance(event.header, dict) else {}
    header = {
        k: v
        for k, v in header.items()
        if k != "length" and not str(k).startswith("kent_")
    }
    return dict({"type": event.type}, **header)


def rebuild_envelope(events):
    """The envelope of one request again, or None when nothing was understood.

    ``events`` are the stored items of one request (oldest first): the
    original envelope header, then every item with its header and exact
    payload bytes (``length`` recomputed). Requests that were not envelopes
    (``/store/``, ``/security/``, uploads) become the envelope an SDK would
    send; ``kent_error`` items (bytes Kent could not read) are left out.
    """
    items = [e for e in events if e.type != "kent_error"]
    if not items:
        return None
    header = next(
        (e.envelope_header for e in items if isinstance(e.envelope_header, dict)),
        None,
    )
    if header is None:
        event_id = next((e.event_id for e in items if e.event_id), None)
        header = {"event_id": event_id} if event_id else {}
    pairs = [(_replay_item_header(e), bytes(e.raw)) for e in items]
    return build_envelope(header, pairs)


def is_replayable(event, siblings):
    """Whether a request kept anything to send again (not only what it refused)."""
    return any(e.type != "kent_error" for e in [event, *siblings])


def replay_curl(event, base_url):
    """A curl command that POSTs the envelope download of ``event``'s request."""
    headers = event.request.get("headers") if isinstance(event.request, dict) else {}
    auth = _header_value(headers, "X-Sentry-Auth")
    key = (event.auth or {}).get("sentry_key")
    if not auth and key:
        auth = f"Sentry sentry_version=7, sentry_key={key}"
    sent = {"Content-Type": ENVELOPE_CONTENT_TYPE}
    if auth:
        sent["X-Sentry-Auth"] = auth
    url = f"{base_url}/api/{event.project_id}/envelope/"
    return curl_command(url, sent, envelope_filename(event))


def sse_message(event, data):
    """One Server-Sent Event for a stored item: its seq, type and list entry."""
    name = re.sub(r"[^\w.-]", "_", str(event.type)) or "item"
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (event.seq, name.encode(), data)


MAX_VIEW_DEPTH = 500  # deeper bodies are shown as text: clients parse them too


def deeper_than(value, limit=MAX_VIEW_DEPTH):
    """Whether ``value`` nests more than ``limit`` lists and dicts deep."""
    stack = [(value, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, (dict, list)):
            if depth >= limit:
                return True
            children = value.values() if isinstance(value, dict) else value
            stack += [(child, depth + 1) for child in children]
    return False


def to_json_bytes(value):
    """A JSON answer: UTF-8, whatever the value holds (see ``json_text``)."""
    try:
        return json_text(value).encode("utf-8")
    except UnicodeEncodeError:
        # JSON may carry a lone surrogate ("\ud800", from a cut emoji or an
        # undecodable file name) that UTF-8 cannot: escape it as JSON does.
        return json_text(value, ensure_ascii=True).encode("ascii")


def error_value(exc):
    """Kent's error answer; ``detail`` is Relay's name for the message."""
    return {"error": exc.message, "detail": exc.message}


def render_error(exc):
    """Every refusal's answer: (status, extra headers, JSON body) of a KentError."""
    headers = ()
    if isinstance(exc, UnsupportedEncoding):  # as Relay: say what works
        headers = (("Accept-Encoding", ", ".join(supported_encodings())),)
    elif isinstance(exc, ServiceUnavailable):
        headers = (("Retry-After", "1"),)
    return exc.status, headers, to_json_bytes(error_value(exc))


# -- HTML pages: every payload value through _e(); templates in Assets

_UI_MAX_PRETTY = 512 * 1024  # characters of raw JSON shown on a page
_UI_MAX_ROWS = 1000  # frames, breadcrumbs, spans, log records per list
_UI_PREVIEW_BYTES = 4096
_UI_IMAGE_TYPES = frozenset(("image/png", "image/jpeg", "image/gif", "image/webp"))
_UI_MAX_IMAGE = 2 * 1024 * 1024
_UI_DIFF_CHOICES = 50  # newest items the diff form offers


def _e(value):
    """HTML-escape anything; every payload value goes through here."""
    if value is None:
        return ""
    return html.escape(value if isinstance(value, str) else str(value), quote=True)


def render_page(title, content, nonce, script=""):
    """A whole page; ``content`` and ``script`` must already be safe markup."""
    return PAGE_TEMPLATE.substitute(
        title=_e(title),
        content=content,
        nonce=_e(nonce),
        style=PAGE_STYLE,
        version=_e(__version__),
        script=script,
    )


# -- small value helpers


def _ui_json(value, indent=None):
    return json_text(value, indent=indent)


def _ui_value(value):
    """A payload value as markup: strings as text, anything else as JSON."""
    if value is None:
        return '<span class="mut">null</span>'
    if isinstance(value, str):
        return _e(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f'<span class="n">{_e(_ui_json(value))}</span>'  # text size, not code
    return f"<code>{_e(_ui_json(value))}</code>"


def _ui_short(value, limit=2000):
    """Like ``_ui_value`` but cut long JSON (breadcrumb data, attributes)."""
    if isinstance(value, str) or value is None:
        return _ui_value(value)
    text = _ui_json(value)
    text = text if len(text) <= limit else text[: limit - 1] + "\u2026"
    return f"<code>{_e(text)}</code>"


def _ui_seconds(value):
    """A Sentry timestamp (epoch seconds or RFC 3339 text) as float, or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        # 1 followed by 400 zeros is valid JSON; no float holds it
        seconds = float(value) if -1e300 < value < 1e300 else None
        return seconds if seconds == seconds else None  # not NaN
    if isinstance(value, str):
        try:
            return parse_rfc3339(value).timestamp()
        except ValueError:
            return None
    return None


def _ui_time(value):
    """A timestamp as ISO text; anything unreadable is shown as it came."""
    seconds = _ui_seconds(value)
    if seconds is not None:
        try:
            return _e(_iso(seconds))
        except (OverflowError, OSError, ValueError):
            pass
    return _ui_value(value) if value is not None else ""


def _ui_pairs(value):
    """A dict, or a list of [key, value] pairs (Sentry allows both)."""
    if isinstance(value, dict):
        return list(value.items())
    if isinstance(value, list):
        return [
            (p[0], p[1]) if isinstance(p, (list, tuple)) and len(p) == 2 else ("", p)
            for p in value
        ]
    return []


def _ui_kv(value, values=_ui_value):
    """A two-column table of a dict or pairs; '' when there is nothing."""
    pairs = _ui_pairs(value)
    if not pairs:
        return f"<p>{_ui_value(value)}</p>" if value not in (None, {}, []) else ""
    rows = "".join(f"<tr><th>{_e(k)}</th><td>{values(v)}</td></tr>" for k, v in pairs)
    return f'<table class="kv">{rows}</table>'


def _ui_flat(value, prefix="", depth=2):
    """Nested dicts as dotted keys (two levels), for status-like items."""
    pairs = []
    for key, item in _ui_pairs(value):
        name = f"{prefix}{key}"
        if isinstance(item, dict) and item and depth > 1:
            pairs += _ui_flat(item, f"{name}.", depth - 1)
        else:
            pairs.append((name, item))
    return pairs


def _ui_section(title, content, extra=""):
    return f"<h2>{_e(title)}{extra}</h2>{content}" if content else ""


def _ui_meta(pairs):
    """``<dl>`` entries from (label, markup) pairs, skipping empty ones."""
    return "".join(
        f"<div><dt>{_e(label)}</dt><dd>{markup}</dd></div>"
        for label, markup in pairs
        if markup not in (None, "")
    )


def _ui_plural(count, noun):
    return f"{count} {noun}{'' if count == 1 else 's'}"


_UI_LEVEL_COLOURS = {
    "fatal": "bad",
    "error": "bad",
    "critical": "bad",
    "warning": "warn",
    "warn": "warn",
    "info": "info",
    "log": "info",
    "debug": "",
    "trace": "",
}


def _ui_level(level):
    """A level badge, coloured: error and fatal red, warning amber."""
    if level in (None, ""):
        return ""
    text = level if isinstance(level, str) else _ui_json(level)
    colour = _UI_LEVEL_COLOURS.get(text.lower(), "")
    return f'<span class="badge level {colour}">{_e(text)}</span>'


# -- the index page


def _ui_dsn_rows(events, base_url, key=DEFAULT_PROJECT_KEY):
    counts = {}
    for event in events:
        counts[event.project_id] = counts.get(event.project_id, 0) + 1
    rows = []
    for project in sorted(counts) or [1]:
        flush = (
            '<form class="inline" method="post" action="/flush">'
            f'<input type="hidden" name="project" value="{_e(project)}">'
            f'<button class="danger" type="submit">Flush project {_e(project)}</button>'
            "</form>"
            if counts
            else ""
        )
        rows.append(
            f'<tr data-project="{_e(project)}"><td>{_e(project)}</td>'
            f"<td><code>{_e(build_dsn(base_url, project, key))}"
            f'</code></td><td class="wide count">{_e(counts.get(project, 0))}</td>'
            f"<td>{flush}</td></tr>"
        )
    return "".join(rows)


def _ui_options(values, selected, label):
    options = [f'<option value="">{_e(label)}</option>']
    for value in sorted({str(v) for v in values} | ({selected} if selected else set())):
        mark = " selected" if value == selected else ""
        options.append(f'<option value="{_e(value)}"{mark}>{_e(value)}</option>')
    return "".join(options)


def _ui_leak_badge(count):
    if not count:
        return ""
    return f' <span class="badge bad leak-count">{_ui_plural(count, "leak")}</span>'


def _ui_event_row(event, leaks=0):
    link = f'href="/event/{_e(event.id)}"'
    status = (
        "" if event.accepted else f' <span class="badge bad">{_e(event.status)}</span>'
    )
    codes = [w.get("code", "") for w in event.warnings]
    warn = (
        f' <span class="badge warn" title="{_e(", ".join(codes))}">'
        f"{_ui_plural(len(codes), 'warning')}</span>"
        if codes
        else ""
    )
    error = event.error if event.error and event.error != event.title else ""
    error = f'<span class="err">{_e(error)}</span>' if error else ""
    if event.fault is not None:
        warn += f' <span class="badge bad">fault rule {_e(event.fault)}</span>'
    warn = _ui_leak_badge(leaks) + warn
    if event.request.get("endpoint") == "spotlight":  # the copy sent to /stream
        warn += ' <span class="badge">via Spotlight</span>'
    sdk = event.sdk or {}
    sdk_text = " ".join(str(v) for v in (sdk.get("name"), sdk.get("version")) if v)
    return (
        f'<tr data-seq="{_e(event.seq)}"{"" if event.accepted else " class=rejected"}>'
        f'<td class="time"><a {link}>{_e(_iso(event.received)[11:23])}</a> '
        f'<a class="small mut" href="/api/event/{_e(event.id)}">JSON</a></td>'
        f'<td class="wide">{_e(event.project_id)}</td>'
        f'<td class="type">{_e(event.type)}{status}</td>'
        f'<td class="level">{_ui_level(event.level)}</td>'
        f'<td class="wide small mut">{_e(sdk_text)}</td>'
        f'<td class="sum"><a {link}>{_e(event.title)}</a>{warn}{error}</td></tr>'
    )


def _ui_words(value):
    if isinstance(value, set):
        value = sorted(value, key=str)
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value))
    return str(value)


def _ui_fault_text(rule):
    """``wait 5 s, then answer 429 (Retry-After: 60) to envelope; 1 of 2 left``."""
    if rule.get("action") == "drop":
        answer = "drop the connection"
    else:
        answer = f"answer {rule.get('status') or 'as usual'}"
    if rule.get("delay"):
        answer = f"wait {rule['delay']:g} s, then {answer}"
    headers = [f"{k}: {v}" for k, v in fault_headers(rule)]
    if headers:
        answer += f" ({'; '.join(headers)})"
    scope = [
        f"{key} {_ui_words(rule[key])}"
        for key in ("project", "endpoint", "category")
        if rule.get(key)
    ]
    used = [f"{rule.get('hits', 0)} hits"]
    if rule.get("remaining") is not None:
        used.append(f"{rule['remaining']} of {rule.get('count')} left")
    if rule.get("seconds_left") is not None:
        used.append(f"{rule['seconds_left']:g} s left")
    return f"{answer} to {' and '.join(scope) or 'every ingest request'}; " + (
        ", ".join(used)
    )


def _ui_faults(faults):
    """The fault rules, one line each (used-up ones marked), and a clear form."""
    if not faults:
        return ""
    active = sum(1 for r in faults if r.get("active", True))
    lines = "".join(
        f"<li>rule {_e(r.get('id'))}"
        + ("" if r.get("active", True) else " <strong>(used up)</strong>")
        + f": {_e(_ui_fault_text(r))}</li>"
        for r in faults
    )
    return (
        f'<div class="box warn"><strong>{active} of {len(faults)} fault rules '
        "active</strong>: Kent answers matching requests with the first active "
        f"one.<ul>{lines}</ul>"
        '<form class="inline" method="post" action="/faults/clear">'
        '<button type="submit">Clear fault rules</button></form></div>'
    )


def _size_text(size):
    """``268435456`` -> ``256 MiB``; what is not a number stays as it is."""
    if not isinstance(size, int):
        return str(size)
    for unit, factor in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= factor:
            return f"{size / factor:.4g} {unit}"
    return f"{size} bytes"


def render_index(
    events,
    stats,
    base_url,
    nonce,
    faults=(),
    project=None,
    type=None,
    count_leaks=None,
    dsn_key=DEFAULT_PROJECT_KEY,
):
    """The index: DSNs, counts, filters and the stored items, newest first.

    ``events`` is every stored item (for the DSN and filter lists);
    ``project`` and ``type`` (comma lists, from the query) pick the rows;
    ``faults`` is the list of active fault rules; ``count_leaks(event)``
    gives the number of leak findings of a row; ``dsn_key`` is the key the
    shown DSNs carry.
    """
    shown = list(
        filter(EventFilter.from_query({"project": project, "type": type}), events)
    )
    count_leaks = count_leaks or (lambda event: 0)
    rows = "".join(_ui_event_row(e, count_leaks(e)) for e in reversed(shown))
    empty = "No events yet." if not events else "No events match this filter."
    cursor = max((e.seq for e in events), default=0)
    content = INDEX_TEMPLATE.substitute(
        dsn_rows=_ui_dsn_rows(events, base_url, dsn_key),
        kept=_e(stats.get("kept")),
        dropped=_e(stats.get("dropped")),
        received=_e(stats.get("received")),
        max_events=_e(stats.get("max_events")),
        max_bytes=_e(_size_text(stats.get("max_bytes"))),
        project_options=_ui_options(
            (e.project_id for e in events), project, "All projects"
        ),
        type_options=_ui_options((e.type for e in events), type, "All types"),
        clear=' <a href="/">Clear filter</a>' if project or type else "",
        faults=_ui_faults(faults),
        rows=rows or f'<tr id="kent-empty"><td colspan="6">{_e(empty)}</td></tr>',
        cursor=_e(cursor),
        generation=_e(stats.get("generation", 0)),
    )
    title = f"Kent: {_ui_plural(len(shown), 'event')}"
    levels = json.dumps(_UI_LEVEL_COLOURS)  # constant keys and values
    script = INDEX_SCRIPT.substitute(nonce=_e(nonce), levels=levels)
    return render_page(title, content, nonce, script)


# -- the event page: header and what every item has


def _ui_sdk_text(event):
    sdk = _get(event.body, "sdk") if isinstance(event.body, dict) else None
    sdk = sdk if isinstance(sdk, dict) else (event.sdk or {})
    text = " ".join(str(v) for v in (sdk.get("name"), sdk.get("version")) if v)
    return _e(text)


def _ui_integrations(event, shown=10):
    """The first ``shown`` integration badges; the rest folded (Node has ~60)."""
    names = _get(event.body, "sdk", "integrations")
    if not isinstance(names, list) or not names:
        return ""
    badges = [f'<span class="badge">{_e(n)}</span>' for n in names[:200]]
    if len(badges) <= shown:
        return " ".join(badges)
    rest = " ".join(badges[shown:])
    return (
        " ".join(badges[:shown])
        + f' <details class="more"><summary>{len(names) - shown} more</summary>'
        + f"{rest}</details>"
    )


def _ui_headline(event):
    """One line under the title: level, type, status, project, time, release."""
    body = event.body if isinstance(event.body, dict) else {}
    parts = [
        _ui_level(body.get("level")),
        f'<span class="badge">{_e(event.type)}</span>',
        _ui_status(event),
        f"project {_e(event.project_id)}",
        f'<span class="nowrap">{_e(_iso(event.received))}</span>',
    ]
    for key in ("environment", "release"):
        if isinstance(body.get(key), str):
            parts.append(f'<span class="mut">{key}</span> {_e(body[key])}')
    parts.append(_ui_trace_links(event))
    return " ".join(p for p in parts if p)


def _ui_status(event):
    if event.accepted:
        return f'<span class="badge ok">{_e(event.status)} accepted</span>'
    return f'<span class="badge bad">{_e(event.status)} rejected</span>'


def _ui_header_meta(event):
    body = event.body if isinstance(event.body, dict) else {}
    level = body.get("level")
    return _ui_meta(
        [
            ("Item type", _e(event.type)),
            ("Level", _ui_level(level)),
            ("Project", _e(event.project_id)),
            ("Received", _e(_iso(event.received))),
            ("Event time", _ui_time(body.get("timestamp"))),
            (
                "Environment",
                _ui_value(body["environment"]) if "environment" in body else "",
            ),
            ("Release", _ui_value(body["release"]) if "release" in body else ""),
            ("Platform", _e(body.get("platform"))),
            ("Server name", _e(body.get("server_name"))),
            ("Transaction", _e(body.get("transaction"))),
            ("Logger", _e(body.get("logger"))),
            ("SDK", _ui_sdk_text(event)),
            ("Integrations", _ui_integrations(event)),
            (
                "Event id",
                f"<code>{_e(event.event_id)}</code>" if event.event_id else "",
            ),
            ("Kent id", f"<code>{_e(event.id)}</code>"),
            ("Status", _ui_status(event)),
            ("Fault rule", _e(event.fault)),
        ]
    )


def _ui_problems(event):
    parts = []
    if event.error and event.error != event.title:
        parts.append(
            f'<div class="box bad"><strong>Kent rejected this request:</strong> '
            f"{_e(event.error)}</div>"
        )
    if event.warnings:
        items = "".join(
            f'<li><span class="badge warn">{_e(w.get("code"))}</span> '
            f"{_e(w.get('message'))}"
            + (
                f' <span class="mut small">(Relay: {_e(w["relay_status"])})</span>'
                if w.get("relay_status")
                else ""
            )
            + "</li>"
            for w in event.warnings
        )
        parts.append(
            f'<div class="box warn"><strong>Protocol warnings</strong><ul>{items}</ul></div>'
        )
    return "".join(parts)


def _ui_siblings(siblings):
    if not siblings:
        return ""
    items = "".join(
        f'<li><a href="/event/{_e(s.id)}"><span class="badge">{_e(s.type)}</span> '
        f"{_e(s.title)}</a></li>"
        for s in siblings
    )
    return f"<h2>Same request</h2><ul>{items}</ul>"


def _ui_transport(event):
    request, auth = event.request or {}, event.auth or {}
    info = _ui_kv(
        [
            (k, request.get(k))
            for k in (
                "endpoint",
                "method",
                "path",
                "content_type",
                "content_encoding",
                "transfer_encoding",
                "user_agent",
                "remote_addr",
                "size",
                "decoded_size",
            )
            if request.get(k) is not None
        ]
        + [(f"auth {k}", v) for k, v in auth.items() if v is not None]
    )
    headers = _ui_kv(request.get("headers"))
    if not info and not headers:
        return ""
    return (
        '<details class="sec"><summary>HTTP request to Kent</summary>'
        f"{info}<h3>Headers</h3>{headers}</details>"
    )


# -- events: exceptions, frames, breadcrumbs, request, user, tags, contexts


def _ui_values(value, key="values"):
    """Sentry's ``{"values": [...]}`` or a bare list."""
    if isinstance(value, dict):
        value = value.get(key)
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _ui_context_lines(frame):
    pre, post = frame.get("pre_context"), frame.get("post_context")
    pre = pre if isinstance(pre, list) else []
    post = post if isinstance(post, list) else []
    current = frame.get("context_line")
    if current is None and not pre and not post:
        return ""
    lineno = frame.get("lineno")
    first = lineno - len(pre) if isinstance(lineno, int) else None
    lines = [(line, "") for line in pre] + [(current or "", "cur")]
    lines += [(line, "") for line in post]
    spans = []
    for offset, (line, cls) in enumerate(lines):
        number = "" if first is None else first + offset
        spans.append(
            f'<span class="{cls}"><span class="ln">{_e(number)}</span>{_e(line)}</span>'
        )
    return f'<pre class="ctx">{"".join(spans)}</pre>'


def _ui_frame(frame):
    where = frame.get("filename") or frame.get("abs_path") or frame.get("module") or "?"
    line = frame.get("lineno")
    head = (
        f'<span class="file">{_e(where)}</span> in '
        f'<span class="fn">{_e(frame.get("function") or "?")}</span>'
        + (f" at line {_e(line)}" if line is not None else "")
        + (f":{_e(frame['colno'])}" if frame.get("colno") is not None else "")
    )
    in_app = frame.get("in_app") is True
    if in_app:
        head += ' <span class="badge app">in app</span>'
    variables = frame.get("vars")
    inner = _ui_context_lines(frame) + (
        "<h3>Local variables</h3>" + _ui_kv(variables, _ui_short) if variables else ""
    )
    cls = "frame app" if in_app else "frame"
    if not inner:
        return f'<div class="{cls}"><div class="head">{head}</div></div>'
    opened = " open" if in_app else ""
    return (
        f'<details class="{cls}"{opened}><summary>{head}</summary>'
        f'<div class="inner">{inner}</div></details>'
    )


def _ui_stacktrace(stacktrace):
    frames = _ui_values(stacktrace, "frames")
    if not frames:
        return ""
    frames = frames[-_UI_MAX_ROWS:]
    note = '<p class="mut small">Most recent call first.</p>'
    return note + "".join(_ui_frame(f) for f in reversed(frames))


def _ui_mechanism(mechanism):
    if not isinstance(mechanism, dict):
        return ""
    parts = [f"mechanism {_e(mechanism.get('type'))}"]
    if mechanism.get("handled") is False:
        parts.append('<span class="badge bad">unhandled</span>')
    elif mechanism.get("handled") is True:
        parts.append('<span class="badge">handled</span>')
    return f'<p class="mut small">{" ".join(parts)}</p>'


def _ui_exception(exc):
    kind, value = exc.get("type"), exc.get("value")
    module = exc.get("module")
    title = (
        (f'<span class="mut">{_e(module)}.</span>' if module else "")
        + _e(kind or "Exception")
        + (
            f': <span class="val">{_ui_value(value)}</span>'
            if value is not None
            else ""
        )
    )
    return (
        f'<div class="exc"><h3>{title}</h3>{_ui_mechanism(exc.get("mechanism"))}'
        f"{_ui_stacktrace(exc.get('stacktrace'))}</div>"
    )


def _ui_exceptions(body):
    values = _ui_values(body.get("exception"))
    if not values:
        return ""
    parts = []
    # Sentry lists the oldest cause first; show the raised exception first.
    for index, exc in enumerate(reversed(values[-_UI_MAX_ROWS:])):
        if index:
            parts.append('<p class="chain">&uarr; caused by (chained exception)</p>')
        parts.append(_ui_exception(exc))
    count = f" ({len(values)} chained)" if len(values) > 1 else ""
    return _ui_section("Exception" + count, "".join(parts))


def _ui_threads(body):
    threads = [t for t in _ui_values(body.get("threads")) if t.get("stacktrace")]
    parts = [
        f"<h3>Thread {_e(t.get('name') or t.get('id'))}"
        + (' <span class="badge">crashed</span>' if t.get("crashed") else "")
        + f"</h3>{_ui_stacktrace(t.get('stacktrace'))}"
        for t in threads[:50]
    ]
    return _ui_section("Threads", "".join(parts))


def _ui_message(body):
    entry = body.get("logentry") or body.get("message")
    if entry is None:
        return ""
    if isinstance(entry, dict):
        text = entry.get("formatted") or entry.get("message")
        params = entry.get("params")
        extra = _ui_kv({"params": params}) if params else ""
        return _ui_section("Message", f"<pre>{_e(_ui_text(text))}</pre>{extra}")
    return _ui_section("Message", f"<pre>{_e(_ui_text(entry))}</pre>")


def _ui_text(value):
    return value if isinstance(value, str) else _ui_json(value)


def _ui_breadcrumbs(body):
    crumbs = _ui_values(body.get("breadcrumbs"))
    if not crumbs:
        return ""
    rows = "".join(
        f'<tr><td class="nowrap small">{_ui_time(c.get("timestamp"))}</td>'
        f"<td>{_e(c.get('category'))}"
        + (f' <span class="mut small">{_e(c["type"])}</span>' if c.get("type") else "")
        + f'</td><td class="level">{_e(c.get("level"))}</td>'
        f'<td class="msg">{_ui_value(c.get("message")) if "message" in c else ""}</td>'
        f'<td class="data">{_ui_short(c["data"]) if c.get("data") else ""}</td></tr>'
        for c in crumbs[-_UI_MAX_ROWS:]
    )
    table = (
        '<div class="scroll"><table class="crumbs stack"><thead><tr><th>Time</th><th>Category</th>'
        "<th>Level</th><th>Message</th><th>Data</th></tr></thead>"
        f"<tbody>{rows}</tbody></table></div>"
    )
    return _ui_section(f"Breadcrumbs ({len(crumbs)})", table)


def _ui_http_request(body):
    request = body.get("request")
    if not isinstance(request, dict) or not request:
        return ""
    known = ("url", "method", "query_string", "fragment", "data", "cookies")
    main = _ui_kv([(k, request[k]) for k in known if k in request])
    parts = [main]
    for key in ("headers", "env"):
        if request.get(key):
            parts.append(f"<h3>{_e(key.title())}</h3>{_ui_kv(request[key])}")
    rest = {k: v for k, v in request.items() if k not in (*known, "headers", "env")}
    if rest:
        parts.append(_ui_kv(rest))
    return _ui_section("Request", "".join(parts))


def _ui_contexts(body):
    contexts = body.get("contexts")
    if not isinstance(contexts, dict) or not contexts:
        return ""
    cards = "".join(
        f'<div class="box"><h3>{_e(name)}</h3>{_ui_kv(value, _ui_short)}</div>'
        for name, value in contexts.items()
    )
    return _ui_section("Contexts", f'<div class="cards">{cards}</div>')


def _ui_event_sections(body):
    """The parts every error-like or transaction body may carry."""
    return (
        _ui_breadcrumbs(body)
        + _ui_http_request(body)
        + _ui_section("User", _ui_kv(body.get("user")))
        + _ui_section("Tags", _ui_kv(body.get("tags")))
        + _ui_contexts(body)
        + _ui_section("Extra", _ui_kv(body.get("extra"), _ui_short))
        + _ui_section("Fingerprint", _ui_kv(body.get("fingerprint")))
    )


def _ui_event_body(event):
    body = event.body
    if not isinstance(body, dict):
        return ""
    # The exception first, as Sentry does: the title already names the message.
    return (
        _ui_exceptions(body)
        + _ui_message(body)
        + _ui_threads(body)
        + _ui_event_sections(body)
    )


# -- transactions and spans: a waterfall drawn with SVG attributes (CSP-safe)


def _ui_span_id(value):
    """A span id to build the tree with: text, or None (a list is no key)."""
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        return str(value)
    return None


def _ui_span(span, start_key="start_timestamp", end_key="timestamp"):
    attributes = (
        span.get("attributes") if isinstance(span.get("attributes"), dict) else {}
    )
    op = span.get("op") or _get(attributes, "sentry.op", "value")
    return {
        "id": _ui_span_id(span.get("span_id")),
        "parent": _ui_span_id(span.get("parent_span_id")),
        "op": op,
        "name": span.get("description") or span.get("name") or "",
        "start": _ui_seconds(span.get(start_key)),
        "end": _ui_seconds(span.get(end_key)),
        "status": span.get("status"),
        "data": span.get("data") or span.get("attributes") or None,
    }


def _ui_attribute_values(data):
    """Span data as pairs; span-stream ``{"value": v, "type": t}`` unwrapped."""
    return [
        (k, v["value"] if isinstance(v, dict) and "value" in v else v)
        for k, v in _ui_pairs(data)
    ]


def _ui_span_order(spans):
    """Depth-first by parent, children by start time: (depth, span) pairs."""
    ids = {s["id"] for s in spans if s["id"]}
    children = {}
    for span in spans:
        parent = span["parent"] if span["parent"] in ids else None
        children.setdefault(parent, []).append(span)
    ordered, stack = [], [(0, s) for s in _ui_by_start(children.get(None, []))][::-1]
    seen = set()
    while stack and len(ordered) < _UI_MAX_ROWS:
        depth, span = stack.pop()
        if id(span) in seen:
            continue
        seen.add(id(span))
        ordered.append((depth, span))
        kids = _ui_by_start(children.get(span["id"], [])) if span["id"] else []
        stack += [(depth + 1, k) for k in reversed(kids)]
    return ordered


def _ui_by_start(spans):
    return sorted(spans, key=lambda s: s["start"] if s["start"] is not None else 0)


def _ui_bar(span, origin, total):
    if span["start"] is None or span["end"] is None or total <= 0:
        return ""
    x = min(max((span["start"] - origin) / total * 1000, 0), 1000)
    width = min(max((span["end"] - span["start"]) / total * 1000, 3), 1000 - x)
    return (
        '<svg viewBox="0 0 1000 14" preserveAspectRatio="none" aria-hidden="true">'
        '<rect class="track" x="0" y="0" width="1000" height="14"/>'
        f'<rect x="{x:.1f}" y="1" width="{max(width, 3):.1f}" height="12" rx="2"/></svg>'
    )


def _ui_duration(span):
    if span["start"] is None or span["end"] is None:
        return ""
    return f"{(span['end'] - span['start']) * 1000:.1f} ms"


def _ui_waterfall(spans):
    if not spans:
        return ""
    ordered = _ui_span_order(spans)
    starts = [s["start"] for s in spans if s["start"] is not None]
    ends = [s["end"] for s in spans if s["end"] is not None]
    origin = min(starts) if starts else 0
    total = (max(ends) - origin) if ends and starts else 0
    rows = []
    for depth, span in ordered:
        op = f'<span class="badge">{_e(span["op"])}</span> ' if span["op"] else ""
        status = span["status"]
        status = (
            f' <span class="badge {"ok" if status == "ok" else "bad"}">{_e(status)}</span>'
            if status
            else ""
        )
        name = f"{op}{_e(span['name'])}{status}"
        if span["data"]:  # a click shows the span's data (db.statement, http.url)
            data = _ui_kv(_ui_attribute_values(span["data"]), _ui_short)
            name = f"<details><summary>{name}</summary>{data}</details>"
        rows.append(
            f'<tr><td class="name d{min(depth, 8)}">{name}</td>'
            f'<td class="num small">{_e(_ui_duration(span))}</td>'
            f'<td class="barcell">{_ui_bar(span, origin, total)}</td></tr>'
        )
    table = (
        '<table class="wf"><thead><tr><th>Span</th><th class="num">Duration</th>'
        f"<th>Timeline ({total * 1000:.1f} ms)</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )
    return _ui_section(f"Spans ({len(spans)})", table)


def _ui_transaction_body(event):
    body = event.body
    if not isinstance(body, dict):
        return ""
    trace = _get(body, "contexts", "trace") or {}
    root = _ui_span(
        {
            "span_id": _get(trace, "span_id"),
            "op": _get(trace, "op"),
            "description": body.get("transaction"),
            "start_timestamp": body.get("start_timestamp"),
            "timestamp": body.get("timestamp"),
            "status": _get(trace, "status"),
        }
    )
    spans = [root] + [_ui_span(s) for s in _ui_values(body.get("spans"), "spans")]
    return _ui_waterfall(spans) + _ui_event_sections(body)


def _ui_span_items(event):
    """Span v2 containers (``{"items": [...]}``) or a single span item."""
    items = _get(event.body, "items")
    if isinstance(items, list):
        return [
            _ui_span(s, end_key="end_timestamp") for s in items if isinstance(s, dict)
        ]
    if isinstance(event.body, dict):
        return [_ui_span(event.body)]
    return []


def _ui_span_body(event):
    return _ui_waterfall(_ui_span_items(event))


# -- logs, metrics and other containers of records


# Attributes every SDK adds to each record: folded, so the app's own show.
_UI_SDK_ATTRIBUTE_PREFIXES = (
    "sentry.",
    "process.",
    "os.",
    "server.",
    "telemetry.",
    "thread.",
    "code.",
    "host.",
    "service.",
)


def _ui_attributes(attributes):
    """``{"key": {"value": v, "type": t}}`` as ``key=v`` lines, SDK ones folded."""
    own, sdk = [], []
    for key, value in _ui_pairs(attributes):
        if isinstance(value, dict) and "value" in value:
            value = value["value"]
        line = f'<span class="mut">{_e(key)}</span>={_ui_short(value, 300)}'
        folded = str(key).startswith(_UI_SDK_ATTRIBUTE_PREFIXES)
        (sdk if folded else own).append(line)
    folded = (
        f'<details class="attrs"><summary class="mut small">'
        f"{_ui_plural(len(sdk), 'SDK attribute')}</summary>{'<br>'.join(sdk)}</details>"
        if sdk
        else ""
    )
    return "<br>".join(own) + folded


def _ui_records(event, columns):
    items = _get(event.body, "items")
    records = (
        [r for r in items if isinstance(r, dict)] if isinstance(items, list) else []
    )
    if not records:
        return ""
    head = "".join(f"<th>{_e(title)}</th>" for title, _ in columns)
    rows = []
    for record in records[:_UI_MAX_ROWS]:
        cells = "".join(f"<td>{render(record)}</td>" for _, render in columns)
        rows.append(f"<tr>{cells}</tr>")
    table = (
        f'<div class="scroll"><table class="records stack"><thead><tr>{head}</tr>'
        f"</thead><tbody>{''.join(rows)}</tbody></table></div>"
    )
    return _ui_section(f"Records ({len(records)})", table)


# The time column of log and metric records.
_UI_TIME_COLUMN = (
    "Time",
    lambda r: f'<span class="nowrap small">{_ui_time(r.get("timestamp"))}</span>',
)


def _ui_log_body(event):
    return _ui_records(
        event,
        [
            _UI_TIME_COLUMN,
            ("Level", lambda r: _ui_level(r.get("level"))),
            ("Body", lambda r: _ui_value(r.get("body"))),
            ("Attributes", lambda r: _ui_attributes(r.get("attributes"))),
        ],
    )


def _ui_metric_body(event):
    return _ui_records(
        event,
        [
            _UI_TIME_COLUMN,
            ("Name", lambda r: _e(r.get("name"))),
            ("Type", lambda r: _e(r.get("type"))),
            (
                "Value",
                lambda r: _ui_value(r.get("value")) + " " + _e(r.get("unit") or ""),
            ),
            ("Attributes", lambda r: _ui_attributes(r.get("attributes"))),
        ],
    )


# -- sessions, check-ins, security and client reports: their fields


def _ui_fields_body(event, title="Fields"):
    if not isinstance(event.body, dict):
        return ""
    return _ui_section(title, _ui_kv(_ui_flat(event.body), _ui_short))


def _ui_sessions_body(event):
    body = event.body if isinstance(event.body, dict) else {}
    aggregates = _ui_values(body.get("aggregates"), "aggregates")
    keys = sorted({k for bucket in aggregates for k in bucket} - {"started"})
    head = "".join(f"<th>{_e(k)}</th>" for k in ["started", *keys])
    rows = "".join(
        "<tr>"
        + "".join(f"<td>{_ui_value(b.get(k))}</td>" for k in ["started", *keys])
        + "</tr>"
        for b in aggregates[:_UI_MAX_ROWS]
    )
    table = (
        f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{rows}'
        "</tbody></table></div>"
        if aggregates
        else ""
    )
    return _ui_section("Attributes", _ui_kv(body.get("attrs"))) + _ui_section(
        "Aggregates", table
    )


def _ui_security_body(event):
    body = event.body if isinstance(event.body, dict) else {}
    report = body.get("csp-report")
    if not isinstance(report, dict):
        report = body.get("body") if isinstance(body.get("body"), dict) else body
    pick = (
        (
            "Directive",
            ("effective-directive", "violated-directive", "effectiveDirective"),
        ),
        ("Blocked URL", ("blocked-uri", "blockedURL")),
        ("Document", ("document-uri", "documentURL")),
        ("Source", ("source-file", "sourceFile")),
        ("Line", ("line-number", "lineNumber")),
        ("Disposition", ("disposition",)),
    )
    summary = []
    for label, keys in pick:
        value = next((report[k] for k in keys if k in report), None)
        if value is not None:
            summary.append((label, value))
    return _ui_section("Report", _ui_kv(summary)) + _ui_fields_body(event, "All fields")


def _ui_client_report_body(event):
    body = event.body if isinstance(event.body, dict) else {}
    rows = []
    for key in (
        "discarded_events",
        "rate_limited_events",
        "filtered_events",
        "filtered_sampling_events",
    ):
        for entry in _ui_values(body.get(key), key):
            rows.append(
                f"<tr><td>{_e(key)}</td><td>{_e(entry.get('reason'))}</td>"
                f"<td>{_e(entry.get('category'))}</td>"
                f'<td class="num">{_e(entry.get("quantity"))}</td></tr>'
            )
    table = (
        "<table><thead><tr><th>Kind</th><th>Reason</th><th>Category</th>"
        f'<th class="num">Quantity</th></tr></thead><tbody>{"".join(rows)}</tbody></table>'
        if rows
        else '<p class="mut">The SDK reported nothing discarded.</p>'
    )
    when = body.get("timestamp")
    note = f'<p class="mut small">Reported at {_ui_time(when)}</p>' if when else ""
    return _ui_section("Discarded by the SDK", note + table)


# -- attachments and unparseable requests: bytes


def _ui_hexdump(data, limit=1024):
    lines = []
    for offset in range(0, min(len(data), limit), 16):
        chunk = data[offset : offset + 16]
        hexes = " ".join(f"{b:02x}" for b in chunk)
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{offset:08x}  {hexes:<47}  {text}")
    more = f"\n\u2026 {len(data) - limit} more bytes" if len(data) > limit else ""
    return f'<pre class="hex">{_e(chr(10).join(lines) + more)}</pre>'


def _ui_is_text(data, content_type):
    if content_type.startswith("text/") or content_type.endswith(("json", "xml")):
        return True
    sample = data[:_UI_PREVIEW_BYTES]
    if b"\x00" in sample:
        return False
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:  # a cut multi-byte character at the end
        return exc.start >= len(sample) - 3
    return True


def _ui_preview(data, content_type):
    if content_type in _UI_IMAGE_TYPES and 0 < len(data) <= _UI_MAX_IMAGE:
        url = f"data:{content_type};base64,{base64.b64encode(data).decode('ascii')}"
        return (
            f'<div class="preview"><img alt="attachment preview" src="{_e(url)}"></div>'
        )
    if not data:
        return '<p class="mut">Empty attachment.</p>'
    if _ui_is_text(data, content_type):
        text = data[:_UI_PREVIEW_BYTES].decode("utf-8", "replace")
        more = len(data) > _UI_PREVIEW_BYTES
        note = (
            f'<p class="mut small">First {_UI_PREVIEW_BYTES} of {len(data)} bytes.</p>'
            if more
            else ""
        )
        return f"{note}<pre>{_e(text)}</pre>"
    return _ui_hexdump(data)


def _ui_attachment_body(event):
    header = event.header if isinstance(event.header, dict) else {}
    data = bytes(event.raw or b"")
    content_type = str(header.get("content_type") or "application/octet-stream")
    fields = _ui_kv(
        [
            ("Filename", header.get("filename")),
            ("Content type", content_type),
            ("Attachment type", header.get("attachment_type") or "event.attachment"),
            ("Size", f"{len(data)} bytes"),
        ]
    )
    download = (
        f'<p><a href="/api/event/{_e(event.id)}/raw" '
        f'download="{_e(header.get("filename") or "attachment")}">Download</a></p>'
    )
    preview = _ui_preview(data, content_type.split(";")[0].strip().lower())
    return _ui_section("Attachment", fields + download) + _ui_section(
        "Preview", preview
    )


# Where a refusal names a place: "at byte N of the envelope" (an offset in the
# whole request) or "line L column C" (in the item's own payload).
_UI_ERROR_BYTE = re.compile(r"at byte (\d+)")
_UI_ERROR_LINE = re.compile(r"line (\d+) column (\d+)")
_UI_SNIPPET_LINES = 4  # lines shown before and after the one with the error
_UI_SNIPPET_WIDTH = 100  # characters of a long line shown around the column


def _ui_error_place(error, data, whole_request):
    """``(line, column)`` (1-based, characters) an error names in ``data``."""
    at_byte = _UI_ERROR_BYTE.search(error or "")
    if whole_request and at_byte and int(at_byte.group(1)) <= len(data):
        before = data[: int(at_byte.group(1))].decode("utf-8", "replace")
        return before.count("\n") + 1, len(before) - before.rfind("\n")
    at_line = _UI_ERROR_LINE.search(error or "")
    if at_line:
        return int(at_line.group(1)), int(at_line.group(2))
    return None


def _ui_caret_window(line, column):
    """A long line cut to the part around ``column``, and the column in it."""
    start = max(0, column - 1 - _UI_SNIPPET_WIDTH // 2)
    cut = line[start : start + _UI_SNIPPET_WIDTH]
    prefix = "\u2026" if start else ""
    suffix = "\u2026" if start + _UI_SNIPPET_WIDTH < len(line) else ""
    return prefix + cut + suffix, column - start + len(prefix)


def _ui_caret_snippet(text, line, column, reason):
    """The lines around ``line`` with a caret under ``column``, numbered."""
    lines = text.split("\n")
    if not 1 <= line <= len(lines):
        return ""
    first = max(1, line - _UI_SNIPPET_LINES)
    rows = []
    for number in range(first, min(len(lines), line + _UI_SNIPPET_LINES) + 1):
        shown = lines[number - 1]
        if number == line:
            shown, column = _ui_caret_window(shown, column)
        else:
            shown = _ui_caret_window(shown, 1)[0]
        cls = ' class="cur"' if number == line else ""
        rows.append(f'<span{cls}><span class="ln">{number}</span>{_e(shown)}</span>')
        if number == line:
            caret = " " * max(column - 1, 0) + "^ " + reason
            rows.append(
                f'<span class="caret"><span class="ln"></span>{_e(caret)}</span>'
            )
    return f'<pre class="ctx snippet">{"".join(rows)}</pre>'


def _ui_refused_body(event):
    """What Kent could not read: the text with the error marked, or hex.

    The reason itself is the page's title, so it is not repeated here.
    """
    data = bytes(event.raw or b"")
    whole = event.type == "kent_error"
    place = _ui_error_place(event.error, data, whole)
    text_like = _ui_is_text(data, "")
    parts = []
    if place and text_like:
        text = data.decode("utf-8", "replace")
        reason = (event.error or "").rsplit(": ", 1)[-1]
        reason = re.split(r" at (?:byte|line) | \(", reason)[0]
        snippet = _ui_caret_snippet(text, *place, reason)
        where = f"line {place[0]}, column {place[1]}"
        parts.append(_ui_section(f"Where ({where})", snippet))
    what = "the request" if whole else "the item"
    if text_like:
        preview = _ui_preview(data, "text/plain")
        parts.append(_ui_section(f"Text of {what} ({len(data)} bytes)", preview))
    else:
        parts.append(_ui_section(f"Bytes of {what} ({len(data)})", _ui_hexdump(data)))
    return "".join(parts)


def _ui_kent_error_body(event):
    return _ui_refused_body(event)


_UI_BODIES = {
    "event": _ui_event_body,
    "feedback": _ui_event_body,
    "transaction": _ui_transaction_body,
    "span": _ui_span_body,
    "log": _ui_log_body,
    "trace_metric": _ui_metric_body,
    "session": lambda e: _ui_fields_body(e, "Session"),
    "sessions": _ui_sessions_body,
    "check_in": lambda e: _ui_fields_body(e, "Check-in"),
    "security": _ui_security_body,
    "raw_security": _ui_security_body,
    "client_report": _ui_client_report_body,
    "attachment": _ui_attachment_body,
    "kent_error": _ui_kent_error_body,
    "user_report": lambda e: _ui_fields_body(e, "User report"),
    "replay_event": lambda e: _ui_fields_body(e, "Replay"),
    "nel": lambda e: _ui_fields_body(e, "Network error report"),
}


def _ui_raw(event):
    body, encoding = body_to_json(event)
    text = body if isinstance(body, str) else _ui_json(body, indent=2)
    if len(text) > _UI_MAX_PRETTY:
        text = text[:_UI_MAX_PRETTY] + f"\n\u2026 ({len(text)} characters in all)"
    return text, encoding


# -- leak findings: a list near the top, and the values marked in place
# Each value with a finding is swapped for a token (NUL, the page nonce, a
# number) in a copy of the body; every view renders the copy as usual and the
# escaped tokens are then replaced by the escaped value in a <span class=leak>.


def _ui_leaks(findings):
    if not findings:
        return ""
    rows = "".join(
        f"<tr><td><code>{_e(f['pointer'] or '(whole payload)')}</code></td>"
        f'<td><span class="badge bad">{_e(f["kind"])}</span></td>'
        f"<td><code>{_e(f['excerpt'])}</code></td></tr>"
        for f in findings
    )
    return (
        f'<div class="box bad" id="kent-leaks"><strong>Leak findings '
        f"({len(findings)})</strong>: values that scrubbing usually removes "
        "(excerpts masked). They are marked below."
        '<div class="scroll"><table class="leaks"><thead><tr><th>Pointer</th>'
        f"<th>Kind</th><th>Excerpt</th></tr></thead><tbody>{rows}</tbody>"
        "</table></div></div>"
    )


def _ui_leak_line(findings):
    """One line near the top: how many findings of which kind, and a link."""
    if not findings:
        return ""
    kinds = collections.Counter(f["kind"] for f in findings)
    counts = ", ".join(f"{n} {_e(kind)}" for kind, n in kinds.most_common())
    return (
        f'<p class="box bad leak-line"><strong>{_ui_plural(len(findings), "leak")}'
        f"</strong> ({counts}): marked in place; "
        '<a href="#kent-leaks">the list</a></p>'
    )


def _ui_pointer_keys(body, pointer):
    """The containers and keys along a JSON pointer, or None if it leads nowhere."""
    steps, node = [], body
    for token in pointer.split("/")[1:]:
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and token in node:
            key = token
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            key = int(token)
        else:
            return None
        steps.append((node, key))
        node = node[key]
    return steps


def _ui_replace_at(steps, value):
    """A copy of the body with the leaf at ``steps`` replaced (copy on write)."""
    for container, key in reversed(steps):
        changed = dict(container) if isinstance(container, dict) else list(container)
        changed[key] = value
        value = changed
    return value


def _ui_mark_body(body, findings, nonce):
    """``(marked copy, [(original, kinds)])``; token ``i`` stands for entry ``i``."""
    kinds = {}
    for finding in findings:
        if finding["pointer"]:
            kinds.setdefault(finding["pointer"], []).append(finding["kind"])
    originals = []
    for pointer, names in kinds.items():
        steps = _ui_pointer_keys(body, pointer)
        leaf = steps[-1][0][steps[-1][1]] if steps else None
        if not isinstance(leaf, (str, int, float)) or isinstance(leaf, bool):
            continue
        body = _ui_replace_at(steps, f"\x00{nonce}:{len(originals)}\x00")
        originals.append((leaf, list(dict.fromkeys(names))))
    return body, originals


def _ui_leak_span(value, kinds, as_json):
    """One marked value; the kind badges follow values shown as text."""
    title = _e("leak: " + ", ".join(kinds))
    text = value if isinstance(value, str) and not as_json else _ui_json(value)
    badges = "".join(f'<span class="badge bad leak-kind">{_e(k)}</span>' for k in kinds)
    span = f'<span class="leak" title="{title}">{_e(text)}</span>'
    return span if as_json else span + badges


def _ui_unmark(markup, originals, nonce):
    """Put the marked values back (as text, or as JSON where JSON was shown)."""
    if not originals:
        return markup
    nonce = re.escape(nonce)
    tokens = re.compile(
        rf"&quot;\\u0000{nonce}:(\d+)\\u0000&quot;|\x00{nonce}:(\d+)\x00"
    )

    def restore(match):
        as_json = match.group(1) is not None
        value, kinds = originals[int(match.group(1) or match.group(2))]
        return _ui_leak_span(value, kinds, as_json)

    return tokens.sub(restore, markup)


def _ui_marked_event(event, findings, nonce):
    """A copy of ``event`` whose body carries the tokens, and what they stand for."""
    if not findings or not isinstance(event.body, (dict, list)):
        return event, []
    body, originals = _ui_mark_body(event.body, findings, nonce)
    marked = copy.copy(event)
    marked.body = body
    return marked, originals


def _ui_diff_options(event, others):
    """``<option>``s for the diff form: the other items, newest first."""
    options = [
        f'<option value="{_e(o.id)}">#{_e(o.seq)} {_e(o.type)}: '
        f"{_e(_text(o.title, 80))}</option>"
        for o in others
        if o is not event
    ]
    return "".join(options) or '<option value="">(no other item stored)</option>'


def _ui_related(related):
    if not related:
        return ""
    items = "".join(
        f'<li><a href="/event/{_e(r.id)}">#{_e(r.seq)} {_e(r.title)}</a></li>'
        for r in related
    )
    return f'<h2 id="kent-related">The same check-in</h2><ul>{items}</ul>'


def _ui_downloads(event, replayable, base_url):
    if not replayable:
        return "", ""
    link = (
        f' &middot; <a href="/api/event/{_e(event.id)}/envelope" '
        f'download="{_e(envelope_filename(event))}">Download the request as an '
        "envelope</a>"
    )
    curl = (
        '<p class="small mut">Send it again (to Kent or any Sentry: change the '
        "URL and key) after downloading the envelope:</p>"
        f'<pre class="curl">{_e(replay_curl(event, base_url))}</pre>'
    )
    return link, curl


def render_event(
    event, siblings, nonce, findings=(), base_url="", related=(), others=()
):
    """One stored item: header, problems, leaks, its type's view, headers, raw.

    ``findings`` (the leak scanner's) are listed and marked in place;
    ``base_url`` goes into the curl command that sends the request again;
    ``related`` are items linked from this one (the other check-ins of a
    run); ``others`` the items the diff form offers, newest first.
    """
    shown, originals = _ui_marked_event(event, findings, nonce)
    renderer = _UI_BODIES.get(event.type)
    if event.error and event.binary and event.type not in ("attachment", "minidump"):
        renderer = _ui_refused_body
    body = renderer(shown) if renderer else ""
    raw, encoding = _ui_raw(shown)
    header = event.header if isinstance(event.header, dict) else {}
    replayable = is_replayable(event, siblings)
    envelope, curl = _ui_downloads(event, replayable, base_url)
    content = EVENT_TEMPLATE.substitute(
        summary=_e(event.title),
        headline=_ui_headline(event),
        meta=_ui_header_meta(event),
        leak_line=_ui_leak_line(findings),
        problems=_ui_problems(event),
        leaks=_ui_leaks(findings),
        siblings=_ui_siblings(siblings) + _ui_related(related),
        body=_ui_unmark(body, originals, nonce),
        envelope_header=_e(_ui_json(event.envelope_header, indent=2)),
        item_header=_e(_ui_json(event.header, indent=2)),
        transport=_ui_transport(event),
        raw_open="" if body else " open",
        encoding=_e(encoding),
        size=_e(len(event.raw or b"")),
        raw=_ui_unmark(_e(raw), originals, nonce),
        id=_e(event.id),
        download=_e(header.get("filename") or f"{event.type}-{event.id}.bin"),
        envelope=envelope,
        curl=curl,
        diff_options=_ui_diff_options(event, others),
    )
    return render_page(f"{event.title} - Kent", content, nonce)


# -- a trace: every item with one trace id, in time order


def event_trace_ids(event):
    """The trace ids an item names: its trace context, the envelope's dynamic
    sampling context, and the ``trace_id`` of each log record or span."""
    body = None if event.binary else event.body
    ids = [
        _get(event.envelope_header, "trace", "trace_id"),
        _get(body, "contexts", "trace", "trace_id"),
        _get(body, "trace_id"),
    ]
    records = _get(body, "items")
    if isinstance(records, list):
        ids += [
            r.get("trace_id") for r in records[:_UI_MAX_ROWS] if isinstance(r, dict)
        ]
    return list(
        dict.fromkeys(
            i.replace("-", "").lower() for i in ids if isinstance(i, str) and i
        )
    )


def event_time(event):
    """When the SDK says the item happened (epoch seconds), else when it came."""
    body = None if event.binary else event.body
    first = _get(body, "items", 0) if isinstance(_get(body, "items"), list) else None
    for value in (
        _get(body, "start_timestamp"),
        _get(body, "timestamp"),
        _get(first, "start_timestamp"),
        _get(first, "timestamp"),
    ):
        seconds = _ui_seconds(value)
        if seconds is not None:
            return seconds
    return event.received


def _ui_trace_links(event):
    ids = event_trace_ids(event)[:3]
    return " ".join(
        f'<a class="trace" href="/trace/{_e(i)}">trace {_e(i[:8])}\u2026</a>'
        for i in ids
    )


def render_trace(trace_id, events, nonce):
    """``/trace/<id>``: the items of one trace (errors, transactions, logs) by time."""
    timed = sorted(((event_time(e), e) for e in events), key=lambda pair: pair[0])
    rows = "".join(
        f'<tr><td class="time">{_ui_time(when)}</td><td class="type">{_e(e.type)}</td>'
        f'<td class="level">{_ui_level(_get(e.body, "level") if not e.binary else None)}'
        "</td>"
        f'<td class="sum"><a href="/event/{_e(e.id)}">{_e(e.title)}</a></td></tr>'
        for when, e in timed
    )
    rows = rows or '<tr><td colspan="4">No stored item has this trace id.</td></tr>'
    content = (
        '<p class="small"><a href="/">&larr; All events</a></p>'
        f"<h1>Trace <code>{_e(trace_id)}</code></h1>"
        f'<p class="mut">{_ui_plural(len(events), "item")} with this trace id, '
        "oldest first (by the time the SDK gave).</p>"
        '<div class="scroll"><table class="events stack trace-items"><thead><tr>'
        "<th>Time (UTC)</th><th>Type</th><th>Level</th><th>Summary</th></tr>"
        f"</thead><tbody>{rows}</tbody></table></div>"
    )
    return render_page(f"Trace {trace_id} - Kent", content, nonce)


def render_not_found(message, nonce):
    """A page route's 404 as a page, with the way back."""
    content = (
        f"<h1>Not found</h1><p>{_e(message)}</p>"
        '<p><a href="/">&larr; All events</a> (it may have been flushed, or '
        "dropped by the limits)</p>"
    )
    return render_page("Not found - Kent", content, nonce)


# -- search results and the diff of two items


_UI_ACROSS_FIELDS = '<span class="mut">(the text spans several fields)</span>'


def _ui_result_row(event, pointers):
    link = f'href="/event/{_e(event.id)}"'
    shown = pointers[:50]
    codes = " ".join(f"<code>{_e(p or '(whole payload)')}</code>" for p in shown)
    more = f" and {len(pointers) - len(shown)} more" if len(pointers) > 50 else ""
    return (
        f'<tr><td class="time"><a {link}>{_e(_iso(event.received)[11:23])}</a></td>'
        f'<td class="wide">{_e(event.project_id)}</td><td>{_e(event.type)}</td>'
        f'<td class="sum"><a {link}>{_e(event.title)}</a></td>'
        f"<td>{codes or _UI_ACROSS_FIELDS}{_e(more)}</td></tr>"
    )


def render_search(q, results, nonce):
    """``/search?q=``: a search box and ``(event, pointers)`` results."""
    rows = "".join(_ui_result_row(e, p) for e, p in reversed(results))
    if not q:
        rows = '<tr><td colspan="5">Type some text to search for.</td></tr>'
    elif not rows:
        rows = f'<tr><td colspan="5">Nothing stored contains {_e(q)}.</td></tr>'
    content = (
        '<p class="small"><a href="/">&larr; All events</a></p>'
        f"<h1>Search: {_e(q)}</h1>"
        '<form class="bar-row" method="get" action="/search" id="kent-search">'
        '<label>Search every payload <input type="search" name="q" '
        f'value="{_e(q)}"></label><button type="submit">Search</button></form>'
        f'<p class="mut">{_ui_plural(len(results), "item")} (case-insensitive, '
        "keys and values of every payload, attachments and log records included)</p>"
        '<div class="scroll"><table class="events stack"><thead><tr>'
        '<th>Time (UTC)</th><th class="wide">Project</th><th>Type</th>'
        f"<th>Summary</th><th>Where</th></tr></thead><tbody>{rows}</tbody></table></div>"
    )
    return render_page(f"Search {q} - Kent", content, nonce)


def _ui_diff_table(title, entries, columns):
    if not entries:
        return ""
    head = "".join(f"<th>{_e(c)}</th>" for c in ("Pointer", *columns))
    rows = "".join(
        f'<tr><td class="ptr"><code>{_e(e["pointer"] or "(whole body)")}</code></td>'
        + "".join(
            f'<td data-label="{_e(c)}">{_ui_short(e[c.lower()])}</td>' for c in columns
        )
        + "</tr>"
        for e in entries[:_UI_MAX_ROWS]
    )
    table = (
        f'<div class="scroll"><table class="diff stack"><thead><tr>{head}</tr>'
        f"</thead><tbody>{rows}</tbody></table></div>"
    )
    return _ui_section(f"{title} ({len(entries)})", table)


def _ui_diff_side(label, event):
    return (
        f'<div class="box"><h3>{_e(label)}</h3><a href="/event/{_e(event.id)}">'
        f'{_e(event.title)}</a><p class="small mut">{_e(event.type)}, project '
        f"{_e(event.project_id)}, received {_e(_iso(event.received))}</p></div>"
    )


def render_diff(a, b, diff, nonce):
    """Two items field by field; the SDK's ``_meta`` annotations apart."""
    meta = _ui_diff_table(
        "Annotations from _meta (not data)", diff["meta"], ("Side", "Annotation")
    )
    same = not any(diff[k] for k in ("added", "removed", "changed"))
    content = (
        '<p class="small"><a href="/">&larr; All events</a></p><h1>Diff</h1>'
        f'<div class="cards">{_ui_diff_side("A", a)}{_ui_diff_side("B", b)}</div>'
        + ('<p class="box">The bodies are the same.</p>' if same else "")
        + _ui_diff_table("Changed", diff["changed"], ("Old", "New"))
        + _ui_diff_table("Added in B", diff["added"], ("Value",))
        + _ui_diff_table("Removed in B", diff["removed"], ("Value",))
        + meta
    )
    return render_page("Diff - Kent", content, nonce)


# ---------------------------------------------------------------------------
# 8. Console
# ---------------------------------------------------------------------------


_ANSI = {
    "dim": "2",
    "bold": "1",
    "red": "31",
    "green": "32",
    "yellow": "33",
    "cyan": "36",
}


# What a terminal acts on instead of showing: C0 and C1 controls (ESC starts
# the sequences that move the cursor, set the title or write the clipboard,
# a newline forges a log line), and the Unicode line breaks and bidi controls.
_TERMINAL_CONTROLS = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)
_CONTROL_NAMES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _control_escape(match):
    char = match.group()
    code = ord(char)
    return _CONTROL_NAMES.get(char) or (
        f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    )


def console_text(value):
    """``value`` as a string safe to print: control characters as escapes."""
    text = str(value)
    if _TERMINAL_CONTROLS.search(text) is None:  # nearly always: no copy
        return text
    return _TERMINAL_CONTROLS.sub(_control_escape, text)


def _paint(text, style, colour):
    return f"\x1b[{_ANSI[style]}m{text}\x1b[0m" if colour else text


def render_console_line(event, base_url, colour=False):
    """One readable line per stored item for the terminal."""
    return render_entry_line(event_to_summary(event), base_url, colour)


def render_entry_line(entry, base_url, colour=False):
    """The console line from a list entry (``event_to_summary``), as ``run``
    prints it and ``tail`` prints what the event stream sends."""
    sdk = entry.get("sdk") or {}
    sdk_text = f"{sdk.get('name')} {sdk.get('version') or ''}".strip() if sdk else "-"
    status = entry.get("status") or 0
    title = entry.get("title") or entry.get("summary")
    parts = [  # every payload-derived piece through console_text
        _paint(f"#{entry.get('seq')}", "dim", colour),
        f"project={entry.get('project_id')}",
        _paint(console_text(str(entry.get("type"))), "cyan", colour),
        _paint(str(status), "green" if is_accepted(status) else "red", colour),
        console_text(sdk_text),
        _paint(console_text(str(title)), "bold", colour),
    ]
    if entry.get("warnings"):
        codes = ",".join(entry["warnings"])
        parts.append(_paint(f"[warnings: {codes}]", "yellow", colour))
    if entry.get("fault"):
        parts.append(_paint(f"[fault rule {entry['fault']}]", "yellow", colour))
    if entry.get("endpoint") == "spotlight":
        parts.append(_paint("[via Spotlight]", "dim", colour))
    link = console_text(f"{base_url}/event/{entry.get('event_id')}")  # from Host
    parts.append(_paint(link, "dim", colour))
    return " ".join(parts)


def render_leak_flag(findings, colour=False, shown=3):
    """``LEAK 2: email at /user/email (al***om), ...``: masked, never the secret."""
    if not findings:
        return ""
    parts = [
        console_text(f"{f['kind']} at {f['pointer'] or '(payload)'} ({f['excerpt']})")
        for f in findings[:shown]
    ]
    if len(findings) > shown:
        parts.append(f"+{len(findings) - shown} more")
    return _paint(f"LEAK {len(findings)}: {', '.join(parts)}", "red", colour)


def render_console_payload(event, max_lines=60, max_chars=6000):
    """The body pretty-printed for the terminal, cut where it gets long."""
    body, encoding = body_to_json(event)
    if encoding == "base64":
        text = event.raw[:512].decode("utf-8", "replace")
        kind = console_text(event.type)
        return f"  ({len(event.raw)} bytes of {kind}; starts with) {text!r}"
    text = json_text(body, indent=2)
    # JSON escapes C0 controls in strings; C1 ones and U+2028 it writes raw
    lines = [console_text(line) for line in text[:max_chars].split("\n")[:max_lines]]
    cut = len(text) > max_chars or len(text.splitlines()) > max_lines
    more = f"\n  ... ({len(text)} characters in all; see the page)" if cut else ""
    return "\n".join("  " + line for line in lines) + more


MIN_CANARY = 4  # characters: a shorter canary would be found everywhere


def _canary_values(values):
    """Canaries as a list of non-blank strings; ``BadRequest`` otherwise."""
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, (list, tuple)) or not all(
        isinstance(v, str) and v.strip() for v in values
    ):
        raise BadRequest('canaries are non-empty strings: {"canaries": ["VALUE", ...]}')
    short = [v for v in values if len(v.strip()) < MIN_CANARY]
    if short:
        raise BadRequest(
            f"canary {short[0]!r} is shorter than {MIN_CANARY} characters: it "
            "would be found everywhere"
        )
    return list(values)


class ConsolePrinter:
    """Prints one line per stored item from its own thread (``run``'s console).

    Requests only append to a deque; the printer wakes a few times a second
    and writes what came in one logging call, so a flood of events costs the
    request threads nothing. The leak scanner (about a millisecond an item)
    runs here while the backlog is short and its time budget (``SCAN_SHARE``
    of one core) lasts; under load lines are printed without the leak flag,
    and those items are scanned once nothing comes in (``IDLE_SHARE`` of a
    core), a line ``... LEAK ... (scanned late)`` for each one that leaks.
    """

    # Fixed, not options. Measured with just bench: scanning every item as it
    # is printed took keep-alive c=1 from about 4,000 to 760 requests a
    # second (1.2 ms of CPU a request), so the scan gets 5% of a core while
    # items come in and half of one when they stop; 10 waiting lines mean
    # "under load".
    INTERVAL = 0.02  # seconds between prints
    SCAN_SHARE = 0.05
    IDLE_SHARE = 0.5
    MAX_SCAN_BACKLOG = 10
    MAX_UNSCANNED = 1000  # ids kept to scan late; older ones are counted

    def __init__(self, kent):
        self.kent = kent
        self._allowance = 2 * self.SCAN_SHARE  # seconds of scanning it may spend
        self._last = time.monotonic()
        self._pending = collections.deque()
        self._unscanned = collections.deque()
        self._unscanned_lost = 0  # pushed out of _unscanned before their scan
        self._stopping = threading.Event()
        self._thread = None

    def start(self):
        if self._thread is None:
            self._stopping.clear()
            self._thread = threading.Thread(
                target=self._loop, name="kent-console", daemon=True
            )
            self._thread.start()
        return self

    def submit(self, event, base_url):
        self._pending.append((event, base_url))

    def stop(self, timeout=5.0):
        """Print what is queued, then end the thread."""
        if self._thread is not None:
            self._stopping.set()
            self._thread.join(timeout)
            self._thread = None

    def _may_scan(self, backlog):
        now = time.monotonic()
        self._allowance = min(
            2 * self.SCAN_SHARE,
            self._allowance + (now - self._last) * self.SCAN_SHARE,
        )
        self._last = now
        return self._allowance > 0 and backlog <= self.MAX_SCAN_BACKLOG

    def _scan(self, event):
        started = time.monotonic()
        findings = self.kent.findings(event)
        self._allowance -= time.monotonic() - started
        return findings

    def _loop(self):
        while not self._stopping.wait(self.INTERVAL):
            self._print_pending()
        self._print_pending()

    def _print_pending(self):
        batch = []
        while self._pending:
            batch.append(self._pending.popleft())
        if not batch:
            self._scan_late()
            return
        for event, base_url in batch:
            try:
                findings = None
                if self._may_scan(len(batch)):
                    findings = self._scan(event)
                else:
                    self._defer(event, base_url)
                lines = self.kent.console_lines(event, base_url, findings)
            except Exception:  # a bug in Kent: say so, keep printing
                logger.exception("Kent could not print an item")
                continue
            logger.info("%s", "\n".join(lines))  # each item with its own time

    def _defer(self, event, base_url):
        # Its id, not the event: an item the store drops must not stay in memory.
        if len(self._unscanned) >= self.MAX_UNSCANNED:
            self._unscanned.popleft()
            self._unscanned_lost += 1
        self._unscanned.append((event.id, base_url))

    def _scan_late(self):
        """While nothing comes in, scan what was printed unscanned; flag leaks."""
        deadline = time.monotonic() + self.INTERVAL * self.IDLE_SHARE
        lines = []
        while self._unscanned and time.monotonic() < deadline:
            ident, base_url = self._unscanned.popleft()
            event = self.kent.store.get(ident)
            if event is None:  # dropped by the limits or flushed meanwhile
                self._unscanned_lost += 1
                continue
            try:
                findings = self.kent.findings(event)
                if findings:
                    line = self.kent.console_lines(event, base_url, findings)[0]
                    lines.append(f"{line} (scanned late)")
            except Exception:  # a bug in Kent: say so, keep printing
                logger.exception("Kent could not scan an item")
        if self._unscanned_lost and not self._unscanned:
            lines.append(
                f"{self._unscanned_lost} items were printed without a leak scan "
                "(too many at once, or dropped by the limits first); GET "
                "/api/leaks/ scans every stored item"
            )
            self._unscanned_lost = 0
        if lines:
            logger.info("%s", "\n".join(lines))


# ---------------------------------------------------------------------------
# 9. HTTP handler
# ---------------------------------------------------------------------------


# -- MCP: tools for coding assistants, as JSON-RPC 2.0 (POST /mcp, or stdio)
# https://modelcontextprotocol.io/specification (Streamable HTTP, stdio)

MCP_VERSIONS = ("2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05")
MCP_MAX_WAIT = 60.0  # seconds a wait_for_events call may take


class JsonRpcError(KentError):
    """A JSON-RPC error: ``code`` is JSON-RPC's, ``status`` the HTTP answer."""

    def __init__(self, code, message, status=200):
        super().__init__(message)
        self.code = code
        self.status = status


def _schema(required=(), **properties):
    kinds = {int: "integer", str: "string", float: "number"}
    props = {
        name: {"type": kinds[kind], "description": text}
        for name, (kind, text) in properties.items()
    }
    return {"type": "object", "properties": props, "required": list(required)}


_FILTERS = {
    "project": (str, "project id(s), comma-separated"),
    "type": (str, "item type(s), comma-separated: event, transaction, log, ..."),
}
MCP_TOOLS = {
    "list_events": (
        "List the items Kent received, newest last, with filters.",
        _schema(
            **_FILTERS,
            since=(int, "only items after this sequence number (seq)"),
            q=(str, "text that must occur in the payload"),
            limit=(int, "at most this many, the newest (default 20)"),
        ),
    ),
    "get_event": (
        "One item by Kent's id or the SDK's event_id: the exception with its "
        "in-app frames, breadcrumbs, tags, Kent's warnings and leak findings.",
        _schema(["id"], id=(str, "Kent's id (event_id in lists) or the SDK's")),
    ),
    "search": (
        "Find a text in every stored payload; answers where it occurs.",
        _schema(["q"], q=(str, "the text"), **_FILTERS),
    ),
    "list_leaks": (
        "Secrets and personal data found in what the SDKs sent (masked).",
        _schema(**_FILTERS),
    ),
    "get_trace": (
        "A trace by trace_id: its transactions with their spans, and errors.",
        _schema(["trace_id"], trace_id=(str, "32 hex digits")),
    ),
    "wait_for_events": (
        "Wait until COUNT matching items arrive (after since), up to timeout.",
        _schema(
            **_FILTERS,
            count=(int, "how many (default 1)"),
            since=(int, "only items after this seq (default: from now)"),
            q=(str, "text that must occur in the payload"),
            timeout=(float, f"seconds, at most {MCP_MAX_WAIT:g} (default 10)"),
        ),
    ),
    "flush": (
        "Forget the stored items, all or one project's.",
        _schema(project=(int, "only this project")),
    ),
}


def _tool_filter(kent, args, since=0):
    match = EventFilter(
        project=args.get("project"),
        type=args.get("type"),
        since=args.get("since", since),
        q=args.get("q"),
    )
    match.turn = kent.turn_for  # a large item is parsed in turn
    return match


def _in_app_frames(exception):
    frames = _get(exception, "stacktrace", "frames")
    frames = frames if isinstance(frames, list) else []
    kept = [f for f in frames if isinstance(f, dict) and f.get("in_app") is not False]
    return [
        {k: f.get(k) for k in ("filename", "function", "lineno", "context_line")}
        for f in kept[-15:]
    ]


def _exceptions(body):
    values = _get(body, "exception", "values")
    return [
        {"type": e.get("type"), "value": e.get("value"), "frames": _in_app_frames(e)}
        for e in (values if isinstance(values, list) else [])
        if isinstance(e, dict)
    ]


def _breadcrumbs(body):
    crumbs = _get(body, "breadcrumbs", "values") or _get(body, "breadcrumbs")
    crumbs = crumbs if isinstance(crumbs, list) else []
    keys = ("timestamp", "category", "level", "message")
    return [{k: c.get(k) for k in keys} for c in crumbs[-20:] if isinstance(c, dict)]


def _event_report(event, findings):
    body = event.body if not event.binary else None
    body = body if isinstance(body, dict) else {}
    report = event_to_summary(event, len(findings))
    report.update(
        exceptions=_exceptions(body),
        breadcrumbs=_breadcrumbs(body),
        tags=body.get("tags"),
        trace_id=_get(body, "contexts", "trace", "trace_id"),
        warnings=event.warnings,
        leaks=findings,
    )
    return report


def _event_text(report):
    lines = [
        f"{report['type']} {report['title']} (id {report['event_id']}, "
        f"project {report['project_id']}, seq {report['seq']})"
    ]
    for exc in report["exceptions"]:
        lines.append(f"{exc['type']}: {exc['value']}")
        lines += [
            f"  at {f['function']} ({f['filename']}:{f['lineno']})"
            + (f"  {str(f['context_line']).strip()}" if f.get("context_line") else "")
            for f in exc["frames"]
        ]
    lines += [
        f"breadcrumb {c['category']}: {c['message']}" for c in report["breadcrumbs"]
    ]
    lines += [f"warning {w['code']}: {w['message']}" for w in report["warnings"]]
    lines += [
        f"LEAK {f['kind']} at {f['pointer']} ({f['excerpt']})" for f in report["leaks"]
    ]
    return "\n".join(lines)


def _seconds_between(start, end):
    """Seconds between two Sentry timestamps (epoch numbers or RFC 3339)."""
    start, end = _ui_seconds(start), _ui_seconds(end)
    return None if start is None or end is None else round(end - start, 6)


def _span_line(span):
    seconds = _seconds_between(span.get("start_timestamp"), span.get("timestamp"))
    return {
        "op": span.get("op"),
        "description": span.get("description"),
        "seconds": seconds,
    }


def _trace_report(kent, trace_id):
    transactions, errors = [], []
    for event in kent.store.snapshot():
        if event.binary or event.type not in ("event", "transaction"):
            continue
        body = event.body
        if _get(body, "contexts", "trace", "trace_id") != trace_id:
            continue
        if event.type == "event":
            errors.append(event_to_summary(event))
            continue
        spans = body.get("spans") if isinstance(body.get("spans"), list) else []
        transactions.append(
            dict(
                event_to_summary(event),
                name=body.get("transaction"),
                op=_get(body, "contexts", "trace", "op"),
                seconds=_seconds_between(
                    body.get("start_timestamp"), body.get("timestamp")
                ),
                spans=[_span_line(s) for s in spans if isinstance(s, dict)],
            )
        )
    return {"trace_id": trace_id, "transactions": transactions, "errors": errors}


def _trace_text(report):
    lines = [
        f"trace {report['trace_id']}: {len(report['transactions'])} "
        f"transactions, {len(report['errors'])} errors"
    ]
    for tx in report["transactions"]:
        lines.append(f"transaction {tx['name']} op={tx['op']} {tx['seconds']} s")
        lines += [
            f"  span {s['op']} {s['description']} {s['seconds']} s" for s in tx["spans"]
        ]
    lines += [f"error {e['title']} (id {e['event_id']})" for e in report["errors"]]
    return "\n".join(lines)


def _entries_text(entries, base_url, empty="no items"):
    return "\n".join(render_entry_line(e, base_url) for e in entries) or empty


def _tool_list_events(kent, args, base_url):
    events = kent.store.snapshot(_tool_filter(kent, args))
    entries = [event_to_summary(e, kent.leak_count(e)) for e in events]
    entries = entries[-max(0, int(args.get("limit", 20))) :]
    return _entries_text(entries, base_url), {"events": entries, "count": len(entries)}


def _tool_get_event(kent, args, base_url):
    event = kent.store.get(str(args["id"]))
    if event is None:
        raise NotFound(f"no stored item with id {args['id']!r}")
    with kent.drawing([event]):  # as a page of it: it shares the budget
        report = _event_report(event, kent.findings(event))
    return _event_text(report) + f"\n{base_url}/event/{event.id}", report


def _tool_search(kent, args, base_url):
    events = kent.store.snapshot(_tool_filter(kent, dict(args, q=None)))
    found = [(e, search_item(e.body, e.raw, e.binary, args["q"])) for e in events]
    hits = [dict(_event_heading(e), pointers=p) for e, p in found if p]
    lines = [
        f"{h['event_id']} {h['type']} {h['title']}: {', '.join(h['pointers'][:5])}"
        for h in hits
    ]
    return "\n".join(lines) or f"{args['q']!r} occurs in no stored item", {
        "events": hits,
        "count": len(hits),
    }


def _tool_list_leaks(kent, args, base_url):
    found = [
        (e, kent.findings(e)) for e in kent.store.snapshot(_tool_filter(kent, args))
    ]
    report = leaks_report([(e, f) for e, f in found if f])
    lines = [
        f"{e['event_id']} {e['title']}: " + render_leak_flag(e["findings"])
        for e in report["events"]
    ]
    return "\n".join(lines) or "no leaks found", report


def _tool_get_trace(kent, args, base_url):
    report = _trace_report(kent, str(args["trace_id"]).replace("-", "").lower())
    return _trace_text(report), report


def _tool_wait_for_events(kent, args, base_url):
    match = _tool_filter(kent, args, since=kent.store.last_seq)
    timeout = min(float(args.get("timeout", 10)), MCP_MAX_WAIT)
    events, ok = kent.store.wait_for(
        int(args.get("count", 1)), timeout, match, match.since
    )
    entries = [event_to_summary(e, kent.leak_count(e)) for e in events]
    value = {"events": entries, "count": len(entries), "complete": ok}
    text = _entries_text(entries, base_url, "nothing arrived")
    return (text if ok else f"timed out after {timeout} s; arrived:\n{text}"), value


def _tool_flush(kent, args, base_url):
    project = args.get("project")
    gone = kent.store.flush(None if project is None else int(project))
    return f"flushed {gone} items", {"flushed": gone}


def _check_arguments(name, args):
    """``args`` as the tool's schema types them: a wrong type is the
    client's mistake (-32602), never a traceback."""
    schema = MCP_TOOLS[name][1]
    missing = [k for k in schema["required"] if k not in args]
    if missing:
        raise JsonRpcError(-32602, f"{name} needs {', '.join(missing)}")
    unknown = sorted(set(args) - set(schema["properties"]))
    if unknown:
        raise JsonRpcError(-32602, f"{name} has no argument {', '.join(unknown)}")
    return {
        key: _typed_argument(name, key, value, schema["properties"][key]["type"])
        for key, value in args.items()
    }


_MAX_JSON_INTEGER = 2**53  # what every JSON client can hold exactly


def _typed_argument(tool, key, value, kind):
    # abs() <= bound is False for NaN and infinities, and safe for huge ints
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    small = number and abs(value) <= _MAX_JSON_INTEGER
    whole = small and value == int(value)
    if kind == "string" and (isinstance(value, str) or whole):
        return value if isinstance(value, str) else str(int(value))  # project: 1
    if kind == "number" and small:
        return value
    if kind == "integer" and whole:
        return int(value)
    raise JsonRpcError(
        -32602, f"{tool}: {key} must be a {kind}, not {json_text(value)[:40]}"
    )


def _call_tool(kent, params, base_url):
    name, args = params.get("name"), params.get("arguments") or {}
    if name not in MCP_TOOLS:
        raise JsonRpcError(-32602, f"no tool {name!r}; tools: {', '.join(MCP_TOOLS)}")
    if not isinstance(args, dict):
        raise JsonRpcError(-32602, "arguments is an object")
    args = _check_arguments(name, args)
    # tools that parse the stored items one at a time (get_event: its own)
    parsing = name in ("search", "list_leaks", "get_trace")
    try:  # a tool that fails answers isError, so the model can read why
        with kent.drawing(kent.store.snapshot() if parsing else ()):
            text, value = globals()[f"_tool_{name}"](kent, args, base_url)
    except (KentError, ValueError, TypeError, OverflowError) as exc:
        message = exc.message if isinstance(exc, KentError) else f"bad argument: {exc}"
        return {"content": [{"type": "text", "text": message}], "isError": True}
    return {"content": [{"type": "text", "text": text}], "structuredContent": value}


def _initialize(params):
    asked = params.get("protocolVersion")
    return {
        "protocolVersion": asked if asked in MCP_VERSIONS else MCP_VERSIONS[0],
        "capabilities": {"tools": {"listChanged": False}},
        "serverInfo": {"name": "kent", "version": __version__},
        "instructions": "Kent is a local fake Sentry: these tools read what "
        "the app's Sentry SDK sent (errors, transactions, logs) and what leaked.",
    }


def _mcp_result(kent, method, params, base_url):
    if method == "initialize":
        return _initialize(params)
    if method == "ping":
        return {}
    if method == "tools/list":
        return {
            "tools": [
                {"name": name, "description": text, "inputSchema": schema}
                for name, (text, schema) in MCP_TOOLS.items()
            ]
        }
    if method == "tools/call":
        return _call_tool(kent, params, base_url)
    raise JsonRpcError(-32601, f"Kent's MCP server has no method {method!r}")


def mcp_answer(kent, message, base_url):
    """The answer to one JSON-RPC message, or None (a notification, a response)."""
    if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
        return _rpc_error(None, JsonRpcError(-32600, "not a JSON-RPC 2.0 message"))
    ident, method = message.get("id"), message.get("method")
    if method is None and ("result" in message or "error" in message):
        return None  # a client's answer: Kent asks nothing, so nothing to do
    if not isinstance(method, str):
        return _rpc_error(ident, JsonRpcError(-32600, "a request needs a method"))
    if "id" not in message:
        return None  # notifications/initialized and friends: nothing to answer
    params = message.get("params") or {}
    try:
        if not isinstance(params, dict):
            raise JsonRpcError(-32602, "params is an object")
        return {
            "jsonrpc": "2.0",
            "id": ident,
            "result": _mcp_result(kent, method, params, base_url),
        }
    except JsonRpcError as exc:
        return _rpc_error(ident, exc)


def _rpc_error(ident, exc):
    return {
        "jsonrpc": "2.0",
        "id": ident,
        "error": {"code": exc.code, "message": exc.message},
    }


def mcp_answers(kent, data, base_url):
    """The answer to a POSTed body or stdio line (a message or a batch)."""
    try:
        message = json_loads(data)
    except ValueError as exc:
        return _rpc_error(None, JsonRpcError(-32700, f"parse error: {exc}"))
    if isinstance(message, list):
        answers = [a for m in message if (a := mcp_answer(kent, m, base_url))]
        return answers or None
    return mcp_answer(kent, message, base_url)


# -- The handler: routes, request bodies, one place that maps errors to status


CORS_HEADERS = (
    ("Access-Control-Allow-Origin", "*"),
    (
        "Access-Control-Expose-Headers",
        "x-sentry-error, x-sentry-rate-limits, retry-after",
    ),
    ("Cross-Origin-Resource-Policy", "cross-origin"),
)


# Every answer: no sniffing a type, never in a frame.
SAFETY_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
)


# Kent's own routes: no Access-Control-Allow-Origin, no referrer leaving a
# page, no embedding by other sites' <img> or <script>.
OWN_HEADERS = SAFETY_HEADERS + (
    ("Referrer-Policy", "no-referrer"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
)
_OPEN_LINES = "\r\n".join(f"{k}: {v}" for k, v in CORS_HEADERS + SAFETY_HEADERS)
_OWN_LINES = "\r\n".join(f"{k}: {v}" for k, v in OWN_HEADERS)
PREFLIGHT_HEADERS = (
    ("Access-Control-Allow-Methods", "GET, POST, OPTIONS"),
    (
        "Access-Control-Allow-Headers",
        "x-sentry-auth, x-requested-with, x-forwarded-for, origin, referer, "
        "accept, content-type, authentication, authorization, content-encoding, "
        "transfer-encoding",
    ),
    ("Access-Control-Max-Age", "3600"),
    ("Vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"),
)


# A preflight from an origin allowed with --allow-origin, on Kent's own routes.
OWN_PREFLIGHT_HEADERS = (
    ("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS"),
    ("Access-Control-Allow-Headers", "content-type"),
    ("Access-Control-Max-Age", "600"),
)
PAGE_CSP = (
    "default-src 'none'; style-src 'nonce-{nonce}'; script-src 'nonce-{nonce}'; "
    "img-src 'self' data:; connect-src 'self'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
INGEST = "ingest"


# -- Who may ask what. Ingestion routes answer every origin (as Relay does:
# they answer only ids); the pages, the read API and the control API answer
# Kent's own origin only, since the events hold what leaked from SDKs. On a
# loopback bind the Host header must name this machine, so a page on a name
# that re-resolves to 127.0.0.1 (DNS rebinding) cannot pass for Kent's own.

_HOST_PART = r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~!$&'()*+,;=%-]+)"
_HOST_SYNTAX = re.compile(_HOST_PART + r"(?::(\d{0,5}))?")
_ORIGIN_SYNTAX = re.compile(
    r"([A-Za-z][A-Za-z0-9+.-]*)://" + _HOST_PART + r"(?::(\d{1,5}))?"
)
_DEFAULT_PORTS = {"http": 80, "https": 443}
_VERDICT_CACHE = 256  # distinct Host or Origin values remembered


def parse_host(value):
    """``Host`` -> (lower-case name without brackets or final dot, port or None)."""
    match = _HOST_SYNTAX.fullmatch(value)
    if match is None:
        raise BadRequest(f"malformed Host header {value[:80]!r}: expected name[:port]")
    name, port = match.groups()
    return name.lower().strip("[]").rstrip("."), int(port) if port else None


def parse_origin(value):
    """``Origin`` -> (scheme, name, port), the port filled in for http(s)."""
    match = _ORIGIN_SYNTAX.fullmatch(value)
    if match is None:
        raise BadRequest(
            f"malformed Origin header {value[:80]!r}: expected scheme://host[:port]"
        )
    scheme, name, port = match.groups()
    scheme = scheme.lower()
    port = int(port) if port else _DEFAULT_PORTS.get(scheme)
    return scheme, name.lower().strip("[]").rstrip("."), port


def is_loopback_name(name):
    """``localhost``, ``*.localhost`` or a loopback IP literal (RFC 6761)."""
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _normal_origin(value):
    """An ``--allow-origin`` value as a browser writes its ``Origin``."""
    try:
        scheme, name, port = parse_origin(value.strip().rstrip("/"))
    except BadRequest:
        raise ValueError(
            f"{value!r} is not an origin: give scheme://host[:port], "
            "e.g. http://localhost:3000"
        ) from None
    host = f"[{name}]" if ":" in name else name
    if port is None or port == _DEFAULT_PORTS.get(scheme):
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


class AccessPolicy:
    """Who may use Kent's own routes: origins, ``Sec-Fetch-Site`` and Host.

    Everything a request is checked against is a frozenset made once, and
    verdicts on Host values are remembered, so a check costs a few dict
    lookups (ingestion is never checked at all).
    """

    def __init__(self, allow_origins=(), allow_hosts=()):
        if isinstance(allow_origins, str):
            allow_origins = [allow_origins]
        if isinstance(allow_hosts, str):
            allow_hosts = [allow_hosts]
        self.allow_origins = frozenset(_normal_origin(o) for o in allow_origins or ())
        self.allow_hosts = frozenset(
            h.strip().lower().strip("[]").rstrip(".") for h in allow_hosts or ()
        )
        self.host_names = None  # None: the Host check is off (until bound)
        self._hosts = {}  # Host value -> None (allowed) or (class, message)

    def bound(self, started_name, address):
        """Turn the Host check on for a loopback bind, or when hosts are named."""
        try:
            loopback = ipaddress.ip_address(address).is_loopback
        except ValueError:
            loopback = False
        self._hosts = {}
        self.host_names = None
        if loopback or self.allow_hosts:
            started = str(started_name).lower().strip("[]").rstrip(".")
            self.host_names = self.allow_hosts | {started}

    def check(self, method, headers):
        """None, or the allowed foreign origin to name in the answer.

        Raises ``Forbidden`` (or ``BadRequest`` for a malformed value).
        """
        host = headers.get("Host")
        if self.host_names is not None and host:  # empty is valid: no authority
            self._check_host(host)
        origin = headers.get("Origin")
        if origin is not None:
            if origin in self.allow_origins:
                return origin
            # Kent's pages say no-referrer, so their forms send Origin: null;
            # Sec-Fetch-Site is the browser's own word that they are Kent's.
            if origin == "null" and headers.get("Sec-Fetch-Site") == "same-origin":
                return None
            if not self._is_own(origin, host):
                raise Forbidden(self._origin_refusal(origin))
            return None
        if headers.get("Sec-Fetch-Site") == "cross-site" and not _is_navigation(
            method, headers
        ):
            raise Forbidden(self._origin_refusal(None))
        return None

    def _check_host(self, host):
        try:
            refusal = self._hosts[host]
        except KeyError:
            refusal = self._host_verdict(host)
            if len(self._hosts) < _VERDICT_CACHE:
                self._hosts[host] = refusal
        if refusal is not None:  # a new exception each time: no growing traceback
            raise refusal[0](refusal[1])

    def _host_verdict(self, host):
        """None when ``host`` may ask, else (error class, message)."""
        try:
            name, _ = parse_host(host)
        except BadRequest as exc:
            return BadRequest, exc.message
        if name in self.host_names or is_loopback_name(name):
            return None
        return Forbidden, (
            f"Host {host[:80]!r} is not a name of this machine: on a loopback "
            "address Kent answers its pages and API only for localhost, "
            "loopback addresses and the name it was started with, so a web page "
            "on a name that re-resolves to 127.0.0.1 (DNS rebinding) cannot read "
            f"it. To allow this name, start Kent with --allow-host {name} "
            "(KentServer(allow_hosts=[...])). Ingestion routes accept any Host."
        )

    @staticmethod
    def _is_own(origin, host):
        if origin == "null":  # a sandboxed frame or a file: never Kent's own
            return False
        scheme, name, port = parse_origin(origin)
        if not host:
            return False
        host_name, host_port = parse_host(host)
        return name == host_name and port == (host_port or _DEFAULT_PORTS.get(scheme))

    @staticmethod
    def _origin_refusal(origin):
        who = f"a page on {origin}" if origin else "a cross-site request"
        allow = origin if origin and origin != "null" else "ORIGIN"
        return (
            f"Kent refused {who}: its pages, read API and control API answer only "
            "Kent's own pages, since its events may hold leaked secrets (ingestion "
            "routes are open to every origin). To let that page read and control "
            f"Kent, start Kent with --allow-origin {allow} "
            "(KentServer(allow_origins=[...]))."
        )


def _is_navigation(method, headers):
    # A link followed from another site: the page shows in its own tab (never
    # a frame: X-Frame-Options) and the other site cannot read it.
    return (
        method in ("GET", "HEAD")
        and headers.get("Sec-Fetch-Mode") == "navigate"
        and headers.get("Sec-Fetch-Dest") == "document"
    )


def _safe_header_value(value):
    """A response header value with nothing that could end the line."""
    return re.sub(r"[^\x20-\x7e]", "?", str(value))


_MIME_TYPE = re.compile(r"[\w.+-]+/[\w.+-]+", re.ASCII)  # a header is latin-1


# Types a browser renders as a document that can run script.
_RENDERED_TYPES = frozenset(
    (
        "text/html",
        "image/svg+xml",
        "application/xhtml+xml",
        "text/xml",
        "application/xml",
        "text/xsl",
    )
)


class RequestHeaders:
    """Request headers, looked up without regard to case.

    ``http.server`` parses headers with ``email.feedparser`` (about 47 us a
    request, the largest single cost); this small class does the same job.
    """

    __slots__ = ("_pairs", "_lookup", "repeated")

    def __init__(self, pairs):
        self._pairs = pairs
        self._lookup = {name.lower(): value for name, value in pairs}
        self.repeated = len(self._lookup) < len(pairs)  # some name came twice

    def get(self, name, default=None):
        return self._lookup.get(name.lower(), default)

    def __getitem__(self, name):
        return self._lookup.get(name.lower())

    def __contains__(self, name):
        return name.lower() in self._lookup

    def items(self):
        return list(self._pairs)

    def get_all(self, name, default=None):
        name = name.lower()
        return [v for k, v in self._pairs if k.lower() == name] or default


def _kept_text(kept, total):
    if kept == total:
        return "it is kept to look at"
    return f"its first {kept} bytes are kept to look at"


MAX_HEADERS = 100


# RFC 9110 section 5.6.2: a header name is a token, right before its colon;
# a value holds no control character but HTAB (obs-text, 0x80-0xff, is fine).
_HEADER_LINE = re.compile(r"([!#$%&'*+.^_`|~0-9A-Za-z-]+):([^\x00-\x08\x0a-\x1f\x7f]*)")
_FOLDED_LINE = re.compile(r"[ \t][^\x00-\x08\x0a-\x1f\x7f]*")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def _bad_header_line(text):
    """Why a request header line is refused (for the 400's message)."""
    control = _CONTROL.search(text)
    if control:
        return f"control character {control[0]!r} in request header line {text[:60]!r}"
    name, sep, _ = text.partition(":")
    if sep and name and name != name.rstrip(" \t"):
        return f"whitespace before the colon in request header line {text[:60]!r}"
    return f"bad request header line {text[:60]!r}"


def read_headers(rfile):
    """Header lines up to the blank line -> ``RequestHeaders``.

    Strict, as RFC 9112 section 5 asks of a server that may sit behind a
    proxy: a line a proxy could read differently is a 400, not a guess.
    """
    pairs = []
    while True:
        line = rfile.readline(65537)
        if len(line) > 65536:
            raise HeaderError("a request header line is longer than 64 KiB")
        if line in (b"\r\n", b"\n", b""):
            return RequestHeaders(pairs)
        text = line.decode("iso-8859-1").removesuffix("\n").removesuffix("\r")
        match = _HEADER_LINE.fullmatch(text)
        if match:
            pairs.append((match[1], match[2].strip(" \t")))
        elif pairs and _FOLDED_LINE.fullmatch(text):  # obsolete line folding
            pairs[-1] = (pairs[-1][0], pairs[-1][1] + " " + text.strip(" \t"))
        else:
            raise BadRequest(_bad_header_line(text))
        if len(pairs) > MAX_HEADERS:
            raise HeaderError(f"more than {MAX_HEADERS} request headers")


# RFC 9112 section 7.1: 1*HEXDIG, then extensions after optional whitespace.
_CHUNK_SIZE_LINE = re.compile(rb"([0-9A-Fa-f]{1,16})(?:[ \t]*;[^\r\n]*)?\r?\n")


class _CountingReader:
    """A connection's ``rfile`` that notes when a request's first bytes came
    and how many followed, for the watchdog's minimum data rate."""

    __slots__ = ("_file", "progress")

    def __init__(self, file):
        self._file, self.progress = file, [None, 0]  # [first byte at, bytes]

    def _count(self, data):
        self._note(len(data))
        return data

    def _note(self, count):
        if count:
            progress = self.progress
            if progress[0] is None:
                progress[0] = time.monotonic()
            progress[1] += count

    def read(self, size=-1):
        return self._count(self._file.read(size))

    def read1(self, size=-1):
        return self._count(self._file.read1(size))

    def readinto1(self, buffer):
        count = self._file.readinto1(buffer)
        self._note(count)
        return count

    def readline(self, size=-1):
        return self._count(self._file.readline(size))

    def read_exactly(self, length):
        """``length`` bytes (fewer if the client hangs up), read as they come
        so the watchdog sees a slow body progress."""
        buffer, got = bytearray(length), 0
        with memoryview(buffer) as view:
            while got < length:
                count = self.readinto1(view[got:])
                if not count:
                    break
                got += count
        return bytes(buffer) if got == length else bytes(buffer[:got])

    def read_chunked(self, limit, hold):
        """De-chunk ``Transfer-Encoding: chunked`` (the Node SDK sends it);
        ``hold(size)`` reserves each chunk in the memory budget. A refusal
        carries what had arrived as ``partial_body``."""
        parts, size = [], 0
        while True:
            line = self.readline(1026)
            match = _CHUNK_SIZE_LINE.fullmatch(line)
            if not match:  # int(x, 16) would take 0x1, 1_0, -0, " 1 "
                raise BadRequest(
                    f"bad chunk size line {line[:40]!r} after {size} body bytes: "
                    "a chunk size is plain hex digits"
                )
            chunk_size = int(match[1], 16)
            if chunk_size == 0:
                break
            size += chunk_size
            if size > limit:
                kept = b"".join(parts)[:KEPT_OF_TOO_LARGE]
                exc = PayloadTooLarge(
                    f"chunked body is over the limit of {limit} bytes (raise it with "
                    "--max-body); " + _kept_text(len(kept), None)
                )
                exc.partial_body = kept
                raise exc
            hold(chunk_size)
            chunk = self.read_exactly(chunk_size)
            if len(chunk) < chunk_size or self.read(2) != b"\r\n":
                raise BadRequest(f"chunked body ended early after {size} bytes")
            parts.append(chunk)
        for _ in range(MAX_HEADERS + 1):  # trailers, up to the blank line
            if not self.readline(65537).strip():
                return b"".join(parts)
        raise BadRequest(f"more than {MAX_HEADERS} trailer lines after a chunked body")

    def await_request(self):
        """Block until a request's first byte is here; the rate counts from
        then (a request line trickled forever is not an idle connection)."""
        if self._file.peek(1) and self.progress[0] is None:
            self.progress[0] = time.monotonic()

    def __getattr__(self, name):
        return getattr(self._file, name)


def check_request_line(line):
    """``(method, target, version)`` of a request line, or ``BadRequest``."""
    control = _CONTROL.search(line)
    if control:
        raise BadRequest(f"control character {control[0]!r} in the request line")
    words = line.split(" ")
    if len(words) != 3 or not all(words):
        raise BadRequest(f"bad request line {line[:80]!r}")
    if words[2] not in ("HTTP/1.0", "HTTP/1.1"):
        raise BadRequest(f"Kent speaks HTTP/1.0 and HTTP/1.1, not {words[2][:20]!r}")
    return words


def check_framing(headers, version):
    """Refuse a body whose end a proxy in front could see elsewhere.

    RFC 9112 section 6.3: ``Transfer-Encoding`` with ``Content-Length``,
    ``Content-Length`` values that disagree, or a transfer coding other
    than ``chunked`` could let the rest of a body run as the next request
    (request smuggling), so each is a 400 and the connection is closed.
    """
    if headers.repeated and len(headers.get_all("Host", ())) > 1:
        # RFC 9112 section 3.2; a proxy may check the first, Kent the last
        raise BadRequest("a request has more than one Host header")
    coding = headers.get("Transfer-Encoding")
    length = headers.get("Content-Length")
    if coding is None and (length is None or not headers.repeated):
        return
    if coding is not None and length is not None:
        raise BadRequest("a request has Transfer-Encoding or Content-Length, not both")
    if coding is not None:
        codings = headers.get_all("Transfer-Encoding")
        if len(codings) > 1 or coding.lower() != "chunked":
            raise BadRequest(
                f"Transfer-Encoding {', '.join(codings)[:60]!r}: Kent reads only "
                "'chunked', alone"
            )
        if version == "HTTP/1.0":
            raise BadRequest("Transfer-Encoding in an HTTP/1.0 request")
    elif len(set(headers.get_all("Content-Length"))) > 1:
        raise BadRequest("the request's Content-Length headers disagree")


def request_info(endpoint, req):
    """What Kent notes of an ingestion request, beside its items."""
    headers = req.headers
    return {
        "id": uuid.uuid4().hex,
        "endpoint": endpoint,
        "method": req.command,
        "path": req.path,
        "content_type": headers.get("Content-Type"),
        "content_encoding": headers.get("Content-Encoding"),
        "transfer_encoding": headers.get("Transfer-Encoding"),
        "user_agent": headers.get("User-Agent"),
        "remote_addr": req.client_address[0] if req.client_address else None,
        "headers": dict(headers.items()),
        "size": None,
        "decoded_size": None,
    }


def refused_events(project_id, info, auth, data, exc):
    """What a refused request leaves in the store: the items read before the
    error, then a ``kent_error`` holding the bytes (to look at and replay)."""
    kept = getattr(exc, "kept", None)  # decoded too large: its first 64 KiB
    if kept is not None and len(data) > KEPT_OF_TOO_LARGE:
        data = kept  # (a small compressed body is kept whole, to replay)
    item = ParsedItem("kent_error", None, {"type": "kent_error"}, bytes(data))
    item.body, item.binary = item.raw, True
    item.error = f"{exc.status} {exc.message}"
    events = [StoredEvent(project_id, i, info, auth) for i in exc.partial]
    events.append(StoredEvent(project_id, item, info, auth))
    return events


# -- Views: one function per route, given the handler (``req``) for its
# request and its answer; the handler itself only carries bytes.


def api_event_list(req):
    kent = req.kent
    params = req.params()
    events = kent.store.snapshot(kent.filter(params) if params else None)
    limit = params.get("limit")
    if _wire_int(limit) is not None:
        events = events[-_wire_int(limit) :] if _wire_int(limit) else []
    extra = kent.store.stats()
    if not events and params:
        extra.update(_filter_hint(req, kent.filter(params)))
    answer = event_list_json(events, extra, kent.leak_count, kent.canary_version)
    req.respond(200, answer)


def _filter_hint(req, match):
    """``{"hint": ...}`` when a field filter names what no event has."""
    missing = match.missing_fields(req.kent.store.snapshot())
    if not missing:
        return {}
    names = ", ".join(repr(m) for m in missing)
    return {
        "hint": f"no stored event (of the newest 200) has a field {names}; the filters are "
        "project (or project_id), type, since, q and limit, and "
        "body.<path> for a field"
    }


def api_event(req, ident):
    event = req.find_event(ident)
    kent = req.kent
    siblings = kent.store.siblings(event)
    replayable = is_replayable(event, siblings)
    curl = replay_curl(event, req.base_url()) if replayable else None
    findings = kent.findings(event)
    view = event.parsed()
    if deeper_than(view.body):  # valid, but too deep for many clients
        view = event.as_text()
    req.respond(200, to_json_bytes(event_to_dict(view, findings, curl)))


def api_event_envelope(req, ident):
    event = req.find_event(ident)
    events = sorted([event, *req.kent.store.siblings(event)], key=lambda e: e.seq)
    data = rebuild_envelope(events)
    if data is None:
        raise NotFound(
            f"Kent could not read the request of {ident}, so there is no "
            f"envelope to rebuild; its bytes are at /api/event/{ident}/raw"
        )
    disposition = f'attachment; filename="{envelope_filename(event)}"'
    headers = (("Content-Disposition", disposition),)
    req.respond(200, data, ENVELOPE_CONTENT_TYPE, headers)


def api_event_raw(req, ident):
    event = req.find_event(ident)
    content_type = (
        event.header.get("content_type") if isinstance(event.header, dict) else None
    )
    if not isinstance(content_type, str) or not _MIME_TYPE.fullmatch(content_type):
        content_type = (
            "application/octet-stream" if event.binary else "application/json"
        )
    # The bytes are the sender's: never let them run as a page of Kent's.
    headers = (("Content-Security-Policy", "sandbox; default-src 'none'"),)
    if content_type.lower() in _RENDERED_TYPES:  # save it, never show it
        headers += (("Content-Disposition", "attachment"),)
    req.respond(200, bytes(event.raw), content_type, headers)


def api_flush(req):
    req.read_body(65536)
    params = req.params()
    project = params.get("project") or params.get("project_id")
    project = parse_project_id(project) if project is not None else None
    gone = req.kent.store.flush(project)
    req.respond_json(200, {"success": True, "flushed": gone})


def _wait_params(req):
    """``(count, timeout, filter)`` of ``GET /api/wait/``."""
    params = req.params()
    try:
        count = int(params.get("count", 1))
        timeout = float(params.get("timeout", 10))
    except ValueError as exc:
        raise BadRequest(f"bad count or timeout: {exc}") from None
    if not 0 <= timeout < float("inf"):
        raise BadRequest(f"timeout must be a number of seconds, not {timeout}")
    if count < 1:
        raise BadRequest(f"count must be 1 or more, not {count}")
    # min(): what the store will wait
    return count, min(timeout, MAX_WAIT_TIMEOUT), req.kent.filter(params)


def api_wait(req):
    count, timeout, match = _wait_params(req)
    if not req.server.enter_long_poll():
        message = (
            f"{req.server.max_long_polls} clients already wait on /api/wait/ "
            "(half of --max-connections, so that SDKs can still send); "
            "try again soon"
        )
        raise ServiceUnavailable(message)
    try:
        store = req.kent.store
        events, ok = store.wait_for(
            count, timeout, match, match.since, gone=req.client_gone
        )
    finally:
        req.server.leave_long_poll()
    if not ok and req.client_gone():  # nobody to answer: free the thread
        req.close_connection = True
        return
    _wait_answer(req, events, ok, count, timeout, match)


def _wait_answer(req, events, ok, count, timeout, match):
    value = {
        "events": [event_to_summary(e, req.kent.leak_count(e)) for e in events],
        "count": len(events),
        "wanted": count,
    }
    value["last_seq"] = req.kent.store.last_seq
    if ok:
        req.respond_json(200, value)
    else:
        value["dropped"] = req.kent.store.dropped
        listing = describe_stored(match, req.kent.store.snapshot())
        value["error"] = (
            f"timed out after {timeout} s: {len(events)} of {count} matching "
            f"events arrived ({value['dropped']} dropped by the limits so far)"
            + (f"\n{listing}" if listing else "")
        )
        value.update(_filter_hint(req, match))
        req.respond_json(408, value)


def _read_json(req):
    data = req.read_body(1024 * 1024)
    try:
        return json_loads(data or b"{}")
    except ValueError as exc:
        raise BadRequest(f"the request body is not valid JSON: {exc}") from None


def api_faults(req):
    req.respond_json(200, {"faults": req.kent.faults.list()})


def api_fault_add(req):
    text = req.read_body(1024 * 1024).decode("utf-8", "replace")
    rule = req.kent.faults.add(text or "{}")  # JSON or k=v&k=v
    req.respond_json(201, {"fault": req.kent.faults.list()[-1], "id": rule["id"]})


def api_fault_clear(req, rule_id=None):
    req.discard_body()
    if rule_id and _wire_int(rule_id) is None:
        raise NotFound(f"no fault rule {rule_id[:40]!r}")
    gone = req.kent.faults.clear(int(rule_id) if rule_id else None)
    if rule_id and not gone:
        raise NotFound(f"no fault rule {rule_id}")
    req.respond_json(200, {"success": True, "cleared": gone})


def page_faults_clear(req):
    req.read_body(65536)
    req.kent.faults.clear()
    req.respond(303, b"", "text/plain", (("Location", "/"),))


def api_status(req):
    value = {"version": __version__, "encodings": supported_encodings()}
    # the DSN the page shows: its key is one Kent accepts
    value["dsn"] = build_dsn(req.base_url(), 1, req.kent.dsn_key)
    value.update(req.kent.store.stats())
    req.respond_json(200, value)


def _canaries_answer(req, status):
    kent = req.kent
    value = {"canaries": kent.canaries, "version": kent.canary_version}
    req.respond_json(status, value)


def api_canaries(req):
    _canaries_answer(req, 200)


def api_canaries_add(req):
    value = _read_json(req)
    values = value.get("canaries") if isinstance(value, dict) else value
    if isinstance(value, dict) and "canary" in value:
        values = [value["canary"]]
    req.kent.add_canaries(values)
    _canaries_answer(req, 201)


def api_canaries_clear(req):
    req.discard_body()
    req.kent.clear_canaries()
    _canaries_answer(req, 200)


def api_leaks(req):
    kent = req.kent
    events = kent.store.snapshot(kent.filter(req.params()))
    with kent.drawing(events):
        found = [(e, kent.findings(e)) for e in events]
    req.respond_json(200, leaks_report([(e, f) for e, f in found if f]))


def _search(req, params):
    q, match = params.get("q") or "", EventFilter.from_query(params)
    events = req.kent.store.snapshot() if q else []
    with req.kent.drawing(events):
        events = list(filter(match, events))
        return q, [(e, search_item(e.body, e.raw, e.binary, q)) for e in events]


def api_search(req):
    params = req.params()
    if not params.get("q"):
        raise BadRequest("search needs a text: /api/search/?q=TEXT")
    q, results = _search(req, params)
    events = [dict(_event_heading(e), pointers=pointers) for e, pointers in results]
    req.respond_json(200, {"q": q, "count": len(events), "events": events})


def api_diff(req, a, b):
    first, second = req.find_event(a), req.find_event(b)
    value = {"a": event_to_summary(first), "b": event_to_summary(second)}
    value.update(diff_bodies(first.body, second.body))
    req.respond_json(200, value)


def stream_events(req):
    """``text/event-stream``: the kept items after the cursor
    (``Last-Event-ID`` or ``since=``), then each one as it is stored."""
    params = req.params()
    # A client that saw another Kent run (``run`` = the id the stream's
    # first comment gave) resumes from the start: seqs begin anew.
    other_run = params.pop("run", req.kent.run_id) != req.kent.run_id
    resume = (req.headers.get("Last-Event-ID") or "").strip()
    if resume:
        if _wire_int(resume) is None:
            raise BadRequest(f"bad Last-Event-ID {resume[:40]!r}: a sequence number")
        params["since"] = resume
    match = req.kent.filter(params)
    if other_run:
        match.since = 0
    with req.kent.stream_slot():
        req.start_stream()
        if req.command != "HEAD":
            _pump_stream(req, match)


def _pump_stream(req, match):
    """Write items as the store reports them; a comment when idle.

    ``follow`` holds the store's lock only to copy: a slow reader slows
    its own thread, never ingestion."""
    kent = req.kent
    cursor = match.since
    if cursor > kent.store.last_seq:  # an id from before Kent restarted
        cursor = match.since = 0
    last_write = time.monotonic()
    while True:
        events = kent.store.follow(cursor, min(kent.stream_heartbeat, 1.0))
        if events is None or (not events and req.client_gone()):
            return  # the server is stopping, or the reader left: free the slot
        data = b"".join(
            sse_message(e, event_summary_json(e, kent.leak_count, kent.canary_version))
            for e in events
            if match(e)
        )
        cursor = events[-1].seq if events else cursor
        if not data and time.monotonic() - last_write >= kent.stream_heartbeat:
            data = b": heartbeat\n\n"
        if data:
            req.stream_write(data)
            last_write = time.monotonic()


def _check_own_origin(req):
    """MCP's guidance: refuse a browser page of another origin (DNS
    rebinding); clients without ``Origin`` (assistants, curl) may ask."""
    origin = req.headers.get("Origin")
    own = f"http://{req.headers.get('Host') or ''}"
    if origin is not None and origin.rstrip("/") != own:
        raise Forbidden(f"origin {origin[:80]!r} may not use Kent's /mcp")
    if (req.headers.get("Sec-Fetch-Site") or "") == "cross-site":
        raise Forbidden("a cross-site request may not use Kent's /mcp")


def mcp_request(req):
    data = req.read_body(MIB)
    _check_own_origin(req)
    answer = mcp_answers(req.kent, data, req.base_url())
    if answer is None:  # only notifications or responses
        req.respond(202, b"", "text/plain")
        return
    parse_error = isinstance(answer, dict) and _get(answer, "error", "code") == -32700
    req.respond_json(400 if parse_error else 200, answer)


def page_index(req):
    kent = req.kent
    params = req.params()
    nonce = uuid.uuid4().hex
    page = render_index(
        kent.store.snapshot(),
        kent.store.stats(),
        req.base_url(),
        nonce,
        kent.faults.list(),
        project=params.get("project") or None,
        type=params.get("type") or None,
        count_leaks=kent.leak_count,
        dsn_key=kent.dsn_key,
    )
    req.respond_html(page, nonce)


def page_flush(req):
    """The index's flush forms: all events, or one ``project`` field's."""
    form = urllib.parse.parse_qs(req.read_body(65536).decode("utf-8", "replace"))
    project = (form.get("project") or [""])[-1].strip()
    req.kent.store.flush(parse_project_id(project) if project else None)
    req.respond(303, b"", "text/plain", (("Location", "/"),))


def page_event(req, ident):
    event = req.find_event(ident)
    nonce = uuid.uuid4().hex
    kent = req.kent
    siblings = kent.store.siblings(event)
    findings = kent.findings(event)
    view = event.parsed()
    if deeper_than(view.body):  # Python 3.12+ parses deeper than a page draws
        view = event.as_text()
    stored = kent.store.snapshot()
    others = stored[: -_UI_DIFF_CHOICES - 1 : -1]
    related = _same_check_in(view, stored)
    page = render_event(
        view, siblings, nonce, findings, req.base_url(), related, others
    )
    req.respond_html(page, nonce)


def _same_check_in(event, stored):
    """The other check-ins of one run (``in_progress`` then ``ok``)."""
    run = _get(event.body, "check_in_id") if event.type == "check_in" else None
    if not run:
        return []
    return [
        e
        for e in stored
        if e.type == "check_in"
        and e is not event
        and e.id != event.id
        and _get(e.body, "check_in_id") == run
    ]


def page_trace(req, trace_id):
    wanted = trace_id.replace("-", "").lower()
    # Parsed one at a time and not kept: a trace may name many large items.
    stored = req.kent.store.snapshot()
    with req.kent.drawing(stored):
        events = [e for e in stored if wanted in event_trace_ids(e.parsed())]
        nonce = uuid.uuid4().hex
        req.respond_html(render_trace(wanted, events, nonce), nonce)


def page_search(req):
    q, results = _search(req, req.params())
    nonce = uuid.uuid4().hex
    req.respond_html(render_search(q, results, nonce), nonce)


def page_diff_form(req):
    """The event page's "compare with" form: on to ``/diff/<a>/<b>``."""
    params = req.params()
    a, b = (params.get(k, "").strip() for k in ("a", "b"))
    if not a or not b:
        raise BadRequest("a diff needs two event ids: /diff/?a=ID&b=ID")
    where = f"/diff/{urllib.parse.quote(a, safe='')}/{urllib.parse.quote(b, safe='')}"
    req.respond(303, b"", "text/plain", (("Location", where),))


def page_diff(req, a, b):
    first, second = req.find_event(a), req.find_event(b)
    nonce = uuid.uuid4().hex
    diff = diff_bodies(first.body, second.body)
    req.respond_html(render_diff(first, second, diff, nonce), nonce)


def health(req):
    req.respond_json(200, {"is_healthy": True})


def tus_upload(req, project):
    raise NotFound(
        "Kent does not implement TUS uploads (/upload/); SDKs such as "
        "sentry-native fall back to sending attachments inline, as with "
        "a Sentry that lacks them"
    )


# -- Routes: the first that matches answers. Named groups are the view's
# arguments. ``INGEST`` routes are open to every origin and Host (an SDK in
# any page); every other kind is Kent's own (AccessPolicy decides).


class Ingest:
    """An ingestion route's view: the handler reads, decodes and stores;
    ``accept`` understands. ``project`` when the path names none."""

    def __init__(self, endpoint, accept, project=None):
        self.endpoint = endpoint
        self.accept = accept
        self.project = project

    def __call__(self, req, project=None, key=None, **args):
        project = self.project if project is None else project
        req.ingest(self.endpoint, self.accept, project, key, args)


_PROJECT = r"/api/(?P<project>\d+)"
ROUTES = [
    (methods, re.compile(pattern), view, kind)
    for methods, pattern, view, kind in [
        (
            ("POST",),
            _PROJECT + "/envelope/",
            Ingest("envelope", accept_envelope),
            INGEST,
        ),
        (("POST",), _PROJECT + "/store/", Ingest("store", accept_store), INGEST),
        (
            ("POST",),
            _PROJECT + "/(?:security|csp-report)/",
            Ingest("security", accept_security),
            INGEST,
        ),
        (
            ("POST",),
            _PROJECT + "/minidump/?",
            Ingest("minidump", accept_minidump),
            INGEST,
        ),
        (
            ("POST",),
            _PROJECT + "/events/(?P<event_id>[^/]+)/attachments/",
            Ingest("attachments", accept_attachments),
            INGEST,
        ),
        (("POST",), _PROJECT + "/nel/", Ingest("nel", accept_nel), INGEST),
        (
            ("GET", "POST"),
            _PROJECT + "/cron/(?P<slug>[^/]+)(?:/(?P<key>[^/]+))?/?",
            Ingest("cron", accept_cron),
            INGEST,
        ),
        (
            ("POST",),
            _PROJECT + "/(?:integration/)?otlp/v1/(?P<otlp_signal>traces|logs)/?",
            Ingest("otlp", accept_otlp),
            INGEST,
        ),
        (
            ("POST",),
            _PROJECT + "/unreal/(?P<key>[^/]+)/",
            Ingest("unreal", accept_unreal),
            INGEST,
        ),
        (("POST",), r"/tunnel/?", Ingest("tunnel", accept_tunnel, 0), INGEST),
        (
            ("POST",),
            r"/stream",
            Ingest("spotlight", accept_spotlight, SPOTLIGHT_PROJECT_ID),
            INGEST,
        ),
        (("GET",), r"/stream", stream_events, "api"),
        (("GET",), r"/api/stream/?", stream_events, "api"),
        (("POST",), r"/mcp/?", mcp_request, "api"),
        (("GET",), _PROJECT + "/store/", Ingest("store", accept_store_beacon), INGEST),
        (("GET",), r"/api/relay/healthcheck/(?:ready|live)/", health, INGEST),
        (("GET",), r"/api/0/relays/live/", health, INGEST),
        (
            ("GET", "POST", "HEAD", "PATCH"),
            _PROJECT + "/upload/?.*",
            tus_upload,
            INGEST,
        ),
        (("GET",), r"/api/eventlist/", api_event_list, "api"),
        (("GET",), r"/api/faults/", api_faults, "api"),
        (("POST",), r"/api/faults/", api_fault_add, "api"),
        (("DELETE",), r"/api/faults/(?:(?P<rule_id>\d+)/?)?", api_fault_clear, "api"),
        (("POST",), r"/faults/clear", page_faults_clear, "page"),
        (("GET",), r"/api/canaries/", api_canaries, "api"),
        (("POST",), r"/api/canaries/", api_canaries_add, "api"),
        (("DELETE",), r"/api/canaries/", api_canaries_clear, "api"),
        (("GET",), r"/api/leaks/", api_leaks, "api"),
        (("GET",), r"/api/search/", api_search, "api"),
        (("GET",), r"/api/diff/(?P<a>[^/]+)/(?P<b>[^/]+)/?", api_diff, "api"),
        (("GET",), r"/api/event/(?P<ident>[^/]+)/raw", api_event_raw, "api"),
        (("GET",), r"/api/event/(?P<ident>[^/]+)/envelope", api_event_envelope, "api"),
        (("GET",), r"/api/event/(?P<ident>[^/]+)/?", api_event, "api"),
        (("POST",), r"/api/flush/", api_flush, "api"),
        (("GET",), r"/api/wait/", api_wait, "api"),
        (("GET",), r"/api/status/", api_status, "api"),
        (("GET",), r"/", page_index, "page"),
        (("POST",), r"/flush", page_flush, "page"),
        (("GET",), r"/event/(?P<ident>[^/]+)", page_event, "page"),
        (("GET",), r"/trace/(?P<trace_id>[^/]+)/?", page_trace, "page"),
        (("GET",), r"/search/?", page_search, "page"),
        (("GET",), r"/diff/?", page_diff_form, "page"),
        (("GET",), r"/diff/(?P<a>[^/]+)/(?P<b>[^/]+)/?", page_diff, "page"),
        (
            ("POST", "GET"),
            r"/api/(?P<project>[^/]*[^/\d][^/]*)/(?:envelope|store|security|csp-report)/",
            Ingest("bad project", accept_envelope),  # refused, and kept
            INGEST,
        ),
    ]
]


def keep_unread(req, exc):
    """An ingestion request refused before its body came (``Expect``): kept
    with no bytes, so that the list shows what was refused and why."""
    path = urllib.parse.unquote(req.path.partition("?")[0])
    route = next((r for r in ROUTES if r[1].fullmatch(path)), None)
    if route is None or not isinstance(route[2], Ingest):
        return
    project = route[1].fullmatch(path).groupdict().get("project", route[2].project)
    info = request_info(route[2].endpoint, req)
    events = refused_events(_wire_int(str(project)) or 0, info, {}, b"", exc)
    req.kent.store_events(events, exc.status, req.own_url())


class KentHandler(http.server.BaseHTTPRequestHandler):
    """Answers one connection; the shared state is ``self.server.kent``."""

    protocol_version = "HTTP/1.1"  # keep-alive: 3-5x the requests per second
    server_version = f"Kent/{__version__}"
    disable_nagle_algorithm = True  # no 40 ms delayed-ACK stalls

    # No socket timeout: in timeout mode every recv and send is a poll plus
    # the call, each letting go of the GIL, which cost a fifth of the
    # requests per second at 8 connections. The server's watchdog hangs up
    # on a client that is too slow instead (see _HTTPServer.service_actions).
    timeout = None

    def setup(self):
        super().setup()
        self.rfile = _CountingReader(self.rfile)
        self.server.track_progress(self.connection, self.rfile.progress)

    def handle_one_request(self):
        self.server.waiting(self.connection, True)  # the watchdog's clock runs
        self._body_read = False
        self._partial_body = b""  # what arrived of a body Kent refused
        self._held = 0  # body bytes reserved in the memory budget
        self._viewing = 0  # bytes of the items drawn, likewise
        self._cors = _OPEN_LINES  # until a route says it is Kent's own
        try:
            self.server.idle(self.connection, True)
            try:
                self.rfile.await_request()
            finally:
                self.server.idle(self.connection, False)
            super().handle_one_request()
        finally:
            if self._held:
                self.server.kent.release(self._held)
            if self._viewing:
                self.server.kent.end_view(self._viewing)

    def parse_request(self):
        """The request line and headers, as ``http.server`` does, faster."""
        self.command, self.close_connection = None, True
        self.request_version = "HTTP/0.9"
        self.requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        if not self.requestline.strip():
            return False  # nothing but a blank line: hang up
        try:
            words = check_request_line(self.requestline)
            self.command, self.path, self.request_version = words
            self.headers = read_headers(self.rfile)
            check_framing(self.headers, self.request_version)
        except KentError as exc:
            self.close_connection = True
            self._refuse_with(exc)
            return False
        connection = (self.headers.get("Connection") or "").lower()
        self.close_connection = connection == "close" or (
            self.request_version == "HTTP/1.0" and connection != "keep-alive"
        )
        expect = (self.headers.get("Expect") or "").lower()
        if expect == "100-continue" and self.request_version == "HTTP/1.1":
            return self.handle_expect_100()
        return True

    def _done_reading(self):
        self.server.waiting(self.connection, False)

    # -- plumbing -----------------------------------------------------------

    def log_message(self, format, *args):
        logger.debug("%s %s", self.address_string(), console_text(format % args))

    def handle_expect_100(self):
        # Reject an oversized body before the client sends it.
        length = self.headers.get("Content-Length", "")
        size = _wire_int(length)
        refusal = None
        if length.strip() and size is None:
            refusal = BadRequest(f"bad Content-Length {length[:40]!r}")
        elif size is not None and size > self.server.kent.max_body:
            refusal = PayloadTooLarge(
                f"body of {length} bytes is over the limit of "
                f"{self.server.kent.max_body} (raise it with --max-body)"
            )
        if refusal is None:
            return super().handle_expect_100()
        self.close_connection = True
        if isinstance(refusal, PayloadTooLarge):
            keep_unread(self, refusal)
        self._refuse_with(refusal)
        return False

    def send_error(self, code, message=None, explain=None):
        """``http.server``'s own refusals (a request line over 64 KiB)."""
        self.close_connection = True
        text = message or self.responses.get(code, ("error",))[0]
        self._refuse_with(KentError(text, status=code))

    def _refuse_with(self, exc):
        """The one place a refusal is answered."""
        status, headers, body = render_error(exc)
        self.respond(status, body, headers=headers)

    def respond(self, status, body=b"", content_type="application/json", headers=()):
        """Status, headers and body in one write (no Nagle stall)."""
        reason = self.responses.get(status, ("",))[0]
        lines = [
            f"HTTP/1.1 {status} {reason}",
            f"Server: {self.server_version}",
            f"Date: {self.date_time_string()}",
            f"Content-Type: {content_type}",
            f"Content-Length: {len(body)}",
            self._cors,
        ]
        if status in (204, 304):  # no body, and no Content-Length (RFC 9110 8.6)
            body = b""
            del lines[4]
        lines += [f"{k}: {_safe_header_value(v)}" for k, v in headers]
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if self.command == "HEAD":
            body = b""
        self._status = status
        self.server.waiting(self.connection, True)  # a client that never reads
        if len(body) < 65536:
            self.wfile.write(head + body)
        else:
            self.wfile.write(head)
            self.wfile.write(body)
        self.server.waiting(self.connection, False)

    def respond_json(self, status, value, headers=()):
        self.respond(status, to_json_bytes(value), headers=headers)

    def respond_html(self, page, nonce, status=200):
        headers = (("Content-Security-Policy", PAGE_CSP.format(nonce=nonce)),)
        # A lone surrogate from a payload shows as its escape, \ud800.
        data = page.encode("utf-8", "backslashreplace")
        self.respond(status, data, "text/html; charset=utf-8", headers)

    def do_GET(self):
        self._dispatch()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_GET

    do_OPTIONS = do_GET

    def preflight(self):
        """CORS preflight: open on ingestion, else only for --allow-origin."""
        if self._cors is _OPEN_LINES:
            self.respond(200, b"", "text/plain", PREFLIGHT_HEADERS)
        elif self._cors is _OWN_LINES:  # no Origin, or Kent's own: nothing to allow
            self.respond(200, b"", "text/plain")
        else:
            self.respond(200, b"", "text/plain", OWN_PREFLIGHT_HEADERS)

    def _split_path(self):
        path, _, query = self.path.partition("?")
        if "//" in path:  # Relay folds duplicate slashes before routing
            path = re.sub("/{2,}", "/", path)
        return urllib.parse.unquote(path), query

    def _find_route(self, path):
        """(view, its arguments, kind) of the first route that matches."""
        if self.command == "OPTIONS":
            return KentHandler.preflight, {}, self._path_kind(path)
        allowed = []
        for methods, pattern, view, kind in ROUTES:
            match = pattern.fullmatch(path)
            if match and self.command in methods + (
                ("HEAD",) if "GET" in methods else ()
            ):
                return view, match.groupdict(), kind
            if match:
                allowed += methods
        if allowed:
            raise MethodNotAllowed(
                f"{self.command} is not allowed on {path}; use {', '.join(sorted(set(allowed)))}"
            )
        raise NotFound(
            f"no such path: {path}; Kent serves /api/<project_id>/envelope/, /store/, /security/, the API under /api/ and the pages / and /event/<id>"
        )

    @staticmethod
    def _path_kind(path):
        """INGEST when any method of ``path`` is ingestion (its preflight is open)."""
        kinds = {kind for _, pattern, _, kind in ROUTES if pattern.fullmatch(path)}
        return INGEST if INGEST in kinds else "own"

    def _check_access(self, kind):
        """Kent's own routes: refuse other origins; answer an allowed one."""
        if kind == INGEST:
            return
        self._cors = _OWN_LINES
        origin = self.server.kent.access.check(self.command, self.headers)
        if origin is not None:
            self._cors = (
                f"{_OWN_LINES}\r\nAccess-Control-Allow-Origin: {origin}\r\nVary: Origin"
            )

    def _dispatch(self):
        self._status = None
        path, self.query = self._split_path()
        try:
            view, args, kind = self._find_route(path)
            self._check_access(kind)
            if self.command in ("GET", "HEAD"):
                self._done_reading()
            view(self, **args)
            self.discard_body()  # a GET with a body must not desync keep-alive
        except NotFound as exc:
            self.discard_body()
            if path.startswith(("/event/", "/trace/", "/diff/")):  # a page: as a page
                nonce = uuid.uuid4().hex
                self.respond_html(render_not_found(exc.message, nonce), nonce, 404)
            else:
                self._refuse_with(exc)
        except KentError as exc:
            self.discard_body()
            self._refuse_with(exc)
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        except Exception:  # a bug in Kent: say so, keep serving
            logger.exception(
                "Kent failed on %s %s", self.command, console_text(self.path)
            )
            if self._status is None:
                self.close_connection = True
                self._refuse_with(
                    KentError("Kent had an internal error; see its log", status=500)
                )

    @property
    def kent(self):
        return self.server.kent

    def params(self):
        return query_params(self.query)

    # -- request bodies -------------------------------------------------------

    def discard_body(self):
        """Read and drop a small unread body so keep-alive stays in sync."""
        if self._body_read:
            return
        self._body_read = True
        length = self.headers.get("Content-Length", "0")
        chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        size = _wire_int(length)
        if chunked or size is None or size > 65536:
            self.close_connection = True
        elif size:
            self.server.waiting(self.connection, True)  # after an answer, too
            self.rfile.read(size)
        self._done_reading()

    def read_body(self, limit):
        data = self._read_body_bytes(limit)
        self._done_reading()
        return data

    def _read_body_bytes(self, limit):
        self._body_read = True
        self.server.waiting(self.connection, True)  # GET routes read bodies too
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            try:
                return self.rfile.read_chunked(limit, self._hold)
            except KentError as exc:
                self.close_connection = True
                self._partial_body = getattr(exc, "partial_body", b"")
                raise
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        if _wire_int(length) is None:
            self.close_connection = True
            raise BadRequest(f"bad Content-Length header: {length!r}")
        length = _wire_int(length)
        if length > limit:
            self.close_connection = True
            self._partial_body = self.rfile.read(min(length, KEPT_OF_TOO_LARGE))
            raise PayloadTooLarge(
                f"body of {length} bytes is over the limit of {limit} bytes (raise it with --max-body); "
                + _kept_text(len(self._partial_body), length)
            )
        self._hold(length)
        data = self.rfile.read_exactly(length)
        if len(data) < length:
            self.close_connection = True
            self._partial_body = data
            raise BadRequest(f"body ended after {len(data)} of {length} bytes")
        return data

    def _hold(self, size):
        """Reserve body bytes in the memory budget until the request ends."""
        try:
            self.server.kent.reserve(size, self._held)
        except ServiceUnavailable:
            self.close_connection = True  # the body stays unread
            raise
        self._held += size

    def _hold_decoded(self, size):
        # Decoded bytes are held twice (the pieces, then joined) and then
        # parsed: eight 31 MB gzip bombs at once took 860 MB uncounted.
        self._hold(2 * size)

    def ingest(self, endpoint, accept, project_id, key, args):
        """read -> decode -> accept -> store -> answer, for every ingestion
        route (``Ingest``); ``accept`` is one of the ``accept_*`` parsers."""
        kent = self.server.kent
        args = dict(args, project=project_id)  # as the path gave it
        info = request_info(endpoint, self)
        auth, auth_warnings = parse_auth(self.headers, self.query, key)
        raw = data = b""
        try:
            project_id, bad_project = parse_project_id(project_id), None
        except BadRequest as exc:  # kept under project 0, once its body is read
            project_id, bad_project = 0, exc
        try:
            raw = self.read_body(kent.max_body)
            info["size"] = len(raw)
            if bad_project is not None:
                raise bad_project
            encoding = self.headers.get("Content-Encoding")
            data = decode_body(raw, encoding, kent.max_body, self._hold_decoded)
            info["decoded_size"] = len(data)
            request = IngestRequest(
                self.headers, self.query, args, kent.max_body, self._hold_decoded
            )
            accepted = accept(request, data, auth, auth_warnings)
        except KentError as exc:
            raw = raw or self._partial_body
            self._reject(project_id, info, auth, data or raw, exc)
            return
        project_id = accepted.project_id or project_id
        auth = accepted.auth or auth
        events = [
            StoredEvent(project_id, item, info, auth, accepted.warnings)
            for item in accepted.items
        ]
        fault = kent.faults.match(project_id, endpoint, [e.type for e in events])
        if fault is not None:
            self._answer_fault(fault, events, accepted, auth)
            return
        status, value = kent.judge(events, auth, (accepted.status, accepted.value))
        kent.store_events(events, status, self.own_url())
        self._respond_accepted(status, value, accepted)

    def _respond_accepted(self, status, value, accepted):
        if isinstance(value, bytes):
            self.respond(status, value, accepted.content_type)
        else:
            self.respond_json(status, value)

    def _answer_fault(self, fault, events, accepted, auth):
        """Answer as the fault rule says; the items are kept, marked."""
        kent = self.server.kent
        if fault["delay"]:
            time.sleep(fault["delay"])  # this connection's thread only
        status = fault["status"] or accepted.status
        for event in events:
            event.fault = fault["id"]
        if fault["action"] == "drop":
            kent.store_events(events, 0, self.own_url())
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if fault["status"] is None:  # only slow: answer normally afterwards
            status, value = kent.judge(events, auth, (accepted.status, accepted.value))
            kent.store_events(events, status, self.own_url())
            self._respond_accepted(status, value, accepted)
            return
        kent.store_events(events, status, self.own_url())
        if is_accepted(status):
            self.respond(status, to_json_bytes({}), headers=fault_headers(fault))
            return
        message = f"Kent fault rule {fault['id']} answered {status}"
        body = render_error(KentError(message, status=status))[2]
        self.respond(status, body, headers=fault_headers(fault))

    def _reject(self, project_id, info, auth, data, exc):
        """Keep what a bad request sent (and items read before the error)."""
        events = refused_events(project_id, info, auth, data, exc)
        self.server.kent.store_events(events, exc.status, self.own_url())
        self._refuse_with(exc)

    def own_url(self):
        """Kent's own address, for console links: never what a sender's Host
        says (a rebinding page could plant links to its own host there)."""
        host, port = self.server.server_address[:2]
        host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def base_url(self):
        host = self.headers.get("Host") or "{}:{}".format(
            *self.server.server_address[:2]
        )
        return f"http://{host}"

    def find_event(self, ident):
        """The stored item ``ident``, its drawing counted until the request ends."""
        event = self.server.kent.store.get(ident)
        if event is None:
            raise NotFound(f"Event {ident} not found")
        cost = event.view_cost()  # a diff draws two, in turns that nest
        self.server.kent.begin_view(cost)
        self._viewing += cost
        return event

    def start_stream(self):
        self.close_connection = True  # the stream ends when the connection does
        self._status = 200
        head = (
            f"HTTP/1.1 200 OK\r\nServer: {self.server_version}\r\n"
            f"Date: {self.date_time_string()}\r\n"
            "Content-Type: text/event-stream; charset=utf-8\r\n"
            "Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\n"
            "X-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n"
        )
        hello = f"retry: 2000\n: kent {self.server.kent.run_id}\n\n"
        self.stream_write((head + hello).encode("latin-1"))

    def stream_write(self, data):
        self.server.waiting(self.connection, True)  # a reader that stalls is cut
        self.wfile.write(data)
        self.server.waiting(self.connection, False)

    def client_gone(self):
        """The client hung up: its end reads as EOF (a pipelined request is
        data, not EOF), seen without writing; for long-polls and streams."""
        try:
            readable = select.select([self.connection], [], [], 0)[0]
            return bool(readable) and not self.connection.recv(1, socket.MSG_PEEK)
        except OSError:
            return True


# ---------------------------------------------------------------------------
# 10. Server object
# ---------------------------------------------------------------------------


STRICT_DSN_KEY = "0123456789abcdef0123456789abcdef"  # 32 characters, as Relay wants


def _strict_key_refusal(auth):
    """What Relay says to ``public``, the key that gets no warning (strict)."""
    if auth.get("sentry_key") != DEFAULT_PROJECT_KEY:
        return []
    message = (
        f"public key {DEFAULT_PROJECT_KEY!r} is not 32 characters; Relay answers "
        "400 'bad sentry DSN public key'"
    )
    return [make_warning("public-key", message, 400)]


class Kent:
    """What every request shares: the store and the settings."""

    def __init__(
        self,
        store=None,
        *,
        max_body=DEFAULT_MAX_BODY,
        strict=False,
        require_keys=None,
        request_timeout=DEFAULT_REQUEST_TIMEOUT,
        verbose=False,
        faults=(),
        colour=False,
        print_payloads=False,
        canaries=(),
        allow_origins=(),
        allow_hosts=(),
        max_streams=DEFAULT_MAX_CONNECTIONS // 2,
        stream_heartbeat=STREAM_HEARTBEAT,
    ):
        self.store = store if store is not None else EventStore()
        self.access = AccessPolicy(allow_origins, allow_hosts)
        # Open event streams, bounded so that they never take every connection.
        self.max_streams = max_streams
        self.stream_heartbeat = stream_heartbeat
        self._streams = 0
        self._streams_lock = threading.Lock()
        self.run_id = uuid.uuid4().hex[:12]  # tells a restarted Kent's streams apart
        # (version, values) replaced as a whole: readers need no lock.
        canaries = [canaries] if isinstance(canaries, str) else list(canaries or ())
        self._canaries = (0, tuple(dict.fromkeys(_canary_values(canaries))))
        self._canary_lock = threading.Lock()
        self.printer = None  # a ConsolePrinter, or log on the request thread
        self.max_body = max_body
        self._in_flight = 0  # body bytes being received, counted against max_bytes
        self._in_flight_lock = threading.Lock()
        self._viewing = 0  # bytes of items being drawn, counted against max_bytes
        self._view_turn = threading.Condition()
        self._view_held = threading.local()  # .cost: what this thread holds
        self.strict = strict
        self.require_keys = set(require_keys) if require_keys else None
        # The key of the DSNs Kent shows: one it accepts.
        keys = list(require_keys or ())
        if strict:  # Relay wants 32 characters
            keys = [k for k in keys if len(k) == 32] or keys or [STRICT_DSN_KEY]
        self.dsn_key = keys[0] if keys else DEFAULT_PROJECT_KEY
        self.request_timeout = request_timeout
        self.verbose = verbose
        self.faults = FaultRules()
        self.colour = colour
        self.print_payloads = print_payloads
        for spec in faults or ():
            self.faults.add(spec)

    def reserve(self, size, own=0):
        """Count ``size`` body bytes being received (or decoded) against the
        store's memory budget; past it the request waits for another turn
        (503). A request alone (``own``: what it holds already) may pass it."""
        with self._in_flight_lock:
            others = self._in_flight - own
            if others and self._in_flight + size > self.store.max_bytes:
                raise ServiceUnavailable(
                    f"bodies being received would pass the memory budget of "
                    f"{self.store.max_bytes} bytes (--max-bytes); try again later"
                )
            self._in_flight += size

    def release(self, size):
        with self._in_flight_lock:
            self._in_flight -= size

    def begin_view(self, cost, wait=VIEW_WAIT):
        """Count ``cost`` bytes of an item being drawn against the memory
        budget; past it the view waits for others to finish, then 503. Apart
        from bodies being received, so that reading never stops ingestion.
        A view alone may pass it; turns nest (a page that scans its item, a
        diff of two): what this thread holds already never waits for itself."""
        deadline = time.monotonic() + wait
        own = getattr(self._view_held, "cost", 0)
        with self._view_turn:
            while self._viewing - own and self._viewing + cost > self.store.max_bytes:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ServiceUnavailable(
                        f"items being drawn take the memory budget of "
                        f"{self.store.max_bytes} bytes (--max-bytes); try again later"
                    )
                self._view_turn.wait(left)
            self._viewing += cost
        self._view_held.cost = own + cost

    def end_view(self, cost):
        self._view_held.cost = getattr(self._view_held, "cost", 0) - cost
        with self._view_turn:
            self._viewing -= cost
            self._view_turn.notify_all()

    @contextlib.contextmanager
    def drawing(self, events):
        """A view that parses ``events`` one at a time (a search, a trace, a
        filter): the largest counts against the budget while it runs."""
        cost = max((e.view_cost() for e in events), default=0)
        if not cost:  # nothing to parse: no turn to take
            yield
            return
        self.begin_view(cost)
        try:
            yield
        finally:
            self.end_view(cost)

    @contextlib.contextmanager
    def stream_slot(self):
        """Count an open event stream; ``ServiceUnavailable`` when all are taken."""
        with self._streams_lock:
            if self._streams >= self.max_streams:
                raise ServiceUnavailable(
                    f"{self.max_streams} event streams are open, the most Kent "
                    "allows (half of --max-connections); close one"
                )
            self._streams += 1
        try:
            yield
        finally:
            with self._streams_lock:
                self._streams -= 1

    def judge(self, events, auth, answer):
        """The answer a request gets: Relay's, or Kent's 400 for bad items."""
        status, value = answer
        refusal = self._refusal(events, auth)
        if refusal is not None:
            status, value = refusal.status, error_value(refusal)
        for event in events:
            event.status = status
        return status, value

    def _refusal(self, events, auth):
        """Why Kent refuses stored items: broken items, --require-key, --strict."""
        broken = [e.error for e in events if e.error]
        if broken:
            return BadRequest("; ".join(broken))
        if self.require_keys is not None and not auth.get("sentry_key"):
            # Relay's answer when no auth is found at all
            return Unauthorized(
                "missing authorization information (Kent runs with --require-key)"
            )
        if (
            self.require_keys is not None
            and auth.get("sentry_key") not in self.require_keys
        ):
            return Forbidden(
                f"event submission rejected: unknown public key "
                f"{auth.get('sentry_key')!r} (Kent runs with --require-key)"
            )
        if self.strict:
            relay = [w for e in events for w in e.warnings if w.get("relay_status")]
            refused_key = _strict_key_refusal(auth)
            for event in events:  # the reason shows on the item, as any warning
                event.warnings += refused_key
            relay += refused_key
            if relay:
                message = f"--strict: {relay[0]['message']}"
                return KentError(message, status=relay[0]["relay_status"])
        return None

    @property
    def canaries(self):
        return list(self._canaries[1])

    @property
    def canary_version(self):
        """Goes up whenever the canaries change: cached findings are stale."""
        return self._canaries[0]

    def add_canaries(self, values):
        values = _canary_values(values)
        with self._canary_lock:
            version, current = self._canaries
            self._canaries = (
                version + 1,
                tuple(dict.fromkeys(current + tuple(values))),
            )

    def clear_canaries(self):
        with self._canary_lock:
            self._canaries = (self._canaries[0] + 1, ())

    def findings(self, event):
        """The leak scanner's findings for ``event`` (cached per canary version).
        Scanning a large item takes a view turn: ten listings at once right
        after one arrived (or after a canary was added) scanned it ten times."""
        version, canaries = self._canaries
        if event.has_findings(version):
            return event.findings(canaries, version)
        with self.turn_for(event):
            return event.findings(canaries, version)  # maybe cached meanwhile

    def turn_for(self, event):
        """A view turn for parsing ``event`` once when it is large; a small
        one is parsed at once (however many read it, its cost stays small)."""
        if event.view_cost() < VIEW_TURN_FLOOR:
            return contextlib.nullcontext()
        return self.drawing([event])

    def filter(self, params):
        """``EventFilter.from_query(params)`` whose parses take view turns."""
        match = EventFilter.from_query(params)
        match.turn = self.turn_for
        return match

    def leak_count(self, event):
        return len(self.findings(event))

    def store_events(self, events, status, base_url):
        for event in events:
            event.status = status
        self.store.add(events)
        if logger.isEnabledFor(logging.INFO):
            for event in events:
                if self.printer is not None:
                    self.printer.submit(event, base_url)
                else:
                    self.log_event(event, base_url)

    def console_lines(self, event, base_url, findings=None):
        """The console line of an item (leak flag when scanned), payload too."""
        line = render_console_line(event, base_url, self.colour)
        flag = render_leak_flag(findings, self.colour)
        lines = [f"{line} {flag}" if flag else line]
        if self.print_payloads:
            lines.append(render_console_payload(event))
        if self.verbose:  # --verbose / KENT_DEV=1: everything, untruncated
            body, _ = body_to_json(event)
            lines.append(
                f"  headers: {json_text(event.request.get('headers'), ensure_ascii=True)}"
            )
            lines.append(f"  payload: {json_text(body, indent=2, ensure_ascii=True)}")
        return lines

    def log_event(self, event, base_url, findings=None):
        logger.info("%s", "\n".join(self.console_lines(event, base_url, findings)))


class _HTTPServer(http.server.ThreadingHTTPServer):
    """A thread per connection, a connection cap, and a clean shutdown."""

    daemon_threads = True
    request_queue_size = 128  # the default 5 drops SYNs under load
    allow_reuse_address = True

    def __init__(self, address, kent, max_connections):
        self.kent = kent
        self.max_connections = max_connections
        # Long-polls get half the connections: the rest stay for ingestion.
        self.max_long_polls = max(1, max_connections // 2)
        self._long_polls = 0
        self._connections = set()  # open sockets, for the cap and for stop()
        self._closing = set()  # sockets being closed gently, for stop()
        self._conn_threads = []  # every connection thread not yet joined
        self._waiting = {}  # connection -> since when it waits on its client
        self._progress = {}  # connection -> [first byte at, bytes] of its request
        self._idle = {}  # connection -> since when it waits for a request to begin
        self._conn_lock = threading.Lock()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, KentHandler)
        kent.access.bound(address[0], self.server_address[0])

    def waiting(self, connection, started):
        """Note when a connection starts and stops waiting on its client:
        reading a request, or writing an answer the client must read."""
        with self._conn_lock:
            if started:
                self._waiting[connection] = time.monotonic()
                progress = self._progress.get(connection)
                if progress:  # the rate counts from this wait's first byte
                    progress[:] = [None, 0]
            else:
                self._waiting.pop(connection, None)

    def enter_long_poll(self):
        """Count a ``/api/wait/`` in; False when the long-polls are at their cap."""
        with self._conn_lock:
            if self._long_polls >= self.max_long_polls:
                return False
            self._long_polls += 1
            return True

    def leave_long_poll(self):
        with self._conn_lock:
            self._long_polls -= 1

    def track_progress(self, connection, progress):
        with self._conn_lock:
            self._progress[connection] = progress

    def _too_slow(self, connection, now):
        """Below MIN_DATA_RATE after the grace second of a request begun."""
        started, count = self._progress.get(connection) or (None, 0)
        if started is None or now - started <= MIN_RATE_GRACE:
            return False
        return count < MIN_DATA_RATE * (now - started)

    def service_actions(self):
        """Hang up on clients too slow to send a request or read an answer,
        and on requests that trickle in below the minimum data rate."""
        now = time.monotonic()
        limit = now - self.kent.request_timeout
        with self._conn_lock:
            late = [
                c
                for c, since in self._waiting.items()
                if since < limit or self._too_slow(c, now)
            ]
            for connection in late:
                self._waiting.pop(connection, None)
        for connection in late:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def idle(self, connection, started):
        """Note a connection that waits for its next request to begin: at
        the cap it may go (keep-alive, or one that never sent a byte)."""
        with self._conn_lock:
            if started:
                self._idle[connection] = time.monotonic()
            else:
                self._idle.pop(connection, None)

    def _evict_idle(self):
        """Hang up on the connection idle longest, to make room for a new
        one; False when none is idle (then the new one gets the 503). So
        connections that send nothing cannot hold the cap."""
        with self._conn_lock:
            if not self._idle:
                return False
            oldest = min(self._idle, key=self._idle.get)
            del self._idle[oldest]
        with contextlib.suppress(OSError):
            oldest.shutdown(socket.SHUT_RDWR)
        return True

    def process_request(self, request, client_address):
        with self._conn_lock:
            full = len(self._connections) >= self.max_connections
        if full and not self._evict_idle():
            self._refuse(request)
            return
        thread = threading.Thread(
            target=self._serve_connection,
            args=(request, client_address),
            name="kent-connection",
            daemon=True,
        )
        with self._conn_lock:
            self._connections.add(request)
            # Reap finished threads here so the list stays as long as the live ones.
            self._conn_threads = [t for t in self._conn_threads if t.is_alive()]
            self._conn_threads.append(thread)
        thread.start()

    def _refuse(self, request):
        """Over --max-connections: a 503 before any handler thread starts."""
        refusal = ServiceUnavailable("too many connections; try again later")
        status, headers, message = render_error(refusal)
        head = "".join(f"\r\n{name}: {value}" for name, value in headers)
        try:
            request.settimeout(1.0)
            request.sendall(
                f"HTTP/1.1 {status} Service Unavailable\r\n"
                f"Content-Type: application/json\r\nConnection: close{head}\r\n"
                f"Content-Length: {len(message)}\r\n\r\n".encode()
                + message
            )
        except OSError:
            pass
        self.shutdown_request(request)

    def _serve_connection(self, request, client_address):
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            with self._conn_lock:
                self._waiting.pop(request, None)
                self._progress.pop(request, None)
                self._idle.pop(request, None)
                self._connections.discard(request)
                # Not counted by the cap, but bounded too; stop() ends them.
                gently = len(self._closing) < self.max_connections
                if gently:
                    self._closing.add(request)
            if gently:
                self._close_gently(request)
            else:
                self.shutdown_request(request)
            with self._conn_lock:
                self._closing.discard(request)

    def _close_gently(self, request, seconds=2.0, most=64 * MIB):
        """Half-close, then read what the client still sends until it closes.

        Closing a socket with unread bytes (the rest of a body Kent refused)
        sends a reset, which can wipe out the answer, a 413 say, before the
        client reads it.
        """
        deadline = time.monotonic() + seconds
        try:
            request.shutdown(socket.SHUT_WR)
            while most > 0 and (left := deadline - time.monotonic()) > 0:
                request.settimeout(left)
                chunk = request.recv(65536)
                if not chunk:
                    break
                most -= len(chunk)
        except OSError:
            pass
        self.close_request(request)

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            return  # a client that hung up is not news
        logger.exception("error on a connection from %s", client_address)

    def close_connections(self, timeout=2.0):
        """Hang up on every open connection and wait for their threads."""
        with self._conn_lock:
            sockets = list(self._connections | self._closing)
            threads, self._conn_threads = self._conn_threads, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        # A thread leaves _connections a moment before it ends, so join them all.
        for thread in threads:
            thread.join(timeout)


class KentServer:
    """Kent in a background thread, for tests and scripts::

    with KentServer() as server:            # 127.0.0.1, a free port
        sentry_sdk.init(dsn=server.dsn(1))
        ...
        events = server.wait_for(1, timeout=5, type="event")
    """

    def __init__(
        self,
        host=DEFAULT_HOST,
        port=0,
        *,
        max_events=DEFAULT_MAX_EVENTS,
        max_bytes=DEFAULT_MAX_BYTES,
        max_connections=DEFAULT_MAX_CONNECTIONS,
        console=False,
        spotlight_port=None,
        **settings,
    ):
        self.store = EventStore(max_events=max_events, max_bytes=max_bytes)
        settings.setdefault("max_streams", max(1, max_connections // 2))
        self.kent = Kent(self.store, **settings)
        if console:  # print lines (and leak flags) from a background thread
            self.kent.printer = ConsolePrinter(self.kent)
        self._address = (host, port)
        # A second listener (Spotlight's 8969) serving the same Kent.
        self._spotlight_address = (
            None if spotlight_port is None else (host, spotlight_port)
        )
        self._max_connections = max_connections
        self._httpd = None
        self._spotlight = None
        self._threads = []

    def _bind(self):
        self.store.wake_waiters(closing=False)
        self._httpd = _HTTPServer(self._address, self.kent, self._max_connections)
        if self._spotlight_address is not None:
            try:
                self._spotlight = _HTTPServer(
                    self._spotlight_address, self.kent, self._max_connections
                )
            except OSError:
                self._httpd.server_close()
                raise
        if self.kent.printer is not None:
            self.kent.printer.start()

    def _serve_in_thread(self, httpd):
        thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="kent-server",
            daemon=True,
        )
        thread.start()
        self._threads.append((httpd, thread))

    def start(self):
        """Bind and serve in a daemon thread; returns self."""
        self._bind()
        for httpd in (self._httpd, self._spotlight):
            if httpd is not None:
                self._serve_in_thread(httpd)
        return self

    def stop(self):
        """Stop serving; leaves no thread or socket behind."""
        if self._httpd is None:
            return
        self._stop_threads()
        self._close()

    def _stop_threads(self):
        for httpd, thread in self._threads:
            httpd.shutdown()
            thread.join()
        self._threads = []

    def _close(self):
        self.store.wake_waiters(closing=True)
        for httpd in (self._httpd, self._spotlight):
            if httpd is not None:
                httpd.close_connections()
                httpd.server_close()
        self._httpd = self._spotlight = None
        if self.kent.printer is not None:
            self.kent.printer.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    @property
    def host(self):
        return self._httpd.server_address[0] if self._httpd else self._address[0]

    @property
    def port(self):
        return self._httpd.server_address[1] if self._httpd else self._address[1]

    @property
    def url(self):
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def listens_for_spotlight(self):
        """True when a second listener takes Spotlight's ``POST /stream``."""
        return self._spotlight_address is not None

    @property
    def spotlight_url(self):
        """Where ``SENTRY_SPOTLIGHT`` should point: the second listener's
        ``/stream`` (or this one's, when there is no second listener)."""
        if self._spotlight is None:
            return f"{self.url}/stream"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self._spotlight.server_address[1]}/stream"

    def dsn(self, project_id=1, key=None):
        """The DSN an SDK should use to send to this server's project
        (with the first ``require_keys`` key, if any, else ``public``)."""
        key = key or self.kent.dsn_key
        return build_dsn(self.url, project_id, key)

    def events(self, **filters):
        """Stored events, oldest first; filters as in ``GET /api/eventlist/``."""
        return self.store.snapshot(EventFilter(**filters) if filters else None)

    def wait_for(self, count=1, timeout=10.0, **filters):
        """Wait for ``count`` matching events; raise ``WaitTimeout`` if late.

        Filters: ``project``, ``type``, ``since``, ``q`` and ``fields`` (a dict
        of dotted paths to values), as in ``GET /api/wait/``.
        """
        match = EventFilter(**filters)
        events, ok = self.store.wait_for(count, timeout, match, match.since)
        if not ok:
            stored = self.store.snapshot()
            missing = match.missing_fields(stored) if not events else []
            listing = describe_stored(match, stored)
            raise WaitTimeout(count, timeout, events, listing, missing)
        return events

    def get(self, ident):
        """One event by Kent's id or the SDK's event id, or None."""
        return self.store.get(ident)

    def flush(self, project_id=None):
        return self.store.flush(project_id)

    def add_fault(self, spec=None, **rule):
        """Add a fault rule (see ``parse_fault``); returns its id."""
        if isinstance(spec, str):  # JSON or status=429&count=1
            spec = fault_spec(spec)
        if not isinstance(spec, (dict, type(None))):
            raise BadRequest("a fault rule is a JSON object or key=value&... text")
        return self.kent.faults.add(dict(spec or {}, **rule))["id"]

    def clear_faults(self, rule_id=None):
        return self.kent.faults.clear(rule_id)

    @property
    def faults(self):
        """The active rules with how many requests each has hit."""
        return self.kent.faults.list()

    @property
    def last_seq(self):
        """A cursor: pass it as ``since=`` to see only newer events."""
        return self.store.last_seq

    def add_canary(self, value):
        """Report any occurrence of ``value`` as a leak (``kind: canary``)."""
        self.kent.add_canaries([value])

    def clear_canaries(self):
        self.kent.clear_canaries()

    @property
    def canaries(self):
        return self.kent.canaries

    def leaks(self, **filters):
        """``GET /api/leaks/`` as a dict: ``{events, count, kinds, clean}``."""
        found = [(e, self.kent.findings(e)) for e in self.events(**filters)]
        return leaks_report([(e, f) for e, f in found if f])


# -- pytest plugin: the ``kent_server`` fixture (entry point ``pytest11``, or
# ``pytest_plugins = ["kent"]`` when the file is vendored). pytest is imported
# only by pytest itself calling this hook, never by ``import kent``.


def pytest_configure(config):
    try:  # only pytest calls this hook, so pytest is there; kent never needs it
        import pytest
    except ImportError:
        return

    class KentFixtures:
        @pytest.fixture
        def kent_server(self):
            """A fresh Kent on 127.0.0.1 and a free port, stopped afterwards."""
            with KentServer() as server:
                yield server

    if not config.pluginmanager.has_plugin("kent-fixtures"):
        config.pluginmanager.register(KentFixtures(), "kent-fixtures")


# ---------------------------------------------------------------------------
# 11. Client
# ---------------------------------------------------------------------------


# -- Samples and replay: requests for `kent send KIND` and `kent replay`
# Framed as sentry-python frames envelopes: compact JSON, every item with
# its length, a final newline. https://develop.sentry.dev/sdk/data-model/envelopes/

SAMPLE_SDK = {"name": "kent.send", "version": "1.0.0"}
SAMPLE_RELEASE = "kent-sample@1.0.0"


def _hex_id(event_id, salt, length=32):
    """A stable id derived from the event id (samples are reproducible)."""
    return uuid.uuid5(uuid.NAMESPACE_OID, f"{event_id}:{salt}").hex[:length]


def _envelope_header(event_id, now):
    header = {"event_id": event_id} if event_id else {}
    return dict(header, sent_at=_iso(now), sdk=SAMPLE_SDK)


def _base_event(event_id, now, **fields):
    event = {
        "event_id": event_id,
        "timestamp": now,
        "platform": "python",
        "level": "error",
        "release": SAMPLE_RELEASE,
        "environment": "development",
        "server_name": "kent-sample-host",
        "sdk": SAMPLE_SDK,
        "tags": {"sample": "true"},
        "contexts": {
            "runtime": {"name": "CPython", "version": "3.12.4"},
            "trace": {
                "trace_id": _hex_id(event_id, "trace"),
                "span_id": _hex_id(event_id, "span", 16),
            },
        },
    }
    event.update(fields)
    return event


def _sample_frame(function, lineno, context, variables):
    return {
        "filename": "app/orders.py",
        "abs_path": "/srv/app/app/orders.py",
        "module": "app.orders",
        "function": function,
        "lineno": lineno,
        "pre_context": ["", f"def {function}(order):"],
        "context_line": context,
        "post_context": ["    return total", ""],
        "in_app": True,
        "vars": variables,
    }


def _sample_breadcrumbs(now):
    return {
        "values": [
            {"timestamp": now - 2.5, "category": "navigation", "message": "GET /cart"},
            {
                "timestamp": now - 1.2,
                "type": "http",
                "category": "httplib",
                "data": {
                    "method": "GET",
                    "url": "https://api.example.com/prices",
                    "status_code": 200,
                },
            },
            {
                "timestamp": now - 0.1,
                "category": "app",
                "level": "warning",
                "message": "discount missing",
            },
        ]
    }


_SAMPLE_FRAMES = (
    ("checkout", 12, "    total = price_order(order)", {"order": "{'id': 1042}"}),
    ("price_order", 27, "    return subtotal / discount", {"discount": "0"}),
)


def _error_event(event_id, now):
    exception = {
        "type": "ZeroDivisionError",
        "value": "float division by zero",
        "module": "builtins",
        "mechanism": {"type": "generic", "handled": False},
        "stacktrace": {"frames": [_sample_frame(*f) for f in _SAMPLE_FRAMES]},
    }
    return _base_event(
        event_id,
        now,
        exception={"values": [exception]},
        breadcrumbs=_sample_breadcrumbs(now),
        transaction="/checkout",
    )


def _message_event(event_id, now):
    logentry = {
        "message": "Payment provider answered %s",
        "params": ["503"],
        "formatted": "Payment provider answered 503",
    }
    return _base_event(event_id, now, level="warning", logentry=logentry)


_SAMPLE_SPANS = (
    ("db", "SELECT * FROM orders WHERE id = %s"),
    ("http.client", "GET https://api.example.com/prices"),
    ("template.render", "cart.html"),
)


def _sample_spans(event_id, now, trace_id, parent):
    return [
        {
            "trace_id": trace_id,
            "span_id": _hex_id(event_id, f"child{index}", 16),
            "parent_span_id": parent,
            "op": op,
            "description": description,
            "start_timestamp": now - 0.9 + index * 0.3,
            "timestamp": now - 0.7 + index * 0.3,
            "status": "ok",
        }
        for index, (op, description) in enumerate(_SAMPLE_SPANS)
    ]


def _transaction_event(event_id, now):
    trace_id, root = _hex_id(event_id, "trace"), _hex_id(event_id, "span", 16)
    trace = {"trace_id": trace_id, "span_id": root, "op": "http.server", "status": "ok"}
    return _base_event(
        event_id,
        now,
        type="transaction",
        level="info",
        transaction="/checkout",
        transaction_info={"source": "route"},
        start_timestamp=now - 1.0,
        spans=_sample_spans(event_id, now, trace_id, root),
        contexts={"trace": trace, "runtime": {"name": "CPython", "version": "3.12.4"}},
    )


def _envelope_sample(header, items):
    return "envelope", ENVELOPE_CONTENT_TYPE, build_envelope(header, items)


def _sample_event_kind(builder):
    def sample(event_id, now):
        event = builder(event_id, now)
        item_type = event.get("type", "event")
        return _envelope_sample(
            _envelope_header(event_id, now), [({"type": item_type}, event)]
        )

    return sample


def _sample_attachment(event_id, now):
    notes = f"order 1042 debug notes\ncreated {_iso(now)}\nstatus: failed\n".encode()
    attachment = {
        "type": "attachment",
        "filename": "notes.txt",
        "content_type": "text/plain",
        "attachment_type": "event.attachment",
    }
    items = [({"type": "event"}, _error_event(event_id, now)), (attachment, notes)]
    return _envelope_sample(_envelope_header(event_id, now), items)


def _sample_session(event_id, now):
    session = {
        "sid": str(uuid.UUID(_hex_id(event_id, "session"))),
        "did": "kent-sample-user",
        "init": True,
        "started": _iso(now - 30),
        "timestamp": _iso(now),
        "status": "exited",
        "errors": 0,
        "duration": 30.0,
        "attrs": {"release": SAMPLE_RELEASE, "environment": "development"},
    }
    return _envelope_sample(
        _envelope_header(None, now), [({"type": "session"}, session)]
    )


def _sample_check_in(event_id, now):
    check_in = {
        "check_in_id": event_id,
        "monitor_slug": "nightly-report",
        "status": "ok",
        "duration": 1.25,
        "environment": "development",
        "release": SAMPLE_RELEASE,
    }
    return _envelope_sample(
        _envelope_header(None, now), [({"type": "check_in"}, check_in)]
    )


def _log_record(event_id, now, level, body, attributes):
    attributes = dict(
        attributes,
        **{"sentry.release": SAMPLE_RELEASE, "sentry.environment": "development"},
    )
    return {
        "timestamp": now,
        "trace_id": _hex_id(event_id, "trace"),
        "level": level,
        "body": body,
        "attributes": {
            key: {"value": value, "type": "string"} for key, value in attributes.items()
        },
    }


def _sample_log(event_id, now):
    records = [
        _log_record(
            event_id,
            now - 0.5,
            "info",
            "cart 1042 loaded with 3 items",
            {"cart.id": "1042"},
        ),
        _log_record(
            event_id,
            now,
            "error",
            "payment provider answered 503",
            {"provider": "acme-pay"},
        ),
    ]
    header = {
        "type": "log",
        "item_count": len(records),
        "content_type": "application/vnd.sentry.items.log+json",
    }
    return _envelope_sample(_envelope_header(None, now), [(header, {"items": records})])


def _sample_csp(event_id, now):
    report = {
        "csp-report": {
            "document-uri": "https://shop.example.com/cart",
            "referrer": "",
            "violated-directive": "img-src",
            "effective-directive": "img-src",
            "original-policy": "default-src 'self'; img-src 'self'; report-uri /api/1/security/",
            "disposition": "enforce",
            "blocked-uri": "https://tracker.example.net/pixel.gif",
            "status-code": 200,
        }
    }
    return "security", "application/csp-report", to_json(report, ensure_ascii=True)


def _sample_csp_new(event_id, now):
    report = {
        "type": "csp-violation",
        "age": 0,
        "url": "https://shop.example.com/cart",
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0.0.0 Safari/537.36",
        "body": {
            "documentURL": "https://shop.example.com/cart",
            "effectiveDirective": "script-src-elem",
            "blockedURL": "https://cdn.example.net/widget.js",
            "originalPolicy": "script-src 'self'; report-to kent",
            "disposition": "enforce",
            "statusCode": 200,
        },
    }
    return "security", "application/reports+json", to_json([report], ensure_ascii=True)


def _minidump_bytes(now):
    """A minimal MINIDUMP_HEADER: signature, version, no streams."""
    return struct.pack("<4sIIIIIQ", b"MDMP", 0xA793, 0, 32, 0, int(now), 0)


def _form_part(boundary, name, payload, filename=None, content_type=None):
    disposition = f'form-data; name="{name}"'
    if filename:
        disposition += f'; filename="{filename}"'
    lines = [f"--{boundary}", f"Content-Disposition: {disposition}"]
    if content_type:
        lines.append(f"Content-Type: {content_type}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload + b"\r\n"


def build_multipart(boundary, parts):
    """multipart/form-data bytes from ``(name, payload, filename, content_type)``."""
    body = b"".join(_form_part(boundary, *part) for part in parts)
    return body + f"--{boundary}--\r\n".encode()


def _sample_minidump(event_id, now):
    boundary = f"------------------------kent{event_id[:16]}"
    event = {
        "event_id": event_id,
        "release": SAMPLE_RELEASE,
        "environment": "development",
        "tags": {"sample": "true"},
    }
    parts = [
        (
            "upload_file_minidump",
            _minidump_bytes(now),
            "upload.dmp",
            "application/octet-stream",
        ),
        ("sentry", to_json(event, ensure_ascii=True), None, None),
    ]
    content_type = f"multipart/form-data; boundary={boundary}"
    return "minidump", content_type, build_multipart(boundary, parts)


def _sample_feedback(event_id, now):
    feedback = {
        "message": "The page froze after I pressed Pay.",
        "name": "Kent Sample",
        "url": "https://shop.example.com/cart",
        "source": "widget",
    }
    trace = {
        "trace_id": _hex_id(event_id, "trace"),
        "span_id": _hex_id(event_id, "span", 16),
    }
    body = {
        "event_id": event_id,
        "timestamp": now,
        "platform": "javascript",
        "level": "info",
        "release": SAMPLE_RELEASE,
        "contexts": {"feedback": feedback, "trace": trace},
    }
    return _envelope_sample(
        _envelope_header(event_id, now), [({"type": "feedback"}, body)]
    )


SAMPLE_KINDS = {
    "message": _sample_event_kind(_message_event),
    "error": _sample_event_kind(_error_event),
    "transaction": _sample_event_kind(_transaction_event),
    "attachment": _sample_attachment,
    "session": _sample_session,
    "check-in": _sample_check_in,
    "log": _sample_log,
    "csp": _sample_csp,
    "csp-new": _sample_csp_new,
    "minidump": _sample_minidump,
    "user-feedback": _sample_feedback,
}


def sample_kind(kind):
    """The kind's name in ``SAMPLE_KINDS``: ``check_in`` is ``check-in``."""
    return str(kind).strip().lower().replace("_", "-")


def sample_envelope(kind, event_id, now):
    """``(endpoint, content_type, body_bytes)`` of a realistic request.

    ``endpoint`` is the last path part: ``envelope``, ``security`` or
    ``minidump`` (POST it to ``/api/<project>/<endpoint>/``).
    """
    try:
        build = SAMPLE_KINDS[sample_kind(kind)]
    except KeyError:
        raise ValueError(
            f"unknown sample kind {kind!r}; choose from {', '.join(SAMPLE_KINDS)}"
        ) from None
    event_id = normalize_event_id(event_id)
    if event_id is None:
        raise ValueError("event_id must be 32 hex digits or a UUID")
    return build(event_id, float(now))


def _payload_bytes(payload, sdk):
    """The item bytes back from ``payload.body`` and ``payload.body_encoding``."""
    body, encoding = payload.get("body"), payload.get("body_encoding")
    if encoding == "base64":
        return base64.b64decode(body or "")
    if encoding == "text":
        return str(body).encode("utf-8")
    # sentry-python escapes non-ASCII (json.dumps default); JavaScript does not.
    javascript = str(_get(sdk, "name") or "").startswith("sentry.javascript")
    return to_json(body, ensure_ascii=not javascript)


def _replay_endpoint(request):
    """Where a stored item goes back to, below ``/api/<project>/``.

    Envelope, store, security, NEL and minidump keep their names; items from
    other routes (OTLP, cron, unreal, attachments) go back to the path they
    came to, with its query less the auth (``cron/job/?status=ok``).
    """
    endpoint = request.get("endpoint") or "envelope"
    if endpoint == "tunnel":
        return "envelope"
    if endpoint in ("envelope", "store", "security", "nel", "minidump"):
        return endpoint
    path, _, query = str(request.get("path") or "").partition("?")
    match = re.fullmatch(r"/api/\d+/(.+?)/?", path)
    if not match:
        return endpoint
    kept = [
        (k, v) for k, v in urllib.parse.parse_qsl(query) if not k.startswith("sentry_")
    ]
    return match.group(1) + ("?" + urllib.parse.urlencode(kept) if kept else "")


def _replay_from_kent_json(value):
    """GET /api/event/<id> JSON -> the request that would bring it back.

    Items that came to /store/ or /security/ (and rejected requests, stored
    as ``kent_error``) go back to that endpoint as a plain body; envelope
    items become a one-item envelope, and so do the parts of a multipart
    upload (minidump, attachments): one part alone is no upload.
    """
    payload = value["payload"]
    header = dict(payload.get("header") or {})
    item_type = header.get("type") or value.get("type") or "event"
    data = _payload_bytes(payload, value.get("sdk"))
    request = value.get("request") if isinstance(value.get("request"), dict) else {}
    endpoint = _replay_endpoint(request)
    if item_type != "kent_error" and request.get("endpoint") in (
        "minidump",
        "attachments",
    ):
        endpoint = "envelope"
    if endpoint != "envelope" or item_type == "kent_error":
        return endpoint, request.get("content_type") or "application/json", data
    envelope_header = payload.get("envelope_header")
    if not isinstance(envelope_header, dict):
        event_id = value.get("sdk_event_id")
        envelope_header = {"event_id": event_id} if event_id else {}
    header["type"] = item_type
    return (
        "envelope",
        ENVELOPE_CONTENT_TYPE,
        build_envelope(envelope_header, [(header, data)]),
    )


def replay_project(data):
    """The project of a saved ``GET /api/event/<id>`` JSON, else None."""
    try:
        if data[:2] == b"\x1f\x8b":  # a saved .gz
            data = decode_body(data, "gzip")
        value = json_loads(data, max_values=None)
    except (ValueError, UnicodeDecodeError, KentError):
        return None
    if not isinstance(value, dict) or not isinstance(value.get("payload"), dict):
        return None
    project = value.get("project_id")
    return project if isinstance(project, int) and project > 0 else None


def with_envelope_dsn(data, dsn):
    """The envelope with the ``dsn`` of its header (a tunnel's) set to ``dsn``.

    Relay refuses an envelope whose dsn names another key or project than
    the request, so a replay to another DSN must carry the new one.
    """
    line, newline, rest = bytes(data).partition(b"\n")
    try:
        header = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return data
    if not isinstance(header, dict) or "dsn" not in header:
        return data
    return to_json(dict(header, dsn=dsn)) + newline + rest


def _first_line_is_json_object(data):
    first = data.split(b"\n", 1)[0].strip()
    try:
        return isinstance(json_loads(first, max_values=None), dict)
    except (ValueError, UnicodeDecodeError):
        return False


def parse_replay_file(data):
    """``(endpoint, content_type, body)`` to re-send a saved file.

    Accepts a raw envelope, the JSON of Kent's ``GET /api/event/<id>``, a
    plain JSON event (sent to ``store``) or a list of Reporting API reports,
    any of them gzip'd, and a minidump (uploaded as Crashpad does).
    """
    data = bytes(data)
    if data[:2] == b"\x1f\x8b":  # a saved .gz
        data = decode_body(data, "gzip")
    if data[:4] == b"MDMP":
        boundary = f"------------------------kent{uuid.uuid4().hex[:16]}"
        parts = [
            ("upload_file_minidump", data, "upload.dmp", "application/octet-stream")
        ]
        content_type = f"multipart/form-data; boundary={boundary}"
        return "minidump", content_type, build_multipart(boundary, parts)
    try:
        value = json_loads(data, max_values=None)
    except (ValueError, UnicodeDecodeError):
        value = None
    if isinstance(value, dict) and isinstance(value.get("payload"), dict):
        return _replay_from_kent_json(value)
    if isinstance(value, dict):
        return "store", "application/json", data
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return "security", "application/reports+json", data
    if _first_line_is_json_object(data):
        return "envelope", ENVELOPE_CONTENT_TYPE, data
    raise ValueError(
        "not an envelope, a Kent event (GET /api/event/<id>), a JSON event "
        "or a minidump (gzip'd or not)"
    )


# -- exec: ``kent exec -- COMMAND``, a fresh Kent around a test run, as a gate

# A gate failure exits with this, so CI can tell it from COMMAND's own status
# (test runners use 1-5, shells 126-127 and 128+N for signals).
EXEC_GATE_FAILED = 99
EXEC_SETTLE_LIMIT = 30.0  # seconds of settling at most, however busy the SDK
EXEC_NOT_FOUND = 127  # as a shell: no such command
EXEC_NOT_EXECUTABLE = 126


# Control characters (C0, DEL, C1), lone surrogates, bidi overrides and line
# separators: in a terminal, a JUnit file or an annotation they could rewrite
# the screen, break the XML or hide text, so payload-derived text shows them
# as escapes.
_UNPRINTABLE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069"
    "\ud800-\udfff\ufffe\uffff]"
)


def printable(value):
    """``value`` as text with control characters as escapes (``\\x1b``)."""
    return _UNPRINTABLE.sub(
        lambda m: (
            f"\\u{ord(m.group()):04x}"
            if ord(m.group()) > 0xFF
            else f"\\x{ord(m.group()):02x}"
        ),
        str(value),
    )


def _refusal_reason(kent, events):
    """Why Kent answered a request with a 4xx/5xx (as ``judge`` decided)."""
    errors = [e.error for e in events if e.error]
    if errors:
        return "; ".join(dict.fromkeys(errors))
    relay = [w["message"] for e in events for w in e.warnings if w.get("relay_status")]
    if kent.strict and relay:
        return f"--strict: {relay[0]}"
    key = events[0].auth.get("sentry_key")
    if kent.require_keys is not None and key not in kent.require_keys:
        return (
            f"unknown public key {key!r} (--require-key)"
            if key
            else ("missing authorization information (--require-key)")
        )
    return f"answered {events[0].status}"


def _by_request(events):
    """Consecutive items of one request, grouped (they are stored together)."""
    groups = []
    for event in events:
        if groups and groups[-1][0].request_id == event.request_id:
            groups[-1].append(event)
        else:
            groups.append([event])
    return groups


class ExecTally:
    """Everything Kent stores while COMMAND runs, counted and leak-scanned.

    A thread reads new items from the store as they arrive (holding each only
    until it is scanned), so the store's limits (``--max-events``) drop no
    finding from the report; items dropped before the thread saw them are
    counted as ``not_counted``.
    """

    def __init__(self, kent):
        self.kent = kent
        self.items = collections.Counter()  # (project_id, type) -> received
        self.accepted = collections.Counter()  # type -> answered 2xx
        self.refused = []
        self.warnings = {}  # code -> {"code", "count", "message"}
        self.leaks = []  # items with findings: heading and findings
        self.faulted = 0
        self.not_counted = 0
        self._cursor = 0
        self._unscanned = collections.deque()
        self._stopping = threading.Event()
        self._thread = None

    def start(self):
        self._cursor = self.kent.store.last_seq
        self._thread = threading.Thread(
            target=self._loop, name="kent-exec-tally", daemon=True
        )
        self._thread.start()
        return self

    def stop(self):
        """Count and scan what is left; the tally is final afterwards."""
        self._stopping.set()
        self._thread.join()
        self._take(0)
        while self._unscanned:
            self._scan(self._unscanned.popleft())

    def _loop(self):
        while not self._stopping.is_set():
            # Take what is new before each scan: a burst must not push items
            # out of the store while the scanner is busy.
            self._take(0 if self._unscanned else 0.2)
            if self._unscanned:
                self._scan(self._unscanned.popleft())

    def _take(self, timeout):
        new, _ = self.kent.store.wait_for(1, timeout, None, self._cursor)
        for group in _by_request(new):
            self.not_counted += max(0, group[0].seq - self._cursor - 1)
            self._cursor = group[-1].seq
            self._count(group)
            self._unscanned.extend(group)

    def _count(self, group):
        for event in group:
            self.items[(event.project_id, event.type)] += 1
            if is_accepted(event.status):
                self.accepted[event.type] += 1
        seen = set()  # envelope-level warnings are on every item of a request
        for warning in (w for e in group for w in e.warnings):
            if (warning["code"], warning["message"]) not in seen:
                seen.add((warning["code"], warning["message"]))
                entry = self.warnings.setdefault(
                    warning["code"],
                    {
                        "code": warning["code"],
                        "count": 0,
                        "message": warning["message"],
                    },
                )
                entry["count"] += 1
        first = group[0]
        if first.fault is not None:
            self.faulted += 1
        elif first.status >= 400:
            self.refused.append(self._refusal(group))

    def _refusal(self, group):
        first = group[0]
        return {
            "status": first.status,
            "reason": _refusal_reason(self.kent, group),
            "project_id": first.project_id,
            "endpoint": first.request.get("endpoint"),
            "items": [e.type for e in group],
            "event_id": first.id,
            "summary": first.summary,
        }

    def _scan(self, event):
        try:
            findings = self.kent.findings(event)
        except Exception:  # a bug in Kent: say so, keep counting
            logger.exception("Kent could not scan an item")
            return
        if findings:
            self.leaks.append(
                dict(
                    _event_heading(event),
                    sdk_event_id=event.event_id,
                    findings=findings,
                )
            )


def _gate(name, passed, detail):
    return {"gate": name, "failed": not passed, "detail": detail}


def exec_report(tally, kent, command, command_status, signals=()):
    """What ``kent exec`` found, as the ``--report`` JSON (gates not yet run)."""
    items = {}
    for (project_id, item_type), count in sorted(tally.items.items()):
        items.setdefault(str(project_id), {})[item_type] = count
    kinds = collections.Counter(
        f["kind"] for entry in tally.leaks for f in entry["findings"]
    )
    return {
        "kent": __version__,
        "command": list(command),
        "command_status": command_status,
        "signals": [signal.Signals(s).name for s in signals],
        "received": sum(tally.items.values()),
        "not_counted": tally.not_counted,
        "items": items,
        "accepted": dict(sorted(tally.accepted.items())),
        "refused": tally.refused,
        "warnings": sorted(tally.warnings.values(), key=lambda w: w["code"]),
        "leaks": {
            "count": sum(kinds.values()),
            "kinds": dict(kinds),
            "events": tally.leaks,
        },
        "faults": [rule for rule in kent.faults.list() if rule["hits"]],
        "gates": [],
        "status": command_status,
    }


def check_gates(report, options):
    """Run the gates ``options`` asks for; a failure sets ``EXEC_GATE_FAILED``."""
    gates = []
    if options.fail_on_leak:
        count = report["leaks"]["count"]
        gates.append(
            _gate("--fail-on-leak", not count, _ui_plural(count, "leak finding"))
        )
    if options.fail_on_warning:
        count = sum(w["count"] for w in report["warnings"])
        gates.append(
            _gate("--fail-on-warning", not count, _ui_plural(count, "warning"))
        )
    if options.fail_on_refused:
        count = len(report["refused"])
        gates.append(
            _gate("--fail-on-refused", not count, _ui_plural(count, "refused request"))
        )
    for item_type, wanted in options.expect:
        got = report["accepted"].get(item_type, 0)
        got_text = _ui_plural(got, f"accepted {item_type} item")
        detail = f"{got_text}, wanted at least {wanted}"
        gates.append(_gate(f"--expect {item_type}={wanted}", got >= wanted, detail))
    report["gates"] = gates
    if any(g["failed"] for g in gates):
        report["status"] = EXEC_GATE_FAILED
    return report


def _report_items(report):
    accepted = sum(report["accepted"].values())
    lines = [f"Items: {report['received']} received, {accepted} accepted"]
    if report["not_counted"]:
        lines[0] += (
            f" (and {report['not_counted']} dropped by --max-events/--max-bytes "
            "before Kent could count and scan them)"
        )
    for project_id, types in report["items"].items():
        counts = ", ".join(f"{t} {n}" for t, n in types.items())
        lines.append(f"  project {project_id}: {printable(counts)}")
    return lines


def _report_refusals(report):
    lines = [f"Refused requests: {len(report['refused']) or 'none'}"]
    for refusal in report["refused"]:
        lines.append(
            f"  {refusal['status']} {refusal['endpoint']} (project "
            f"{refusal['project_id']}, {', '.join(refusal['items'])}): "
            + printable(refusal["reason"])
        )
    return lines


def _report_warnings(report):
    count = sum(w["count"] for w in report["warnings"])
    lines = [f"Protocol warnings: {count or 'none'}"]
    for warning in report["warnings"]:
        lines.append(
            f"  {warning['code']} x{warning['count']}: {printable(warning['message'])}"
        )
    return lines


def _report_leaks(report):
    leaks = report["leaks"]
    if not leaks["count"]:
        return ["Leak findings: none"]
    items = _ui_plural(len(leaks["events"]), "item")
    lines = [f"Leak findings: {leaks['count']} in {items}"]
    for entry in leaks["events"]:
        lines.append(
            f"  {entry['type']} {entry['sdk_event_id'] or entry['event_id']} "
            f"(project {entry['project_id']}): {printable(entry['summary'])}"
        )
        for finding in entry["findings"]:
            lines.append(
                f"    {finding['kind']} at {printable(finding['pointer'])}: "
                + printable(finding["excerpt"])
            )
    return lines


def _report_faults(report):
    if not report["faults"]:
        return ["Fault rules hit: none"]
    return ["Fault rules hit:"] + [
        f"  rule {rule['id']} ({_ui_fault_text(rule)}): {_ui_plural(rule['hits'], 'hit')}"
        for rule in report["faults"]
    ]


def _command_outcome(report):
    command = printable(shlex.join(report["command"]))
    signals = report["signals"]
    if signals:
        return f"`{command}` was stopped by {signals[0]}, exit status {report['command_status']}"
    return f"`{command}` exited {report['command_status']}"


def render_exec_report(report):
    """The report ``kent exec`` prints: plain text, payload text escaped."""
    lines = [f"Kent {report['kent']} exec report: {_command_outcome(report)}"]
    for part in (
        _report_items,
        _report_refusals,
        _report_warnings,
        _report_leaks,
        _report_faults,
    ):
        lines += part(report)
    for gate in report["gates"]:
        verdict = "FAILED" if gate["failed"] else "passed"
        lines.append(f"Gate {gate['gate']}: {verdict} ({gate['detail']})")
    return "\n".join(lines)


def exec_verdict(report):
    """The last line: which gates failed and what the exit status means."""
    failed = [f"{g['gate']} ({g['detail']})" for g in report["gates"] if g["failed"]]
    if failed:
        return (
            f"kent exec: gate failed: {'; '.join(failed)}; exit status "
            f"{EXEC_GATE_FAILED} (COMMAND's was {report['command_status']})"
        )
    if report.get("write_failed"):
        return "kent exec: exit status 1 (COMMAND's was 0; a report file failed)"
    return f"kent exec: exit status {report['status']} (COMMAND's own)"


def _gated(report, name):
    return any(g["gate"] == name for g in report["gates"])


def _junit_leak_cases(report, gated):
    for entry in report["leaks"]["events"]:
        where = f"{entry['type']} {entry['sdk_event_id'] or entry['event_id']}"
        for f in entry["findings"]:
            yield (
                f"kent.leaks.project{entry['project_id']}",
                f"{f['kind']} at {f['pointer']} ({where})",
                f"{f['kind']} leaked at {f['pointer']}: {f['excerpt']}",
                f"{where} (project {entry['project_id']}): {entry['summary']}",
                gated,
            )


def _junit_cases(report):
    """``(classname, name, failure message or None, details, gated)`` rows."""
    yield from _junit_leak_cases(report, _gated(report, "--fail-on-leak"))
    refused_gate = _gated(report, "--fail-on-refused")
    for r in report["refused"]:
        name = (
            f"{r['status']} {r['endpoint']} ({', '.join(r['items'])}) {r['event_id']}"
        )
        message = f"Kent answered {r['status']}: {r['reason']}"
        yield "kent.refused", name, message, r["summary"], refused_gate
    warning_gate = _gated(report, "--fail-on-warning")
    for w in report["warnings"]:
        message = f"{w['count']} x {w['message']}"
        yield "kent.warnings", w["code"], message, "", warning_gate
    for g in report["gates"]:
        failure = f"{g['gate']} failed: {g['detail']}" if g["failed"] else None
        yield "kent.gates", g["gate"], failure, g["detail"], True


def render_junit(report):
    """JUnit XML: a test case per leak finding, refusal, warning code and gate.

    Findings and refusals fail only under their gate; otherwise they show as
    skipped, so CI lists them without failing on them.
    """
    from xml.etree import ElementTree

    suite = ElementTree.Element("testsuite", name="kent exec")
    counts = collections.Counter()
    for classname, name, message, details, gated in _junit_cases(report):
        case = ElementTree.SubElement(
            suite, "testcase", classname=printable(classname), name=printable(name)
        )
        counts["tests"] += 1
        if message is not None:
            counts["failures" if gated else "skipped"] += 1
            tag = "failure" if gated else "skipped"
            outcome = ElementTree.SubElement(case, tag, message=printable(message))
            outcome.text = printable(details)
    if not counts["tests"]:  # an empty suite reads as "no tests ran"
        ElementTree.SubElement(
            suite, "testcase", classname="kent", name="no leak, refusal or warning"
        )
        counts["tests"] = 1
    for key in ("tests", "failures", "skipped"):
        suite.set(key, str(counts[key]))
    suite.set("errors", "0")
    root = ElementTree.Element("testsuites")
    root.append(suite)
    ElementTree.indent(root)
    return ElementTree.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def _workflow_text(text, property=False):
    """Escape for a GitHub Actions workflow command (``::error ...::text``)."""
    text = printable(text).replace("%", "%25")
    return text.replace(":", "%3A").replace(",", "%2C") if property else text


def github_annotations(report):
    """``::error`` lines for GitHub Actions: each finding and failed gate."""
    lines = []
    for entry in report["leaks"]["events"]:
        where = f"{entry['type']} {entry['sdk_event_id'] or entry['event_id']}"
        for f in entry["findings"]:
            title = _workflow_text(f"Kent: {f['kind']} reached Sentry", property=True)
            message = (
                f"{f['kind']} at {f['pointer']} ({f['excerpt']}) in {where} "
                f"(project {entry['project_id']}): {entry['summary']}"
            )
            lines.append(f"::error title={title}::{_workflow_text(message)}")
    for gate in report["gates"]:
        if gate["failed"]:
            title = _workflow_text(f"Kent: {gate['gate']} failed", property=True)
            lines.append(f"::error title={title}::{_workflow_text(gate['detail'])}")
    return lines


def _exec_environment(dsn, spotlight=None):
    """COMMAND's environment: Kent's DSN, and Kent's ``/stream`` as
    SENTRY_SPOTLIGHT when asked (--spotlight), else no Spotlight at all
    (an inherited one would send every item a second time elsewhere)."""
    env = dict(os.environ)
    env["SENTRY_DSN"] = dsn
    env.pop("SENTRY_SPOTLIGHT", None)
    if spotlight:
        env["SENTRY_SPOTLIGHT"] = spotlight
    return env


def _terminal_sent_it():
    """True when Kent is in the terminal's foreground group: then a Ctrl-C
    reached COMMAND directly (it shares the group) and must not be doubled."""
    try:
        return os.tcgetpgrp(sys.stdin.fileno()) == os.getpgrp()
    except (AttributeError, OSError, ValueError):
        return False


def _exit_status(returncode):
    return 128 - returncode if returncode < 0 else returncode  # as a shell


class _SignalForwarder:
    """The SIGINT and SIGTERM handler while COMMAND runs: pass the first on
    (a terminal's Ctrl-C already reached COMMAND), kill on the second."""

    def __init__(self):
        self.child = None
        self.signals = []

    def __call__(self, signum, frame):
        self.signals.append(signum)
        if self.child is None:  # not started yet: run_command sends it
            return
        if len(self.signals) > 1:
            print("kent exec: killing COMMAND", file=sys.stderr, flush=True)
            self.child.kill()  # the second Ctrl-C: stop waiting for it
            return
        print(
            f"kent exec: {signal.Signals(signum).name}: waiting for COMMAND to "
            "stop (again to kill it)",
            file=sys.stderr,
            flush=True,
        )
        if signum != signal.SIGINT or not _terminal_sent_it():
            with contextlib.suppress(OSError):
                self.child.send_signal(signum)


def run_command(command, env):
    """Run COMMAND sharing stdin, stdout and stderr; ``(status, signals)``.

    SIGINT and SIGTERM go on to COMMAND (a terminal's Ctrl-C reaches it
    directly); a second one kills it. ``OSError`` if it cannot start.
    """
    import subprocess

    forward = _SignalForwarder()
    wanted = [signal.SIGINT, signal.SIGTERM]
    previous = {s: signal.signal(s, forward) for s in wanted}
    try:
        forward.child = subprocess.Popen(command, env=env)
        if forward.signals:  # arrived while it started
            forward.child.send_signal(forward.signals[0])
        return _exit_status(forward.child.wait()), forward.signals
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _settle(store, seconds, limit=EXEC_SETTLE_LIMIT):
    """Wait until nothing arrived for ``seconds`` (at most ``limit`` in all)."""
    deadline = time.monotonic() + limit
    while (left := deadline - time.monotonic()) > 0:
        _, arrived = store.wait_for(1, min(seconds, left), None, store.last_seq)
        if not arrived:
            return


def _connectable(url):
    """A URL a client can use for a server bound to every address."""
    return url.replace("//0.0.0.0:", "//127.0.0.1:").replace("//[::]:", "//[::1]:")


def _start_command(server, command, dsn):
    print(
        f"kent exec: Kent {__version__} on {_connectable(server.url)}/, "
        f"SENTRY_DSN={dsn}",
        file=sys.stderr,
        flush=True,
    )
    try:
        spotlight = None
        if server.listens_for_spotlight:
            spotlight = _connectable(server.spotlight_url)
        return run_command(command, _exec_environment(dsn, spotlight))
    except FileNotFoundError as exc:
        print(f"kent exec: no such command: {command[0]!r} ({exc})", file=sys.stderr)
        return EXEC_NOT_FOUND, None
    except OSError as exc:
        print(f"kent exec: cannot run {command[0]!r}: {exc}", file=sys.stderr)
        return EXEC_NOT_EXECUTABLE, None


def _write_outputs(report, options):
    print(render_exec_report(report), file=sys.stderr, flush=True)
    if os.environ.get("GITHUB_ACTIONS") == "true":
        for line in github_annotations(report):
            print(line, flush=True)  # GitHub reads workflow commands on stdout
    try:
        if options.report:
            with open(options.report, "w", encoding="utf-8") as file:
                file.write(json_text(report, indent=2) + "\n")
        if options.junit:
            with open(options.junit, "wb") as file:
                file.write(render_junit(report))
    except OSError as exc:  # a full disk must not hide the verdict
        print(f"kent exec: cannot write a report: {exc}", file=sys.stderr)
        if not report["status"]:
            report["status"], report["write_failed"] = 1, True
    print(exec_verdict(report), file=sys.stderr, flush=True)


def run_exec(server, command, options):
    """Run COMMAND against ``server`` (started; stopped here), settle, report
    and gate; returns ``kent exec``'s exit status."""
    tally = ExecTally(server.kent).start()
    try:
        dsn = _connectable(server.dsn(1))
        status, signals = _start_command(server, command, dsn)
        if signals is None:  # COMMAND did not start: nothing to report
            return status
        if len(signals) < 2:  # a second Ctrl-C wants out now
            _settle(server.store, options.settle)
    finally:
        tally.stop()
        server.stop()
    report = exec_report(tally, server.kent, command, status, signals)
    check_gates(report, options)
    _write_outputs(report, options)
    return report["status"]


# -- tail and the MCP stdio bridge: talking to a running Kent


def read_sse(lines):
    """Server-Sent Events from byte lines: ``(id, event, data)`` per event,
    and ``(None, "kent-run", id)`` for the comment that names Kent's run."""
    fields = {}
    for raw in lines:
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if not line:
            if "data" in fields:
                yield fields.get("id"), fields.get("event", "message"), fields["data"]
            fields = {}
            continue
        if line.startswith(":"):
            if line.startswith(": kent "):
                yield None, "kent-run", line[7:]
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data" and "data" in fields:  # a multi-line data field
            value = fields["data"] + "\n" + value
        fields[name] = value


def _open_stream(base, query, last_id, timeout):
    """GET ``/api/stream/`` of the Kent at ``base``: the response to read."""
    parts = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
    headers = {"Accept": "text/event-stream"}
    if last_id:
        headers["Last-Event-ID"] = last_id
    conn.request(
        "GET", f"{parts.path.rstrip('/')}/api/stream/?{query}", headers=headers
    )
    response = conn.getresponse()
    if response.status != 200:
        text = response.read().decode("utf-8", "replace")[:300]
        conn.close()
        raise SystemExit(f"kent tail: {base} answered {response.status}: {text}")
    return conn, response


def _tail_line(entry, base, colour):
    line = render_entry_line(entry, base, colour)
    leaks = entry.get("leaks")
    return f"{line} {_paint(f'LEAK {leaks}', 'red', colour)}" if leaks else line


def tail(base, query="", as_json=False, colour=False, out=None, timeout=60.0):
    """Print each item a Kent stores, one line each, until interrupted;
    reconnect with ``Last-Event-ID`` when Kent goes away and comes back."""
    out = out or sys.stdout
    last_id, run, lost = None, None, False
    while True:
        try:
            resume = f"{query}&run={run}" if run else query
            conn, response = _open_stream(base, resume, last_id, timeout)
        except (OSError, http.client.HTTPException) as exc:
            if not lost:
                print(
                    f"kent tail: no Kent at {base} ({exc}); retrying", file=sys.stderr
                )
            lost = True
            time.sleep(1.0)
            continue
        if lost:
            print(f"kent tail: connected to {base}", file=sys.stderr, flush=True)
        lost = False
        try:
            for event_id, name, data in read_sse(iter(response.fp.readline, b"")):
                if name == "kent-run":
                    run = data
                    continue
                last_id = event_id or last_id
                entry = json.loads(data) if not as_json else None
                print(data if as_json else _tail_line(entry, base, colour), file=out)
                out.flush()
        except (OSError, http.client.HTTPException, ValueError):
            pass  # Kent went away mid-stream: reconnect
        finally:
            conn.close()
        print(f"kent tail: lost {base}; reconnecting", file=sys.stderr, flush=True)
        lost = True


def _forward_mcp(base, line, timeout=MCP_MAX_WAIT + 30):
    """POST one stdio line to a Kent's /mcp: (status, the answer's bytes)."""
    parts = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
    try:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        conn.request("POST", f"{parts.path.rstrip('/')}/mcp", line, headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def serve_mcp_stdio(answer, stdin=None, stdout=None):
    """MCP's stdio transport: a JSON-RPC message per line in, answers out.

    ``answer(line)`` gives the answer as bytes (empty for none)."""
    stdin = stdin or sys.stdin.buffer
    stdout = stdout or sys.stdout.buffer
    for line in iter(stdin.readline, b""):
        if not line.strip():
            continue
        data = answer(line)
        if data:
            stdout.write(data.strip().replace(b"\n", b" ") + b"\n")
            stdout.flush()


def _local_mcp_answer(kent, base_url):
    def answer(line):
        value = mcp_answers(kent, line, base_url)
        return b"" if value is None else to_json_bytes(value)

    return answer


def _remote_mcp_answer(base):
    def answer(line):
        try:
            status, data = _forward_mcp(base, line)
            if status < 400 or b'"jsonrpc"' in data:
                return data
            text = data[:300].decode("utf-8", "replace")
            problem = f"Kent at {base} answered {status}: {text}"
        except (OSError, http.client.HTTPException) as exc:
            problem = f"cannot reach Kent at {base}: {exc}"
        # the client waits for an answer with its request's id
        try:
            ident = json_loads(line, max_values=None).get("id")
        except (ValueError, AttributeError):
            ident = None
        error = JsonRpcError(-32603, problem)
        return to_json_bytes(_rpc_error(ident, error)) if ident is not None else b""

    return answer


# ---------------------------------------------------------------------------
# 12. CLI
# ---------------------------------------------------------------------------


def _size(text):
    """``10M``, ``512k``, ``1G`` or a plain number of bytes."""
    match = re.fullmatch(r"\s*(\d+)\s*([kKmMgG]?)[iI]?[bB]?\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (try 10M)")
    factor = {"": 1, "k": 1024, "m": MIB, "g": 1024 * MIB}[match.group(2).lower()]
    return int(match.group(1)) * factor


def _port(text):
    """A TCP port number, 0 (any free one) to 65535."""
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"not a port (0-65535): {text!r}")
    return port


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"not a whole number of 1 or more: {text!r}")
    return value


def _seconds(text):
    """Seconds: a finite number, 0 or more (no nan, no inf)."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < 10**9:  # False for nan and inf
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}")
    return value


def _add_run_parser(commands):
    run = commands.add_parser(
        "run",
        add_help=False,  # -h means --host, as in Kent 2.x
        help="run the server",
        description="Run Kent. Point an SDK at the DSN it prints.",
    )
    _add_server_arguments(run)
    return run


def _add_server_arguments(run):
    """The options of ``run``: ``exec`` takes them all too."""
    run.add_argument("--help", action="help", help="show this help and exit")
    run.add_argument(
        "-h",
        "--host",
        default=DEFAULT_HOST,
        help="address to bind (default %(default)s)",
    )
    run.add_argument(
        "-p",
        "--port",
        type=_port,
        default=DEFAULT_PORT,
        help="port (default %(default)s; 0 picks a free one)",
    )
    run.add_argument(
        "--spotlight",
        action="store_const",
        const=SPOTLIGHT_PORT,
        dest="spotlight_port",
        help=f"also listen on port {SPOTLIGHT_PORT}, where SDKs send with "
        "SENTRY_SPOTLIGHT=1 (POST /stream, no DSN needed)",
    )
    run.add_argument(
        "--spotlight-port",
        type=_port,
        metavar="PORT",
        help="the same on another port (0 picks a free one)",
    )
    run.add_argument(
        "--max-events",
        type=_positive_int,
        default=DEFAULT_MAX_EVENTS,
        metavar="N",
        help="items to keep, oldest go first (default %(default)s)",
    )
    run.add_argument(
        "--max-bytes",
        type=_size,
        default=DEFAULT_MAX_BYTES,
        metavar="SIZE",
        help="memory budget of the kept items, e.g. 256M (default 256M); the "
        "oldest go first, the newest request stays even when it alone is over",
    )
    run.add_argument(
        "--max-body",
        type=_size,
        default=DEFAULT_MAX_BODY,
        metavar="SIZE",
        help="largest request body, compressed or decoded (default 100M)",
    )
    run.add_argument(
        "--max-connections",
        type=_positive_int,
        default=DEFAULT_MAX_CONNECTIONS,
        metavar="N",
        help="open connections before answering 503 (default %(default)s)",
    )
    run.add_argument(
        "--request-timeout",
        type=_seconds,
        default=DEFAULT_REQUEST_TIMEOUT,
        metavar="SECONDS",
        help="close connections that take longer to send a request or to "
        "read an answer, idle keep-alive ones included (default %(default)s)",
    )
    run.add_argument(
        "--strict",
        action="store_true",
        help="answer like Relay: reject what Relay rejects instead of warning",
    )
    run.add_argument(
        "--require-key",
        metavar="KEY[,KEY]",
        help="accept only these public keys; others get 403 as from Relay",
    )
    run.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="RULE",
        help="answer like a failing Sentry, e.g. 'status=429&retry_after=60&"
        "rate_limits=60:error:organization&category=error&count=1' (repeatable; "
        "keys: status retry_after rate_limits delay action=drop project endpoint "
        "category count duration)",
    )
    run.add_argument(
        "--canary",
        action="append",
        default=[],
        metavar="VALUE",
        help="report any occurrence of VALUE in what SDKs send as a leak "
        "(repeatable; add more at run time with POST /api/canaries/)",
    )
    run.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="let a web page on ORIGIN (exactly, e.g. http://localhost:3000) read "
        "and control Kent through its API (repeatable; by default only Kent's "
        "own pages may, and ingestion is open to every origin)",
    )
    run.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="answer the pages and API for this Host name too (repeatable; on a "
        "loopback bind only localhost, loopback addresses and the --host name "
        "are, against DNS rebinding; with a non-loopback --host this turns the "
        "Host check on)",
    )
    run.add_argument(
        "--print-payloads",
        action="store_true",
        help="print each item's body, pretty and truncated, under its line",
    )
    run.add_argument(
        "--verbose",
        action="store_true",
        help="log request headers and full payloads (also KENT_DEV=1)",
    )


def _add_wait_parser(commands):
    wait = commands.add_parser(
        "wait",
        help="wait for a running Kent to be ready, or for events to arrive",
        description="Exit 0 once COUNT matching events have arrived (or, with "
        "--ready, once Kent answers); exit 1 with a message on timeout.",
    )
    wait.add_argument(
        "--url",
        default=f"http://{DEFAULT_HOST}:{DEFAULT_PORT}",
        help="Kent's URL (default %(default)s)",
    )
    wait.add_argument(
        "--ready", action="store_true", help="only wait until Kent answers"
    )
    wait.add_argument(
        "--count", type=int, default=1, help="how many events (default %(default)s)"
    )
    wait.add_argument(
        "--timeout", type=_seconds, default=10.0, help="seconds (default %(default)s)"
    )
    wait.add_argument(
        "--type", help="item type(s), comma-separated, e.g. event,transaction"
    )
    wait.add_argument("--project", help="project id(s), comma-separated")
    wait.add_argument(
        "--since", type=int, default=0, help="only events after this sequence number"
    )
    wait.add_argument("-q", "--query", help="text that must appear in the payload")
    wait.add_argument(
        "--field",
        action="append",
        default=[],
        metavar="PATH=VALUE",
        help="body field must equal value, e.g. exception.values.0.type=ValueError",
    )
    return wait


def _add_target_arguments(parser):
    target = parser.add_mutually_exclusive_group()
    target.add_argument(
        "--url",
        help=f"Kent's URL (default http://{DEFAULT_HOST}:{DEFAULT_PORT})",
    )
    target.add_argument(
        "--dsn",
        help="send to this DSN instead (Kent or a real Sentry): its key, "
        "host and project are used",
    )
    parser.add_argument(
        "--project",
        type=int,
        help="project id (default: the DSN's; for replay, a saved event JSON's; "
        "else 1)",
    )
    parser.add_argument(
        "--timeout", type=_seconds, default=10.0, help="seconds (default %(default)s)"
    )


def _add_send_parser(commands):
    send = commands.add_parser(
        "send",
        help="send a realistic sample of what SDKs send (standard library only)",
        description="POST a sample KIND the way SDKs frame it and print the "
        "answer; exit 0 on a 2xx answer, 1 otherwise. Kinds: "
        + ", ".join(SAMPLE_KINDS),
    )
    send.add_argument("kind", nargs="?", metavar="KIND", help="what to send")
    send.add_argument("--list", action="store_true", help="list the kinds and exit")
    _add_target_arguments(send)


def _add_replay_parser(commands):
    replay = commands.add_parser(
        "replay",
        help="re-send saved envelopes, raw bodies or Kent's event JSON",
        description="Re-send each FILE: an envelope (e.g. GET /api/event/<id>/"
        "envelope), a JSON event (sent to /store/), a Reporting API list, "
        "the JSON of GET /api/event/<id>, or a minidump (as a Crashpad "
        "upload); any of them may be gzip'd. A tunnel envelope's dsn header "
        "is set to the target. Exit 1 if any is not answered 2xx.",
    )
    replay.add_argument("files", nargs="+", metavar="FILE")
    _add_target_arguments(replay)


def _expectation(text):
    """``TYPE=N`` of ``--expect``: ``(type, n)``."""
    item_type, sep, count = text.partition("=")
    if not (sep and item_type.strip() and count.strip().isdigit()):
        raise argparse.ArgumentTypeError(
            f"not TYPE=N: {text!r} (e.g. event=1, transaction=2)"
        )
    return item_type.strip(), int(count)


def _add_exec_parser(commands):
    run = commands.add_parser(
        "exec",
        add_help=False,  # -h means --host, as in run
        help="run COMMAND against a fresh Kent; fail the build on leaks",
        description="Start Kent on a free loopback port, run COMMAND with "
        "SENTRY_DSN set to it (project 1; SENTRY_SPOTLIGHT unset, or set to "
        "Kent's /stream with --spotlight or --spotlight-port), wait for "
        "the last sends, print a report and exit with COMMAND's status, or "
        f"{EXEC_GATE_FAILED} when a gate (--fail-on-..., --expect) fails. "
        "Every option of 'run' applies.",
        usage="%(prog)s [OPTIONS] -- COMMAND [ARG ...]",
    )
    _add_server_arguments(run)
    run.set_defaults(port=0)
    run.add_argument(
        "--settle",
        type=_seconds,
        default=1.0,
        metavar="SECONDS",
        help="after COMMAND exits, wait until nothing arrived for this long "
        f"(default %(default)s; at most {EXEC_SETTLE_LIMIT:g} s in all)",
    )
    run.add_argument("--report", metavar="FILE.json", help="write the report as JSON")
    run.add_argument(
        "--junit",
        metavar="FILE.xml",
        help="write JUnit XML: a test case per leak finding, refusal, warning "
        "code and gate",
    )
    gates = run.add_argument_group(f"gates (a failure exits {EXEC_GATE_FAILED})")
    gates.add_argument(
        "--fail-on-leak", action="store_true", help="fail on any leak finding"
    )
    gates.add_argument(
        "--fail-on-warning", action="store_true", help="fail on any protocol warning"
    )
    gates.add_argument(
        "--fail-on-refused",
        action="store_true",
        help="fail when Kent refused a request (fault rules aside)",
    )
    gates.add_argument(
        "--expect",
        action="append",
        default=[],
        type=_expectation,
        metavar="TYPE=N",
        help="fail unless at least N items of TYPE were accepted (repeatable)",
    )
    run.add_argument("argv", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)


def _add_tail_parser(commands):
    tail = commands.add_parser(
        "tail",
        help="print what a running Kent receives, as it arrives",
        description="Follow a running Kent's event stream and print one line "
        "per stored item (as 'run' does), or its JSON list entry with --json. "
        "Reconnects after Kent restarts; Ctrl-C exits.",
    )
    tail.add_argument(
        "--url",
        default=f"http://{DEFAULT_HOST}:{DEFAULT_PORT}",
        help="Kent's URL (default %(default)s)",
    )
    tail.add_argument("--project", help="project id(s), comma-separated")
    tail.add_argument("--type", help="item type(s), comma-separated")
    tail.add_argument(
        "--since",
        type=int,
        default=0,
        help="start after this sequence number (default: every item kept)",
    )
    tail.add_argument(
        "--json", action="store_true", help="print JSON lines (the list entries)"
    )


def _add_mcp_parser(commands):
    mcp = commands.add_parser(
        "mcp",
        help="an MCP server on stdin/stdout for coding assistants",
        description="Speak the Model Context Protocol over stdio. With --url, "
        "forward to that running Kent; otherwise use the Kent on --port if "
        "one answers, else run one in this process on --port.",
    )
    mcp.add_argument("--url", help="a running Kent's URL")
    mcp.add_argument(
        "-p",
        "--port",
        type=_port,
        default=DEFAULT_PORT,
        help="port of the Kent to use or start (default %(default)s)",
    )
    mcp.add_argument(
        "--spotlight",
        action="store_true",
        help=f"the Kent started here also listens on {SPOTLIGHT_PORT}",
    )


def build_parser():
    parser = argparse.ArgumentParser(
        prog="kent-server",
        description="Kent: a fake Sentry server for debugging and tests. "
        "'run' serves; 'wait' waits for events; 'send' and 'replay' post "
        "samples and saved requests to Kent or any Sentry; 'tail' prints what "
        "a running Kent receives; 'mcp' serves coding assistants on stdio.",
    )
    parser.add_argument("--version", action="version", version=f"Kent {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_run_parser(commands)
    _add_wait_parser(commands)
    _add_send_parser(commands)
    _add_replay_parser(commands)
    _add_exec_parser(commands)
    _add_tail_parser(commands)
    _add_mcp_parser(commands)
    return parser


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _server_from_args(args, console=True):
    """The ``KentServer`` that ``run``'s options describe (not started)."""
    try:
        canaries = _canary_values(args.canary)
    except KentError as exc:
        raise SystemExit(f"kent: bad --canary: {exc.message}") from None
    keys = [k.strip() for k in (args.require_key or "").split(",") if k.strip()]
    if args.strict and keys and not any(len(k) == 32 for k in keys):
        raise SystemExit(
            "kent: --strict refuses keys that are not 32 characters, as Relay "
            "does: give --require-key a 32-character key"
        )
    try:
        AccessPolicy(args.allow_origin, args.allow_host)
    except ValueError as exc:
        raise SystemExit(f"kent: bad --allow-origin: {exc}") from None
    server = KentServer(
        args.host,
        args.port,
        max_events=args.max_events,
        max_bytes=args.max_bytes,
        max_connections=args.max_connections,
        max_body=args.max_body,
        request_timeout=args.request_timeout,
        strict=args.strict,
        colour=sys.stderr.isatty() and "NO_COLOR" not in os.environ,
        print_payloads=args.print_payloads,
        require_keys=keys or None,
        verbose=args.verbose,
        canaries=canaries,
        console=console,
        allow_origins=args.allow_origin,
        allow_hosts=args.allow_host,
        spotlight_port=args.spotlight_port,
    )
    try:
        for spec in args.fault:
            server.add_fault(spec)
    except KentError as exc:
        raise SystemExit(f"kent: bad --fault: {exc.message}") from None
    return server


def _run(args):
    args.verbose = args.verbose or os.environ.get("KENT_DEV") == "1"
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="[%(asctime)s] %(levelname)s: %(message)s",
    )
    server = _server_from_args(args)
    try:
        server.start()
    except OSError as exc:
        raise SystemExit(
            f"kent: cannot listen on {args.host}:{args.port}"
            + (
                f" and Spotlight's port {args.spotlight_port}"
                if args.spotlight_port is not None
                else ""
            )
            + f": {exc}"
        ) from None
    shown = server.url.replace("0.0.0.0", "127.0.0.1")
    signal.signal(signal.SIGTERM, _interrupt)  # docker stop: exit as on Ctrl-C
    try:  # Ctrl-C right after the banner must still exit 0
        print(f"Kent {__version__} listening on {shown}/", flush=True)
        print(
            f"DSN: {server.dsn(1).replace('0.0.0.0', '127.0.0.1')}   (any project id)",
            flush=True,
        )
        if args.spotlight_port is not None:
            spotlight = server.spotlight_url.replace("0.0.0.0", "127.0.0.1")
            setting = (
                "1" if spotlight.endswith(f":{SPOTLIGHT_PORT}/stream") else spotlight
            )
            print(f"Spotlight: {spotlight}   (SENTRY_SPOTLIGHT={setting})", flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("Kent stopped.", flush=True)
    finally:
        server.stop()
    return 0


def _http_get_json(url, timeout):
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def _wait_ready(base, timeout):
    deadline = time.monotonic() + timeout
    while True:
        try:
            return _http_get_json(base + "/api/status/", 2)[1]
        except (OSError, ValueError) as exc:
            if time.monotonic() >= deadline:
                raise SystemExit(
                    f"kent wait: no Kent answered at {base} within {timeout} s ({exc})"
                ) from None
            time.sleep(0.1)


def _wait(args):
    base = args.url.rstrip("/")
    _wait_ready(base, args.timeout)
    if args.ready:
        print(f"Kent is ready at {base}")
        return 0
    params = {"count": args.count, "timeout": args.timeout, "since": args.since}
    params.update(
        {
            k: v
            for k, v in (
                ("type", args.type),
                ("project", args.project),
                ("q", args.query),
            )
            if v
        }
    )
    for field in args.field:
        path, sep, value = field.partition("=")
        if not sep:
            raise SystemExit(f"kent wait: --field wants PATH=VALUE, not {field!r}")
        params[path] = value
    url = f"{base}/api/wait/?{urllib.parse.urlencode(params)}"
    status, value = _http_get_json(url, args.timeout + 10)
    for event in value.get("events", []):
        line = (
            f"{event['seq']} {event['project_id']} {event['type']}: "
            f"{event.get('title') or event['summary']}"
        )
        print(console_text(line))
    if status == 200:
        return 0
    print(console_text(f"kent wait: {value.get('error')}"), file=sys.stderr)
    return 1


def _send_target(args):
    """``(base URL, project id, public key)`` from ``--dsn`` or ``--url``."""
    if not args.dsn:
        base = (args.url or f"http://{DEFAULT_HOST}:{DEFAULT_PORT}").rstrip("/")
        return base, args.project or 1, _kent_dsn_key(base)
    parts = urllib.parse.urlsplit(args.dsn)
    key, project = parse_dsn(args.dsn) or ("", "")
    if not (parts.scheme and parts.hostname and key and project):
        raise SystemExit(f"kent: not a DSN: {args.dsn!r} (https://KEY@HOST/PROJECT)")
    host = parts.netloc.rpartition("@")[2]
    prefix = parts.path.rstrip("/").rpartition("/")[0]  # Sentry behind a path
    return f"{parts.scheme}://{host}{prefix}", args.project or int(project), key


def _kent_dsn_key(base):
    """The key of the DSN Kent at ``base`` shows (``--require-key``,
    ``--strict``), or ``public`` when it cannot say."""
    try:
        dsn = _http_get_json(base + "/api/status/", 5)[1].get("dsn") or ""
    except (OSError, ValueError, AttributeError, http.client.HTTPException):
        return DEFAULT_PROJECT_KEY
    return (parse_dsn(dsn) or (DEFAULT_PROJECT_KEY,))[0] or DEFAULT_PROJECT_KEY


def _target_dsn(target):
    base, project, key = target
    return build_dsn(base, project, key)


def _post(target, endpoint, content_type, body, timeout):
    """POST like an SDK: ``(status, answer text)``; status 0 when unreachable."""
    import urllib.error
    import urllib.request

    base, project, key = target
    path, _, query = endpoint.partition("?")
    url = f"{base}/api/{project}/{path}/"
    params = urllib.parse.parse_qsl(query)
    client = f"kent/{__version__}"
    headers = {"Content-Type": content_type, "User-Agent": client}
    if endpoint in ("security", "minidump"):  # browsers and Crashpad: in the URL
        params += [("sentry_key", key), ("sentry_version", "7")]
    else:
        headers["X-Sentry-Auth"] = (
            f"Sentry sentry_version=7, sentry_key={key}, sentry_client={client}"
        )
    url += "?" + urllib.parse.urlencode(params) if params else ""
    request = urllib.request.Request(url, body, headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, answer.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")
    except (OSError, http.client.HTTPException) as exc:
        return 0, f"cannot reach {url}: {exc}"


def _report(name, status, text):
    """Print one answer; True when it was a 2xx."""
    ok = is_accepted(status)
    answer = console_text(text.strip()[:500])  # the target's words, not a terminal's
    print(f"{name}: {status or 'no answer'} {answer}", flush=True)
    return ok


def _send(args):
    if args.list or not args.kind:
        for kind in SAMPLE_KINDS:
            endpoint = sample_envelope(kind, "0" * 32, 0)[0]
            print(f"{kind:14} POST /api/<project>/{endpoint}/")
        return 0 if args.list else 2
    if sample_kind(args.kind) not in SAMPLE_KINDS:
        raise SystemExit(
            f"kent send: unknown kind {args.kind!r}; choose from "
            + ", ".join(SAMPLE_KINDS)
        )
    endpoint, content_type, body = sample_envelope(
        args.kind, uuid.uuid4().hex, time.time()
    )
    status, text = _post(_send_target(args), endpoint, content_type, body, args.timeout)
    return 0 if _report(args.kind, status, text) else 1


def _replay_one(path, target, timeout, keep_project=False):
    try:
        with open(path, "rb") as file:
            data = file.read()
        endpoint, content_type, body = parse_replay_file(data)
    except (OSError, ValueError, KeyError, TypeError, KentError) as exc:
        print(f"{path}: cannot replay: {exc}", file=sys.stderr)
        return False
    project = replay_project(data) if keep_project else None
    if project is not None:  # Kent's event JSON knows where it came to
        target = (target[0], project, target[2])
    if endpoint == "envelope":
        body = with_envelope_dsn(body, _target_dsn(target))
    return _report(path, *_post(target, endpoint, content_type, body, timeout))


def _replay(args):
    target = _send_target(args)
    keep = args.project is None and not args.dsn
    results = [_replay_one(path, target, args.timeout, keep) for path in args.files]
    return 0 if all(results) else 1


def _check_writable(path, option):
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
        raise SystemExit(f"kent exec: cannot write {option} {path}: no such folder")


def _exec(args):
    command = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    if not command:
        raise SystemExit("kent exec: give a COMMAND: kent exec [OPTIONS] -- COMMAND")
    for path, option in ((args.report, "--report"), (args.junit, "--junit")):
        if path:
            _check_writable(path, option)
    args.verbose = args.verbose or os.environ.get("KENT_DEV") == "1"
    # COMMAND's output is what the terminal is for: Kent prints item lines
    # only when asked to (--print-payloads, --verbose), else its errors.
    console = args.verbose or args.print_payloads
    logging.basicConfig(
        level=logging.DEBUG
        if args.verbose
        else [logging.WARNING, logging.INFO][console],
        format="[%(asctime)s] %(levelname)s: %(message)s",
    )
    server = _server_from_args(args, console=console)
    try:
        server.start()
    except OSError as exc:
        raise SystemExit(
            f"kent exec: cannot listen on {args.host}:{args.port}: {exc}"
        ) from None
    try:
        return run_exec(server, command, args)
    except KeyboardInterrupt:  # once COMMAND is gone, Ctrl-C skips the report
        print("kent exec: interrupted", file=sys.stderr)
        return 128 + signal.SIGINT


def _tail(args):
    try:
        parts = urllib.parse.urlsplit(args.url)
        parts.port  # noqa: B018  (raises on a bad port)
    except ValueError as exc:
        raise SystemExit(f"kent tail: bad --url {args.url!r}: {exc}") from None
    if parts.scheme != "http" or not parts.hostname:
        raise SystemExit(f"kent tail: --url wants http://HOST:PORT, not {args.url!r}")
    params = {"project": args.project, "type": args.type, "since": args.since}
    query = urllib.parse.urlencode({k: v for k, v in params.items() if v})
    colour = sys.stdout.isatty() and "NO_COLOR" not in os.environ
    signal.signal(signal.SIGTERM, _interrupt)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how tail ends
        tail(args.url.rstrip("/"), query, args.json, colour)
    return 0


def _mcp(args):
    base = (args.url or f"http://{DEFAULT_HOST}:{args.port}").rstrip("/")
    if args.url or (args.port and _kent_answers(base)):
        with contextlib.suppress(KeyboardInterrupt):
            serve_mcp_stdio(_remote_mcp_answer(base))
        return 0
    spotlight = SPOTLIGHT_PORT if args.spotlight else None
    try:
        server = KentServer(DEFAULT_HOST, args.port, spotlight_port=spotlight).start()
    except OSError as exc:
        raise SystemExit(
            f"kent mcp: cannot listen on port {args.port}: {exc}"
        ) from None
    print(
        f"kent mcp: Kent runs at {server.url}/ (DSN {server.dsn(1)})", file=sys.stderr
    )
    try:
        with contextlib.suppress(KeyboardInterrupt):
            serve_mcp_stdio(_local_mcp_answer(server.kent, server.url))
    finally:
        server.stop()
    return 0


def _kent_answers(base):
    try:
        return _http_get_json(base + "/api/status/", 2)[0] == 200
    except (OSError, ValueError, http.client.HTTPException):
        return False


def main(argv=None):
    """The ``kent-server`` command; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    # -h is --host, as in Kent 2.x, but alone it can only mean help (after
    # exec, a last -h is COMMAND's)
    if argv[:1] == ["run"] and argv[-1:] == ["-h"] or argv == ["exec", "-h"]:
        argv[-1] = "--help"
    parser = build_parser()
    args = parser.parse_args(argv)
    commands = {
        "run": _run,
        "wait": _wait,
        "send": _send,
        "replay": _replay,
        "exec": _exec,
        "tail": _tail,
        "mcp": _mcp,
    }
    if args.command in commands:
        return commands[args.command](args)
    parser.print_help()
    return 2


# ---------------------------------------------------------------------------
# 13. Assets
# ---------------------------------------------------------------------------


# -- HTML pages: string.Template constants, every payload value through _e().
# The CSP forbids style="" attributes and inline handlers, so sizes come from
# classes or SVG attributes, and the one script carries the page's nonce.

PAGE_STYLE = """
:root{color-scheme:light dark;--fg:#1d1d1f;--bg:#fff;--bg2:#f6f6f8;--mut:#6b6b72;
--line:#e3e3e8;--acc:#5b34b8;--bad:#b3261e;--badbg:#fdecea;--warn:#8a5300;
--warnbg:#fff2db;--ok:#1e7a34;--okbg:#e6f4ea;--code:#f4f4f7;--hl:#fff1b8;--bar:#7c5cd6;
--info:#1f5fa8;--infobg:#e6f0fb}
@media (prefers-color-scheme:dark){:root{--fg:#e6e6ea;--bg:#151518;--bg2:#1d1d22;
--mut:#9d9da6;--line:#303038;--acc:#b59cff;--bad:#ff8a80;--badbg:#3a1d1b;--warn:#ffc66d;
--warnbg:#3a2c12;--ok:#7ddc93;--okbg:#173222;--code:#202026;--hl:#4a3f12;--bar:#9d84f0;
--info:#8cbcff;--infobg:#172a40}}
*{box-sizing:border-box}
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--fg);
background:var(--bg);margin:0}
header.top{display:flex;align-items:center;gap:16px;padding:10px 16px;
border-bottom:1px solid var(--line);background:var(--bg2)}
header.top .brand{font-weight:700;font-size:1.15em;color:var(--fg);text-decoration:none}
header.top nav{display:flex;gap:14px;flex-wrap:wrap;font-size:.92em}
main{max-width:1200px;margin:0 auto;padding:12px 16px 24px}
footer{max-width:1200px;margin:0 auto;padding:8px 16px 24px;color:var(--mut);font-size:.85em}
a{color:var(--acc)}h1{font-size:1.35em;margin:.3em 0 .2em;overflow-wrap:anywhere}
h2{font-size:1.1em;margin:1.4em 0 .5em;padding-bottom:3px;border-bottom:1px solid var(--line)}
h3{font-size:1em;margin:1em 0 .4em;overflow-wrap:anywhere}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid var(--line);vertical-align:top;
overflow-wrap:anywhere}
th{color:var(--mut);font-weight:600;font-size:.88em;overflow-wrap:normal}
td.type,td.level,td.time{overflow-wrap:normal}
code,pre,.mono{font:12.5px/1.45 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
code{background:var(--code);padding:0 3px;border-radius:3px;overflow-wrap:anywhere}
pre{background:var(--code);padding:8px 10px;border-radius:6px;overflow:auto;
white-space:pre-wrap;overflow-wrap:anywhere;margin:.4em 0}
.n{font-variant-numeric:tabular-nums}.mut{color:var(--mut)}.small{font-size:.85em}.num{text-align:right;white-space:nowrap}
.nowrap{white-space:nowrap}
.badge{display:inline-block;padding:0 7px;border-radius:10px;font-size:12px;
line-height:19px;border:1px solid var(--line);vertical-align:1px}
.badge.bad{color:var(--bad);background:var(--badbg);border-color:transparent}
.badge.warn{color:var(--warn);background:var(--warnbg);border-color:transparent}
.badge.ok{color:var(--ok);background:var(--okbg);border-color:transparent}
.badge.app{color:var(--acc);border-color:var(--acc)}
.badge.info{color:var(--info);background:var(--infobg);border-color:transparent}
.headline{margin:.2em 0 .6em;color:var(--fg)}.leak-line{margin:.5em 0}
details.more{display:inline}details.more[open]{display:block}
.box{border:1px solid var(--line);border-radius:8px;padding:10px 12px;margin:.6em 0}
.box.bad{border-color:var(--bad);background:var(--badbg)}
.box.warn{border-color:var(--warn);background:var(--warnbg)}
.box ul{margin:.2em 0;padding-left:1.2em}
button,select,input{font:inherit;font-size:.92em}
button{cursor:pointer;padding:3px 10px;border:1px solid var(--line);border-radius:6px;
background:var(--bg2);color:var(--fg)}
button.danger{color:var(--bad)}
select{padding:3px 6px;border:1px solid var(--line);border-radius:6px;background:var(--bg);
color:var(--fg);max-width:100%}
form.inline{display:inline}
.bar-row{display:flex;flex-wrap:wrap;gap:8px 16px;align-items:center;margin:.6em 0}
.bar-row label{max-width:100%}
.dsns td{vertical-align:middle}.dsns code{user-select:all}
.events td.time{white-space:nowrap;font-variant-numeric:tabular-nums}
.events td.sum{overflow-wrap:anywhere}.events tr.rejected td{background:var(--badbg)}
.events .err{display:block;color:var(--bad);font-size:.88em}
.live{font-size:.85em;color:var(--mut)}.live.on{color:var(--ok)}
.meta{display:grid;grid-template-columns:repeat(auto-fill,minmax(230px,1fr));gap:6px 18px;
margin:.6em 0}
.meta div{min-width:0}.meta dt{color:var(--mut);font-size:.8em}
.meta dd{margin:0;overflow-wrap:anywhere}
.kv th{width:28%;min-width:110px;color:var(--mut);font-weight:500;overflow-wrap:anywhere}
.kv td{white-space:pre-wrap;overflow-wrap:anywhere}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:10px}
.cards .box{margin:0}.cards h3{margin:0 0 .3em}
.exc{margin:.8em 0 1.2em}.exc h3{font-size:1.05em}.exc .val{font-weight:400}
.chain{color:var(--mut);font-size:.9em;margin:1em 0 .2em}
.frame{border:1px solid var(--line);border-radius:6px;margin:4px 0}
.frame>summary,.frame>.head{padding:5px 10px;cursor:pointer;overflow-wrap:anywhere}
.frame>.head{cursor:default}.frame.app{border-left:3px solid var(--acc)}
.frame .fn{font-weight:600}.frame .inner{padding:0 10px 8px}
.ctx{padding:6px 0;margin:4px 0}.ctx>span{display:block;padding:0 10px}
.ctx .ln{display:inline-block;min-width:3.5em;color:var(--mut);padding:0;user-select:none}
.ctx .cur{background:var(--hl)}
pre.snippet{white-space:pre;overflow-x:auto;overflow-wrap:normal}
.ctx .caret{color:var(--bad);font-weight:700}
.wf td{padding:3px 8px}.wf .name{overflow-wrap:anywhere}.wf .barcell{width:45%}
.wf svg{display:block;width:100%;height:14px}.wf rect{fill:var(--bar)}
.wf rect.track{fill:var(--code)}
.d1{padding-left:20px!important}.d2{padding-left:32px!important}
.d3{padding-left:44px!important}.d4{padding-left:56px!important}
.d5{padding-left:68px!important}.d6{padding-left:80px!important}
.d7{padding-left:92px!important}.d8{padding-left:104px!important}
.preview img{max-width:100%;max-height:480px;border:1px solid var(--line)}
details>summary{cursor:pointer}details.sec>summary{font-weight:600;margin:1em 0 .4em}
.scroll{overflow-x:auto}
.leak{color:var(--bad);background:var(--badbg);outline:1px solid var(--bad);
border-radius:2px;overflow-wrap:anywhere}
.leak-kind{margin-left:4px}
pre.curl{user-select:all}
input[type=search],input[type=text]{padding:3px 6px;border:1px solid var(--line);
border-radius:6px;background:var(--bg);color:var(--fg);max-width:100%}
.diff td.ptr{overflow-wrap:anywhere;width:30%}
@media (max-width:700px){
main{padding:8px 10px 20px}header.top{padding:8px 10px}
.wide{display:none}th,td{padding:4px 5px}
.stack thead{display:none}
.stack tr{display:flex;flex-wrap:wrap;gap:2px 10px;padding:7px 2px;
border-bottom:1px solid var(--line)}
.stack td{border:0;padding:0}.events td.sum,.crumbs td.msg{flex-basis:100%;order:-1}
.crumbs td.data,.records td:last-child{flex-basis:100%}
.kv th{width:35%;min-width:0}.wf .barcell{width:35%}
.meta{grid-template-columns:repeat(auto-fill,minmax(150px,1fr))}
.dsns button{padding:2px 6px}
.diff td[data-label]::before{content:attr(data-label) ": ";color:var(--mut)}
}
"""
PAGE_TEMPLATE = string.Template(
    """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>$title</title><style nonce="$nonce">$style</style></head>
<body><header class="top"><a class="brand" href="/">Kent</a>
<nav><a href="/">Events</a><a href="/api/eventlist/">API: event list</a>
<a href="/api/status/">API: status</a></nav></header>
<main>$content</main>
<footer>Kent $version, a fake Sentry server</footer>$script
</body></html>
"""
)
INDEX_TEMPLATE = string.Template(
    """<h1>Kent</h1>
<p class="mut">Point a Sentry SDK at a DSN below; every item it sends shows up here.
Any project id works.</p>
<div class="scroll"><table class="dsns"><thead><tr><th>Project</th><th>DSN</th>
<th class="wide">Stored</th><th></th></tr></thead><tbody>$dsn_rows</tbody></table></div>
<div class="bar-row"><span><strong id="kent-kept">$kept</strong> kept,
<strong id="kent-dropped">$dropped</strong> dropped by the limits ($max_events items,
$max_bytes),
<span id="kent-received">$received</span> received</span>
<span id="kent-live" class="live">live updates need JavaScript</span>
<form class="inline" method="post" action="/flush">
<button class="danger" type="submit">Flush all events</button></form></div>
<form class="bar-row" method="get" action="/" id="kent-filter">
<label>Project <select name="project">$project_options</select></label>
<label>Type <select name="type">$type_options</select></label>
<button type="submit">Filter</button>$clear</form>
<form class="bar-row" method="get" action="/search" id="kent-search">
<label>Search every payload <input type="search" name="q"></label>
<button type="submit">Search</button></form>$faults
<div class="scroll"><table class="events stack"><thead><tr><th>Time (UTC)</th>
<th class="wide">Project</th><th>Type</th><th>Level</th><th class="wide">SDK</th>
<th>Summary</th></tr></thead><tbody id="kent-rows" data-cursor="$cursor" data-generation="$generation">$rows</tbody></table></div>
"""
)
EVENT_TEMPLATE = string.Template(
    """<p class="small"><a href="/">&larr; All events</a></p>
<h1>$summary</h1>
<p class="headline">$headline</p>$leak_line$problems$body
<h2>Details</h2>
<dl class="meta">$meta</dl>$leaks$siblings
<h2>Envelope</h2>
<div class="cards"><div class="box"><h3>Envelope header</h3><pre>$envelope_header</pre></div>
<div class="box"><h3>Item header</h3><pre>$item_header</pre></div></div>
$transport
<details class="sec"$raw_open><summary>Raw payload ($encoding, $size bytes)</summary>
<pre>$raw</pre></details>
<h2>Download and reproduce</h2>
<p><a href="/api/event/$id">JSON of this item (/api/event/$id)</a> &middot;
<a href="/api/event/$id/raw" download="$download">Download the raw bytes</a>$envelope</p>
$curl
<form class="bar-row" method="get" action="/diff/" id="kent-diff">
<input type="hidden" name="a" value="$id">
<label>Compare with <select name="b">$diff_options</select></label>
<button type="submit">Diff</button></form>
"""
)


# The live index: long-poll /api/wait/ and add rows with DOM calls only
# (textContent, never innerHTML), so a payload can never become markup.
INDEX_SCRIPT = string.Template(
    """
<script nonce="$nonce">
(function () {
  "use strict";
  var rows = document.getElementById("kent-rows");
  var live = document.getElementById("kent-live");
  var cursor = Number(rows.getAttribute("data-cursor")) || 0;
  var generation = Number(rows.getAttribute("data-generation")) || 0;
  var LEVELS = $levels;
  var dsns = document.querySelector(".dsns tbody");
  var query = new URLSearchParams(location.search);
  var filter = "";
  ["project", "type"].forEach(function (name) {
    if (query.get(name)) filter += "&" + name + "=" + encodeURIComponent(query.get(name));
  });
  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  function link(ev, text) {
    var a = el("a", null, text);
    a.href = "/event/" + encodeURIComponent(ev.event_id);
    return a;
  }
  function cell(tr, cls, child) {
    var td = el("td", cls);
    if (child) td.appendChild(child);
    tr.appendChild(td);
    return td;
  }
  function makeRow(ev) {
    var tr = el("tr", ev.status >= 300 ? "rejected" : null);
    tr.setAttribute("data-seq", ev.seq);
    var time = cell(tr, "time", link(ev, String(ev.received).slice(11, 23)));
    var json = el("a", "small mut", "JSON");
    json.href = "/api/event/" + encodeURIComponent(ev.event_id);
    time.appendChild(document.createTextNode(" "));
    time.appendChild(json);
    cell(tr, "wide", document.createTextNode(ev.project_id));
    var type = cell(tr, "type", document.createTextNode(ev.type));
    if (ev.status >= 300) {
      type.appendChild(document.createTextNode(" "));
      type.appendChild(el("span", "badge bad", ev.status));
    }
    var level = cell(tr, "level");
    if (ev.level) {
      level.appendChild(el("span", "badge level " + (LEVELS[ev.level.toLowerCase()] || ""),
        ev.level));
    }
    var sdk = ev.sdk ? [ev.sdk.name, ev.sdk.version].filter(Boolean).join(" ") : "";
    cell(tr, "wide small mut", document.createTextNode(sdk));
    var sum = cell(tr, "sum", link(ev, ev.title));
    var warnings = ev.warnings || [];
    if (warnings.length) {
      sum.appendChild(document.createTextNode(" "));
      var badge = el("span", "badge warn",
        warnings.length + (warnings.length === 1 ? " warning" : " warnings"));
      badge.title = warnings.join(", ");
      sum.appendChild(badge);
    }
    if (ev.leaks) {
      sum.appendChild(document.createTextNode(" "));
      sum.appendChild(el("span", "badge bad leak-count",
        ev.leaks + (ev.leaks === 1 ? " leak" : " leaks")));
    }
    if (ev.fault !== null && ev.fault !== undefined) {
      sum.appendChild(document.createTextNode(" "));
      sum.appendChild(el("span", "badge bad", "fault rule " + ev.fault));
    }
    if (ev.error && ev.error !== ev.title) sum.appendChild(el("span", "err", ev.error));
    return tr;
  }
  function addRows(events) {
    var empty = document.getElementById("kent-empty");
    events.forEach(function (ev) {
      if (ev.seq <= cursor) return;
      cursor = ev.seq;
      if (empty) { empty.remove(); empty = null; }
      rows.insertBefore(makeRow(ev), rows.firstChild);
      countProject(ev.project_id, 1, lastDsn);
    });
  }
  function countProject(project, add, dsn) {
    // A DSN row per project, as the page has after a reload.
    var tr = dsns.querySelector('tr[data-project="' + Number(project) + '"]');
    if (!tr && add && dsn) {
      tr = el("tr");
      tr.setAttribute("data-project", project);
      cell(tr, null, document.createTextNode(project));
      cell(tr, null, el("code", null, dsn.slice(0, dsn.lastIndexOf("/") + 1) + Number(project)));
      cell(tr, "wide count", document.createTextNode("0"));
      cell(tr);
      dsns.appendChild(tr);
    }
    var count = tr && tr.querySelector(".count");
    if (count) count.textContent = add === null ? "0" : Number(count.textContent) + add;
  }
  function dropFlushed() {
    // After a flush: keep only the rows the store still has.
    fetch("/api/eventlist/?" + filter.slice(1), {cache: "no-store"})
      .then(function (r) { return r.json(); })
      .then(function (value) {
        var kept = {};
        (value.events || []).forEach(function (ev) { kept[ev.seq] = true; });
        rows.querySelectorAll("tr[data-seq]").forEach(function (tr) {
          if (!kept[tr.getAttribute("data-seq")]) tr.remove();
        });
        if (!rows.querySelector("tr[data-seq]")) {
          var empty = el("tr");
          empty.id = "kent-empty";
          cell(empty, null, document.createTextNode("No events yet.")).colSpan = 6;
          rows.appendChild(empty);
        }
      }).catch(function () {});
  }
  function setText(id, value) {
    var node = document.getElementById(id);
    if (node && value !== undefined) node.textContent = String(value);
  }
  function refreshStats() {
    fetch("/api/status/", {cache: "no-store"}).then(function (r) { return r.json(); })
      .then(function (s) {
        setText("kent-kept", s.kept);
        setText("kent-dropped", s.dropped);
        setText("kent-received", s.received);
        lastDsn = s.dsn;
        if (s.generation !== undefined && s.generation !== generation) {
          generation = s.generation;
          dsns.querySelectorAll(".count").forEach(function (c) { c.textContent = "0"; });
          dropFlushed();
        }
      }).catch(function () {});
  }
  function setLive(on) {
    live.textContent = on ? "\\u25cf live" : "\\u25cb reconnecting\\u2026";
    live.className = on ? "live on" : "live";
  }
  function poll() {
    // With a filter, a 408 keeps the cursor: non-matching items are simply
    // skipped again, and nothing that arrived meanwhile is missed.
    fetch("/api/wait/?timeout=25&since=" + cursor + filter, {cache: "no-store"})
      .then(function (r) {
        if (r.status !== 200 && r.status !== 408) throw new Error(r.status);
        return r.json();
      })
      .then(function (value) {
        setLive(true);
        if (value.events && value.events.length) { addRows(value.events); refreshStats(); }
        setTimeout(poll, 0);
      })
      .catch(function () { setLive(false); setTimeout(poll, 3000); });
  }
  document.querySelectorAll("#kent-filter select").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });
  document.querySelectorAll(".dsns code").forEach(function (code) {
    if (!navigator.clipboard) return;
    var button = el("button", null, "Copy");
    button.type = "button";
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(code.textContent).then(function () {
        button.textContent = "Copied";
      });
    });
    code.parentNode.appendChild(document.createTextNode(" "));
    code.parentNode.appendChild(button);
  });
  var lastDsn = null;
  setLive(true);
  refreshStats();
  setInterval(refreshStats, 3000);  // counters and flushes stay current
  poll();
})();
</script>"""
)


# Last, so that a run as a script finds the Assets defined.
if __name__ == "__main__":
    sys.exit(main())
