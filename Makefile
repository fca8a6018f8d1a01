# creditplatform: `make run` serves the embedded demo; `make test` runs the suite on
# PostgreSQL and Redis. Both set up everything they need on a fresh machine.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SAMPLE := data/fraud-handbook-sample.csv
PORT   ?= 8000

# One test database and cache prefix per checkout, so clones on one machine never collide.
CHECKOUT := $(shell printf '%s' "$(CURDIR)" | md5sum | cut -c1-8)
TEST_ENV := DATABASE_URL=$${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/creditplatform_$(CHECKOUT)} \
	REDIS_URL=$${TEST_REDIS_URL:-redis://127.0.0.1:6379/15} CACHE_KEY_PREFIX=test-$(CHECKOUT) \
	CELERY_TASK_ALWAYS_EAGER=true VAR_DIR=$(CURDIR)/var/test DATABASE_CONN_MAX_AGE=0 \
	PASSWORD_HASHERS=django.contrib.auth.hashers.MD5PasswordHasher

.PHONY: run test install services browser lint check clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/python manage.py migrate --noinput -v0
	$(BIN)/python manage.py bootstrap_demo
	$(BIN)/python manage.py replay_transactions $(SAMPLE)
	@echo ""
	@echo "  API      http://127.0.0.1:$(PORT)/api/v1/accounts/  (token: POST /api/v1/auth/token/)"
	@echo "  API docs http://127.0.0.1:$(PORT)/api/docs/"
	@echo "  Admin    http://127.0.0.1:$(PORT)/admin/"
	@echo "  Portal   http://127.0.0.1:$(PORT)/portal/  (cardholders)"
	@echo ""
	$(BIN)/python manage.py runserver 127.0.0.1:$(PORT)

services:
	bash scripts/services.sh

browser:
	bash scripts/browser.sh

test: $(STAMP) services browser
	$(TEST_ENV) $(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python manage.py makemigrations --check --dry-run

check: lint test

clean:
	rm -rf $(VENV) var
