"""kent.py is one stdlib-only file: it works as a lone copy, without site."""

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import (
    EVENT_ID,
    KENT_PY,
    TESTS,
    envelope,
    event_item,
    get_json,
    post_envelope,
    running_kent,
)

OPTIONAL = {
    "brotli",
    "brotlicffi",
    "compression",
    "zstandard",
}  # guarded by except ImportError
STDLIB = set(sys.stdlib_module_names)


@pytest.fixture
def lone_copy(tmp_path):
    """An otherwise empty directory holding only a copy of kent.py."""
    folder = tmp_path / "vendored"
    folder.mkdir()
    shutil.copy(KENT_PY, folder / "kent.py")
    return folder


def _catches_import_error(node):
    for handler in node.handlers:
        names = (
            handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
        )
        if any(
            getattr(n, "id", None) in ("ImportError", "ModuleNotFoundError")
            for n in names
        ):
            return True
    return False


def _imports(tree):
    """(module, guarded, in_function) for every import statement."""
    found = []

    def visit(node, guarded, in_function):
        if isinstance(node, ast.Import):
            found.extend((a.name, guarded, in_function) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.append((node.module or "", guarded, in_function))
        if isinstance(node, ast.Try):
            for child in node.body:
                visit(child, guarded or _catches_import_error(node), in_function)
            for child in node.handlers + node.orelse + node.finalbody:
                visit(child, guarded, in_function)
            return
        is_function = isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        for child in ast.iter_child_nodes(node):
            visit(child, guarded, in_function or is_function)

    visit(tree, False, False)
    return found


def test_every_import_is_stdlib_or_guarded():
    tree = ast.parse(Path(KENT_PY).read_text(encoding="utf-8"))
    imports = _imports(tree)
    assert imports, "no imports found: the AST walk is broken"
    for module, guarded, in_function in imports:
        top = module.split(".")[0]
        if top == "pytest":
            assert in_function, "pytest may be imported only inside the plugin hook"
        elif top in OPTIONAL:
            assert guarded, f"optional {module} must be inside try/except ImportError"
        else:
            assert top in STDLIB, f"{module} is not in the standard library"


def _import_report(folder, *flags):
    code = (
        "import json, sys; before = set(sys.modules); import kent; "
        "new = sorted({m.split('.')[0] for m in set(sys.modules) - before}); "
        "print(json.dumps({'new': new, 'file': kent.__file__, "
        "'pytest': 'pytest' in sys.modules}))"
    )
    result = subprocess.run(
        [sys.executable, *flags, "-c", code],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_importing_kent_without_site_pulls_in_only_stdlib(lone_copy):
    report = _import_report(lone_copy, "-S")
    assert Path(report["file"]).parent == lone_copy
    assert report["pytest"] is False
    extra = [m for m in report["new"] if m not in STDLIB and m != "kent"]
    assert extra == []


def test_importing_kent_with_site_does_not_import_pytest(lone_copy):
    report = _import_report(lone_copy)
    assert report["pytest"] is False
    extra = [
        m for m in report["new"] if m not in STDLIB | OPTIONAL | {"kent", "_brotli"}
    ]
    assert extra == []


def test_lone_copy_runs_isolated_without_site(lone_copy, tmp_path):
    command = [sys.executable, "-I", "-S", str(lone_copy / "kent.py"), "run", "-p", "0"]
    with running_kent(command, tmp_path, cwd=lone_copy) as (url, _, _):
        data = envelope(event_item({"message": "vendored"}))
        status, _, value = post_envelope(url, data)
        assert (status, value) == (200, {"id": EVENT_ID, "success": True})
        status, event = get_json(url, f"/api/event/{EVENT_ID}")
        assert status == 200 and event["payload"]["body"]["message"] == "vendored"
        _, info = get_json(url, "/api/status/")
        assert "br" not in info["encodings"]  # no site-packages, so no brotli
        assert {"gzip", "deflate"} <= set(info["encodings"])
    assert sorted(p.name for p in lone_copy.iterdir()) == ["kent.py"]


VENDORED_TEST = """
import kent

def test_fixture_from_the_copy(kent_server):
    assert kent.__file__.startswith(KENT_DIR)
    assert kent_server.port > 0
"""


def test_lone_copy_is_a_pytest_plugin(lone_copy):
    (lone_copy / "conftest.py").write_text('pytest_plugins = ["kent"]\n')
    test = VENDORED_TEST.replace("KENT_DIR", repr(str(lone_copy)))
    (lone_copy / "test_vendored.py").write_text(test)
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    env.pop("PYTHONPATH", None)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "test_vendored.py",
        ],
        cwd=lone_copy,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_no_top_level_name_is_defined_twice():
    # A later definition silently replaces an earlier one in a single file.
    tree = ast.parse(Path(KENT_PY).read_text(encoding="utf-8"))
    names = [
        node.name
        for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.ClassDef))
    ]
    assert sorted({n for n in names if names.count(n) > 1}) == []


# The tests' own layout: a test file is named by what it tests, and what two
# files share lives once, in helpers.py (functions, constants) or conftest.py
# (fixtures). A test module that imports another runs that module's fixtures
# and module-level code in a second place, and a copy drifts from its original.
SHARED = ("helpers.py", "conftest.py")
NOT_CONSTANTS = {"pytestmark", "pytest_plugins"}


def _test_files():
    files = sorted(TESTS.glob("test_*.py"))
    assert len(files) > 10, "no test files found: the glob is broken"
    return {path.name: ast.parse(path.read_text(encoding="utf-8")) for path in files}


def _imported(tree):
    """Every module an import statement names, at any depth (in functions too)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module


def _helper_names(tree):
    """Top-level functions and classes that pytest does not collect."""
    return {
        node.name
        for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        and not node.name.startswith(("test_", "Test"))
    }


def _constants(tree):
    """``NAME = value`` at the top level: {(name, the value's AST)}."""
    return {
        (target.id, ast.dump(node.value))
        for node in tree.body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name) and target.id not in NOT_CONSTANTS
    }


def _defined_twice(definitions):
    """{what: [files]} for each name (or definition) found in two files or more."""
    where = {}
    for filename, names in definitions.items():
        for name in names:
            where.setdefault(name, []).append(filename)
    return {name: files for name, files in where.items() if len(files) > 1}


def test_no_test_module_imports_another():
    imports = [
        f"{filename} imports {module}"
        for filename, tree in _test_files().items()
        for module in _imported(tree)
        if module.split(".")[-1].startswith("test_")
    ]
    assert not imports, "\n".join(imports)


def test_every_helper_is_defined_once():
    trees = _test_files()
    for filename in SHARED:
        trees[filename] = ast.parse((TESTS / filename).read_text(encoding="utf-8"))
    names = {filename: _helper_names(tree) for filename, tree in trees.items()}
    twice = _defined_twice(names)
    assert not twice, "\n".join(
        f"{n}: {', '.join(f)}" for n, f in sorted(twice.items())
    )


def test_no_constant_is_copied_between_test_files():
    trees = _test_files()
    for filename in SHARED:
        trees[filename] = ast.parse((TESTS / filename).read_text(encoding="utf-8"))
    constants = {name: _constants(tree) for name, tree in trees.items()}
    copies = sorted(
        f"{name}: {', '.join(files)}"
        for (name, _), files in _defined_twice(constants).items()
    )
    assert not copies, "\n".join(copies)


# The map: the module docstring lists the sections, numbered banners open them,
# and no section uses a name defined in a later one. Exceptions, on purpose:
# the CLI (12) may use everything, and the Assets (13) are read by the
# renderers only at call time, so they may come last.
MAY_LOOK_DOWN = {12}
READ_AT_CALL_TIME = {13}
BANNER_RULE = "# " + "-" * 75


def _sections(source):
    lines = source.splitlines()
    banners = []
    for number, line in enumerate(lines[1:-1], start=2):
        match = re.fullmatch(r"# (\d+)\. (.+)", line)
        if match:
            assert lines[number - 2] == lines[number] == BANNER_RULE, line
            banners.append((number, int(match[1]), match[2]))
    return banners


def _table_of_contents(source):
    docstring = ast.get_docstring(ast.parse(source))
    return [
        (int(m[1]), m[2])
        for m in re.finditer(r"^ +(\d+)\. (\S.*?)  +\S", docstring, re.M)
    ]


def _section_of(banners, lineno):
    return max((n for line, n, _ in banners if line <= lineno), default=1)


def _top_level_names(tree, banners):
    defined = {}
    for node in tree.body:
        targets = getattr(node, "targets", [getattr(node, "target", None)])
        names = (
            [node.name]
            if hasattr(node, "name")
            else [
                name.id
                for target in targets
                if target is not None
                for name in ast.walk(target)
                if isinstance(name, ast.Name)
            ]
        )
        for name in names:
            defined.setdefault(name, _section_of(banners, node.lineno))
    return defined


def _locals_of(node):
    return {n.arg for n in ast.walk(node) if isinstance(n, ast.arg)} | {
        n.id
        for n in ast.walk(node)
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
    }


def test_the_table_of_contents_matches_the_banners():
    source = Path(KENT_PY).read_text(encoding="utf-8")
    banners = [(n, title) for _, n, title in _sections(source)]
    toc = _table_of_contents(source)
    assert toc[0] == (1, "Header")
    assert banners == toc[1:]


def test_no_section_uses_a_later_one():
    source = Path(KENT_PY).read_text(encoding="utf-8")
    tree = ast.parse(source)
    banners = _sections(source)
    defined = _top_level_names(tree, banners)
    later = []
    for node in tree.body:
        here = _section_of(banners, node.lineno)
        if here in MAY_LOOK_DOWN:
            continue
        own = _locals_of(node) if hasattr(node, "name") else set()
        for name in ast.walk(node):
            if not isinstance(name, ast.Name) or name.id in own:
                continue
            there = defined.get(name.id, 0)
            if there > here and there not in READ_AT_CALL_TIME:
                later.append(f"{getattr(node, 'name', node.lineno)} uses {name.id}")
    assert later == []


def test_the_handler_carries_bytes_only():
    """KentHandler reads requests and writes answers: parsing is in the
    ``accept_*`` functions and each view is a function named in ROUTES."""
    tree = ast.parse(Path(KENT_PY).read_text(encoding="utf-8"))
    [handler] = [
        node
        for node in tree.body
        if isinstance(node, ast.ClassDef) and node.name == "KentHandler"
    ]
    assert handler.end_lineno - handler.lineno + 1 < 450
    methods = [n.name for n in handler.body if isinstance(n, ast.FunctionDef)]
    assert sorted({n for n in methods if methods.count(n) > 1}) == []
    assert [n for n in methods if n.startswith(("api_", "page_", "ingest_"))] == []
