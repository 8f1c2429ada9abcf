# xenapid build.  `make` builds bin/xenapid and bin/xe; `make run` starts the daemon on its
# embedded defaults; `make test` runs the whole suite (unit, integration under ASan+UBSan,
# real Xen under QEMU); `make bench` prints the benchmark figures; `make install` installs
# as a distribution package would (PREFIX, DESTDIR and the *DIR variables below).
#
# Every src/<module>/*.c is part of the library except the programs' own folders
# (daemon, cli, dmgen), so a new module is a new folder and nothing here changes.
#
# Building never installs packages: scripts/deps.sh (Debian) runs only for `make deps`,
# `make run`, `make test`, `make test-xen` and `make bench`.  Elsewhere the libraries
# listed in LIBS below must be there.

# `make -j8 clean all`: run in one make, the cleaning would race the building.  When
# cleaning comes with other goals, this make cleans first, then hands the others to a
# fresh make; the rest of this file is read only when that is not the case.
CLEAN_GOALS := $(filter clean distclean,$(MAKECMDGOALS))
OTHER_GOALS := $(filter-out clean distclean,$(MAKECMDGOALS))
ifneq ($(and $(CLEAN_GOALS),$(OTHER_GOALS)),)
.PHONY: $(MAKECMDGOALS) clean-then-build
$(MAKECMDGOALS): clean-then-build
	@:
clean-then-build:
	@$(MAKE) --no-print-directory $(CLEAN_GOALS)
	@$(MAKE) --no-print-directory $(OTHER_GOALS)
else

SAN ?= 0
ifeq ($(SAN),1)
  BUILD ?= build/san
  BIN   ?= build/san/bin
  SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
  OPT := -O1
else
  BUILD ?= build/rel
  BIN   ?= bin
  SANFLAGS :=
  OPT := -O2
endif
GEN := build/gen

# --- flags: CFLAGS, CPPFLAGS, LDFLAGS and LDLIBS are the user's (`make CFLAGS=-O0` changes
# the optimisation, nothing else); what the code needs is in XCPPFLAGS and XCFLAGS, always
# passed (XCFLAGS when linking too: -pthread and the sanitizers are needed there).
CC       ?= cc
CFLAGS   ?= $(OPT) -g
XCPPFLAGS := -Iinclude -I$(GEN) -D_GNU_SOURCE \
             $(shell pkg-config --cflags libxml-2.0 2>/dev/null || echo -I/usr/include/libxml2)
XCFLAGS  := -std=c11 -Wall -Wextra -Werror -Wshadow -Wno-missing-field-initializers \
            -Wformat=2 -Wno-format-nonliteral -pthread $(SANFLAGS)
COMPILE   = $(CC) $(XCPPFLAGS) $(CPPFLAGS) $(XCFLAGS) $(CFLAGS)
LINK      = $(CC) $(XCFLAGS) $(CFLAGS) $(LDFLAGS)

# --- libraries: one dependency a line; a new one is a new line here and its Debian
# package in scripts/deps.sh (build=...).
XMLRPC_LIBS := -lxmlrpc_server_abyss -lxmlrpc_server -lxmlrpc_abyss -lxmlrpc \
               -lxmlrpc_xmlparse -lxmlrpc_xmltok -lxmlrpc_util
XEN_LIBS    := -lxenctrl -lxenguest -lxenstore -lxentoollog
LIBS := $(XMLRPC_LIBS)
LIBS += $(shell pkg-config --libs libmicrohttpd gnutls 2>/dev/null || echo -lmicrohttpd -lgnutls)
LIBS += -lxml2
LIBS += -lsqlite3
LIBS += $(XEN_LIBS)
LIBS += -lpam -lcrypt
LIBS += -lm
LIBS += $(LDLIBS)
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null || echo -lcheck -lsubunit -lrt -lm)

PROGRAM_DIRS := src/daemon src/cli src/dmgen
LIB_SRCS  := $(filter-out $(addsuffix /%,$(PROGRAM_DIRS)),$(wildcard src/*/*.c)) $(GEN)/dm_gen.c
LIB_OBJS  := $(patsubst %.c,$(BUILD)/obj/%.o,$(patsubst $(GEN)/%,gen/%,$(LIB_SRCS)))
DAEMON_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard src/daemon/*.c))
CLI_OBJS    := $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard src/cli/*.c))
UNIT_SRCS   := $(wildcard tests/unit/test_*.c)
UNIT_BINS   := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))
# programs that the real-hypervisor harness runs in dom0 (tests/xen/*.c)
XEN_TEST_BINS := $(patsubst tests/xen/%.c,$(BUILD)/tests/xen/%,$(wildcard tests/xen/*.c))
# the test programs' own objects: kept, not deleted as intermediate files of a chain
.SECONDARY: $(patsubst %.c,$(BUILD)/obj/%.o,$(UNIT_SRCS) $(wildcard tests/xen/*.c))
LIB := $(BUILD)/libxenapid.a
DATAMODEL := $(wildcard datamodel/*.xml)

.PHONY: all deps run test test-unit test-integration test-xen test-docs lint bench clean distclean golden \
        install uninstall
PROGRAMS := $(BIN)/xenapid $(if $(wildcard src/cli/*.c),$(BIN)/xe)
all: $(PROGRAMS) docs/api.md

# the Debian packages the build needs (root installs them; others are told which)
deps:
	@scripts/deps.sh build

# --- the datamodel generator runs on the build machine, never sanitized ---
build/dmgen: src/dmgen/dmgen.c
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	@$(CC) -std=c11 -O1 -g -Wall -Wextra -Werror $(XCPPFLAGS) $(CPPFLAGS) -MMD -MP -o $@ $< -lxml2

# One run writes both files: a grouped target, so that `make -j` runs it once.
$(GEN)/dm_gen.c $(GEN)/dm_gen.h &: build/dmgen $(DATAMODEL)
	@mkdir -p $(GEN)
	@echo "  DMGEN   $(GEN)/dm_gen.c $(GEN)/dm_gen.h"
	@build/dmgen --c $(GEN)/dm_gen.c --h $(GEN)/dm_gen.h datamodel/datamodel.xml

# The API reference is generated and committed, so it can be read without building.
docs/api.md: build/dmgen $(DATAMODEL)
	build/dmgen --markdown $@ datamodel/datamodel.xml

# --- objects ---
# Every object waits for the generated header: it is in no .d file before the first build.
$(BUILD)/obj/gen/%.o: $(GEN)/%.c $(GEN)/dm_gen.h
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(COMPILE) -MMD -MP -c -o $@ $<

$(BUILD)/obj/%.o: %.c $(GEN)/dm_gen.h
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(COMPILE) -MMD -MP -c -o $@ $<

$(LIB): $(LIB_OBJS)
	@rm -f $@
	@echo "  AR      $@"
	@ar rcs $@ $^

$(BIN)/xenapid: $(DAEMON_OBJS) $(LIB)
	@mkdir -p $(dir $@)
	@echo "  LINK    $@"
	@$(LINK) -o $@ $(DAEMON_OBJS) $(LIB) $(LIBS)

$(BIN)/xe: $(CLI_OBJS) $(LIB)
	@mkdir -p $(dir $@)
	@echo "  LINK    $@"
	@$(LINK) -o $@ $(CLI_OBJS) $(LIB) $(LIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(LIB)
	@mkdir -p $(dir $@)
	@echo "  LINK    $@"
	@$(LINK) -o $@ $< $(LIB) $(LIBS) $(CHECK_LIBS)

$(BUILD)/tests/xen/%: $(BUILD)/obj/tests/xen/%.o $(LIB)
	@mkdir -p $(dir $@)
	@echo "  LINK    $@"
	@$(LINK) -o $@ $< $(LIB) $(LIBS)

-include $(wildcard build/dmgen.d $(BUILD)/obj/*/*/*.d $(BUILD)/obj/*/*.d)

# --- running ---
run:
	@scripts/deps.sh build
	@$(MAKE) --no-print-directory all
	scripts/run.sh

# --- tests ---
# The whole suite: unit tests and integration tests against the sanitized build,
# then the real hypervisor under QEMU against the release build.
test:
	@scripts/deps.sh test xen fuzz
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory SAN=1 test-unit test-integration
	@$(MAKE) --no-print-directory test-docs
	@$(MAKE) --no-print-directory SAN=1 test-soak
	@$(MAKE) --no-print-directory SAN=1 test-soak-load
	@$(MAKE) --no-print-directory test-fuzz
	@$(MAKE) --no-print-directory test-xen

test-unit: lint $(UNIT_BINS)
	@scripts/run-unit-tests.sh $(UNIT_BINS)

# What the compiler cannot check.  libxenstore takes its socket from XENSTORED_PATH when
# a connection opens, and the environment is the process's: every connection opens
# through hv_xs_open (src/xen/watcher.c), which sets the variable under its lock.
LINT_XS := $(filter-out src/xen/watcher.c,$(wildcard src/*/*.[ch] include/*.h tests/unit/*.[ch]))
lint:
	@! grep -nE '\<(set|put|unset)env *\( *"XENSTORED_PATH|\<xs_open *\(' $(LINT_XS) || \
	  { echo "lint: XENSTORED_PATH set, or xs_open called, outside hv_xs_open (src/xen/watcher.c)"; exit 1; }
	@echo "lint: XENSTORED_PATH is set in hv_xs_open only"

# Rewrite the golden files of the virtual hardware (tests/golden/platform/, see its
# README) from what the daemon makes now: the upgrade registry from etc/platform.xml,
# then every argv, xenstore tree, hardware document, PCI list and capabilities file.
golden: $(BUILD)/tests/test_hardware
	scripts/make-upgrade-registry.py
	XENAPID_GOLDEN=update $(BUILD)/tests/test_hardware
	@git status --short tests/golden

# XENAPID_SAN: tests that run make themselves (test_install) build what is under test.
test-integration: $(PROGRAMS)
	XENAPID_BIN=$(abspath $(BIN)/xenapid) XE_BIN=$(abspath $(BIN)/xe) XENAPID_SAN=$(SAN) \
	  /usr/bin/python3 -m unittest discover -s tests/integration -p "test_*.py" -v $(if $(T),-k $(T))

# The committed API reference must be what the datamodel generates.
test-docs: build/dmgen
	@build/dmgen --markdown build/api.md.check datamodel/datamodel.xml
	@cmp -s build/api.md.check docs/api.md || { echo "docs/api.md is stale: run make docs/api.md"; exit 1; }
	@echo "docs/api.md matches the datamodel"

# One boot of Xen under QEMU: the xc backend's smoke test, then the daemon's own test.
# dom0's root is its initramfs, in RAM (about 150 MB now): with 512 MiB the daemon died
# mid-test at random steps (three runs, no sanitizer report); with 1 GiB it passed.
# XEN_HVM=0 leaves out the real HVM guests (tests/xen/test-daemon.sh steps 7-9: the
# device model, what their PCI buses are compared with, the registry that gains a
# version 2); they take about half of the run (tests/xen/README.md)
XEN_HVM ?= 1
# seconds for the whole QEMU run, a bound for a loaded machine (13 min at load 5-8)
XEN_TIMEOUT ?= 1500
XEN_TEST_GOLDEN := $(foreach f,v0-hvm.pci v1-hvm.pci v1-hvm-vendor.pci,tests/golden/platform/shipped/$(f):/golden/$(f)) \
  tests/golden/platform/registry-upgrade.xml:/golden/registry-upgrade.xml
test-xen:
	@scripts/deps.sh xen
	@$(MAKE) --no-print-directory $(PROGRAMS) $(XEN_TEST_BINS)
	TEST_SCRIPT="tests/xen/test-smoke.sh tests/xen/test-daemon.sh" \
	  BINS="$(PROGRAMS) $(XEN_TEST_BINS)" TIMEOUT=$(XEN_TIMEOUT) DOM0_MEM=1G MEM=3G HVM=$(XEN_HVM) \
	  FILES="etc/platform.xml:/etc/xenapid/platform.xml $(XEN_TEST_GOLDEN)" \
	  tests/xen/run.sh

bench:
	@scripts/deps.sh bench
	@$(MAKE) --no-print-directory all
	tests/bench/run.sh

# --- installing, as a distribution package lays it out ---
# `make install PREFIX=/usr` is a package's layout (/usr/sbin, /etc/xenapid, /var/lib/xenapid);
# the default PREFIX=/usr/local keeps the configuration in /usr/local/etc.  The state
# and the sockets stay in /var/lib/xenapid and /run/xenapid either way: that is where
# the systemd unit's StateDirectory= and RuntimeDirectory= make them, and where xe looks
# for the daemon's socket.  DESTDIR stages the whole tree elsewhere.
PREFIX         ?= /usr/local
BINDIR         ?= $(PREFIX)/bin
SBINDIR        ?= $(PREFIX)/sbin
DATADIR        ?= $(PREFIX)/share
DOCDIR         ?= $(DATADIR)/doc/xenapid
SYSCONFDIR     ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
LOCALSTATEDIR  ?= /var
RUNSTATEDIR    ?= /run
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
PAMDIR         ?= $(SYSCONFDIR)/pam.d
BASHCOMPDIR    ?= $(DATADIR)/bash-completion/completions
CONFDIR  := $(SYSCONFDIR)/xenapid
STATEDIR := $(LOCALSTATEDIR)/lib/xenapid
RUNDIR   := $(RUNSTATEDIR)/xenapid
INSTALL  ?= install

# The installed configuration: etc/xenapid.conf with its relative paths (relative to a
# checkout, for `make run`) made the installed ones.  A relative path left over fails
# the install, so a new path key cannot be forgotten here.
INSTALLED_CONF_SED := \
  -e 's|^unix-socket = .*|unix-socket = $(RUNDIR)/xenapid.sock|' \
  -e 's|^db-path = .*|db-path = $(STATEDIR)/xenapid.db|' \
  -e 's|^auth-file = .*|auth-file = $(CONFDIR)/passwd|' \
  -e 's|^device-model-dir = .*|device-model-dir = $(RUNDIR)/dm|' \
  -e 's|^sim-state-dir = .*|sim-state-dir = $(STATEDIR)/sim|' \
  -e 's|^inventory = .*|inventory = $(STATEDIR)/inventory|' \
  -e 's|^platform-registry = .*|platform-registry = $(CONFDIR)/platform.xml|' \
  -e 's|^\# Relative paths are relative to the directory.*|\# Installed by `make install`: the paths below are this installation'"'"'s.|' \
  -e 's|^\# from the top of the checkout)\.  *|\# |'
# The unit names the package layout (/usr/sbin, /etc/xenapid, ...): made this install's.
INSTALLED_UNIT_SED := \
  -e 's|/usr/sbin/|$(SBINDIR)/|g' -e 's|/etc/xenapid|$(CONFDIR)|g' \
  -e 's|/var/lib/xenapid|$(STATEDIR)|g' -e 's|/run/xenapid|$(RUNDIR)|g' \
  -e 's|/usr/share/doc/xenapid|$(DOCDIR)|g'

install: $(PROGRAMS)
	$(INSTALL) -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(CONFDIR) \
	  $(DESTDIR)$(SYSTEMDUNITDIR) $(DESTDIR)$(PAMDIR) $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(DOCDIR)
	$(INSTALL) -m 0755 $(BIN)/xenapid $(DESTDIR)$(SBINDIR)/xenapid
	$(INSTALL) -m 0755 $(BIN)/xe $(DESTDIR)$(BINDIR)/xe
	$(INSTALL) -m 0755 scripts/xenapid-guest-agent $(DESTDIR)$(SBINDIR)/xenapid-guest-agent
	sed $(INSTALLED_CONF_SED) etc/xenapid.conf > $(DESTDIR)$(CONFDIR)/xenapid.conf.tmp
	@! grep -nE '^[a-z-]+ = (var|etc)/' $(DESTDIR)$(CONFDIR)/xenapid.conf.tmp || \
	  { echo "install: relative paths left in xenapid.conf: add them to INSTALLED_CONF_SED"; \
	    rm -f $(DESTDIR)$(CONFDIR)/xenapid.conf.tmp; exit 1; }
	chmod 0644 $(DESTDIR)$(CONFDIR)/xenapid.conf.tmp
	mv $(DESTDIR)$(CONFDIR)/xenapid.conf.tmp $(DESTDIR)$(CONFDIR)/xenapid.conf
	$(INSTALL) -m 0644 etc/platform.xml $(DESTDIR)$(CONFDIR)/platform.xml
	$(INSTALL) -m 0644 etc/pam.d/xenapid $(DESTDIR)$(PAMDIR)/xenapid
	sed $(INSTALLED_UNIT_SED) etc/xenapid.service > $(DESTDIR)$(SYSTEMDUNITDIR)/xenapid.service
	chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/xenapid.service
	$(INSTALL) -m 0644 scripts/xe-completion.bash $(DESTDIR)$(BASHCOMPDIR)/xe
	$(INSTALL) -m 0644 README.md docs/api.md docs/xe.md $(DESTDIR)$(DOCDIR)/

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/xenapid $(DESTDIR)$(BINDIR)/xe $(DESTDIR)$(SBINDIR)/xenapid-guest-agent \
	  $(DESTDIR)$(CONFDIR)/xenapid.conf $(DESTDIR)$(CONFDIR)/platform.xml $(DESTDIR)$(PAMDIR)/xenapid \
	  $(DESTDIR)$(SYSTEMDUNITDIR)/xenapid.service $(DESTDIR)$(BASHCOMPDIR)/xe \
	  $(DESTDIR)$(DOCDIR)/README.md $(DESTDIR)$(DOCDIR)/api.md $(DESTDIR)$(DOCDIR)/xe.md
	-rmdir $(DESTDIR)$(CONFDIR) $(DESTDIR)$(DOCDIR) 2>/dev/null

clean:
	rm -rf build bin

distclean: clean
	rm -rf var

# --- fuzzing (tests/fuzz, issue 15) ---
# libFuzzer harnesses built with clang against the library compiled again with clang
# under ASan+UBSan in build/fuzz.  `make fuzz FUZZ_SECONDS=N` runs each harness for N
# seconds (FUZZ_RUNS=R: or R executions, whichever first) on a copy of its corpus (build/fuzz/run/<name>) and prints execs, coverage and
# crashes; `make test-fuzz` runs each for a few seconds on the checked-in corpus and fails
# on any crash.  FUZZ=name1,name2 picks harnesses.
FUZZ_CC      ?= clang
comma        := ,
FUZZ_BUILD   := build/fuzz
FUZZ_SECONDS ?= 60
FUZZ_RUNS    ?= -1
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
# clang warns of a deliberate non-short-circuit | (store.c), gcc does not.
FUZZ_COMPILE  = $(FUZZ_CC) $(XCPPFLAGS) $(CPPFLAGS) $(filter-out $(SANFLAGS),$(XCFLAGS)) \
                $(FUZZ_SAN) -fsanitize=fuzzer-no-link -O1 -g -Wno-bitwise-instead-of-logical -DFUZZ_SRCDIR='"$(CURDIR)"'
FUZZ_LIB_OBJS := $(patsubst %.c,$(FUZZ_BUILD)/obj/%.o,$(patsubst $(GEN)/%,gen/%,$(LIB_SRCS)))
FUZZ_NAMES   := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS    := $(addprefix $(FUZZ_BUILD)/fuzz_,$(FUZZ_NAMES))
.SECONDARY: $(patsubst %.c,$(FUZZ_BUILD)/obj/%.o,$(wildcard tests/fuzz/*.c))
.PHONY: fuzz test-fuzz fuzz-build fuzz-merge

$(FUZZ_BUILD)/obj/gen/%.o: $(GEN)/%.c $(GEN)/dm_gen.h
	@mkdir -p $(dir $@)
	@echo "  CC/FUZZ $<"
	@$(FUZZ_COMPILE) -MMD -MP -c -o $@ $<

$(FUZZ_BUILD)/obj/%.o: %.c $(GEN)/dm_gen.h
	@mkdir -p $(dir $@)
	@echo "  CC/FUZZ $<"
	@$(FUZZ_COMPILE) -MMD -MP -c -o $@ $<

$(FUZZ_BUILD)/libxenapid.a: $(FUZZ_LIB_OBJS)
	@rm -f $@
	@echo "  AR      $@"
	@ar rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: $(FUZZ_BUILD)/obj/tests/fuzz/fuzz_%.o $(FUZZ_BUILD)/obj/tests/fuzz/harness.o \
                      $(FUZZ_BUILD)/libxenapid.a
	@echo "  LINK    $@"
	@$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -pthread $(LDFLAGS) -o $@ $^ $(LIBS)

-include $(wildcard $(FUZZ_BUILD)/obj/*/*/*.d $(FUZZ_BUILD)/obj/*/*.d)

fuzz-build: $(FUZZ_BINS)

fuzz: $(FUZZ_BINS)
	@tests/fuzz/run.sh --seconds $(FUZZ_SECONDS) --runs $(FUZZ_RUNS) $(if $(FUZZ),--only $(FUZZ)) $(FUZZ_NAMES)

test-fuzz: $(FUZZ_BINS)
	@tests/fuzz/run.sh --ci --seconds 5 $(if $(FUZZ),--only $(FUZZ)) $(FUZZ_NAMES)

# what long runs found that the checked-in corpora lack, added to them (to commit)
fuzz-merge: $(FUZZ_BINS)
	@tests/fuzz/run.sh --merge $(if $(FUZZ),$(subst $(comma), ,$(FUZZ)),$(FUZZ_NAMES))


endif # cleaning with other goals

# --- the kill -9 soak (tests/soak/soak.py): SOAK_KILLS kills of the daemon (default
# 1000) while 8 clients run lifecycle operations and writes; after each restart every
# acknowledged write is there, the database passes integrity_check and the VMs agree
# with the simulator's domains.  test-soak is the short version (50 kills, ~1 min).
SOAK_KILLS ?= 1000
soak: $(PROGRAMS)
	XENAPID_BIN=$(abspath $(BIN)/xenapid) SOAK_KILLS=$(SOAK_KILLS) /usr/bin/python3 tests/soak/soak.py

test-soak: $(PROGRAMS)
	XENAPID_BIN=$(abspath $(BIN)/xenapid) SOAK_KILLS=50 /usr/bin/python3 tests/soak/soak.py

# --- the load soak (tests/soak/load.py): LOAD_CLIENTS clients (64) x LOAD_CALLS mixed
# calls (10,000) over HTTP and HTTPS against one daemon: no failure but the bad inputs' own,
# every acknowledged write there at the end, RSS and threads flat after warm-up.
# LOAD_SECONDS=N stops it cleanly after N seconds (the figures then say how far it got).
# test-soak-load is the short version (64 x 20 calls, RSS and threads printed only).
LOAD_CLIENTS ?= 64
LOAD_CALLS ?= 10000
soak-load: $(PROGRAMS)
	XENAPID_BIN=$(abspath $(BIN)/xenapid) LOAD_CLIENTS=$(LOAD_CLIENTS) LOAD_CALLS=$(LOAD_CALLS) $(if $(LOAD_SECONDS),LOAD_SECONDS=$(LOAD_SECONDS)) \
	  /usr/bin/python3 tests/soak/load.py

test-soak-load: $(PROGRAMS)
	XENAPID_BIN=$(abspath $(BIN)/xenapid) LOAD_CLIENTS=64 LOAD_CALLS=20 LOAD_TIMEOUT=110 \
	  /usr/bin/python3 tests/soak/load.py

.PHONY: soak test-soak soak-load test-soak-load
