# Kent's chores. `just --list` shows them.

# Run Kent on 127.0.0.1:5000
run *ARGS:
    python3 kent.py run {{ARGS}}

# Install test dependencies and run everything CI runs (the README's test command)
test:
    bash tests/install.sh && ruff format --check . && ruff check . && python3 -m pytest && bash tests/pythons.sh

# Format and lint
lint:
    ruff format . && ruff check --fix .

# Benchmark Kent against the original Kent 2.2.0 and a bare stdlib server
bench *ARGS:
    python3 tests/bench.py {{ARGS}}
