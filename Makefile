# Two commands set everything up on a fresh machine: `make demo` and `make test`.
# Each creates .venv from the lock file when it is missing or stale.

PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.8
STAMP := $(VENV)/.synced
# The web app's browser libraries (Leaflet, htmx) come from the npm registry by the committed lock file.
WEB := basestation/dispatch/web
WEB_STAMP := $(WEB)/node_modules/.package-lock.json

.PHONY: all venv web native test test-interpreted soak mutate lint format i18n bench demo firmware clean

all: test

$(STAMP): pyproject.toml uv.lock
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet uv==$(UV_VERSION)
	# --inexact keeps uv itself, which lives in the same environment.
	$(BIN)/uv sync --frozen --inexact --quiet
	touch $(STAMP)

venv: $(STAMP)

$(WEB_STAMP): $(WEB)/package.json $(WEB)/package-lock.json
	cd $(WEB) && npm ci --no-audit --no-fund --silent
	touch $(WEB_STAMP)

web: $(WEB_STAMP)

# The uplink hot path compiled by mypyc into build/native/ (nightwatch/native_hook.py), only when a source differs
# from the build's manifest; also installs the .pth file that loads it in every process of the virtualenv.
native: $(STAMP)
	$(BIN)/python scripts/build_native.py

test: $(STAMP) $(WEB_STAMP) native
	$(BIN)/pytest

# The same suite on the interpreted sources, as where nothing is compiled (CI runs both).
test-interpreted: $(STAMP) $(WEB_STAMP)
	NIGHTWATCH_NATIVE=0 $(BIN)/pytest

# The long versions of the fault tests (docs/reliability.md): 10,000 alarms through ten kills, a 60 s broker
# outage, a 30,000-message burst, a 30 s flood of 1,000 frames/s from one ring, fuzzing with a hundred times the
# examples (hypothesis, and schemathesis against the API), and two minutes of coverage-guided fuzzing (atheris)
# per parser, and the alarm's lifecycle model (docs/lifecycle.md) at 200,000 examples. `make test` runs each short.
soak: $(STAMP) native
	NIGHTWATCH_TEST_ALARMS=10000 NIGHTWATCH_TEST_KILLS=10 NIGHTWATCH_TEST_OUTAGE_S=60 NIGHTWATCH_TEST_BURST=30000 \
	NIGHTWATCH_TEST_FLOOD_S=30 NIGHTWATCH_TEST_ATHERIS_S=120 \
	HYPOTHESIS_PROFILE=soak $(BIN)/pytest tests/dispatch/test_kill.py tests/gateway/test_broker_outage.py \
	tests/dispatch/test_burst.py tests/dispatch/test_flood.py \
	tests/protocol/test_codec_properties.py tests/dispatch/test_envelope.py tests/gateway/test_semtech.py \
	tests/dispatch/test_mqtt_wire.py tests/dispatch/test_mqtt_hostile_packets.py \
	tests/dispatch/test_mqtt_hostile_traffic.py tests/dispatch/test_api_schemathesis.py tests/test_fuzz_targets.py \
	tests/lifecycle/test_model.py

# Mutation testing of incidents, assignment and lifecycle (docs/testing.md): about a minute, not part of `make test`.
# mutmut runs in a fresh copy of the sources, interpreted: the import hook loads compiled modules only into this
# checkout's own packages (nightwatch/native_hook.py), so the copy's mutants are what runs.
MUTATION := build/mutation

mutate: $(STAMP)
	rm -rf $(MUTATION) && mkdir -p $(MUTATION)
	tar -cf - --exclude='*.so' --exclude=__pycache__ --exclude=node_modules \
		basestation nightwatch protocol harness tests pyproject.toml uv.lock | tar -xf - -C $(MUTATION)
	cd $(MUTATION) && $(CURDIR)/$(BIN)/mutmut run --max-children 2
	cd $(MUTATION) && $(CURDIR)/$(BIN)/mutmut results
	# The score per module; below 90 % killed fails.
	cd $(MUTATION) && $(CURDIR)/$(BIN)/mutmut results --all true | awk '{ split($$1, p, "."); n[p[4]]++; \
		k[p[4]] += ($$NF == "killed") } END { for (m in n) { printf "%-11s %3d of %3d killed, %5.1f %%\n", m, \
		k[m], n[m], 100 * k[m] / n[m]; if (k[m] < 0.9 * n[m]) low = 1 } exit low }'

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	# The firmware is MicroPython: checked by pyright against the ESP32 stubs (pyright needs node on PATH).
	$(BIN)/pyright

firmware: $(STAMP)
	$(BIN)/python scripts/build_firmware.py

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The service's words (docs/dispatch.md, "Words and languages"): the keys found in the Python, the templates and
# the scripts (babel.cfg) into the template, then into each language's catalogue. A new key arrives empty in every
# language, to be written there; a key no longer used leaves. tests/web/test_catalogues.py fails until both are
# done. pybabel comes with the lock file's babel.
LOCALE := basestation/dispatch/locale
I18N_KEYWORDS := -k t -k text:2 -k plural:2,2 -k N_

# The template is replaced only when more than its creation date changed, so that a run that finds the same words
# leaves the tree as it was.
i18n: $(STAMP)
	$(BIN)/pybabel -q extract -F babel.cfg --no-default-keywords $(I18N_KEYWORDS) --no-location --no-wrap \
		--sort-output --project Nightwatch --version 0.1.0 \
		--header-comment "# The service's words: docs/dispatch.md, Words and languages." -o $(LOCALE)/messages.pot.new .
	if diff -q -I '^"POT-Creation-Date: ' $(LOCALE)/messages.pot $(LOCALE)/messages.pot.new >/dev/null 2>&1; \
		then rm $(LOCALE)/messages.pot.new; else mv $(LOCALE)/messages.pot.new $(LOCALE)/messages.pot; fi
	$(BIN)/pybabel -q update -i $(LOCALE)/messages.pot -d $(LOCALE) --no-fuzzy-matching --ignore-obsolete --no-wrap \
		--ignore-pot-creation-date

bench: $(STAMP) native
	$(BIN)/python -m bench

demo: $(STAMP) $(WEB_STAMP) native
	$(BIN)/nightwatch demo

clean:
	test ! -x $(BIN)/python || $(BIN)/python scripts/build_native.py --clean
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis build/native
