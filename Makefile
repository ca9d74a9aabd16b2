# pagebus — one plain GNU Makefile. Objects live under $(BUILD) (default build/);
# `make asan` reuses every rule with BUILD=build/asan and sanitizer flags.
.DELETE_ON_ERROR:
.SECONDARY:
.SUFFIXES:

BUILD    ?= build
PREFIX   ?= /usr/local
DESTDIR  ?=
CC       ?= cc
V        ?= 0
ifeq ($(V),0)
Q := @
else
Q :=
endif

VERSION  := 0.1.0
WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes
CFLAGS   ?= -O2 -g
SANFLAGS ?=
ALL_CFLAGS := -std=gnu11 $(CFLAGS) $(WARN) $(SANFLAGS) -fPIC -fvisibility=hidden \
              -D_GNU_SOURCE -I. -Iclient -Iuring -Ibus -MMD -MP
LDFLAGS  ?=
ALL_LDFLAGS := $(LDFLAGS) $(SANFLAGS)
LIBS     := -luring -lpthread -lz -lsnappy -llz4 -lzstd

# Sources, by module folder. main() lives only in files named after their binary.
CLIENT_MAINS := client/pagebus.c
BUS_MAINS    := bus/pagebusd.c
BENCH_MAINS  := $(wildcard bench/pagebus-*.c)
CLIENT_SRCS  := $(filter-out $(CLIENT_MAINS),$(wildcard client/*.c))
CLI_SRCS     := $(wildcard client/cli/*.c)
URING_SRCS   := $(wildcard uring/*.c)
BUS_SRCS     := $(filter-out $(BUS_MAINS),$(wildcard bus/*.c))
TEST_SRCS    := $(wildcard tests/test_*.c)
TEST_HELPERS := $(filter-out $(TEST_SRCS),$(wildcard tests/*.c))

obj = $(patsubst %.c,$(BUILD)/%.o,$(1))

LIBPAGEBUS_A  := $(BUILD)/libpagebus.a
LIBPAGEBUS_SO := $(BUILD)/libpagebus.so
LIBURING_A    := $(BUILD)/libpburing.a
LIBBUS_A      := $(BUILD)/libbus.a
INTERNAL_LIBS := $(LIBBUS_A) $(LIBURING_A) $(LIBPAGEBUS_A)

BINS  := $(BUILD)/pagebusd $(patsubst bench/%.c,$(BUILD)/%,$(BENCH_MAINS))
ifneq ($(wildcard $(CLIENT_MAINS)),)
BINS  += $(BUILD)/pagebus
endif
TESTS := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRCS))
CRASH_TEST := $(BUILD)/tests/crash/test_crash
TESTS += $(CRASH_TEST)
FUZZ_NAMES := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
TESTS += $(patsubst %,$(BUILD)/tests/fuzz/replay_%,$(FUZZ_NAMES))

.PHONY: all test check asan run install clean deps bench-deps bench-report soak fuzz fuzz-bins fuzz-seeds
all: $(BINS) $(LIBPAGEBUS_A) $(LIBPAGEBUS_SO) $(TESTS)

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(LIBPAGEBUS_A): $(call obj,$(CLIENT_SRCS))
$(LIBURING_A): $(call obj,$(URING_SRCS))
$(LIBBUS_A): $(call obj,$(BUS_SRCS))
$(BUILD)/%.a:
	@mkdir -p $(@D)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

$(LIBPAGEBUS_SO): $(call obj,$(CLIENT_SRCS)) client/libpagebus.map
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -shared -Wl,-soname,libpagebus.so.0 -Wl,--version-script=client/libpagebus.map \
		$(ALL_LDFLAGS) -o $@ $(call obj,$(CLIENT_SRCS)) $(LIBS)

$(BUILD)/pagebusd: $(call obj,$(BUS_MAINS)) $(INTERNAL_LIBS)
# the pagebus command's own modules (client/cli/) link into it alone, not into libpagebus
$(BUILD)/pagebus: $(call obj,$(CLIENT_MAINS) $(CLI_SRCS)) $(INTERNAL_LIBS)
$(foreach b,$(BENCH_MAINS),$(eval $(BUILD)/$(basename $(notdir $(b))): $(call obj,$(b)) $(INTERNAL_LIBS)))
# pagebus-bench's modules (bench/bench_*.c) link into it alone (and the histogram into its
# test); its ZeroMQ and iceoryx peers are compiled only where their headers are installed.
BENCH_MODS := $(wildcard bench/bench_*.c)
HAVE_ZMQ   := $(shell printf '\043include <zmq.h>\n' | $(CC) -E -x c - >/dev/null 2>&1 && echo 1)
$(BUILD)/pagebus-bench: $(call obj,$(BENCH_MODS))
# pagebus-fetch-bench borrows its Fetch client, broker control and limits
$(BUILD)/pagebus-fetch-bench: $(call obj,bench/bench_kafka.c bench/bench_proc.c bench/bench_limits.c bench/bench_hist.c)
$(BUILD)/tests/test_bench: $(BUILD)/bench/bench_hist.o | $(BUILD)/pagebus-bench
ifeq ($(HAVE_ZMQ),1)
$(BUILD)/bench/bench_peers.o: ALL_CFLAGS += -DPB_HAVE_ZMQ
$(BUILD)/pagebus-bench: LIBS += -lzmq
endif
# iceoryx 2.x installs its headers under a versioned directory
IOX_INC := $(patsubst %/iceoryx_binding_c/runtime.h,%,$(firstword $(wildcard /usr/include/iceoryx/v*/iceoryx_binding_c/runtime.h)))
ifneq ($(IOX_INC),)
$(BUILD)/bench/bench_peers.o: ALL_CFLAGS += -DPB_HAVE_ICEORYX -I$(IOX_INC)
$(BUILD)/pagebus-bench: LIBS += -liceoryx_binding_c
endif
# `pagebus trace` (bus/bpf/): a BPF tool is x.bpf.c (kernel side, CO-RE against the running
# kernel's BTF), x.h (what both sides share) and x.c (the loader, linked into the pagebus
# command with libbpf). vmlinux.h and the skeletons x.skel.h are generated under $(BUILD)/bpf.
BPFTOOL     ?= bpftool
BPF_CLANG   ?= clang
VMLINUX_BTF ?= /sys/kernel/btf/vmlinux
BPF_ARCH    := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
BPF_PROGS   := $(wildcard bus/bpf/*.bpf.c)
BPF_SKELS   := $(patsubst bus/bpf/%.bpf.c,$(BUILD)/bpf/%.skel.h,$(BPF_PROGS))
BPF_LOADERS := $(filter-out $(BPF_PROGS),$(wildcard bus/bpf/*.c))
$(BUILD)/bpf/vmlinux.h:
	@mkdir -p $(@D)
	@command -v $(BPFTOOL) >/dev/null || { echo "make: $(BPFTOOL) not found: pagebus trace needs it to build its BPF programs ('make deps' installs the Debian package bpftool)" >&2; exit 1; }
	@test -r $(VMLINUX_BTF) || { echo "make: $(VMLINUX_BTF) is missing: this kernel has no BTF (CONFIG_DEBUG_INFO_BTF), which the CO-RE programs of pagebus trace are built against" >&2; exit 1; }
	@$(if $(Q),echo "  BTF     $@")
	$(Q)$(BPFTOOL) btf dump file $(VMLINUX_BTF) format c > $@
$(BUILD)/bpf/%.bpf.o: bus/bpf/%.bpf.c bus/bpf/%.h $(BUILD)/bpf/vmlinux.h
	@command -v $(BPF_CLANG) >/dev/null || { echo "make: $(BPF_CLANG) not found: the BPF programs of pagebus trace are compiled with clang -target bpf ('make deps')" >&2; exit 1; }
	@$(if $(Q),echo "  BPF     $<")
	$(Q)$(BPF_CLANG) -target bpf -g -O2 -Wall -Werror -D__TARGET_ARCH_$(BPF_ARCH) -I$(BUILD)/bpf -Ibus/bpf -c $< -o $@
$(BUILD)/bpf/%.skel.h: $(BUILD)/bpf/%.bpf.o
	@$(if $(Q),echo "  SKEL    $@")
	$(Q)$(BPFTOOL) gen skeleton $< name $*_bpf > $@
$(call obj,$(BPF_LOADERS)): $(BPF_SKELS)
$(call obj,$(BPF_LOADERS)): ALL_CFLAGS += -I$(BUILD)/bpf
$(BUILD)/pagebus: $(call obj,$(BPF_LOADERS))
$(BUILD)/pagebus: LIBS += -lbpf

$(BINS):
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $(filter %.o,$^) $(INTERNAL_LIBS) $(LIBS)

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(call obj,$(TEST_HELPERS)) $(INTERNAL_LIBS)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $(filter %.o,$^) $(INTERNAL_LIBS) -lcmocka $(LIBS)

# tests/crash/: the crash-consistency driver (SIGKILL, power cuts, client deaths) and its
# own log reader. `make test` runs its short cases; `make soak` runs SOAK_ITERATIONS
# (200) random iterations and prints one summary line (SEED=S replays a run).
$(CRASH_TEST): $(BUILD)/tests/crash/logcheck.o
$(BUILD)/tests/crash/%.o: ALL_CFLAGS += -Itests
SOAK_ITERATIONS ?= 200
soak: all
	$(Q)PAGEBUS_STRICT_FDS=1 BUILD=$(BUILD) $(CRASH_TEST) --soak $(SOAK_ITERATIONS) $(if $(SEED),--seed $(SEED))

# tests/fuzz/: libFuzzer targets fuzz_<target>.c. `make fuzz` builds them with clang
# (-fsanitize=fuzzer,address,undefined, objects in build/fuzz) and runs each for
# FUZZ_SECONDS (60) over its corpus tests/fuzz/corpus/<target>/ (seeds, and every crash
# ever found, which it writes there); FUZZ=<target> runs one. `make test` replays each
# corpus with the normal compiler and flags: replay_<target> = the target + replay.c.
$(BUILD)/tests/fuzz/replay_%: $(BUILD)/tests/fuzz/fuzz_%.o $(BUILD)/tests/fuzz/replay.o $(INTERNAL_LIBS)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $(filter %.o,$^) $(INTERNAL_LIBS) $(LIBS)
$(BUILD)/fuzz/%: $(BUILD)/tests/fuzz/fuzz_%.o $(INTERNAL_LIBS)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -fsanitize=fuzzer -o $@ $(filter %.o,$^) $(INTERNAL_LIBS) $(LIBS)
fuzz-bins: $(patsubst %,$(BUILD)/fuzz/%,$(FUZZ_NAMES))
# the seeds (a few valid inputs per target, made with the project's encoders)
$(BUILD)/tests/fuzz/%.o: ALL_CFLAGS += -Itests
fuzz-seeds: $(BUILD)/tests/fuzz/mkseeds
	$(Q)$(BUILD)/tests/fuzz/mkseeds tests/fuzz/corpus
FUZZ_SECONDS ?= 60
# where fuzz_recovery writes its partition files: a tmpfs when there is one
FUZZ_TMPDIR ?= $(if $(wildcard /dev/shm),/dev/shm,/tmp)
FUZZ ?= $(FUZZ_NAMES)
fuzz:
	$(Q)mkdir -p tests/fuzz/corpus
	$(Q)$(MAKE) --no-print-directory BUILD=build/fuzz CC=clang CFLAGS="-O1 -g" \
		SANFLAGS="-fsanitize=address,undefined,fuzzer-no-link -fno-omit-frame-pointer -fno-sanitize-recover=all" \
		fuzz-bins
	$(Q)status=0; for t in $(FUZZ); do \
		mkdir -p build/fuzz/found/$$t; \
		echo "fuzz $$t: $(FUZZ_SECONDS) s"; \
		TMPDIR=$(FUZZ_TMPDIR) build/fuzz/fuzz/$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 -print_final_stats=1 \
			-artifact_prefix=tests/fuzz/corpus/$$t/ build/fuzz/found/$$t tests/fuzz/corpus/$$t \
			>build/fuzz/$$t.log 2>&1 || { status=1; echo "fuzz $$t: FAILED, see build/fuzz/$$t.log"; }; \
		grep -h '^stat::number_of_executed_units\|^stat::peak_rss_mb' build/fuzz/$$t.log | tr '\n' ' '; echo; \
	done; exit $$status

# Build-time and test-time packages (Debian names). `make deps` installs only what is
# missing, and only as root; otherwise it prints the exact command and fails. `make
# bench-deps` does the same for the benchmark peers and plotting.
DEB_PKGS := gcc make liburing-dev libbpf-dev libcmocka-dev clang llvm bpftool pkg-config kcat \
            zlib1g-dev libsnappy-dev liblz4-dev libzstd-dev lz4 zstd prometheus
BENCH_PKGS := redis-server libzmq3-dev iceoryx libiceoryx-binding-c-dev gnuplot-nox linux-perf
apt_install_missing = @missing=""; for p in $(1); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then \
		echo "make $@: missing packages:$$missing"; \
		echo "make $@: run as root: apt-get update && apt-get install -y$$missing"; exit 1; \
	fi; \
	echo "make $@: installing$$missing"; \
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq$$missing
deps:
	$(call apt_install_missing,$(DEB_PKGS))
bench-deps:
	$(call apt_install_missing,$(BENCH_PKGS))
	$(Q)rm -f $(BUILD)/bench/bench_peers.o # rebuilt, with ZeroMQ if it just arrived

# The standard benchmark suite (~10 min): docs/benchmarks.md and docs/img/*.png.
bench-report: bench-deps
	$(Q)$(MAKE) --no-print-directory $(BUILD)/pagebusd $(BUILD)/pagebus-bench
	$(Q)BUILD=$(BUILD) bench/report.sh

test: deps
	$(Q)$(MAKE) --no-print-directory check

check: all
	$(Q)BUILD=$(BUILD) tests/run-tests.sh $(TESTS)

asan: deps
	$(Q)$(MAKE) --no-print-directory BUILD=build/asan \
		SANFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
		CFLAGS="-O1 -g" check

run: $(BUILD)/pagebusd
	$(BUILD)/pagebusd --dir ./pagebus-data

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include
	install -m 755 $(BINS) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(LIBPAGEBUS_A) $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(LIBPAGEBUS_SO) $(DESTDIR)$(PREFIX)/lib/libpagebus.so.$(VERSION)
	ln -sf libpagebus.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libpagebus.so.0
	ln -sf libpagebus.so.0 $(DESTDIR)$(PREFIX)/lib/libpagebus.so
	install -m 644 client/pagebus.h $(DESTDIR)$(PREFIX)/include/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' client/pagebus.pc.in \
		> $(DESTDIR)$(PREFIX)/lib/pkgconfig/pagebus.pc

clean:
	rm -rf build

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
