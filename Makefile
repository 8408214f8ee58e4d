# Sigillo. `make run` to try it, `make test` to check it. See README.md.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Debian packages the tests use, each with a command that shows it is there:
# chromium (browser tests), poppler-utils (pdfsig, pdftoppm), qpdf,
# libnss3-tools (certutil), gettext (msgfmt for compilemessages), openssl
# (cms and ts cross-checks), softhsm2 (the PKCS#11 key store's tests),
# postgresql (the integration tests run on PostgreSQL as well as SQLite).
SYSTEM_PACKAGES := chromium:chromium poppler-utils:pdfsig qpdf:qpdf \
	libnss3-tools:certutil gettext:msgfmt openssl:openssl softhsm2:softhsm2-util \
	postgresql:pg_ctlcluster

.PHONY: help venv run test lint format bench messages system-packages

help:
	@echo "make run       start Sigillo (web, worker, beat, embedded Redis) in the foreground"
	@echo "make test      install what the tests need, lint, run the whole test suite"
	@echo "make lint      ruff check and ruff format --check"
	@echo "make format    ruff format"
	@echo "make bench     run the benchmarks"
	@echo "make messages  compile the translations"
	@echo "make venv      create $(VENV) and install the project (when pyproject.toml changed)"

venv: $(STAMP)

# Re-installs only when pyproject.toml is newer than the stamp.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $(STAMP)

run: venv
	exec $(BIN)/python -m portal.run

# Installs the missing system packages only, so a machine that has them all
# needs neither root nor apt.
system-packages:
	@missing=""; \
	for entry in $(SYSTEM_PACKAGES); do \
		package=$${entry%%:*}; command=$${entry##*:}; \
		if command -v "$$command" >/dev/null 2>&1; then continue; fi; \
		if dpkg-query -W -f='$${Status}' "$$package" 2>/dev/null | grep -q "install ok installed"; then continue; fi; \
		missing="$$missing $$package"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "Installing system packages:$$missing"; \
		sudo=""; if [ "$$(id -u)" != 0 ]; then sudo=sudo; fi; \
		$$sudo apt-get update && \
		DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y --no-install-recommends $$missing; \
	fi

test: system-packages venv messages
	$(BIN)/ruff check .
	$(BIN)/pytest

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv
	$(BIN)/ruff format .

bench: venv
	@if [ -f bench/__main__.py ]; then \
		$(BIN)/python -m bench; \
	else \
		echo "no benchmarks yet (bench/__main__.py is missing)"; \
	fi

messages: venv
	$(BIN)/python manage.py compilemessages --ignore=$(VENV) --ignore=var --ignore=node_modules -v 0
