# bublk: BPF-target ublk devices.   make | make test | make bench | make install
#   make fuzz [FUZZ_TIME=60] | make test SAN=1 | make soak [SOAK_SECS=600 SOAK_KILLS=100]
#   make test-repeat [REPEAT=3]
#
# Everything builds into $(O) (default ./build): libbublk.a, the bublk
# command, the BPF target objects (build/bpf/*.bpf.o) and the test programs.

# make SAN=1 [test]: AddressSanitizer + UndefinedBehaviorSanitizer build of
# the runtime, loader and CLI, in its own tree (default O=build-san)
SAN		?= 0
ifeq ($(SAN),1)
O		?= build-san
endif
O		?= build
PREFIX		?= /usr/local
DESTDIR		?=
LIBDIR		?= $(PREFIX)/lib
TARGETDIR	?= $(LIBDIR)/bublk
CC		?= gcc
CLANG		?= clang-19
BPFTOOL		?= bpftool
VERSION		:= 0.1.0

# make V=1 shows every command
ifeq ($(V),1)
Q		:=
msg		= @true
else
Q		:= @
msg		= @printf '  %-7s %s\n' $(1) $(2)
endif

WARN		:= -Wall -Wextra -Werror
CFLAGS		?= -O2 -g
CFLAGS		+= -std=gnu11 $(WARN) -Iinclude -Iruntime/lib -Iruntime/cli -Iloader -I$(O) \
		   -D_GNU_SOURCE -DBUBLK_VERSION='"$(VERSION)"' \
		   -DBUBLK_TARGET_DIR='"$(TARGETDIR)"' $(EXTRA_CFLAGS)
ifeq ($(SAN),1)
CFLAGS		+= -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
endif
# NBD backends (runtime/lib/backend_nbd.c): libnbd-dev
NBD_LIBS	:= $(shell pkg-config --libs libnbd 2>/dev/null || echo -lnbd)
LDLIBS		:= -lbpf -luring -ljson-c -lelf -lz -lpthread $(NBD_LIBS)
BPF_CFLAGS	:= -target bpf -O2 -g -Wall -Werror -Iinclude -Ibpf -I$(O) -D__TARGET_ARCH_x86

# the project's BPF targets; every one must load on the host and VM kernels
TARGETS		:= null loop stripe linear mirror fault overlay
BPF_OBJS	:= $(TARGETS:%=$(O)/bpf/%.bpf.o)
# the same targets with bublk's in-kernel engine (bpf/engine.bpf.h): they
# load only where the kernel has io_uring_bpf_ops (7.1+); bublk picks them
KERN_OBJS	:= $(TARGETS:%=$(O)/bpf/%.kern.o)
# BPF for the test ublk module's hooks (selftests/kmod): built, never loaded
# on the host (their struct_ops types and kfuncs exist only in that module)
KMOD_BPF_OBJS	:= $(O)/bpf/sg_hook.bpf.o

LIB_SRCS	:= $(wildcard runtime/lib/*.c) $(wildcard loader/*.c)
LIB_OBJS	:= $(LIB_SRCS:%.c=$(O)/%.o)
CLI_SRCS	:= $(wildcard runtime/cli/*.c)
CLI_OBJS	:= $(CLI_SRCS:%.c=$(O)/%.o)
# what make install ships; ublk_proto.h and sg_hook.h are the kernel
# prototype's (docs/kernel-prototype.md) and stay in the tree
PUBLIC_HDRS	:= include/bublk/abi.h include/bublk/client.h include/bublk/engine.h include/bublk/ublk_uapi.h
HDRS		:= $(wildcard include/bublk/*.h runtime/lib/*.h runtime/cli/*.h loader/*.h)

TEST_PROGS	:= $(O)/selftests/unit $(O)/selftests/bpf_targets $(O)/selftests/cmap $(O)/selftests/nbd \
		   $(O)/examples/hello.bpf.o \
		   $(O)/examples/shmem_client \
		   $(patsubst selftests/targets/%.bpf.c,$(O)/selftests/targets/%.bpf.o,$(wildcard selftests/targets/*.bpf.c)) \
		   $(O)/examples/hello.kern.o \
		   $(patsubst selftests/targets/%.bpf.c,$(O)/selftests/targets/%.kern.o,$(wildcard selftests/targets/*.bpf.c))
KMOD_TEST_PROGS	:= $(patsubst selftests/kmod/%.c,$(O)/selftests/kmod/%,$(wildcard selftests/kmod/*_test.c))
TEST_PROGS	+= $(KMOD_TEST_PROGS)

all: $(O)/libbublk.a $(O)/bublk $(BPF_OBJS) $(KERN_OBJS) $(KMOD_BPF_OBJS) $(O)/bublk.pc

$(O)/vmlinux.h:
	@mkdir -p $(@D)
	$(call msg,BTF,$@)
	$(Q)$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@.tmp && mv $@.tmp $@

$(O)/bpf/sg_hook.bpf.o: bpf/sg_hook.bpf.c include/bublk/sg_hook.h include/bublk/ublk_proto.h $(O)/vmlinux.h
	@mkdir -p $(@D)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(O)/bpf/%.bpf.o: bpf/%.bpf.c bpf/bublk.bpf.h include/bublk/abi.h $(O)/vmlinux.h
	@mkdir -p $(@D)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(O)/bpf/%.kern.o: bpf/%.bpf.c bpf/bublk.bpf.h bpf/engine.bpf.h include/bublk/abi.h include/bublk/engine.h $(O)/vmlinux.h
	@mkdir -p $(@D)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -DBUBLK_ENGINE_KERNEL -c $< -o $@

$(O)/selftests/targets/%.bpf.o: selftests/targets/%.bpf.c bpf/bublk.bpf.h include/bublk/abi.h $(O)/vmlinux.h
	@mkdir -p $(@D)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(O)/selftests/targets/%.kern.o: selftests/targets/%.bpf.c bpf/bublk.bpf.h bpf/engine.bpf.h include/bublk/abi.h include/bublk/engine.h $(O)/vmlinux.h
	@mkdir -p $(@D)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -DBUBLK_ENGINE_KERNEL -c $< -o $@

# examples/ build on their own too (examples/Makefile); here with the tree's flags
$(O)/examples/%.bpf.o: examples/%.bpf.c bpf/bublk.bpf.h include/bublk/abi.h $(O)/vmlinux.h
	@mkdir -p $(@D)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(O)/examples/%.kern.o: examples/%.bpf.c bpf/bublk.bpf.h bpf/engine.bpf.h include/bublk/abi.h include/bublk/engine.h $(O)/vmlinux.h
	@mkdir -p $(@D)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -DBUBLK_ENGINE_KERNEL -c $< -o $@

$(O)/%.o: %.c $(HDRS)
	@mkdir -p $(@D)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(O)/libbublk.a: $(LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(O)/bublk: $(CLI_OBJS) $(O)/libbublk.a
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# the .pc names PREFIX: rebuilt whenever PREFIX or LIBDIR differ from the last build
PC_VARS		:= $(PREFIX):$(LIBDIR):$(VERSION):nbd
$(O)/bublk.pc: Makefile FORCE
	@mkdir -p $(@D)
	@if [ "$$(cat $@.vars 2>/dev/null)" != '$(PC_VARS)' ]; then \
		printf '  %-7s %s\n' GEN $@; \
		printf 'prefix=%s\nlibdir=%s\nincludedir=%s/include\n\nName: bublk\nDescription: BPF-target ublk block devices\nVersion: %s\nRequires.private: libbpf liburing libnbd\nLibs: -L$${libdir} -lbublk\nLibs.private: -lbpf -luring -ljson-c -lelf -lz -lpthread -lnbd\nCflags: -I$${includedir}\n' \
			'$(PREFIX)' '$(LIBDIR)' '$(PREFIX)' '$(VERSION)' > $@ && echo '$(PC_VARS)' > $@.vars; \
	fi

$(O)/examples/shmem_client: examples/shmem_client.c $(O)/libbublk.a include/bublk/client.h
	@mkdir -p $(@D)
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $< $(O)/libbublk.a $(LDLIBS)

$(O)/selftests/kmod/%: selftests/kmod/%.c $(O)/libbublk.a $(HDRS)
	@mkdir -p $(@D)
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $< $(O)/libbublk.a $(LDLIBS)

$(O)/selftests/%: selftests/host/%.c $(O)/libbublk.a $(HDRS)
	@mkdir -p $(@D)
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $< $(O)/libbublk.a $(LDLIBS)

# --- fuzzing (libFuzzer, clang-19 + libclang-rt-19-dev) --------------------
# Each harness selftests/fuzz/fuzz_NAME.c is linked with the project's own
# sources built for fuzzing into $(O)/fuzz/. "make fuzz" runs each for
# FUZZ_TIME seconds from its seed corpus (selftests/fuzz/corpus/NAME/; new
# finds go to $(O)/fuzz/corpus/NAME/, crashes to $(O)/fuzz/crash-NAME-*);
# "make test" runs each for a few seconds (selftests/fuzz/run.sh).
FUZZ_TIME	?= 60
FUZZERS		:= $(patsubst selftests/fuzz/fuzz_%.c,%,$(wildcard selftests/fuzz/fuzz_*.c))
FUZZ_BINS	:= $(FUZZERS:%=$(O)/fuzz/fuzz_%)
FUZZ_SAN	:= -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS	:= -O1 -g -std=gnu11 -Wall -Iinclude -Iruntime/lib -Iruntime/cli -Iloader \
		   -D_GNU_SOURCE -DBUBLK_VERSION='"$(VERSION)"' -DBUBLK_TARGET_DIR='"$(TARGETDIR)"' \
		   -fno-omit-frame-pointer $(FUZZ_SAN)
FUZZ_OBJS	:= $(patsubst %.c,$(O)/fuzz/obj/%.o,$(LIB_SRCS) $(filter-out runtime/cli/main.c,$(CLI_SRCS)))

$(O)/fuzz/obj/%.o: %.c $(HDRS)
	@mkdir -p $(@D)
	$(call msg,FUZZCC,$@)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(O)/fuzz/fuzz_%: selftests/fuzz/fuzz_%.c $(FUZZ_OBJS)
	$(call msg,FUZZLD,$@)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)

fuzz-build: deps
	@$(MAKE) --no-print-directory $(FUZZ_BINS)

fuzz: fuzz-build
	@FUZZ_TIME=$(FUZZ_TIME) O=$(O) bash selftests/fuzz/run.sh $(FUZZERS)

$(O)/selftests/bench/%: selftests/bench/%.c selftests/host/target_fixture.h $(O)/libbublk.a $(HDRS)
	@mkdir -p $(@D)
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS) -Iselftests/host -o $@ $< $(O)/libbublk.a $(LDLIBS)

deps:
	@bash selftests/install-deps.sh

# The sanitized pass (make test SAN=1, run by CI after make test): host
# tests, then these device tests in the VM, with the ASan/UBSan build.
SAN_DEVICE_TESTS ?= t_loop_fio_verify t_loop_modes t_loop_backing t_loop_discard t_hostile_modes t_nbd t_nbd_reconnect t_nbd_junk t_zero_copy_manual t_batch_io

test: deps
ifeq ($(SAN),1)
	@$(MAKE) --no-print-directory all $(TEST_PROGS)
	@BUBLK_O=$(O) BUBLK_SAN=1 BUBLK_FUZZ=0 bash selftests/run.sh $(SAN_DEVICE_TESTS)
else
	@$(MAKE) --no-print-directory all $(TEST_PROGS) $(FUZZ_BINS)
	@BUBLK_O=$(O) bash selftests/run.sh
endif

# The determinism check: the device suite REPEAT times on every VM kernel
# with a CPU hog beside it (docs/reliability.md); any failure is a defect.
REPEAT		?= 3
test-repeat: deps
	@$(MAKE) --no-print-directory all $(TEST_PROGS)
	@BUBLK_O=$(O) BUBLK_FUZZ=0 BUBLK_KMOD=0 BUBLK_TEST_REPEAT=$(REPEAT) BUBLK_TEST_HOG=1 BUBLK_EVERY_KERNEL=1 \
		bash selftests/run.sh

# The device suite once more on the newest VM kernel with batched commands
# (UBLK_F_BATCH_IO): every bublk add of every test gets TEST_ADD_ARGS
# (selftests/device/bublk_with_args.sh). Tests that are about what --batch
# leaves out (QUIESCE, --legacy) are BATCH_SKIP.
TEST_ADD_ARGS	?= --batch
BATCH_SKIP	?= t_quiesce t_legacy_opcodes
test-batch: deps
	@$(MAKE) --no-print-directory all $(TEST_PROGS)
	@BUBLK_O=$(O) BUBLK_FUZZ=0 BUBLK_KMOD=0 BUBLK_VM_KSETS=newest BUBLK_EVERY_KERNEL=1 \
		BUBLK_TEST_ADD_ARGS="$(TEST_ADD_ARGS)" BUBLK_SKIP_TESTS="$(BATCH_SKIP)" bash selftests/run.sh

# Long runs of the reliability tests: 10 minutes of fio for the memory and
# fd checks (t_leaks), 100 kill -9 + recover cycles (t_crash_soak).
SOAK_SECS	?= 600
SOAK_KILLS	?= 100
soak: deps
	@$(MAKE) --no-print-directory all $(TEST_PROGS)
	@BUBLK_O=$(O) BUBLK_FUZZ=0 BUBLK_SOAK_SECS=$(SOAK_SECS) BUBLK_SOAK_KILLS=$(SOAK_KILLS) \
		BUBLK_TEST_TIMEOUT=$$(($(SOAK_SECS) * 2 + 600)) BUBLK_VM_TIMEOUT=$$(($(SOAK_SECS) * 4 + 1200)) \
		bash selftests/run.sh t_leaks t_crash_soak

# benchmarks: never part of make test (numbers are reported, not asserted)
BENCH_PROGS	:= $(O)/selftests/bench/dispatch $(O)/selftests/bench/ticks

bench: deps
	@bash selftests/bench/install-deps.sh
	@$(MAKE) --no-print-directory all $(BENCH_PROGS)
	@bash selftests/bench/run.sh

demo: deps
	@$(MAKE) --no-print-directory all
	@bash selftests/demo.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(LIBDIR)/pkgconfig \
		$(DESTDIR)$(TARGETDIR) $(DESTDIR)$(PREFIX)/include/bublk
	install -m 755 $(O)/bublk $(DESTDIR)$(PREFIX)/bin/bublk
	install -m 644 $(O)/libbublk.a $(DESTDIR)$(LIBDIR)/libbublk.a
	install -m 644 $(BPF_OBJS) $(KERN_OBJS) $(DESTDIR)$(TARGETDIR)/
	install -m 644 $(PUBLIC_HDRS) $(DESTDIR)$(PREFIX)/include/bublk/
	install -m 644 bpf/bublk.bpf.h $(DESTDIR)$(PREFIX)/include/bublk/bublk.bpf.h
	install -m 644 bpf/engine.bpf.h $(DESTDIR)$(PREFIX)/include/bublk/engine.bpf.h
	install -m 644 $(O)/bublk.pc $(DESTDIR)$(LIBDIR)/pkgconfig/bublk.pc

clean:
	rm -rf $(O)/bpf $(O)/runtime $(O)/loader $(O)/selftests $(O)/bublk $(O)/libbublk.a \
		$(O)/bublk.pc $(O)/vmlinux.h $(O)/fuzz

.PHONY: all deps test test-repeat test-batch soak fuzz fuzz-build bench demo install clean FORCE
FORCE:
.SECONDARY:
