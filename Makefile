# make run: install into .venv and start bystander with its defaults.
# make test: install what the tests need (system packages too, when run as root) and run the suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
ARGS ?=

.PHONY: setup run test system-deps bench bench-video bench-live clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

setup: $(VENV)/.installed-test

# Installed again only when pyproject.toml changed (the install is editable: source edits need none).
# The sources are compiled once, as a wheel install would: a shell with PYTHONDONTWRITEBYTECODE set
# would otherwise compile them in every command.
$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	$(BIN)/python -m compileall -q src/bystander >/dev/null
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test,cluster]'
	$(BIN)/python -m compileall -q src/bystander >/dev/null
	touch $@ $(VENV)/.installed-run

run: $(VENV)/.installed-run
	$(BIN)/bystander $(if $(ARGS),$(ARGS),serve)

# The tests need ffmpeg/ffprobe (real codecs beside PyAV's), nginx with the RTMP module (live
# mode's ingest, and the stand-in for YouTube) and Chromium (the web app's end-to-end tests, driven by
# Playwright; never `playwright install`); installed only when we may.
SYSTEM_PACKAGES := ffmpeg nginx-light libnginx-mod-rtmp chromium
system-deps:
	@if [ "$$(id -u)" = 0 ] && { ! command -v ffprobe >/dev/null || ! command -v nginx >/dev/null \
			|| [ ! -e /usr/lib/nginx/modules/ngx_rtmp_module.so ] || [ ! -x /usr/bin/chromium ]; }; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_PACKAGES) >/dev/null; \
	fi

test: setup system-deps
	$(BIN)/python -m pytest -q

# recall.py compares with deface where .venv-bench has it (make bench-video builds it).
bench: setup
	$(BIN)/python benchmarks/photo.py
	$(BIN)/python benchmarks/recall.py

# deface goes into its own virtualenv: it pulls opencv-python, which must not shadow ours.
.venv-bench/bin/deface:
	$(PYTHON) -m venv .venv-bench
	.venv-bench/bin/pip install -q deface

bench-video: setup .venv-bench/bin/deface
	$(BIN)/python benchmarks/video.py

bench-live: setup system-deps
	$(BIN)/python benchmarks/live.py
	$(BIN)/python benchmarks/strides.py

clean:
	rm -rf $(VENV) .venv-bench build *.egg-info src/*.egg-info
