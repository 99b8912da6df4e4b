PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install run test lint typecheck docs bench clean

$(BIN)/chargebus: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/chargebus

run: install
	$(BIN)/chargebus demo

test: install
	$(BIN)/pytest -q -p no:cacheprovider -n auto --maxprocesses 2 --dist loadfile

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy shared services tests bench

docs: install
	$(BIN)/python -m shared.docs > docs/mqtt.md
	$(BIN)/python -m shared.setters.docs > docs/setters.md
	$(BIN)/chargebus mqtt-acl --write mosquitto/acl

bench: install
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) data build *.egg-info
