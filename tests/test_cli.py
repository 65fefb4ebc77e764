"""The command line: ``run`` as a real process, ``wait``, argument parsing."""

import contextlib
import json
import logging
import os
import re
import signal
import subprocess
import sys
import sysconfig

import pytest
from helpers import (
    AUTH_HEADER,
    CANARY,
    CLEAN_KEY,
    EMAIL,
    EVENT_ID,
    KENT_PY,
    ROOT,
    envelope,
    event_item,
    free_port,
    get_json,
    http_request,
    post_envelope,
    read_lines,
    require_tool,
    running_kent,
    stop_process,
)

import kent


def check_serves_and_stops(command, tmp_path, cwd=None):
    with running_kent(command, tmp_path, cwd) as (url, lines, proc):
        assert lines[0].startswith(f"Kent {kent.__version__} listening on {url}/")
        assert lines[1].startswith(f"DSN: {url.replace('://', '://public@')}/1")
        status, _, value = post_envelope(url, envelope(event_item({"message": "cli"})))
        assert (status, value) == (200, {"id": EVENT_ID, "success": True})
        status, listing = get_json(url, "/api/eventlist/")
        assert [e["summary"] for e in listing["events"]] == ["cli"]
        proc.send_signal(signal.SIGINT)
        code = proc.wait(10)
        assert code == 0, (tmp_path / "stderr.txt").read_text()[-2000:]
        assert b"Kent stopped." in proc.stdout.read()
    assert "cli" in (tmp_path / "stderr.txt").read_text()  # the INFO log line


def test_run_script_with_port_0_prints_the_real_port(tmp_path):
    check_serves_and_stops([sys.executable, KENT_PY, "run", "-p", "0"], tmp_path)


def test_python_dash_m_kent_run(tmp_path):
    command = [sys.executable, "-m", "kent", "run", "--port", "0"]
    check_serves_and_stops(command, tmp_path, cwd=ROOT)


def test_console_script(tmp_path):
    # Where pip puts it for this Python; PATH may not have it (pyenv shims).
    script = os.path.join(sysconfig.get_path("scripts"), "kent-server")
    script = require_tool(script, "pip install -e . installs it")
    check_serves_and_stops([script, "run", "-p", "0"], tmp_path)


def test_short_h_is_host(tmp_path):
    command = [sys.executable, KENT_PY, "run", "-h", "127.0.0.1", "-p", "0"]
    with running_kent(command, tmp_path) as (url, _, _):
        assert re.fullmatch(r"http://127\.0\.0\.1:[1-9]\d*", url), url


def test_run_options_reach_the_server(tmp_path):
    command = [sys.executable, KENT_PY, "run", "-p", "0", "--max-body", "1k"]
    command += ["--require-key", f"{CLEAN_KEY},other", "--strict", "--max-events", "2"]
    with running_kent(command, tmp_path) as (url, lines, _):
        # the DSN it prints carries a key it accepts
        assert lines[1].split()[1] == url.replace("://", f"://{CLEAN_KEY}@") + "/1"
        _, _, page = http_request(url, "GET", "/")
        assert url.replace("://", f"://{CLEAN_KEY}@").encode() in page
        big = envelope(event_item({"message": "x" * 2000}))
        assert post_envelope(url, big)[0] == 413
        other = {"X-Sentry-Auth": "Sentry sentry_key=" + "f" * 32}
        assert post_envelope(url, envelope(event_item()), headers=other)[0] == 403
        crlf = b'{}\r\n{"type":"event","length":2}\n{}\n'
        assert post_envelope(url, crlf)[0] == 400
        _, listing = get_json(url, "/api/eventlist/")
        assert [e["status"] for e in listing["events"]] == [403, 400]
        assert listing["max_events"] == 2 and listing["dropped"] == 1


# -- what run prints for each stored item -------------------------------------------


def console_log(tmp_path, bodies, *options, env=None, headers=None):
    """Run Kent, store one event per body, stop it: its stderr (the log)."""
    command = [sys.executable, KENT_PY, "run", "-p", "0", *options]
    with running_kent(command, tmp_path, env=env) as (url, _, proc):
        for n, body in enumerate(bodies):
            data = envelope(event_item(body), header={"event_id": f"{n:032x}"})
            status, _, value = post_envelope(url, data, headers=headers)
            assert (status, value) == (200, {"id": f"{n:032x}", "success": True})
        proc.send_signal(signal.SIGINT)  # stopping prints what is queued
        assert proc.wait(10) == 0
    return (tmp_path / "stderr.txt").read_text()


def pretty(body):
    """A body as the console indents it: two spaces before each line."""
    text = json.dumps(body, indent=2, ensure_ascii=False)
    return "\n".join("  " + line for line in text.splitlines())


BIG_BODY = {
    "message": "a big one",
    "level": "error",
    "extra": {f"key{n:03}": "x" * 60 for n in range(150)},
}


@pytest.mark.parametrize(
    ("options", "env"),
    [(["--verbose"], None), ([], {"KENT_DEV": "1"})],
    ids=["--verbose", "KENT_DEV=1"],
)
def test_verbose_logs_request_headers_and_the_whole_payload(tmp_path, options, env):
    sent = {"X-Kent-Test": "verbose-header"}
    log = console_log(tmp_path, [BIG_BODY], *options, env=env, headers=sent)
    lines = log.splitlines()
    [index] = [i for i, line in enumerate(lines) if " a big one " in line]
    [headers] = lines[index + 1 : index + 2] or ["(no line after the item's)"]
    assert headers.startswith("  headers: "), log[-3000:]
    logged = json.loads(headers.removeprefix("  headers: "))
    assert logged["X-Kent-Test"] == "verbose-header"
    assert logged["X-Sentry-Auth"] == AUTH_HEADER
    # The whole payload (over 10,000 characters), not cut as --print-payloads is.
    whole = json.dumps(BIG_BODY, indent=2)
    assert len(whole) > 10_000
    assert f"\n  payload: {whole}\n" in log
    assert "characters in all" not in log


def test_without_verbose_no_headers_or_payload_are_logged(tmp_path):
    log = console_log(tmp_path, [BIG_BODY])
    assert " a big one " in log
    assert "  headers: " not in log and "  payload: " not in log
    assert "key000" not in log


def test_print_payloads_prints_the_pretty_payload_under_the_line(tmp_path):
    small = {"message": "a small one", "level": "info", "tags": {"k": "v"}}
    log = console_log(tmp_path, [small, BIG_BODY], "--print-payloads")
    lines = log.splitlines()
    [first] = [i for i, line in enumerate(lines) if " a small one " in line]
    assert "\n".join(lines[first + 1 : first + 8]) == pretty(small)
    [second] = [i for i, line in enumerate(lines) if " a big one " in line]
    assert lines[second + 1 : second + 4] == [
        "  {",
        '    "message": "a big one",',
        '    "level": "error",',
    ]
    # Cut at 60 lines, then where the whole is: the page.
    whole = json.dumps(BIG_BODY, indent=2)
    end = f"  ... ({len(whole)} characters in all; see the page)"
    assert lines[second + 61] == end
    assert lines[second + 60] == pretty(BIG_BODY).splitlines()[59]
    assert "key055" in log and "key056" not in log  # 4 lines before key000
    assert log.count("characters in all") == 1  # the small one is whole
    assert "  headers: " not in log and "  payload: " not in log


ANSI = re.compile(r"\x1b\[[0-9;]*m")


def test_console_line_and_leak_flag_are_coloured_only_with_colour(kent_server):
    kent_server.add_canary("s3cret-canary-value")
    body = {
        "message": "colour me",
        "user": {"email": "alice@example.com"},
        "extra": {"note": "s3cret-canary-value"},
    }
    post_envelope(kent_server.url, envelope(event_item(body)))
    [event] = kent_server.events()
    findings = kent_server.kent.findings(event)
    url = kent_server.url
    line = kent.render_console_line(event, url, colour=True)
    for painted in (
        f"\x1b[2m#{event.seq}\x1b[0m",  # dim
        "\x1b[36mevent\x1b[0m",  # cyan
        "\x1b[32m200\x1b[0m",  # green: accepted
        "\x1b[1mcolour me\x1b[0m",  # bold
        f"\x1b[2m{url}/event/{event.id}\x1b[0m",
    ):
        assert painted in line
    plain = kent.render_console_line(event, url, colour=False)
    assert not ANSI.search(plain)
    assert ANSI.sub("", line) == plain
    assert plain.startswith(f"#{event.seq} project=1 event 200 kent-tests 1.0 ")

    flag = kent.render_leak_flag(findings, colour=True)
    text = "LEAK 2: email at /user/email (al***om), canary at /extra/note (s3***ue)"
    assert flag == f"\x1b[31m{text}\x1b[0m"  # red, masked
    assert kent.render_leak_flag(findings, colour=False) == text
    assert "s3cret-canary-value" not in flag and "alice@" not in flag

    # What run prints: its colour setting reaches the line and the flag.
    [coloured] = kent.Kent(colour=True).console_lines(event, url, findings)
    assert coloured == f"{line} {flag}"
    [uncoloured] = kent.Kent(colour=False).console_lines(event, url, findings)
    assert not ANSI.search(uncoloured) and uncoloured.endswith(text)


def test_console_line_flags_leaks_without_ansi_when_piped(tmp_path):
    command = [sys.executable, KENT_PY, "run", "-p", "0", "--canary", CANARY]
    with running_kent(command, tmp_path) as (url, _, proc):
        body = {"message": f"order {CANARY}", "user": {"email": EMAIL}}
        post_envelope(url, envelope(({"type": "event"}, body)))
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0  # stopping prints what is queued first
    stderr = (tmp_path / "stderr.txt").read_text()
    [line] = [line for line in stderr.splitlines() if "order" in line]
    assert (
        "LEAK 2: canary at /message (ke***9a), email at /user/email (al***om)" in line
    )
    assert "\x1b[" not in stderr
    assert CANARY not in line.split("LEAK")[1] and EMAIL not in line


def test_console_printer_scans_only_while_its_backlog_is_short(caplog):
    server = kent.KentServer(console=True)  # not started: nothing is printed yet
    printer = server.kent.printer
    printer.MAX_SCAN_BACKLOG = 2
    body = {"message": "hi", "user": {"email": EMAIL}}
    _, items, _ = kent.parse_envelope(envelope(({"type": "event"}, body)))
    burst = [kent.StoredEvent(1, items[0]) for _ in range(6)]
    trickle = [kent.StoredEvent(1, items[0]) for _ in range(2)]
    with caplog.at_level(logging.INFO, logger="kent"):
        server.kent.store_events(burst, 200, "http://kent")
        assert [e._findings for e in burst] == [None] * 6  # not on ingest
        printer._print_pending()  # a backlog of 6: printed without scanning
        server.kent.store_events(trickle, 200, "http://kent")
        printer._print_pending()  # a backlog of 2: scanned
        printer._print_pending()  # nothing came in: the burst is scanned now
    lines = [
        line
        for record in caplog.records
        for line in record.getMessage().splitlines()
        if "project=1" in line
    ]
    assert ["LEAK 1" in line for line in lines] == [False] * 6 + [True] * 8
    assert [line.endswith("(scanned late)") for line in lines[8:]] == [True] * 6
    late = sorted(line.split()[0] for line in lines[8:])
    assert late == sorted(line.split()[0] for line in lines[:6])  # the same items


def test_console_printer_says_when_items_were_never_scanned(caplog):
    server = kent.KentServer(console=True)
    printer = server.kent.printer = kent.ConsolePrinter(server.kent)
    printer.MAX_SCAN_BACKLOG, printer.MAX_UNSCANNED = 0, 2
    _, items, _ = kent.parse_envelope(envelope(({"type": "event"}, {"message": "x"})))
    with caplog.at_level(logging.INFO, logger="kent"):
        server.kent.store_events(
            [kent.StoredEvent(1, items[0]) for _ in "abcde"], 200, ""
        )
        printer._print_pending()
        printer._print_pending()
    text = caplog.text
    assert "3 items were printed without a leak scan" in text
    assert "GET /api/leaks/" in text and "(scanned late)" not in text


def test_console_gives_every_item_of_a_batch_its_own_time(caplog):
    server = kent.KentServer(console=True)
    _, items, _ = kent.parse_envelope(envelope(({"type": "event"}, {"message": "x"})))
    with caplog.at_level(logging.INFO, logger="kent"):
        server.kent.store_events(
            [kent.StoredEvent(1, items[0]) for _ in "abc"], 200, ""
        )
        server.kent.printer._print_pending()
    records = [r for r in caplog.records if "project=1" in r.getMessage()]
    assert len(records) == 3  # a log record, so a timestamp, each


def test_run_on_a_busy_port_exits_with_a_message(kent_server):
    result = subprocess.run(
        [sys.executable, KENT_PY, "run", "-p", str(kent_server.port)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{kent_server.port}" in result.stderr


def test_help_works_although_h_is_host():
    for args in (["--help"], ["run", "--help"], ["wait", "--help"]):
        result = subprocess.run(
            [sys.executable, KENT_PY, *args], capture_output=True, text=True, timeout=30
        )
        assert result.returncode == 0, result.stderr
        assert "usage:" in result.stdout
    assert "--host" in result.stdout or "--ready" in result.stdout


@pytest.mark.parametrize("flag", ["--help", "-h"])  # -h with no HOST: help
def test_run_help_lists_host_option(capsys, flag):
    with pytest.raises(SystemExit) as info:
        kent.main(["run", flag])
    assert info.value.code == 0
    out = capsys.readouterr().out
    # argparse before 3.13 repeats the metavar: "-h HOST, --host HOST"
    assert re.search(r"-h( HOST)?, --host HOST", out) and "--max-body" in out


def test_strict_with_only_short_required_keys_is_refused_at_start():
    with pytest.raises(SystemExit, match="--strict refuses keys that are not 32"):
        kent.main(["run", "-p", "0", "--strict", "--require-key", "shortkey"])


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        kent.main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"Kent {kent.__version__}"


def test_version_subprocess():
    result = subprocess.run(
        [sys.executable, KENT_PY, "--version"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert (result.returncode, result.stdout.strip()) == (0, f"Kent {kent.__version__}")


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "--port", "x"],
        ["run", "--max-bytes", "lots"],
        ["run", "--nope"],
        ["bogus"],
        ["wait", "--count", "many"],
    ],
)
def test_bad_arguments_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as info:
        kent.main(argv)
    assert info.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_no_command_prints_help_and_returns_2(capsys):
    assert kent.main([]) == 2
    assert "usage:" in capsys.readouterr().out


def test_bad_arguments_exit_2_as_a_process():
    result = subprocess.run(
        [sys.executable, KENT_PY, "run", "--nope"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2 and "--nope" in result.stderr


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("10", 10),
        ("512k", 512 * 1024),
        ("10M", 10 * kent.MIB),
        ("1G", kent.MIB * 1024),
        ("2MiB", 2 * kent.MIB),
    ],
)
def test_size_arguments(text, size):
    args = kent.build_parser().parse_args(
        ["run", "--max-body", text, "--max-bytes", text]
    )
    assert args.max_body == args.max_bytes == size


def test_run_defaults():
    args = kent.build_parser().parse_args(["run"])
    assert (args.host, args.port, args.strict) == ("127.0.0.1", 5000, False)


# -- wait ------------------------------------------------------------------------


def run_wait(*args):
    return subprocess.run(
        [sys.executable, KENT_PY, "wait", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_wait_ready(kent_server):
    result = run_wait("--url", kent_server.url, "--ready", "--timeout", "10")
    assert result.returncode == 0
    assert f"Kent is ready at {kent_server.url}" in result.stdout


def test_wait_ready_without_a_server_fails_with_a_message():
    url = f"http://127.0.0.1:{free_port()}"
    result = run_wait("--url", url, "--ready", "--timeout", "0.5")
    assert result.returncode == 1
    assert f"no Kent answered at {url}" in result.stderr


def test_wait_count_type_success(kent_server):
    post_envelope(kent_server.url, envelope(({"type": "session"}, {"status": "ok"})))
    post_envelope(kent_server.url, envelope(event_item({"message": "waited for"})))
    result = run_wait("--url", kent_server.url, "--count", "1", "--type", "event")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "2 1 event: waited for"


def test_wait_timeout_exits_1_with_a_readable_message(kent_server):
    post_envelope(kent_server.url, envelope(event_item({"message": "only one"})))
    result = run_wait(
        "--url", kent_server.url, "--count", "2", "--type", "event", "--timeout", "0.5"
    )
    assert result.returncode == 1
    assert (
        "kent wait: timed out after 0.5 s: 1 of 2 matching events arrived"
        in result.stderr
    )
    assert "only one" in result.stdout
    assert "#1 project 1 event: only one [matched]" in result.stderr


def test_wait_filters_in_process(kent_server, capsys):
    post_envelope(
        kent_server.url,
        envelope(event_item({"message": "a", "tags": {"k": "1"}})),
        project=1,
    )
    post_envelope(
        kent_server.url,
        envelope(event_item({"message": "b", "tags": {"k": "2"}})),
        project=2,
    )
    base = ["wait", "--url", kent_server.url, "--timeout", "5"]
    assert kent.main([*base, "--project", "2"]) == 0
    assert kent.main([*base, "--field", "tags.k=1", "-q", "A"]) == 0
    assert kent.main([*base, "--since", "1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == ["2 2 event: b", "1 1 event: a", "2 2 event: b"]


def test_wait_bad_field_argument(kent_server):
    with pytest.raises(SystemExit) as info:
        kent.main(["wait", "--url", kent_server.url, "--field", "no-equals"])
    assert "PATH=VALUE" in str(info.value.code)


@pytest.mark.sdk
def test_run_spotlight_port_takes_sentry_spotlight(tmp_path):
    """``run --spotlight-port 0``: a second listener whose /stream takes
    what sentry-python sends with SENTRY_SPOTLIGHT set and no DSN."""
    command = [sys.executable, KENT_PY, "run", "-p", "0", "--spotlight-port", "0"]
    with running_kent(command, tmp_path, banner_lines=3) as (url, lines, _):
        line = lines[2]
        match = re.match(r"Spotlight: (http://127\.0\.0\.1:(\d+)/stream) ", line)
        assert match and match.group(1) != f"{url}/stream", line
        assert f"(SENTRY_SPOTLIGHT={match.group(1)})" in line
        env = {**os.environ, "SENTRY_SPOTLIGHT": match.group(1)}
        env.pop("SENTRY_DSN", None)
        code = "import sentry_sdk; sentry_sdk.init(); sentry_sdk.capture_message('spot'); sentry_sdk.flush()"
        subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=60)
        status, value = get_json(url, "/api/wait/?count=1&timeout=30&q=spot")
        assert status == 200, value
        [entry] = value["events"]
        assert (entry["project_id"], entry["endpoint"]) == (0, "spotlight")


@contextlib.contextmanager
def running_tail(*args):
    proc = subprocess.Popen(
        [sys.executable, KENT_PY, "tail", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        yield proc
    finally:
        stop_process(proc)
        proc.stdout.close()
        proc.stderr.close()


def test_tail_prints_console_lines_and_exits_0_on_ctrl_c(kent_server):
    post_envelope(kent_server.url, envelope(event_item({"message": "kept one"})))
    with running_tail("--url", kent_server.url, "--type", "event") as proc:
        [first] = read_lines(proc.stdout, 1, 30)
        body = {"message": "new one", "event_id": "ab" * 16}
        post_envelope(kent_server.url, envelope(event_item(body)), project=3)
        [second] = read_lines(proc.stdout, 1, 30)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0
    assert first.startswith("#1 project=1 event 200 ") and "kept one" in first
    assert second.startswith("#2 project=3 event 200 ") and "new one" in second
    assert f"{kent_server.url}/event/" in second
    assert "\x1b[" not in first  # no colour into a pipe


def test_tail_json_reconnects_after_kent_restarts(tmp_path):
    first = kent.KentServer().start()
    port = first.port
    try:
        post_envelope(first.url, envelope(event_item({"message": "before"})))
        with running_tail("--url", first.url, "--json") as proc:
            [line] = read_lines(proc.stdout, 1, 30)
            assert json.loads(line)["summary"] == "before"
            first.stop()
            with kent.KentServer(port=port) as second:  # seq starts at 1 again
                post_envelope(second.url, envelope(event_item({"message": "after"})))
                [line] = read_lines(proc.stdout, 1, 60)
                entry = json.loads(line)
                assert (entry["summary"], entry["seq"]) == ("after", 1)
    finally:
        first.stop()
