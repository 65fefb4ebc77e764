#!/usr/bin/env bash
# Kent claims Python >= 3.10. The main run (python3 -m pytest) tests one
# interpreter; this runs the stdlib-only tests (no SDK needed) on every other
# CPython 3.10-3.13 the machine has, each in its own venv under
# tests/.deps/pythons/ (pytest, hypothesis, brotli, zstandard, Kent editable).
#
#   bash tests/pythons.sh --install   make the venvs (tests/install.sh does)
#   bash tests/pythons.sh             run the tests, say which Pythons ran
#
# A missing interpreter is reported, never fatal (a plain Debian image has
# one Python); a failing test on any interpreter is.
set -euo pipefail

TESTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$TESTS")"
VENVS="$TESTS/.deps/pythons"
MINORS="3.10 3.11 3.12 3.13"
STDLIB_TESTS="test_parse.py test_http.py test_hostile_input.py test_store.py test_pages.py test_cli.py test_vendoring.py"
say() { printf 'pythons: %s\n' "$*"; }

# The newest CPython X.Y: pyenv's, else pythonX.Y on PATH.
find_python() {
  local minor="$1" root version
  if command -v pyenv >/dev/null && root="$(pyenv root 2>/dev/null)"; then
    version="$(pyenv versions --bare 2>/dev/null | grep -E "^${minor//./\\.}\.[0-9]+$" |
      sort -t. -k3 -n | tail -n 1 || true)"
    if [ -n "$version" ] && [ -x "$root/versions/$version/bin/python" ]; then
      echo "$root/versions/$version/bin/python"
      return
    fi
  fi
  command -v "python$minor" || true
}

main_minor="$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')"

# Test requirements pinned in tests/requirements.txt, for a venv.
pins() { grep -E "^($(echo "$@" | tr ' ' '|'))==" "$TESTS/requirements.txt" | sed 's/ *#.*//'; }

install_venv() {
  local python="$1" venv="$2"
  local stamp="$venv/kent-requirements.stamp"
  if [ -x "$venv/bin/python" ] && cmp -s "$TESTS/requirements.txt" "$stamp" &&
    (cd / && "$venv/bin/python" -c 'import os, sys, kent; sys.exit(0 if os.path.samefile(kent.__file__, sys.argv[1]) else 1)' "$ROOT/kent.py") 2>/dev/null; then
    say "$venv: present"
    return
  fi
  say "$venv: installing pytest, hypothesis, brotli, zstandard, kent (editable)"
  # shellcheck disable=SC2046  # one word per requirement
  "$python" -m venv --clear "$venv" &&
    "$venv/bin/python" -m pip install -qq --disable-pip-version-check \
      $(pins pytest hypothesis brotli zstandard) -e "$ROOT" &&
    cp "$TESTS/requirements.txt" "$stamp"
}

run_venv() {
  local venv="$1" version="$2" args=()
  for name in $STDLIB_TESTS; do args+=("$TESTS/$name"); done
  say "Python $version: the stdlib-only tests"
  # -m: a test marked "sdk" drives a real SDK, which these venvs do not have
  (cd "$ROOT" && "$venv/bin/python" -m pytest -q -p no:cacheprovider -m "not sdk" "${args[@]}")
}

ran=() missing=() failed=()
for minor in $MINORS; do
  python="$(find_python "$minor")"
  if [ -z "$python" ]; then
    missing+=("$minor")
    continue
  fi
  version="$("$python" -c 'import platform; print(platform.python_version())')"
  if [ "$minor" = "$main_minor" ]; then
    ran+=("$version (python3: the whole suite)")
    continue
  fi
  venv="$VENVS/$minor"
  if [ "${1:-}" = "--install" ]; then
    install_venv "$python" "$venv" || say "$venv: install failed; Python $version will not run"
    continue
  fi
  if [ ! -x "$venv/bin/pytest" ]; then
    say "Python $version: no venv $venv (bash tests/install.sh makes it)"
    missing+=("$minor")
  elif run_venv "$venv" "$version"; then
    ran+=("$version")
  else
    failed+=("$version")
  fi
done
[ "${1:-}" = "--install" ] && exit 0

say "ran on Python ${ran[*]:-(none)}"
[ ${#missing[@]} -eq 0 ] || say "not run (no interpreter or venv): Python ${missing[*]}"
if [ ${#failed[@]} -gt 0 ]; then
  say "FAILED on Python ${failed[*]}"
  exit 1
fi
