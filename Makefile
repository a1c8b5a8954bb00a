# Two commands do everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
OUT ?= demo-out

.PHONY: demo test test-pure lint bench soak serve clean

$(STAMP): pyproject.toml setup.py ledger/_speedups.c auction_engine/server/pages/vendor/package-lock.json
	bash scripts/install-build-deps.sh
	bash scripts/install-js.sh
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/auction-engine demo --out $(OUT)

# The ledger runs native kernels where they are built; the second run checks its pure-Python twins.
test: $(STAMP)
	bash scripts/install-postgres.sh
	bash scripts/install-browser.sh
	$(PY) -m pytest -q
	LEDGER_PURE_PYTHON=1 $(PY) -m pytest -q tests/ledger tests/store tests/certificates

# The whole suite on the pure-Python ledger kernels (as where the C extension cannot be built).
test-pure: $(STAMP)
	bash scripts/install-postgres.sh
	bash scripts/install-browser.sh
	LEDGER_PURE_PYTHON=1 $(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check auction_engine ledger tests bench

bench: $(STAMP)
	@for f in bench/*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

soak: $(STAMP)
	bash scripts/install-postgres.sh
	bash scripts/install-browser.sh
	$(PY) -m pip install --quiet -e '.[test,ray]'
	$(PY) -m pytest -q -m slow --run-slow

serve: $(STAMP)
	test -f market.key || $(VENV)/bin/auction-engine keygen --name market.local --out market.key
	$(VENV)/bin/auction-engine serve --db market.db --key market.key

clean:
	rm -rf $(VENV) $(OUT) build *.egg-info .pytest_cache .ruff_cache auction_engine/server/pages/vendor/node_modules
	find ledger auction_engine -name '*.so' -delete  # the native kernels built in place by the editable install
