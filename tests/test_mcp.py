"""Kent's MCP server, driven by the official MCP Python SDK as the client,
over Streamable HTTP (POST /mcp) and stdio (kent.py mcp), against items a
real sentry-python sent."""

import asyncio
import json
import subprocess
import sys

import pytest
from helpers import (
    APPS,
    KENT_PY,
    http_request,
    require_module,
)

import kent

TOOLS = {
    "list_events",
    "get_event",
    "search",
    "list_leaks",
    "get_trace",
    "wait_for_events",
    "flush",
}


def send_with_sdk(server):
    """An exception inside a transaction, with a user email (a leak)."""
    script = APPS / "spotlight_app.py"
    result = subprocess.run(
        [sys.executable, "-W", "error", str(script), "--dsn", server.dsn(4)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


async def drive_every_tool(session, server):
    """Call each tool as an assistant would; check text and structure."""
    await session.initialize()
    listed = await session.list_tools()
    assert {tool.name for tool in listed.tools} == TOOLS
    await session.send_ping()

    waiting = asyncio.ensure_future(
        session.call_tool(
            "wait_for_events", {"count": 1, "type": "event", "timeout": 30}
        )
    )
    await asyncio.sleep(0)  # the wait is sent before the SDK runs
    out = await asyncio.to_thread(send_with_sdk, server)
    waited = await waiting
    assert not waited.is_error, waited.content
    assert waited.structured_content["complete"] is True
    [entry] = waited.structured_content["events"]
    assert entry["sdk_event_id"] == out["event_id"]

    listed = await session.call_tool("list_events", {"project": "4", "type": "event"})
    assert "ValueError: bad value 21" in listed.content[0].text
    assert listed.structured_content["count"] == 1

    got = await session.call_tool("get_event", {"id": out["event_id"]})
    report = got.structured_content
    assert report["exceptions"][0]["type"] == "ValueError"
    frames = report["exceptions"][0]["frames"]
    assert frames[-1]["function"] == "_compute"
    assert "_compute (" in got.content[0].text
    assert report["trace_id"] == out["trace_id"]

    found = await session.call_tool("search", {"q": "spot@example.com"})
    assert found.structured_content["count"] >= 1
    assert "/user/email" in found.content[0].text

    leaks = await session.call_tool("list_leaks", {})
    assert leaks.structured_content["kinds"].get("email", 0) >= 1
    assert "spot@example.com" not in leaks.content[0].text  # masked

    trace = await session.call_tool("get_trace", {"trace_id": out["trace_id"]})
    [transaction] = trace.structured_content["transactions"]
    assert transaction["name"] == "spotlight-checkout"
    assert transaction["seconds"] >= 0  # sentry-python sends RFC 3339 times
    assert "transaction spotlight-checkout op=task" in trace.content[0].text
    assert [e["sdk_event_id"] for e in trace.structured_content["errors"]] == [
        out["event_id"]
    ]

    missing = await session.call_tool("get_event", {"id": "nope"})
    assert missing.is_error and "no stored item" in missing.content[0].text

    flushed = await session.call_tool("flush", {"project": 99})
    assert flushed.structured_content["flushed"] == 0
    flushed = await session.call_tool("flush", {})
    assert flushed.structured_content["flushed"] >= 1
    assert server.events() == []


def test_every_tool_over_streamable_http(kent_server):
    require_module("mcp", "pip install -r tests/requirements.txt")
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    async def main():
        async with (
            streamable_http_client(f"{kent_server.url}/mcp") as (read, write, *_),
            ClientSession(read, write) as session,
        ):
            await drive_every_tool(session, kent_server)

    asyncio.run(main())


def test_every_tool_over_stdio_forwarding_to_kent(kent_server):
    require_module("mcp", "pip install -r tests/requirements.txt")
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    params = StdioServerParameters(
        command=sys.executable, args=[KENT_PY, "mcp", "--url", kent_server.url]
    )

    async def main():
        async with (
            stdio_client(params) as (read, write),
            ClientSession(read, write) as session,
        ):
            await drive_every_tool(session, kent_server)

    asyncio.run(main())


def test_stdio_runs_its_own_kent_without_a_url():
    require_module("mcp", "pip install -r tests/requirements.txt")
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    params = StdioServerParameters(
        command=sys.executable, args=[KENT_PY, "mcp", "--port", "0"]
    )

    async def main():
        async with (
            stdio_client(params) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            listed = await session.call_tool("list_events", {})
            assert listed.structured_content == {"events": [], "count": 0}

    asyncio.run(main())


# -- the JSON-RPC surface without the SDK ------------------------------------------


def rpc(server, body, headers=None):
    sent = {
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
    }
    sent.update(headers or {})
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    status, _, answer = http_request(server.url, "POST", "/mcp", data, sent)
    return status, json.loads(answer) if answer else None


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{not json", 400, -32700),
        ({"jsonrpc": "2.0", "id": 1, "method": "resources/list"}, 200, -32601),
        ({"jsonrpc": "1.0", "id": 1, "method": "ping"}, 200, -32600),
        (
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "tools/call",
                "params": {"name": "rm"},
            },
            200,
            -32602,
        ),
        (
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "tools/call",
                "params": {"name": "get_event", "arguments": {}},
            },
            200,
            -32602,
        ),
    ],
)
def test_json_rpc_errors(kent_server, body, status, code):
    answer_status, answer = rpc(kent_server, body)
    assert answer_status == status
    assert answer["jsonrpc"] == "2.0" and answer["error"]["code"] == code


def test_notifications_get_202_and_no_body(kent_server):
    body = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    assert rpc(kent_server, body) == (202, None)


def test_foreign_origin_is_refused(kent_server):
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    status, answer = rpc(kent_server, ping, {"Origin": "http://evil.example"})
    assert status == 403 and "origin" in answer["error"]
    own = kent_server.url  # Host is 127.0.0.1:<port>, as http.client sends it
    assert rpc(kent_server, ping, {"Origin": own}) == (
        200,
        {"jsonrpc": "2.0", "id": 1, "result": {}},
    )
    status, _ = rpc(kent_server, ping, {"Sec-Fetch-Site": "cross-site"})
    assert status == 403


def test_get_mcp_is_405(kent_server):
    status, _, _ = http_request(kent_server.url, "GET", "/mcp")
    assert status == 405


# Arguments of the wrong type, or numbers no JSON client holds: a JSON-RPC
# error that names the argument (they were 500s with a traceback).
BAD_ARGUMENTS = [
    ("list_events", {"q": {"a": 1}}),
    ("list_events", {"type": [1]}),
    ("list_events", {"since": "Infinity"}),
    ("list_events", {"limit": 1.5}),
    ("list_events", {"limit": True}),
    ("flush", {"project": 10**400}),
    ("wait_for_events", {"count": 1e300}),
    ("wait_for_events", {"timeout": 10**400}),
    ("get_event", {"id": {"x": 1}}),
]


@pytest.mark.parametrize(("tool", "arguments"), BAD_ARGUMENTS)
def test_arguments_of_the_wrong_type_are_json_rpc_errors(kent_server, tool, arguments):
    params = {"name": tool, "arguments": arguments}
    body = {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": params}
    status, answer = rpc(kent_server, body)
    assert (status, answer["id"], answer["error"]["code"]) == (200, 7, -32602)
    assert next(iter(arguments)) in answer["error"]["message"]


def test_a_project_or_text_given_as_a_number_is_taken():
    with kent.KentServer() as server:
        arguments = {"project": 1, "limit": 3, "q": 5}
        params = {"name": "list_events", "arguments": arguments}
        body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params}
        status, answer = rpc(server, body)
        assert status == 200 and "isError" not in answer["result"], answer
