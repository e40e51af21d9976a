# numbermgmt — the two commands: `make run` and `make test`. See README.md.
SHELL := /bin/bash
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
PG_URL ?= postgres://postgres@127.0.0.1:5432/numbermgmt

.PHONY: run serve test test-sqlite test-pg typecheck bench lint install migrate seed clean

$(BIN)/.installed: pyproject.toml
	@command -v $(PY) >/dev/null || { echo "Python 3.11 is required ($(PY) not found)"; exit 1; }
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

install: $(BIN)/.installed

# make run: embedded defaults (SQLite, a broker on an SQLite file: kombu's SQLAlchemy
# transport); DATABASE_URL / REDIS_URL switch. If the worker/beat or the web server stops,
# the trap says so loudly and stops the other: a half-running `make run` is never left behind.
run: export DEBUG ?= 1
run: export STAFF_2FA_REQUIRED ?= 0
run: install
	mkdir -p var/mail
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	$(BIN)/python manage.py ensure_admin --url http://$(HOST):$(PORT)/admin/
	@echo "make run: STAFF_2FA_REQUIRED=$$STAFF_2FA_REQUIRED (production default 1: every staff user needs 2FA;"
	@echo "          superusers always do: set it up at /accounts/2fa/ after the first login)"
	@# Celery runs in its own session and gets ONE SIGTERM from the trap (warm shutdown);
	@# a TERM sent to its whole process group (the old `kill 0`) hangs its shutdown.
	@trap 'kill $$WEB $$CELERY 2>/dev/null; wait $$CELERY' EXIT; trap 'exit 130' INT TERM; \
	  setsid $(BIN)/celery -A numbermgmt worker --beat --loglevel=info --concurrency=2 \
	    --schedule=var/celerybeat-schedule & CELERY=$$!; \
	  $(BIN)/python manage.py runserver $(HOST):$(PORT) --noreload & WEB=$$!; \
	  wait -n $$CELERY $$WEB; \
	  if kill -0 $$WEB 2>/dev/null; then \
	    : "the worker's main process is gone: end what it left in its session (the beat child)"; \
	    echo; echo "!!!!! make run: the Celery worker and beat STOPPED (see the log above)."; \
	    echo "!!!!! Nothing expires and no notice is sent without them. Stopping the web server."; \
	    kill -- -$$CELERY 2>/dev/null; \
	  else \
	    echo; echo "!!!!! make run: the web server STOPPED. Stopping the worker and beat."; \
	  fi; \
	  exit 1

# The whole suite. Services that are absent are skipped with a reason unless REQUIRE_SERVICES=1.
test: install
	$(BIN)/ruff check .
	$(BIN)/mypy .
	DATABASE_URL=sqlite:///:memory: $(BIN)/python manage.py makemigrations --check --dry-run --settings=numbermgmt.settings_test
	DJANGO_SETTINGS_MODULE=numbermgmt.settings_test $(BIN)/pytest $(PYTEST_ARGS)

test-pg: install
	DATABASE_URL=$(PG_URL) $(MAKE) test

lint: install
	$(BIN)/ruff check .

# Types (django-stubs), configured in pyproject.toml. Not yet part of `make test`: it joins
# once the refactoring of issue 9 leaves it at 0 errors.
typecheck: install
	$(BIN)/mypy .

# Scale benchmarks on PostgreSQL (1,000,000 numbers). Not part of `make test`.
bench: install
	DATABASE_URL=$(PG_URL) $(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf var db.sqlite3 db.sqlite3-*
