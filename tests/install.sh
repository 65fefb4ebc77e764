#!/usr/bin/env bash
# Install everything Kent's tests need on a fresh machine. Idempotent: a second
# run skips what is already there. Run from any directory:  bash tests/install.sh
#
#   Python test deps      tests/requirements.txt          -> current python3
#   sentry-sdk 1.x        tests/.deps/sdk1                -> PYTHONPATH for a subprocess
#   brotli                tests/.deps/brotli              -> PYTHONPATH: SDK uses "br"
#   brotli hidden         tests/.deps/nobrotli            -> PYTHONPATH: SDK uses gzip
#   @sentry/node, browser tests/js/node_modules           (npm ci, package-lock.json)
#   browser bundle        tests/js/browser/dist/sentry.bundle.js (esbuild)
#   chromium              /usr/bin/chromium               (Debian apt, when root)
#   Go, Ruby SDKs         sentry-go, sentry-ruby, raven-ruby (Debian apt, when root)
#   other Pythons         tests/.deps/pythons/3.X         (venvs for tests/pythons.sh)
#   kent 2.2.0            tests/.deps/kent-original       (venv: the original Kent)
set -euo pipefail

TESTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DEPS="$TESTS/.deps"
PY="${PYTHON:-python3}"
say() { printf 'install: %s\n' "$*"; }

pip_install() { "$PY" -m pip install -qq --disable-pip-version-check --root-user-action=ignore "$@"; }

# 1. Python test dependencies. pip itself skips satisfied requirements, but
# its resolver still takes seconds, so remember the requirements we installed.
stamp="$DEPS/requirements.stamp"
mkdir -p "$DEPS"
if cmp -s "$TESTS/requirements.txt" "$stamp" 2>/dev/null \
  && "$PY" -c 'import pytest, sentry_sdk, raven, playwright, opentelemetry.sdk' 2>/dev/null; then
  say "python requirements: present"
else
  say "python requirements: installing"
  pip_install -r "$TESTS/requirements.txt"
  cp "$TESTS/requirements.txt" "$stamp"
fi

# 1b. Kent itself, editable: the kent-server script and the pytest11 entry point.
# "Present" means installed from THIS clone: an editable install of another
# checkout (or of a clone since deleted) would give the tests another kent.py.
installed_here() {
  (cd / && "$PY" -c 'import os, sys, kent; sys.exit(0 if os.path.samefile(kent.__file__, sys.argv[1]) else 1)' \
    "$TESTS/../kent.py") 2>/dev/null
}
scripts="$("$PY" -c 'import sysconfig; print(sysconfig.get_path("scripts"))')"
if installed_here && [ -x "$scripts/kent-server" ]; then
  say "kent (editable): present"
else
  say "kent (editable): pip install -e ."
  pip_install -e "$TESTS/.."
  # pyenv's shims (kent-server on PATH) are made anew only for a bare `pip`
  if command -v pyenv >/dev/null; then pyenv rehash || true; fi
fi

# 2. sentry-sdk 1.x in its own folder (use with PYTHONPATH=tests/.deps/sdk1).
if [ -d "$DEPS/sdk1/sentry_sdk" ]; then
  say "sentry-sdk 1.x: present"
else
  say "sentry-sdk 1.x: installing into tests/.deps/sdk1"
  pip_install --target "$DEPS/sdk1" 'sentry-sdk==1.45.1'
fi

# 3. brotli in its own folder, and a stub that hides any globally installed
# brotli (sentry-sdk does `try: import brotli except ImportError`).
if [ -n "$(ls "$DEPS/brotli"/_brotli* 2>/dev/null)" ]; then
  say "brotli: present"
else
  say "brotli: installing into tests/.deps/brotli"
  pip_install --target "$DEPS/brotli" brotli
fi
mkdir -p "$DEPS/nobrotli"
echo 'raise ImportError("brotli is hidden by tests/.deps/nobrotli")' >"$DEPS/nobrotli/brotli.py"

# 4. JavaScript SDKs and the browser bundle.
if ! command -v npm >/dev/null; then
  say "npm not found: JavaScript client tests will not run"
else
  if [ -d "$TESTS/js/node_modules/@sentry/node" ] \
    && [ "$TESTS/js/node_modules/.package-lock.json" -nt "$TESTS/js/package-lock.json" ]; then
    say "npm packages: present"
  else
    say "npm packages: npm ci in tests/js"
    (cd "$TESTS/js" && npm ci --no-audit --no-fund --loglevel=error)
  fi
  bundle="$TESTS/js/browser/dist/sentry.bundle.js"
  if [ -f "$bundle" ] && [ "$bundle" -nt "$TESTS/js/node_modules/.package-lock.json" ]; then
    say "browser bundle: present"
  else
    say "browser bundle: building tests/js/browser/dist/sentry.bundle.js"
    (cd "$TESTS/js" && ./node_modules/.bin/esbuild browser/entry.js --bundle --minify \
      --format=iife --target=es2020 --log-level=warning --outfile=browser/dist/sentry.bundle.js)
  fi
fi

# 5. Chromium from Debian (npm/playwright browser downloads do not work here).
if [ -x /usr/bin/chromium ]; then
  say "chromium: present"
elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  say "chromium: apt-get install chromium"
  if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }; then
    say "chromium: apt-get failed; browser tests will skip (or fail when CI=true)"
  fi
else
  say "chromium: /usr/bin/chromium missing and cannot apt-get (not root?);" \
    "browser tests will skip (or fail when CI=true)"
fi

# 6. Go and Ruby SDKs from Debian (tests/test_languages.py): sentry-go builds
# offline from /usr/share/gocode; the Ruby gems load from the system ruby.
LANG_PACKAGES="golang-go golang-github-getsentry-sentry-go-dev ruby ruby-sentry-ruby ruby-sentry-raven"
missing_langs() {
  for package in $LANG_PACKAGES; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' \
      || printf '%s ' "$package"
  done
}
missing="$(missing_langs 2>/dev/null || echo "$LANG_PACKAGES")"
if [ -z "$missing" ]; then
  say "go and ruby SDKs: present"
elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  say "go and ruby SDKs: apt-get install $missing"
  # shellcheck disable=SC2086  # one word per package
  if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null; }; then
    say "go and ruby SDKs: apt-get failed; their tests will skip (or fail when CI=true)"
  fi
else
  say "go and ruby SDKs: $missing missing and cannot apt-get (not root?);" \
    "their tests will skip (or fail when CI=true)"
fi

# 7. A venv per other CPython 3.10-3.13 found, for tests/pythons.sh.
bash "$TESTS/pythons.sh" --install

# 8. Kent 2.2.0 in its own venv, for tests/test_compat.py and tests/bench.py.
orig="$DEPS/kent-original"
if [ -x "$orig/bin/kent-server" ] && [ -e "$orig/.installed-2.2.0" ]; then
  say "kent 2.2.0: present"
elif "$PY" -m venv "$orig" && "$orig/bin/python" -m pip install -qq \
  --disable-pip-version-check 'kent==2.2.0'; then
  touch "$orig/.installed-2.2.0"
  say "kent 2.2.0: installed into tests/.deps/kent-original"
else
  say "kent 2.2.0: install failed; test_compat skips (or fails when CI=true)"
fi
say "done"
