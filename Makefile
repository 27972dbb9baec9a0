# The two commands of the README's quick start: `make serve` and `make test`.
# Both install everything they need into .venv first (again only when pyproject.toml changes).

PYTHON ?= python3
# Test processes (pytest-xdist). Much of the suite waits on subprocesses, servers and databases,
# so two workers keep a 2-CPU machine busy; `make test TEST_WORKERS=0` runs in one process.
TEST_WORKERS ?= 2
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install serve test lint bench screenshots clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

serve: install
	$(BIN)/authward serve --app examples/app.py

lint: install
	$(BIN)/ruff check src tests bench examples
	$(BIN)/ruff format --check src tests bench examples
	$(BIN)/mypy src

test: lint
	if [ ! -d tests/peers/oidc-provider/node_modules ] && command -v npm >/dev/null; then \
	  npm ci --prefix tests/peers/oidc-provider --no-audit --no-fund; fi
	# The browser tests drive Debian's chromium (CI runs as root on a fresh machine).
	if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null; then \
	  apt-get update -qq && apt-get install -y -qq chromium; fi
	# The CLI and server tests start hundreds of authward processes. With PYTHONDONTWRITEBYTECODE
	# set (as on CI) nothing would cache authward's compiled modules, and each start would
	# compile them again.
	$(BIN)/python -m compileall -q src
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile

bench: install
	$(BIN)/pytest bench --benchmark-only --benchmark-columns=min,median,mean,stddev,ops -q

# Not part of `make test`: a PNG of each console and self-service page into docs/images/,
# taken while the console's browser tests walk them (docs/console.md shows them).
screenshots: install
	AUTHWARD_SCREENSHOTS=docs/images $(BIN)/pytest tests/browser/test_console.py -q

clean:
	rm -rf $(VENV) authward.db authward.db-* authward-*.db authward-*.db-* authward.key
