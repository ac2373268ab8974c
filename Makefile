# make demo: a simulated building on http://127.0.0.1:8080/   make test: the whole test suite
# Both build .venv from pyproject.toml first when it is missing or older than pyproject.toml.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-test

.PHONY: demo test bench lint system-deps install clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV) || { sh tests/system-deps.sh venv && $(PY) -m venv $(VENV); }
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/edge demo

test: $(STAMP) system-deps
	$(BIN)/ruff check .
	$(BIN)/pytest -q

# what the tests need from Debian (browser, D-Bus, systemd-analyze ...); installs only what is missing
system-deps:
	@sh tests/system-deps.sh

# the benchmarks also run the baselines they are measured against (rapidocr ...): the bench extra
$(VENV)/.installed-bench: $(STAMP)
	$(BIN)/pip install --quiet -e '.[test,bench]'
	@touch $@

bench: $(VENV)/.installed-bench
	@for b in tests/bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

lint: $(STAMP)
	$(BIN)/ruff check .

# on the Pi, as root: Debian packages, a release under /opt/edge-gateway, the systemd units (systemd/install.sh);
# DESTDIR=dir installs into a folder instead
install:
	DESTDIR="$(DESTDIR)" sh systemd/install.sh

clean:
	rm -rf $(VENV) .demo tests/artifacts
