# idolsite: `make run` starts the app with its task workers; `make test` runs every check.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PG_TEST_URL ?= postgres://postgres@127.0.0.1:5432/idolsite
PYTEST_ARGS ?=

.PHONY: install run test lint messages test-sqlite test-postgres test-browser bench-detect bench-labeling bench-train bench-active bench-concurrency bench-bots bench-export bench-cluster clean

$(VENV)/.installed: requirements.txt requirements-common.txt requirements-dev.txt
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

# The address the web server listens on: make run ADDR=0.0.0.0:8001
ADDR ?= 127.0.0.1:8000
run: install
	DEBUG=1 $(BIN)/python manage.py migrate --noinput
	DEBUG=1 $(BIN)/python manage.py ensure_admin
	DEBUG=1 $(BIN)/python manage.py serve $(ADDR)

# The two runs at once (one core each; two pytest processes share nothing but the machine):
# each run's output is printed as a whole when it ends.
test: install lint
	$(MAKE) --no-print-directory -j2 --output-sync=target test-sqlite test-postgres

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	SECRET_KEY=lint $(BIN)/python manage.py makemigrations --check --dry-run

test-sqlite: install
	env -u DATABASE_URL $(BIN)/pytest $(PYTEST_ARGS)

# PostgreSQL: required in CI (CI=true); elsewhere skipped with a warning when none answers.
test-postgres: install
	@if $(BIN)/python -c "import psycopg2, sys; psycopg2.connect('$(PG_TEST_URL)'.rsplit('/', 1)[0] + '/postgres', connect_timeout=3)" 2>/dev/null; then \
		DATABASE_URL=$(PG_TEST_URL) $(BIN)/pytest $(PYTEST_ARGS); \
	elif [ "$$CI" = "true" ]; then \
		echo "PostgreSQL does not answer at $(PG_TEST_URL)" >&2; exit 1; \
	else \
		echo "WARNING: PostgreSQL does not answer at $(PG_TEST_URL): the PostgreSQL run is skipped." >&2; \
	fi

# Translations: `make messages` gathers every string marked for translation into the .po files
# under locale/ and each app's locale/ (then fill in the Japanese) and compiles the .mo files,
# which are committed so that a fresh machine needs no gettext tools.
MAKEMESSAGES := SECRET_KEY=messages $(BIN)/python manage.py makemessages -l ja --no-obsolete --add-location=file \
	--ignore=var --ignore=tests --ignore=bench --ignore=docs --ignore=deploy
messages: install
	$(MAKEMESSAGES) -d django
	$(MAKEMESSAGES) -d djangojs
	SECRET_KEY=messages $(BIN)/python manage.py compilemessages -l ja --ignore=var --ignore=.venv

# Face detectors on ../shared/data/photos: accuracy, pipeline ms and overhead; last line is JSON.
BENCH_ARGS ?=
bench-detect: install
	$(BIN)/python bench/detect.py $(BENCH_ARGS)

# The Chromium tests alone (they also run within test-sqlite; they skip without /usr/bin/chromium).
test-browser: install
	env -u DATABASE_URL $(BIN)/pytest -m browser $(PYTEST_ARGS)

# Labeling pages at 200,000 faces on SQLite and PostgreSQL: BENCH_ARGS="--faces 20000" for a quick run.
bench-labeling: install
	$(BIN)/python bench/labeling.py $(BENCH_ARGS)

# The recognizers' benchmark: fresh database, import ../shared/data/faces, embed, train the embedding
# recognizer and the network on the CPU (about 25 min); BENCH_ARGS="--skip-cnn" for a few minutes.
bench-train: install
	$(BIN)/python bench/train_eval.py $(BENCH_ARGS)

# Active learning: oracle review rounds (train -> suggest -> review), keystrokes per label.
bench-active: install
	$(BIN)/python bench/active_learning.py $(BENCH_ARGS)

# Labelers at once over HTTP (gunicorn) on SQLite and PostgreSQL: server errors, lost actions,
# double events; BENCH_ARGS="--seconds 10 --db sqlite" for a quick run.
bench-concurrency: install
	$(BIN)/python bench/concurrency.py $(BENCH_ARGS)

# Bot answer latency, webhook to reply, recognizer loaded (a fake LINE API on 127.0.0.1); last line JSON.
bench-bots: install
	$(BIN)/python bench/bots.py $(BENCH_ARGS)

# Dataset export throughput (faces/s per format) and memory at 200,000 labeled faces on SQLite;
# BENCH_ARGS="--faces 20000" for a quick run.
bench-export: install
	$(BIN)/python bench/export.py $(BENCH_ARGS)

# Separate hosts on PostgreSQL + Redis + an S3 server: photos/min with 1 and 2 workers, recovery
# from a killed worker; last line is JSON.
bench-cluster: install
	$(BIN)/python bench/cluster.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var/static
