# The two README commands are `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TEST_WORKERS ?= 2
export DJANGO_SETTINGS_MODULE := billing_site.settings
# The browser tests use Debian's chromium (scripts/browser-deps.sh), never a downloaded one.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1

.PHONY: setup demo run migrate test test-fast lint format check bench worker beat fakes clean

$(VENV)/.installed: pyproject.toml constraints.txt
	./scripts/system-deps.sh
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $@

setup: $(VENV)/.installed ## Install system libraries, the virtualenv and dependencies

migrate: setup
	$(PY) manage.py migrate --noinput

demo: migrate ## Set up, load the demo tenant, print logins, serve http://127.0.0.1:8000
	$(PY) manage.py load_demo
	$(PY) manage.py runserver 127.0.0.1:8000

run: migrate ## Serve without reloading demo data
	$(PY) manage.py runserver 127.0.0.1:8000

test: setup ## The whole test suite (DATABASE_URL / REDIS_URL pick PostgreSQL and Redis)
	$(PY) -m pytest -q -n $(TEST_WORKERS)

lint: setup ## ruff, Django's checks, and migrations in step with models
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) manage.py check
	$(PY) manage.py makemigrations --check --dry-run

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: migrate ## Benchmarks; figures go in the README (run on PostgreSQL)
	$(PY) manage.py bench_batch
	$(PY) manage.py bench_portal
	$(PY) manage.py bench_import

worker: setup ## A Celery worker (needs REDIS_URL)
	$(VENV)/bin/celery -A billing_site worker --loglevel=info

beat: setup ## Celery beat (needs REDIS_URL)
	$(VENV)/bin/celery -A billing_site beat --loglevel=info

fakes: setup ## Fake QuickBooks Online, Xero and ConnectWise servers for a local trial (prints the settings)
	$(PY) -m tests.integrations.fakes

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache
