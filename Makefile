# bublk: BPF-target ublk devices.   make | make test | make bench | make install
#
# Everything builds into $(O) (default ./build): libbublk.a, the bublk
# command, the BPF target objects (build/bpf/*.bpf.o) and the test programs.

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
LDLIBS		:= -lbpf -luring -lelf -lz -lpthread
BPF_CFLAGS	:= -target bpf -O2 -g -Wall -Werror -Iinclude -Ibpf -I$(O) -D__TARGET_ARCH_x86

# the project's BPF targets; every one must load on the host and VM kernels
TARGETS		:= null loop stripe
BPF_OBJS	:= $(TARGETS:%=$(O)/bpf/%.bpf.o)

LIB_SRCS	:= $(wildcard runtime/lib/*.c) $(wildcard loader/*.c)
LIB_OBJS	:= $(LIB_SRCS:%.c=$(O)/%.o)
CLI_SRCS	:= $(wildcard runtime/cli/*.c)
CLI_OBJS	:= $(CLI_SRCS:%.c=$(O)/%.o)
HDRS		:= $(wildcard include/bublk/*.h runtime/lib/*.h runtime/cli/*.h loader/*.h)

TEST_PROGS	:= $(O)/selftests/unit $(O)/selftests/bpf_targets $(O)/selftests/cmap \
		   $(patsubst selftests/targets/%.bpf.c,$(O)/selftests/targets/%.bpf.o,$(wildcard selftests/targets/*.bpf.c))

all: $(O)/libbublk.a $(O)/bublk $(BPF_OBJS) $(O)/bublk.pc

$(O)/vmlinux.h:
	@mkdir -p $(@D)
	$(call msg,BTF,$@)
	$(Q)$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@.tmp && mv $@.tmp $@

$(O)/bpf/%.bpf.o: bpf/%.bpf.c bpf/bublk.bpf.h include/bublk/abi.h $(O)/vmlinux.h
	@mkdir -p $(@D)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(O)/selftests/targets/%.bpf.o: selftests/targets/%.bpf.c bpf/bublk.bpf.h include/bublk/abi.h $(O)/vmlinux.h
	@mkdir -p $(@D)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

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

$(O)/bublk.pc: Makefile
	@mkdir -p $(@D)
	$(call msg,GEN,$@)
	$(Q)printf 'prefix=%s\nlibdir=%s\nincludedir=%s/include\n\nName: bublk\nDescription: BPF-target ublk block devices\nVersion: %s\nRequires.private: libbpf liburing\nLibs: -L$${libdir} -lbublk\nLibs.private: -lbpf -luring -lelf -lz -lpthread\nCflags: -I$${includedir}\n' \
		'$(PREFIX)' '$(LIBDIR)' '$(PREFIX)' '$(VERSION)' > $@

$(O)/selftests/%: selftests/host/%.c $(O)/libbublk.a $(HDRS)
	@mkdir -p $(@D)
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $< $(O)/libbublk.a $(LDLIBS)

$(O)/selftests/bench/%: selftests/bench/%.c selftests/host/target_fixture.h $(O)/libbublk.a $(HDRS)
	@mkdir -p $(@D)
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS) -Iselftests/host -o $@ $< $(O)/libbublk.a $(LDLIBS)

deps:
	@bash selftests/install-deps.sh

test: deps
	@$(MAKE) --no-print-directory all $(TEST_PROGS)
	@bash selftests/run.sh

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
	install -m 644 $(BPF_OBJS) $(DESTDIR)$(TARGETDIR)/
	install -m 644 include/bublk/*.h $(DESTDIR)$(PREFIX)/include/bublk/
	install -m 644 bpf/bublk.bpf.h $(DESTDIR)$(PREFIX)/include/bublk/bublk.bpf.h
	install -m 644 $(O)/bublk.pc $(DESTDIR)$(LIBDIR)/pkgconfig/bublk.pc

clean:
	rm -rf $(O)/bpf $(O)/runtime $(O)/loader $(O)/selftests $(O)/bublk $(O)/libbublk.a \
		$(O)/bublk.pc $(O)/vmlinux.h

.PHONY: all deps test bench demo install clean
.SECONDARY:
