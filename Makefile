# Two entry points: `make demo` (set up, then run the main job) and `make test` (set up, then test).
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
APT_PACKAGES := libegl1 libegl-mesa0 libgl1-mesa-dri libopengl0 libosmesa6 chromium chromium-driver
export MUJOCO_GL ?= egl

.PHONY: setup demo test lint clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

.apt-done:
	@if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(APT_PACKAGES) >/dev/null
	touch .apt-done

setup: $(BIN)/python .apt-done
	$(BIN)/pip install --quiet -e '.[test,ray]'

demo: setup
	$(BIN)/python -m experiments.backflip

test: setup
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) .apt-done
