# ETL Portal: `make run` starts the whole product, `make test` runs the checks.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PIP_INSTALL := $(PY) -m pip install --quiet --disable-pip-version-check

.PHONY: run test lint format manage clean chromium

run: $(VENV)/.runtime-installed
	$(PY) -m etlportal.launcher

test: $(VENV)/.dev-installed chromium
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m pytest

# Any manage.py command against the local installation, e.g. make manage ARGS="createsuperuser"
manage: $(VENV)/.runtime-installed
	$(PY) -m etlportal.localmanage $(ARGS)

lint: $(VENV)/.dev-installed
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(VENV)/.dev-installed
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

$(PY):
	@$(PYTHON) -c 'import sys; v = sys.version_info; sys.exit(0 if v[:2] == (3, 11) else "ETL Portal needs Python 3.11, but $(PYTHON) is %d.%d. Run: make PYTHON=/path/to/python3.11 ..." % v[:2])'
	$(PYTHON) -m venv $(VENV)

$(VENV)/.runtime-installed: requirements.txt | $(PY)
	$(PIP_INSTALL) -r requirements.txt
	@touch $@

$(VENV)/.dev-installed: requirements.txt requirements-dev.txt | $(PY)
	$(PIP_INSTALL) -r requirements-dev.txt
	@touch $@ $(VENV)/.runtime-installed

# The browser tests drive Debian's Chromium (never a browser Playwright downloads): installed here
# when missing and apt-get can, else a one-line explanation.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "Installing Debian's chromium for the browser tests"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
		else \
			echo "The browser tests need Debian's chromium: sudo apt-get install chromium" >&2; exit 1; \
		fi; }

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
