# The two commands of the README's quick start: `make serve` and `make test`.
# Both install everything they need into .venv first (again only when pyproject.toml changes).

PYTHON ?= python3
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
	$(BIN)/pytest

bench: install
	$(BIN)/pytest bench --benchmark-only --benchmark-columns=min,median,mean,stddev,ops -q

# Not part of `make test`: a PNG of each console and self-service page into docs/images/,
# taken while the console's browser tests walk them (docs/console.md shows them).
screenshots: install
	AUTHWARD_SCREENSHOTS=docs/images $(BIN)/pytest tests/browser/test_console.py -q

clean:
	rm -rf $(VENV) authward.db authward.db-* authward-*.db authward-*.db-* authward.key
