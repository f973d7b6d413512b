# MapleExpectation build.  Quick start: `make run`, `make test` (README.md).
#
#   make            build build/release/maplexp
#   make run        install missing packages, build, run the demo
#   make test       install missing packages, then build and run every test twice:
#                   a release build and an ASan+UBSan build (BUILD=asan)
#   make unit       unit tests of one build (BUILD=release|asan)
#   make system     system tests (pytest) against one build
#   make bench      benchmarks: bench/calc (valuation) and bench/http (service); docs/benchmarks.md
#
# No -ffast-math anywhere: Kahan summation and the spec's rounding depend on strict IEEE order.

BUILD   ?= release
OUT     ?= build/$(BUILD)
CC      ?= cc
PYTHON  := /usr/bin/python3

WARN    := -Wall -Wextra -Werror -Wshadow -Wvla -Wstrict-prototypes -Wmissing-prototypes \
           -Wformat=2 -Wno-format-nonliteral
CSTD    := -std=c17 -D_GNU_SOURCE
CFLAGS_release := -O2 -g
CFLAGS_asan    := -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
LDFLAGS_asan   := -fsanitize=address,undefined
COMMIT  := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
CFLAGS  := $(CSTD) $(WARN) $(CFLAGS_$(BUILD)) -Isrc -MMD -MP -DMAPLEXP_DATADIR=\"$(abspath data)\" \
           -DMAPLEXP_COMMIT=\"$(COMMIT)\" $(EXTRA_CFLAGS)
LDFLAGS := $(LDFLAGS_$(BUILD)) $(EXTRA_LDFLAGS)
LIBS    := -levent -levent_pthreads -lcurl -lsqlite3 -lcrypto -lcjson -lz -lm -lpthread

LIB_SRC  := $(wildcard src/base/*.c src/domain/*.c src/ops/*.c src/coord/*.c src/store/*.c \
              src/upstream/*.c src/app/*.c src/jobs/*.c src/http/*.c src/auth/*.c)
CLI_SRC  := $(wildcard src/cli/*.c) src/main.c
TEST_SRC := $(wildcard tests/unit/test_*.c)
TOOL_SRC := $(wildcard bench/*.c)
FAKE_SRC := $(wildcard tools/fake-nexon/*.c)

LIB_OBJ  := $(LIB_SRC:%.c=$(OUT)/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(OUT)/%.o)
TEST_BIN := $(TEST_SRC:tests/unit/%.c=$(OUT)/tests/%)
BENCH_BIN := $(TOOL_SRC:bench/%.c=$(OUT)/bench/%)
LIBA     := $(OUT)/libmaplexp.a
BIN      := $(OUT)/maplexp
FAKE_BIN := $(OUT)/fake-nexon
FAKE_OBJ := $(FAKE_SRC:%.c=$(OUT)/%.o)

.PHONY: all run test unit system bench deps clean check-all docs
.DEFAULT_GOAL := all

all: $(BIN) $(FAKE_BIN)

$(OUT)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(LIBA): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BIN): $(CLI_OBJ) $(LIBA)
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(LIBA) $(LIBS)

$(FAKE_BIN): $(FAKE_OBJ) $(LIBA)
	$(CC) $(LDFLAGS) -o $@ $(FAKE_OBJ) $(LIBA) $(LIBS)

$(OUT)/tests/%: tests/unit/%.c $(LIBA) tests/unit/testutil.h tests/unit/tu_tables.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/unit -o $@ $< $(LIBA) $(LIBS) -lcmocka $(LDFLAGS)

$(OUT)/bench/%: bench/%.c $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(LIBA) $(LIBS) $(LDFLAGS)

deps:
	@tools/deps.sh

# Unit tests run from the repository root so that they find data/ and tests/data/.
unit: $(TEST_BIN)
	@fail=0; for t in $(TEST_BIN); do \
	  echo "== $$t"; \
	  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 $$t || fail=1; \
	done; exit $$fail

system: $(BIN) $(FAKE_BIN)
	MAPLEXP_BIN=$(abspath $(BIN)) FAKE_NEXON_BIN=$(abspath $(FAKE_BIN)) ASAN_OPTIONS=detect_leaks=1 \
	  $(PYTHON) -m pytest -q -p no:cacheprovider tests/system

bench: deps
	$(MAKE) BUILD=release $(BENCH_BIN:build/$(BUILD)/%=build/release/%) build/release/maplexp
	bench/calc
	bench/http

check-all: $(BIN) $(FAKE_BIN) unit system

test: deps
	$(MAKE) BUILD=release check-all
	$(MAKE) BUILD=asan check-all

run: deps
	$(MAKE) BUILD=release all
	tools/demo.sh

# docs/config.md is generated from the settings table; a system test keeps it in step.
docs: $(BIN)
	{ echo "# Configuration of \`maplexp serve\`"; echo; \
	  echo "Generated from the settings table (\`src/ops/config.c\`) by \`make docs\`; \`tests/system/test_cli_misc.py\`"; \
	  echo "fails when this file and \`maplexp serve --help\` disagree."; echo; echo '```'; \
	  $(BIN) serve --help; echo '```'; } > docs/config.md

clean:
	rm -rf build

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(FAKE_OBJ:.o=.d)
