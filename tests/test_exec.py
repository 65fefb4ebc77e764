"""``kent exec -- COMMAND``: a fresh Kent around real programs, as a CI gate.

The programs are real SDK users (tests/apps/exec_app.py with sentry-python,
tests/js/exec_leak.mjs with @sentry/node) that find Kent through SENTRY_DSN,
as a team's test suite would.
"""

import json
import os
import pty
import re
import selectors
import signal
import socket
import subprocess
import sys
import time
from xml.etree import ElementTree

import pytest
from helpers import (
    APPS,
    JS,
    KENT_PY,
    envelope,
    event_item,
    post_envelope,
    require_node_sdk,
)

import kent

APP = str(APPS / "exec_app.py")
NODE_APP = JS / "exec_leak.mjs"
READY = re.compile(rb"ready (\d+) http://\w+@127\.0\.0\.1:(\d+)/1")


def exec_env(**extra):
    # GitHub Actions sets GITHUB_ACTIONS=true for this test run too; each test
    # says whether it wants annotations.
    return {**os.environ, "GITHUB_ACTIONS": "false", **extra}


def kent_exec(*args, env=None, timeout=180):
    """``python kent.py exec ARGS`` to the end: the CompletedProcess."""
    return subprocess.run(
        [sys.executable, KENT_PY, "exec", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env or exec_env(),
    )


def app(mode, *args):
    return ["--", sys.executable, APP, mode, *args]


def test_a_leak_fails_the_gate_and_names_the_findings(tmp_path):
    junit, report = tmp_path / "kent.xml", tmp_path / "kent.json"
    done = kent_exec(
        "--fail-on-leak", "--junit", str(junit), "--report", str(report), *app("leak")
    )
    assert done.returncode == kent.EXEC_GATE_FAILED, done.stderr
    assert "leak done" in done.stdout  # COMMAND's output passes through
    assert "email at /user/email: ja***om" in done.stderr
    assert re.search(r"secret_key at /exception/\S+/vars/db_password", done.stderr)
    assert "hunter2" not in done.stderr  # excerpts are masked
    assert "gate failed: --fail-on-leak (2 leak findings)" in done.stderr
    assert f"exit status {kent.EXEC_GATE_FAILED} (COMMAND's was 0)" in done.stderr

    suite = ElementTree.parse(junit).getroot().find("testsuite")
    failed = {
        case.get("name"): case.find("failure").get("message")
        for case in suite.iter("testcase")
        if case.find("failure") is not None
    }
    [email] = [name for name in failed if name.startswith("email at /user/email")]
    [password] = [name for name in failed if "/vars/db_password" in name]
    assert failed[email] == "email leaked at /user/email: ja***om"
    assert "--fail-on-leak" in failed
    assert suite.get("failures") == "3" and suite.get("tests") == "3"

    value = json.loads(report.read_text())
    assert value["leaks"]["kinds"] == {"email": 1, "secret_key": 1}
    assert value["items"] == {"1": {"event": 1}}
    assert value["gates"] == [
        {"gate": "--fail-on-leak", "failed": True, "detail": "2 leak findings"}
    ]
    assert (value["command_status"], value["status"]) == (0, kent.EXEC_GATE_FAILED)


def test_scrubbing_before_send_passes_the_gate(tmp_path):
    junit = tmp_path / "kent.xml"
    done = kent_exec("--fail-on-leak", "--junit", str(junit), *app("scrub"))
    assert done.returncode == 0, done.stderr
    assert "Items: 1 received, 1 accepted" in done.stderr
    assert "Leak findings: none" in done.stderr
    assert "Gate --fail-on-leak: passed (0 leak findings)" in done.stderr
    suite = ElementTree.parse(junit).getroot().find("testsuite")
    assert [c.get("name") for c in suite.iter("testcase")] == ["--fail-on-leak"]
    assert suite.get("failures") == "0"


def test_findings_without_the_gate_are_reported_and_skipped_in_junit(tmp_path):
    junit = tmp_path / "kent.xml"
    done = kent_exec("--junit", str(junit), *app("leak"))
    assert done.returncode == 0, done.stderr
    assert "Leak findings: 2 in 1 item" in done.stderr
    suite = ElementTree.parse(junit).getroot().find("testsuite")
    assert (suite.get("skipped"), suite.get("failures")) == ("2", "0")


def test_commands_exit_status_comes_back():
    done = kent_exec("--fail-on-leak", *app("exit3"))
    assert done.returncode == 3, done.stderr
    assert "`" in done.stderr and "exited 3" in done.stderr
    assert "exit status 3 (COMMAND's own)" in done.stderr


def test_expect_fails_when_nothing_reaches_sentry():
    done = kent_exec("--expect", "event=1", *app("nothing"))
    assert done.returncode == kent.EXEC_GATE_FAILED, done.stderr
    assert "Items: 0 received" in done.stderr
    assert (
        "gate failed: --expect event=1 (0 accepted event items, wanted at least 1)"
        in done.stderr
    )


def test_expect_passes_and_every_gate_is_named():
    done = kent_exec(
        "--expect", "event=1", "--expect", "transaction=0", *app("message", "hello")
    )
    assert done.returncode == 0, done.stderr
    assert "Gate --expect event=1: passed" in done.stderr
    assert "Gate --expect transaction=0: passed" in done.stderr


def test_faults_of_run_apply_and_are_reported(tmp_path):
    """``--fault`` as with run: the first event gets a 500, the second goes
    through; a fault's answer is not a refusal by Kent."""
    report = tmp_path / "kent.json"
    done = kent_exec(
        "--fault",
        "status=500&count=1",
        "--expect",
        "event=1",
        "--fail-on-refused",
        "--report",
        str(report),
        *app("faults"),
    )
    assert done.returncode == 0, done.stderr
    assert re.search(r"rule 1 \(answer 500.*\): 1 hit", done.stderr)
    value = json.loads(report.read_text())
    assert value["items"]["1"]["event"] == 2  # and the SDK's client_report
    assert value["accepted"]["event"] == 1
    assert [rule["hits"] for rule in value["faults"]] == [1]
    assert value["refused"] == []


def test_refused_requests_are_named_and_gated(tmp_path):
    """``--max-body`` (a run option) makes Kent refuse the event: 413."""
    junit = tmp_path / "kent.xml"
    done = kent_exec(
        "--max-body", "300", "--fail-on-refused", "--junit", str(junit), *app("leak")
    )
    assert done.returncode == kent.EXEC_GATE_FAILED, done.stderr
    assert re.search(r"Refused requests: 1\n  413 envelope \(project 1, ", done.stderr)
    assert "gate failed: --fail-on-refused (1 refused request)" in done.stderr
    suite = ElementTree.parse(junit).getroot().find("testsuite")
    [refusal] = [
        c for c in suite.iter("testcase") if c.get("classname") == "kent.refused"
    ]
    assert refusal.find("failure").get("message").startswith("Kent answered 413: ")


def test_warnings_are_counted_by_code_and_gated():
    """A 16-character key (``--require-key``, a run option): Relay's warning."""
    done = kent_exec(
        "--require-key", "0123456789abcdef", "--fail-on-warning", *app("message", "hi")
    )
    assert done.returncode == kent.EXEC_GATE_FAILED, done.stderr
    assert re.search(
        r"Protocol warnings: 1\n  public-key x1: public key '0123456789abcdef' ",
        done.stderr,
    )
    assert "gate failed: --fail-on-warning (1 warning)" in done.stderr


def test_canary_and_github_annotations_escape_payload_text(tmp_path):
    """A canary (run's option) in a message with terminal escapes and a NUL:
    the report, the JUnit file and the annotations show them escaped."""
    junit = tmp_path / "kent.xml"
    message = "token s3cret-canary-42 \x1b[2J\x1b]0;pwned\x07 %0A::warning::x"
    done = kent_exec(
        "--canary",
        "s3cret-canary-42",
        "--fail-on-leak",
        "--junit",
        str(junit),
        *app("message", message),
        env=exec_env(GITHUB_ACTIONS="true"),
    )
    assert done.returncode == kent.EXEC_GATE_FAILED, done.stderr
    assert "\x1b" not in done.stderr and "\x07" not in done.stderr
    assert "\\x1b[2J\\x1b]0;pwned\\x07" in done.stderr
    annotations = [line for line in done.stdout.splitlines() if line.startswith("::")]
    assert annotations[0].startswith("::error title=Kent%3A canary reached Sentry::")
    assert "\\x1b[2J" in annotations[0] and "%250A::warning::x" in annotations[0]
    assert annotations[-1] == (
        "::error title=Kent%3A --fail-on-leak failed::1 leak finding"
    )
    suite = ElementTree.parse(junit).getroot().find("testsuite")
    [case] = [c for c in suite.iter("testcase") if c.get("classname") != "kent.gates"]
    assert "\\x1b[2J" in case.find("failure").text


def test_at_sentry_node_leak_fails_the_gate():
    node = require_node_sdk("the @sentry/node exec test needs Node.js")
    done = kent_exec("--fail-on-leak", "--expect", "event=1", "--", node, str(NODE_APP))
    assert done.returncode == kent.EXEC_GATE_FAILED, done.stderr
    assert "node done" in done.stdout
    assert "Error: payment declined" in done.stderr
    assert "email at /user/email: ja***om" in done.stderr
    assert "Gate --expect event=1: passed" in done.stderr


def test_stdin_reaches_command_and_a_missing_command_exits_127():
    script = "import sys; print(sys.stdin.read().upper())"
    done = subprocess.run(
        [sys.executable, KENT_PY, "exec", "--", sys.executable, "-c", script],
        input="piped in",
        capture_output=True,
        text=True,
        timeout=120,
        env=exec_env(),
    )
    assert (done.returncode, done.stdout) == (0, "PIPED IN\n"), done.stderr
    done = kent_exec("--", "no-such-command-kent-test")
    assert done.returncode == kent.EXEC_NOT_FOUND
    assert "no such command: 'no-such-command-kent-test'" in done.stderr


def test_environment_has_the_dsn_and_no_spotlight():
    script = (
        "import os; print(os.environ['SENTRY_DSN'], "
        "os.environ.get('SENTRY_SPOTLIGHT', 'unset'))"
    )
    done = kent_exec(
        "--", sys.executable, "-c", script, env=exec_env(SENTRY_SPOTLIGHT="1")
    )
    assert re.fullmatch(r"http://public@127\.0\.0\.1:\d+/1 unset\n", done.stdout)


def test_spotlight_points_command_at_kents_stream():
    script = "import os; print(os.environ['SENTRY_SPOTLIGHT'])"
    done = kent_exec("--spotlight-port", "0", "--", sys.executable, "-c", script)
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/stream\n", done.stdout), done.stderr
    # sentry-python sends each item to the DSN and to Spotlight: both arrive
    spotlight_app = str(APPS / "spotlight_app.py")
    expect = ("--expect", "event=2")
    done = kent_exec(
        "--spotlight-port", "0", *expect, "--", sys.executable, spotlight_app
    )
    assert done.returncode == 0, done.stderr


def test_bad_arguments_say_what_is_wrong(tmp_path):
    done = kent_exec("--expect", "event")
    assert done.returncode == 2
    assert "not TYPE=N: 'event'" in done.stderr
    done = kent_exec("--fail-on-leak")
    assert "give a COMMAND" in done.stderr
    done = kent_exec("--junit", str(tmp_path / "no" / "k.xml"), "--", "true")
    assert "cannot write --junit" in done.stderr


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--port", "99999"), "not a port (0-65535): '99999'"),
        (("--settle", "inf"), "not a number of seconds: 'inf'"),
        (("--settle", "nan"), "not a number of seconds: 'nan'"),
        (("--settle", "-1"), "not a number of seconds: '-1'"),
        (("--max-events", "-5"), "not a whole number of 1 or more: '-5'"),
        (("--request-timeout", "nan"), "not a number of seconds: 'nan'"),
    ],
)
def test_numbers_out_of_range_are_usage_errors(args, words):
    done = kent_exec(*args, "--", "true")
    assert done.returncode == 2 and words in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full here")
def test_a_report_that_cannot_be_written_fails_with_a_message():
    done = kent_exec("--report", "/dev/full", "--", "true")
    assert done.returncode == 1, done.stderr
    assert "cannot write a report" in done.stderr and "Traceback" not in done.stderr


def test_tail_with_a_bad_url_says_so():
    for url in ("http://[::1", "ftp://kent"):
        done = subprocess.run(
            [sys.executable, KENT_PY, "tail", "--url", url],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.returncode == 1 and "kent tail:" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr


# -- signals: Ctrl-C on a terminal, SIGINT from a CI runner -------------------


def read_until(fd, pattern, timeout=60):
    """Bytes from ``fd`` until ``pattern`` matches (or EOF, or timeout)."""
    data = b""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while not re.search(pattern, data) and time.monotonic() < deadline:
            if not selector.select(deadline - time.monotonic()):
                continue
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # a pty whose other side is closed
                chunk = b""
            if not chunk:
                break
            data += chunk
    return data


def assert_all_stopped(ready):
    """COMMAND's process is gone and nothing listens on Kent's port."""
    match = READY.search(ready)
    assert match, ready
    pid, port = int(match.group(1)), int(match.group(2))
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with pytest.raises(ConnectionRefusedError), socket.socket() as sock:
        sock.settimeout(10)
        sock.connect(("127.0.0.1", port))


# Run kent in a new session with the pty as its controlling terminal, as a
# shell runs a foreground job: the terminal's Ctrl-C goes to its whole
# process group, Kent and COMMAND alike.
ON_A_TERMINAL = (
    "import fcntl, os, sys, termios; fcntl.ioctl(0, termios.TIOCSCTTY, 0); "
    "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])"
)


def start_on_terminal(*args):
    master, slave = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-c", ON_A_TERMINAL, KENT_PY, "exec", *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        start_new_session=True,
        env=exec_env(),
    )
    os.close(slave)
    return master, process


def test_ctrl_c_on_a_terminal_stops_command_and_kent():
    master, process = start_on_terminal("--settle", "0", *app("wait"))
    try:
        output = read_until(master, READY)
        assert READY.search(output), output
        os.write(master, b"\x03")  # the terminal's Ctrl-C
        assert process.wait(timeout=120) == 130
        output += read_until(master, rb"exit status 130 \(COMMAND's own\)")
    finally:
        process.kill()
        process.wait()
        os.close(master)
    # Exactly one KeyboardInterrupt: Kent did not send a second SIGINT.
    assert output.count(b"COMMAND interrupted") == 1, output
    assert b"was stopped by SIGINT, exit status 130" in output
    assert_all_stopped(output)


def test_a_second_ctrl_c_kills_a_command_that_does_not_stop():
    master, process = start_on_terminal("--settle", "0", *app("ignore"))
    try:
        output = read_until(master, READY)
        assert READY.search(output), output
        os.write(master, b"\x03")
        output += read_until(master, rb"again to kill it")
        assert b"again to kill it" in output, output
        os.write(master, b"\x03")
        assert process.wait(timeout=120) == 128 + signal.SIGKILL
        output += read_until(master, rb"COMMAND's own\)")
    finally:
        process.kill()
        process.wait()
        os.close(master)
    assert b"kent exec: killing COMMAND" in output
    assert_all_stopped(output)


def test_sigint_to_kent_alone_is_passed_on():
    """A CI runner that cancels a job signals Kent's process only."""
    process = subprocess.Popen(
        [sys.executable, KENT_PY, "exec", "--settle", "0", *app("wait")],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=exec_env(),
    )
    try:
        output = read_until(process.stdout.fileno(), READY)
        assert READY.search(output), output
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=120) == 130
        output += process.stdout.read()
    finally:
        process.kill()
        process.wait()
        process.stdout.close()
    assert output.count(b"COMMAND interrupted") == 1, output
    assert_all_stopped(output)


def test_printable_escapes_control_characters():
    text = "a\x00b\x1b[31mc\x7f\x9b\u202e\ud800 é ok"
    assert kent.printable(text) == "a\\x00b\\x1b[31mc\\x7f\\x9b\\u202e\\ud800 é ok"


def test_tally_counts_past_the_store_limit():
    """Items the store drops (--max-events) are counted and scanned, or said
    to be missed: nothing goes quietly."""
    with kent.KentServer(max_events=2) as server:
        tally = kent.ExecTally(server.kent).start()
        for n in range(6):
            body = {"message": f"mail jane{n}@example.com", "level": "error"}
            status, _, _ = post_envelope(server.url, envelope(event_item(body)))
            assert status == 200
        tally.stop()
    report = kent.exec_report(tally, server.kent, ["true"], 0)
    assert report["received"] + report["not_counted"] == 6
    assert report["leaks"]["kinds"] == {"email": report["received"]}
