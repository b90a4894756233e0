# capture-agent: `make run` and `make test` set up a fresh Debian/Ubuntu machine by themselves.

PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
# System tools the tests drive for real: an X server, a window manager, input, the
# stock age CLI for interoperability, unzip, Chromium and Firefox ESR for the browser
# extension and the view page; a session bus, the AT-SPI accessibility
# bus and a GTK password dialog for the platform password-field signal; libGL and GLib for
# OpenCV, which RapidOCR (the tests' second OCR engine) loads (checked by their doc folders:
# the same path on every architecture).
TEST_TOOLS    = Xvfb:xvfb openbox:openbox xdotool:xdotool xterm:xterm xprop:x11-utils xrandr:x11-xserver-utils age:age unzip:unzip systemd-analyze:systemd chromium:chromium firefox-esr:firefox-esr trayer:trayer \
                dbus-daemon:dbus /usr/libexec/at-spi-bus-launcher:at-spi2-core zenity:zenity \
                $(RUN_TOOLS) /usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf:fonts-dejavu-core \
                /usr/share/doc/libgl1/copyright:libgl1 /usr/share/doc/libglib2.0-0/copyright:libglib2.0-0
# What the agent itself needs on Linux: Tesseract's language data for the screen scrub
# (the tesserocr wheel ships the engine; without the data every frame is withheld).
RUN_TOOLS     = /usr/share/tesseract-ocr/5/tessdata/eng.traineddata:tesseract-ocr
SUDO          = $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test lint typecheck unit bench bench-sizes venv system-test-deps system-run-deps python-venv clean

run: venv system-run-deps ## Create the venv, initialise a home if none exists, run the agent in the foreground
	@$(BIN)/capture-agent status >/dev/null 2>&1; [ $$? -ne 78 ] || $(BIN)/capture-agent init
	$(BIN)/capture-agent run

test: venv system-test-deps lint typecheck unit ## Install everything the tests need, run them all

unit: venv
	$(BIN)/pytest

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# mypy strict over the packages, tests/ and bench/ (the list is [tool.mypy] packages).
typecheck: venv
	$(BIN)/mypy
	$(BIN)/mypy --platform darwin capture/window/macos.py capture/backends.py capture/window/visible.py \
	  capture/secure_input/common.py capture/secure_input/macos.py capture/ocr/base.py capture/ocr/macos.py
	$(BIN)/mypy --platform win32 capture/window/windows.py capture/backends.py capture/window/visible.py \
	  capture/secure_input/common.py capture/secure_input/windows.py capture/ocr/base.py capture/ocr/windows.py

bench: venv system-test-deps ## Run the benchmarks (figures, not pass/fail)
	$(BIN)/python -m bench

# The X11 workloads at 1920x1080, 2560x1600, 3840x2160 and two 2560x1440 monitors
# (about 20 minutes; BENCH_ARGS='--against /tmp/prev' adds another checkout's agent).
bench-sizes: venv system-test-deps ## The X11 workloads at every screen size and layout, one table
	$(BIN)/python -m bench --sizes $(BENCH_ARGS)

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml | python-venv
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

# Debian's python3 may lack the venv module (package python3-venv).
python-venv:
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "capture-agent needs Python 3.11 or newer"'
	@$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || { \
	  echo "installing python3-venv"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq python3-venv; }

system-run-deps:
	@[ "$$(uname)" != Linux ] || $(MAKE) --no-print-directory system-test-deps TEST_TOOLS='$(RUN_TOOLS)'

system-test-deps:
	@missing=""; for pair in $(TEST_TOOLS); do \
	  { [ -e "$${pair%%:*}" ] || command -v $${pair%%:*}; } >/dev/null 2>&1 || missing="$$missing $${pair#*:}"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing test tools:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis build *.egg-info
