# Two commands do everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
OUT ?= demo-out

.PHONY: demo test lint bench soak serve clean

$(STAMP): pyproject.toml setup.py ledger/_speedups.c
	bash scripts/install-build-deps.sh
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/auction-engine demo --out $(OUT)

test: $(STAMP)
	bash scripts/install-postgres.sh
	bash scripts/install-browser.sh
	$(PY) -m pytest -q

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
	rm -rf $(VENV) $(OUT) build *.egg-info .pytest_cache .ruff_cache
