# One entry point for every routine job. `make test` is what CI runs (.ci/run).
PYTHON_VERSION := 3.12
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
export PATH := $(BIN):$(PATH)
export SAM_CLI_TELEMETRY := 0
export AWS_DEFAULT_REGION ?= us-east-1
BUILD_DIR := .aws-sam/build

.PHONY: venv lock lint format validate build browser test unit integration e2e demo serve bench clean

# The dev virtual environment, on the Lambda runtime's minor version: exactly the locked set, hashes checked.
# pip brings in the locked uv alone (its entry of the lock), and uv the rest: in parallel, several times faster.
$(VENV)/.installed: requirements-dev.txt
	@command -v python$(PYTHON_VERSION) >/dev/null || { echo "python$(PYTHON_VERSION) is required (pyenv install $(PYTHON_VERSION))"; exit 1; }
	test -x $(BIN)/python || python$(PYTHON_VERSION) -m venv $(VENV)
	awk '/^uv==/ {entry = 1} entry {print} entry && !/\\$$/ {exit}' requirements-dev.txt > $(VENV)/uv-lock.txt
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r $(VENV)/uv-lock.txt
	$(BIN)/uv pip install --quiet --python $(BIN)/python --require-hashes --no-deps -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

# The lock, from pyproject.toml's pins: every package with its hashes, transitive ones too. The layer's set
# is resolved inside the dev set, so both install the same versions; the offline LLM's venv has its own
# (Linux x86_64 only, as the prebuilt llama.cpp wheel is).
# Run after changing a pin.
LOCK := uv pip compile --python-version $(PYTHON_VERSION) --generate-hashes --quiet --custom-compile-command "make lock"
lock: venv
	$(LOCK) --universal pyproject.toml --group pyproject.toml:dev -o requirements-dev.txt
	$(LOCK) --universal pyproject.toml -c requirements-dev.txt -o shared/requirements.txt
	$(LOCK) --python-platform x86_64-manylinux_2_28 local/offline_llm.in --override local/offline_llm.overrides \
		-o local/offline_llm.txt

lint: venv
	ruff check .
	ruff format --check .
	mypy

format: venv
	ruff check --fix .
	ruff format .

# SAM's own checks, then AWS's serverless rules for cfn-lint; .cfnlintrc says which rules are waived and why.
validate: venv
	sam validate --lint
	cfn-lint --append-rules cfn_lint_serverless.rules -- template.yaml

# sam build puts each function and the layer under $(BUILD_DIR); the local runner uses that layout.
build: venv
	sam build --cached

unit: venv
	pytest tests/unit

integration: venv build
	pytest tests/integration

e2e: venv build browser
	pytest tests/e2e

# The property tests on their thorough profile (tests/conftest.py).
test: lint validate build browser
	pytest --hypothesis-profile=thorough

# Debian's chromium for the web chat page's browser test (tests/e2e/test_web_chat_page.py), installed with
# apt when it is missing and this runs as root; otherwise the test says why it is skipped (CI fails it).
browser:
	@test -x /usr/bin/chromium || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
		echo "chromium is not installed (apt-get install chromium): the web chat page's browser test is skipped"

# A scripted call and SMS thread through the local stack (the offline LLM unless OPENAI_API_KEY is set).
demo: venv
	python -m local.demo

# The local stack for real VoIPBin traffic through a tunnel (README: "Real calls on your machine").
serve: venv
	python -m local.serve

# Turn latency, streaming gain, cold starts, cost and scale on loopback: writes BENCHMARKS.md (minutes).
bench: venv build
	python -m bench.run

# sam build's targets (template.yaml: BuildMethod makefile, ContextPath .). SAM runs each in a copy of the
# resource's CodeUri with ARTIFACTS_DIR set. Every module ships with bytecode checked by hash, not by time:
# SAM's zips carry 1980 timestamps, so timestamp-checked .pyc never validate, and Lambda's /var/task and
# /opt are read-only, so without these every cold start compiles every module from source.
# The layer also carries search_knowledge's index of the knowledge/ folder (voipbin_ai/knowledge/index.py):
# shared/knowledge is a link to it, so SAM copies the documents in with shared/ and, with --cached, builds the
# layer again when they change (its cache key is a digest of shared/, links followed).
COMPILE := python$(PYTHON_VERSION) -m compileall -q -f -j 0 --invalidation-mode unchecked-hash
build-SharedLayer:
	python$(PYTHON_VERSION) -m pip install --quiet --disable-pip-version-check --no-compile --require-hashes \
		--no-deps --only-binary=:all: --platform manylinux2014_x86_64 --implementation cp \
		--python-version $(PYTHON_VERSION) --target "$(ARTIFACTS_DIR)/python" -r requirements.txt
	cp -R voipbin_ai "$(ARTIFACTS_DIR)/python/"
	python$(PYTHON_VERSION) -m voipbin_ai.knowledge.index knowledge "$(ARTIFACTS_DIR)/python/voipbin_ai/knowledge/index.sqlite3"
	find "$(ARTIFACTS_DIR)/python" -name __pycache__ -prune -exec rm -rf {} +
	$(COMPILE) "$(ARTIFACTS_DIR)/python"

build-%Function:
	cp -R . "$(ARTIFACTS_DIR)/"
	find "$(ARTIFACTS_DIR)" -name __pycache__ -prune -exec rm -rf {} +
	$(COMPILE) "$(ARTIFACTS_DIR)"

clean:
	rm -rf $(BUILD_DIR) .aws-sam/cache .pytest_cache .mypy_cache .ruff_cache
