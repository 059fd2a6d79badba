# Vigil: one entry point. `make` builds bin/, `make test` runs every test,
# `make asan` builds with ASan+UBSan into bin/asan/ and runs the tests against it.

CC      ?= cc
PKGS    := libcurl jansson openssl sqlite3 libpcre2-8
# libwebsockets is Debian's 4.1.6 source with Vigil's patches, built static into bin/lws by
# scripts/build-lws (collector/patches/ says why).
LWS     := bin/lws
LWS_LIB := $(LWS)/lib/libwebsockets.a
VARIANT ?= release
ROOT    := $(CURDIR)

ifeq ($(VARIANT),asan)
BIN     := bin/asan
OPT     := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else ifeq ($(VARIANT),tsan)
# ThreadSanitizer, for the collector's threads (collector/README.md, "Checking the threads"): not part of
# `make test`; run a test against it with VIGIL_BIN=bin/tsan. lws and SQLite are not
# instrumented; their locks and each lws context's single thread are what they promise.
BIN     := bin/tsan
OPT     := -O1 -g -fsanitize=thread -fno-omit-frame-pointer
else
BIN     := bin
OPT     := -O2 -g
endif
OBJ     := bin/.obj/$(VARIANT)

PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
# snprintf truncation is the intended bound on every message buffer, so gcc may not
# warn about it; every other warning is an error.
CFLAGS  += -std=c11 -D_GNU_SOURCE \
           -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-format-truncation $(OPT) \
           -Ishared -Iprobe -Icollector -I$(LWS)/include $(PKG_CFLAGS) -MMD -MP
LDFLAGS += $(filter -fsanitize=%,$(OPT))
LDLIBS  += $(PKG_LIBS) -lpthread -lm

SHARED_SRC := $(wildcard shared/*.c)
PROBE_SRC  := $(filter-out probe/main.c,$(wildcard probe/*.c))
COLL_SRC   := $(filter-out collector/main.c,$(wildcard collector/*.c))
UNIT_SRC   := $(wildcard tests/unit/test_*.c)

SHARED_OBJ := $(SHARED_SRC:%.c=$(OBJ)/%.o)
PROBE_OBJ  := $(PROBE_SRC:%.c=$(OBJ)/%.o)
COLL_OBJ   := $(COLL_SRC:%.c=$(OBJ)/%.o)
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=$(BIN)/tests/%)

.PHONY: all test asan bench bench-stats demo clean setup fuzz
.SECONDARY:
all: $(BIN)/probe $(BIN)/collector $(UNIT_BIN) $(BIN)/tests/syncgate.so web/dist/vigil.js

# The beacon: esbuild through npm (web/README.md). npm ci runs in scripts/setup; here
# too if node_modules is missing, so that a plain `make` works after a fresh clone.
WEB_SRC := $(wildcard web/src/*.js web/src/dashboard/*) web/build.mjs web/package.json \
           web/package-lock.json
web/dist/vigil.js: $(WEB_SRC)
	@[ -d web/node_modules ] || (cd web && npm ci --no-audit --no-fund)
	cd web && npm run --silent build

$(OBJ)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(OBJ)/libvigil.a: $(SHARED_OBJ)
	$(AR) rcs $@ $^

$(BIN)/probe: $(OBJ)/probe/main.o $(PROBE_OBJ) $(OBJ)/libvigil.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(LWS_LIB): $(wildcard collector/patches/lws-4.1.6-*.patch) scripts/build-lws
	scripts/build-lws

# The collector's sources need lws's headers to exist, not to be newer.
$(COLL_OBJ) $(OBJ)/collector/main.o: | $(LWS_LIB)

$(BIN)/collector: $(OBJ)/collector/main.o $(COLL_OBJ) $(OBJ)/libvigil.a $(LWS_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lz -lcap

# Unit tests link every module of both binaries (not their mains) and the shared library.
$(BIN)/tests/%: $(OBJ)/tests/unit/%.o $(PROBE_OBJ) $(COLL_OBJ) $(OBJ)/libvigil.a $(LWS_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lz -lcap

# A slow disk on demand for the integration tests (tests/shims/syncgate.c), loaded with
# LD_PRELOAD; not instrumented in any variant, as it only waits.
$(BIN)/tests/syncgate.so: tests/shims/syncgate.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -Wall -Wextra -Werror -O2 -shared -fPIC -o $@ $< -ldl
setup:
	scripts/setup

test: setup
	$(MAKE) all
	VIGIL_ROOT=$(ROOT) VIGIL_BIN=$(ROOT)/$(BIN) tests/run

asan: setup
	$(MAKE) VARIANT=asan all
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
	VIGIL_ROOT=$(ROOT) VIGIL_BIN=$(ROOT)/bin/asan tests/run

# The comparator's full simulation (tests/stat/sim.c): error rates under repeated looks.
$(BIN)/stat-sim: $(OBJ)/tests/stat/sim.o $(OBJ)/libvigil.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

bench-stats: setup all $(BIN)/stat-sim
	nice $(BIN)/stat-sim

bench: setup all $(BIN)/stat-sim
	scripts/bench-probe
	scripts/bench-collector
	scripts/bench-schedule
	scripts/bench-scale
	nice $(BIN)/stat-sim

demo: setup all
	scripts/demo

# Fuzzing (tests/fuzz/README.md): libFuzzer harnesses built with clang, ASan and UBSan into
# bin/fuzz/, the project's modules compiled again for them with coverage instrumentation.
# `make fuzz` runs each for FUZZ_S seconds and fails on any crash, leak or timeout.
FUZZ_CC     := clang
FUZZ_S      ?= 60
FUZZ_OBJ    := bin/fuzz/.obj
FUZZ_SAN    := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O1 -g -fno-omit-frame-pointer \
               $(FUZZ_SAN) -fsanitize=fuzzer-no-link -Ishared -Iprobe -Icollector \
               -I$(LWS)/include $(PKG_CFLAGS) -MMD -MP
FUZZ_SRC    := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN    := $(FUZZ_SRC:tests/fuzz/%.c=bin/fuzz/%)
FUZZ_LIBOBJ := $(patsubst %.c,$(FUZZ_OBJ)/%.o,$(SHARED_SRC) $(PROBE_SRC) $(COLL_SRC))

$(FUZZ_OBJ)/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<

$(FUZZ_LIBOBJ): | $(LWS_LIB)

bin/fuzz/fuzz_%: $(FUZZ_OBJ)/tests/fuzz/fuzz_%.o $(FUZZ_OBJ)/tests/fuzz/fuzzkit.o $(FUZZ_LIBOBJ) \
            $(LWS_LIB)
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ $(PKG_LIBS) -lpthread -lm -lz -lcap

fuzz: $(FUZZ_BIN)
	tests/fuzz/run $(FUZZ_S) $(FUZZ_BIN)

# Keeps bin/lws: rebuilding it means fetching Debian's source again.
clean:
	rm -rf bin/.obj bin/asan bin/tsan bin/tests bin/probe bin/collector

-include $(shell find bin/.obj bin/fuzz/.obj -name '*.d' 2>/dev/null)
