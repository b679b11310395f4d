# berth — the two commands a newcomer needs are `make run` and `make test`.
SHELL := /bin/bash
SWIFT ?= swift
BERTH := .build/debug/berth
BIND ?= 127.0.0.1:8000

.PHONY: all setup build release run dev test test-swift test-python test-e2e check clean fuzz

all: build

## setup: Debian packages and .venv (idempotent)
setup:
	@scripts/setup.sh

# berth-init, the containers' pid 1: static C beside each berth binary (ContainerLauncher
# finds it there; without it pid 1 stays a fork of berth, at a few MiB of RSS per worker).
# Freestanding (no libc: its two system calls are made directly): 16 KiB resident, where
# static glibc's start-up made it 0.7 MiB per container.
CC ?= cc
INIT_CFLAGS := -Os -static -nostdlib -ffreestanding -fno-stack-protector \
	-fno-asynchronous-unwind-tables -Wall -Wextra -Werror

# The worker package's bytecode, compiled here because an isolated worker's root is read-only:
# Python could never cache it there, and would compile the package anew in every worker it
# starts (15–25 ms each). Debian's python3, the interpreter the project's .venv is made from;
# another Python version simply compiles in memory as before. Stale files are rewritten.
WORKER_BYTECODE := /usr/bin/python3 -m compileall -q python/berth_worker

## build: debug build of berth and its tests (one build serves both)
build:
	$(SWIFT) build --build-tests
	$(CC) $(INIT_CFLAGS) -o .build/debug/berth-init support/berth-init.c
	$(WORKER_BYTECODE)

## release: optimized build, for load and benchmarks. The Swift runtime and Foundation are
## linked in statically (only what berth uses is kept: ~5 MiB less RSS, no PLT hop per
## retain/release), and the runtime exclusivity checks are compiled out of every module
## (NIO's included); debug builds, which every test runs, keep them. lld packs the relative
## relocations (DT_RELR: a 2.4 MB table becomes 40 KB) and berth exports no symbols (the
## static stdlib's link arguments export all of them: a 1.9 MB table): pages start-up
## no longer reads (docs/performance.md, "Memory").
RELEASE_FLAGS := -c release --static-swift-stdlib -Xswiftc -enforce-exclusivity=unchecked \
	-Xswiftc -use-ld=lld -Xlinker -z -Xlinker pack-relative-relocs -Xlinker --no-export-dynamic
release:
	$(SWIFT) build $(RELEASE_FLAGS)
	$(CC) $(INIT_CFLAGS) -o .build/release/berth-init support/berth-init.c
	$(WORKER_BYTECODE)

## run: serve samples/mysite through the whole stack on $(BIND) (serve mode, conf/berth.toml)
run: setup build
	@scripts/prepare-mysite.sh
	@echo "berth: open http://$(BIND)/ (admin at /admin/); Ctrl-C stops"
	$(BERTH) serve -c conf/berth.toml -b $(BIND)

## dev: the developer loop on samples/mysite (reload on save, tracebacks in the browser)
dev: setup build
	@scripts/prepare-mysite.sh
	$(BERTH) dev samples/mysite -b $(BIND)

## check: validate the example configs
check: build
	$(BERTH) check -c conf/berth.toml
	$(BERTH) check -c conf/dev.toml --mode dev

## test: everything CI runs
test: setup build test-swift test-python test-e2e

test-swift:
	$(SWIFT) test --skip-build

test-python:
	.venv/bin/python -m pytest -q python/tests

test-e2e:
	BERTH_BIN=$(abspath $(BERTH)) .venv/bin/python -m pytest -q tests/e2e

## fuzz: seeded random and mutated HTTP/2 frames into the session glue for 50 s (bounded;
## BERTH_FUZZ_SECONDS changes it, BERTH_FUZZ_SEED replays a run)
fuzz: build
	BERTH_FUZZ_SECONDS=$${BERTH_FUZZ_SECONDS:-50} timeout 120 $(SWIFT) test --skip-build --filter HTTP2FuzzTests

clean:
	rm -rf .build

## bench: berth against nginx, gunicorn, uWSGI and Granian (~16 min; installs the anchors
## and builds berth in release mode first); writes bench/results/ and docs/performance.md
bench: setup
	BENCH_MAKE_COMMAND="make bench" /usr/bin/python3 bench/run.py

## bench-quick: the same in ~3 minutes (fewer, shorter rounds; no 100 KiB workload)
bench-quick: setup
	BENCH_MAKE_COMMAND="make bench-quick" /usr/bin/python3 bench/run.py --quick

## instructions: user-space instructions per static request, berth beside nginx, counted by
## callgrind (~1 minute; the noise-free figure for the front's static path)
instructions: release
	bench/instructions.sh

.PHONY: bench bench-quick instructions
