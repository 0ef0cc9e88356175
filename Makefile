# Two commands (README): `make run` and `make test`. Each sets up .venv on first use and is
# quick when nothing changed (the stamp is newer than pyproject.toml).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint setup clean bench

setup: $(STAMP)

$(STAMP): pyproject.toml scripts/bootstrap-python
	@scripts/bootstrap-python "$(PYTHON)" "$(VENV)"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/hotline run

test: $(STAMP)
	@scripts/ensure-postgres $(BIN)/python
	@scripts/ensure-debian-packages
	$(BIN)/ruff check .
	$(BIN)/pytest

# Benchmarks with small defaults (about 4 minutes on 2 cores); figures: bench/README.md.
bench: $(STAMP)
	$(BIN)/python bench/bench_fastagi.py --sessions 2000
	$(BIN)/python bench/bench_ami.py
	$(BIN)/python bench/bench_tickets.py --tickets 2000
	$(BIN)/python bench/bench_wallboard.py --rates 100 2000 --baseline-rates 100 --seconds 3
	$(BIN)/python bench/bench_overload.py --rates 200 400 800 --seconds 3
	$(BIN)/python bench/bench_call.py --calls 300 --soak-seconds 30
	$(BIN)/python bench/bench_speech.py --rounds 2 --burst 8

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
