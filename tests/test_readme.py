"""The README's commands and snippets are the ones the project really runs."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import (
    CI,
    ROOT,
    free_port,
)

import kent

README = (ROOT / "README.rst").read_text(encoding="utf-8")


def readme_snippet(kind):
    """The code block after ``.. readme-test: KIND``, dedented."""
    match = re.search(
        rf"\.\. readme-test: {kind}\n\n\.\. code-block:: \w+\n\n((?:    .*\n|\n)+)",
        README,
    )
    assert match, f"README has no '.. readme-test: {kind}' block"
    lines = match.group(1).rstrip().splitlines()
    return "\n".join(line[4:] for line in lines) + "\n"


def run(cmd, cwd, env=None, timeout=120):
    env = dict(os.environ, **(env or {}))
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    done = subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"{cmd} failed:\n{done.stdout}\n{done.stderr}"
    return done


def test_ci_runs_the_readme_test_command():
    command = re.search(r"the whole test suite::\n\n    (.+)\n", README)
    assert command, "README lost its test command"
    ci_script = (ROOT / ".ci" / "run").read_text()
    assert command.group(1) in ci_script.splitlines()


def test_pytest_snippet(tmp_path):
    (tmp_path / "test_snippet.py").write_text(readme_snippet("pytest"))
    done = run(
        [sys.executable, "-m", "pytest", "-q", "-p", "kent", "-W", "error"], tmp_path
    )
    assert "1 passed" in done.stdout


def test_unittest_snippet(tmp_path):
    (tmp_path / "test_snippet.py").write_text(readme_snippet("unittest"))
    done = run(
        [sys.executable, "-W", "error", "-m", "unittest", "-v", "test_snippet"],
        tmp_path,
    )
    assert "Ran 1 test" in done.stderr and "OK" in done.stderr


def test_shell_snippet(tmp_path):
    if not shutil.which("curl"):
        if CI:
            pytest.fail("curl is missing")
        pytest.skip("curl is missing")
    port = str(free_port())
    script = readme_snippet("shell").replace("5055", port)
    shutil.copy(ROOT / "kent.py", tmp_path / "kent.py")
    done = run(["bash", "-euo", "pipefail", "-c", script], tmp_path)
    assert "from the shell" in done.stdout


def test_node_snippet(tmp_path):
    node_modules = ROOT / "tests" / "js" / "node_modules" / "@sentry" / "node"
    if not shutil.which("node") or not node_modules.is_dir():
        if CI:
            pytest.fail("node or tests/js/node_modules is missing")
        pytest.skip("node or @sentry/node is missing (run tests/install.sh)")
    script = ROOT / "tests" / "js" / f"readme_snippet_{os.getpid()}.test.mjs"
    script.write_text(readme_snippet("node"))
    try:
        with kent.KentServer() as server:
            done = run(
                ["node", "--test", "--test-reporter=tap", str(script)],
                script.parent,
                {"KENT_URL": server.url},
            )
            assert server.events(project=3, type="event")
    finally:
        script.unlink()
    assert "# pass 1" in done.stdout


def test_other_pythons_missing_are_reported_not_fatal(tmp_path):
    """tests/pythons.sh without pyenv or other interpreters (a plain Debian
    image): it says what it ran and what it could not, and succeeds."""
    bash = shutil.which("bash")
    path = os.pathsep.join([str(Path(sys.executable).parent), "/usr/bin", "/bin"])
    env = {"PATH": path, "HOME": str(tmp_path), "CI": "true"}
    done = subprocess.run(
        [bash, str(ROOT / "tests" / "pythons.sh")],
        env={**env, "PYENV_ROOT": str(tmp_path / "no-pyenv")},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    version = ".".join(map(str, sys.version_info[:3]))
    assert f"pythons: ran on Python {version} (python3: the whole suite)" in (
        done.stdout
    )


def _report_shape(text):
    """A ``kent exec`` report without what changes from run to run."""
    text = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", text)
    return re.sub(r"\b[0-9a-f]{32}\b", "EVENT_ID", text).replace(kent.__version__, "V")


def test_exec_report_snippet(tmp_path):
    """The README's example test, run as it says, gives the README's report."""
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_checkout.py").write_text(readme_snippet("exec-pytest"))
    command = "python3 kent.py exec --fail-on-leak --expect event=1 -- pytest -q tests/"
    assert f"``{command}``" in README
    # ``pytest`` on PATH, as the README runs it: this Python's
    shim = tmp_path / "bin" / "pytest"
    shim.parent.mkdir()
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m pytest "$@"\n')
    shim.chmod(0o755)
    path = os.pathsep.join([str(shim.parent), os.environ["PATH"]])
    done = subprocess.run(
        [sys.executable, str(ROOT / "kent.py"), *command.split()[2:]],
        cwd=tmp_path,
        env=dict(os.environ, PATH=path, GITHUB_ACTIONS="false"),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == kent.EXEC_GATE_FAILED, done.stdout + done.stderr
    assert "1 passed" in done.stdout
    expected = _report_shape(readme_snippet("exec-report"))
    assert _report_shape(done.stderr) == expected
