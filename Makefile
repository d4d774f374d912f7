SHELL := /bin/bash
# Sendense: the two commands of the README, and their parts.
#   make run    install system packages, build release, serve on :8082 with ./data
#   make test   install test dependencies, build, check (warnings, imports, OpenAPI), run every test (Swift, then the GUI in Chromium)
#   make bench  benchmarks against the reference tools and the hub under load (release build; not part of test)
#   make fuzz   mutated filesystem images fed to file-restore workers, mutated QCOW2 images to the reader and
#               manifests to rescan and verify, FUZZ_SECONDS each (default 1800; make test runs 60, 20 and 20)
#   make contract  the hub against its OpenAPI document (Schemathesis) with a random seed; CONTRACT_SECONDS of fuzzing and stateful runs (default 900; make test gives 180, fixed seed)

DATA_DIR ?= ./data
PORT     ?= 8082
BIND     ?= 0.0.0.0
SWIFT    ?= swift

.PHONY: run test bench fuzz contract test-recovery-sizes deps test-deps build release check-openapi clean

run: deps release
	.build/release/sendense hub --data-dir $(DATA_DIR) --port $(PORT) --bind $(BIND)

# Tests run one at a time, printing as they go, with a deadline (scripts/run-tests.sh).
test: test-deps
	@mkdir -p .build
	scripts/build-vcsim.sh
	$(SWIFT) build --build-tests 2>&1 | tee .build/build-tests.log; test $${PIPESTATUS[0]} -eq 0
	scripts/check-warnings.sh < .build/build-tests.log
	python3 scripts/check-imports.py
	python3 scripts/check-words.py
	$(MAKE) check-openapi
	scripts/run-tests.sh
	python3 Tests/e2e/gui_test.py
	python3 Tests/faults/disk_full_test.py
	python3 Tests/faults/kill_campaign_test.py
	python3 Tests/api/contract_test.py

# BENCH=backup|files|discovery|telemetry|api runs one part; api is the hub under wrk (scripts/bench-api-load.sh).
bench: test-deps
	scripts/build-vcsim.sh
	$(SWIFT) build -c release --product sendense-bench
	$(SWIFT) build -c release --product sendense
	[ "$(BENCH)" = api ] || .build/release/sendense-bench
	[ -n "$(BENCH)" ] && [ "$(BENCH)" != api ] || scripts/bench-api-load.sh

FUZZ_SECONDS ?= 1800
fuzz: test-deps
	$(SWIFT) build --build-tests
	FUZZ_SECONDS=$(FUZZ_SECONDS) $(SWIFT) test --skip-build --disable-xctest --filter 'FilesystemFuzzTests|QCOW2FuzzTests|ManifestFuzzTests'

# Instant recovery time for bigger points than CI's 4 GiB (Tests/CLITests/RecoveryCLITests.swift).
RECOVERY_SIZES_GIB ?= 4 20
test-recovery-sizes: test-deps
	$(SWIFT) build --build-tests
	RECOVERY_SIZES_GIB="$(RECOVERY_SIZES_GIB)" scripts/run-tests.sh --filter timeIndependentOfSize

CONTRACT_SECONDS ?= 900
contract: test-deps
	$(SWIFT) build
	CONTRACT_SECONDS=$(CONTRACT_SECONDS) CONTRACT_SEED=$${CONTRACT_SEED:-random} python3 Tests/api/contract_test.py

deps:
	scripts/install-deps.sh

test-deps:
	scripts/install-deps.sh --test

build:
	$(SWIFT) build

release:
	$(SWIFT) build -c release

check-openapi:
	python3 -m openapi_spec_validator Sources/Hub/Resources/openapi.yaml

clean:
	rm -rf .build
