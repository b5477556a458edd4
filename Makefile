# LiveBridge: `make run` and `make test` do everything on a fresh machine.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 8000
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test install system-deps tiny-models clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# torch==2.13.0 first: anything that pulls torch in later finds it installed instead of
# downloading another (CUDA) build.
$(STAMP): pyproject.toml | $(PY)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -e '.[translate,test,bench]'
	touch $@

install: $(STAMP)

run: $(STAMP)
	@echo "Open http://$(HOST):$(PORT)/ in a browser, or chat from a terminal:"
	@echo "  $(VENV)/bin/livebridge chat lobby --name Ann --lang en"
	$(VENV)/bin/livebridge serve --host $(HOST) --port $(PORT)

# What the tests need from the system: a redis-server binary to start their own servers
# (never the one on 6379), Debian's Chromium for the browser tests, and Debian's nginx for
# the test of docs/deploy.md (it runs its own nginx on a free port; the package may also
# start a stock nginx on port 80, which the tests never use), and Debian's PostgreSQL for the
# store's tests (initdb/pg_ctl of their own cluster on a free port, never the stock one on 5432).
system-deps:
	@missing=""; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	command -v redis-cli >/dev/null || missing="$$missing redis-tools"; \
	[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null || missing="$$missing nginx"; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	fc-list 2>/dev/null | grep -qi "wqy\|noto.*cjk" || missing="$$missing fonts-wqy-microhei"; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

tiny-models: $(STAMP)
	$(PY) -m tests.tinymodel

test: $(STAMP) system-deps tiny-models
	$(PY) -m pytest -q -p no:cacheprovider

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
