# xenapid build.  `make` builds bin/xenapid and bin/xe; `make run` starts the daemon on its
# embedded defaults; `make test` runs the whole suite (unit, integration under ASan+UBSan,
# real Xen under QEMU); `make bench` prints the benchmark figures.
#
# Every src/<module>/*.c is part of the library except the programs' own folders
# (daemon, cli, dmgen), so a new module is a new folder and nothing here changes.

SAN ?= 0
ifeq ($(SAN),1)
  BUILD ?= build/san
  BIN   ?= build/san/bin
  SANFLAGS = -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
  OPT = -O1
else
  BUILD ?= build/rel
  BIN   ?= bin
  SANFLAGS =
  OPT = -O2
endif
GEN := build/gen

CC      ?= cc
CFLAGS  ?= $(OPT) -g
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wno-missing-field-initializers \
           -Wformat=2 -Wno-format-nonliteral -pthread $(SANFLAGS)
CPPFLAGS += -Iinclude -I$(GEN) $(shell pkg-config --cflags libxml-2.0 2>/dev/null)
LDFLAGS += -pthread $(SANFLAGS)

XMLRPC_LIBS = -lxmlrpc_server_abyss -lxmlrpc_server -lxmlrpc_abyss -lxmlrpc \
              -lxmlrpc_xmlparse -lxmlrpc_xmltok -lxmlrpc_util
XEN_LIBS    = -lxenctrl -lxenguest -lxenstore -lxentoollog
HTTP_LIBS   = $(shell pkg-config --libs libmicrohttpd gnutls 2>/dev/null || echo -lmicrohttpd -lgnutls)
LIBS        = $(XMLRPC_LIBS) $(HTTP_LIBS) -lxml2 -lsqlite3 $(XEN_LIBS) -lpam -lcrypt -lm
CHECK_LIBS  = $(shell pkg-config --libs check 2>/dev/null || echo -lcheck -lsubunit -lrt -lm)

PROGRAM_DIRS := src/daemon src/cli src/dmgen
LIB_SRCS  := $(filter-out $(addsuffix /%,$(PROGRAM_DIRS)),$(wildcard src/*/*.c)) $(GEN)/dm_gen.c
LIB_OBJS  := $(patsubst %.c,$(BUILD)/obj/%.o,$(patsubst $(GEN)/%,gen/%,$(LIB_SRCS)))
DAEMON_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard src/daemon/*.c))
CLI_OBJS    := $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard src/cli/*.c))
UNIT_SRCS   := $(wildcard tests/unit/test_*.c)
UNIT_BINS   := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))
LIB := $(BUILD)/libxenapid.a
DATAMODEL := $(wildcard datamodel/*.xml)

.PHONY: all deps run test test-unit test-integration test-xen test-docs bench clean distclean
PROGRAMS := $(BIN)/xenapid $(if $(wildcard src/cli/*.c),$(BIN)/xe)
all: $(PROGRAMS) docs/api.md

deps:
	@scripts/deps.sh build

# --- the datamodel generator runs on the build machine, never sanitized ---
build/dmgen: src/dmgen/dmgen.c | deps
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_GNU_SOURCE -O1 -g -Wall -Wextra -Werror $(CPPFLAGS) -o $@ $< -lxml2

$(GEN)/dm_gen.c $(GEN)/dm_gen.h: build/dmgen $(DATAMODEL)
	@mkdir -p $(GEN)
	build/dmgen --c $(GEN)/dm_gen.c --h $(GEN)/dm_gen.h datamodel/datamodel.xml

# The API reference is generated and committed, so it can be read without building.
docs/api.md: build/dmgen $(DATAMODEL)
	build/dmgen --markdown $@ datamodel/datamodel.xml

# --- objects ---
$(BUILD)/obj/gen/%.o: $(GEN)/%.c $(GEN)/dm_gen.h
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/obj/%.o: %.c $(GEN)/dm_gen.h | deps
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

$(LIB): $(LIB_OBJS)
	@rm -f $@
	@echo "  AR      $@"
	@ar rcs $@ $^

$(BIN)/xenapid: $(DAEMON_OBJS) $(LIB)
	@mkdir -p $(dir $@)
	@echo "  LINK    $@"
	@$(CC) $(LDFLAGS) -o $@ $(DAEMON_OBJS) $(LIB) $(LIBS)

$(BIN)/xe: $(CLI_OBJS) $(LIB)
	@mkdir -p $(dir $@)
	@echo "  LINK    $@"
	@$(CC) $(LDFLAGS) -o $@ $(CLI_OBJS) $(LIB) $(LIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< $(LIB) $(LIBS) $(CHECK_LIBS)

# programs that the real-hypervisor harness runs in dom0 (tests/xen/*.c)
XEN_TEST_BINS := $(patsubst tests/xen/%.c,$(BUILD)/tests/xen/%,$(wildcard tests/xen/*.c))
$(BUILD)/tests/xen/%: $(BUILD)/obj/tests/xen/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< $(LIB) $(LIBS)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

# --- running ---
run: 
	@scripts/deps.sh build
	@$(MAKE) --no-print-directory all
	scripts/run.sh

# --- tests ---
# The whole suite: unit tests and integration tests against the sanitized build,
# then the real hypervisor under QEMU against the release build.
test:
	@scripts/deps.sh test xen
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory SAN=1 test-unit test-integration
	@$(MAKE) --no-print-directory test-docs
	@$(MAKE) --no-print-directory test-xen

test-unit: $(UNIT_BINS)
	@scripts/run-unit-tests.sh $(UNIT_BINS)

test-integration: $(PROGRAMS)
	XENAPID_BIN=$(abspath $(BIN)/xenapid) XE_BIN=$(abspath $(BIN)/xe) \
	  /usr/bin/python3 -m unittest discover -s tests/integration -p "test_*.py" -v $(if $(T),-k $(T))

# The committed API reference must be what the datamodel generates.
test-docs: build/dmgen
	@build/dmgen --markdown build/api.md.check datamodel/datamodel.xml
	@cmp -s build/api.md.check docs/api.md || { echo "docs/api.md is stale: run make docs/api.md"; exit 1; }
	@echo "docs/api.md matches the datamodel"

# One boot of Xen under QEMU: the xc backend's smoke test, then the daemon's own test.
test-xen: $(PROGRAMS) $(XEN_TEST_BINS)
	@scripts/deps.sh xen
	TEST_SCRIPT="tests/xen/test-smoke.sh tests/xen/test-daemon.sh" \
	  BINS="$(PROGRAMS) $(XEN_TEST_BINS)" FILES="etc/platform.xml:/etc/xenapid/platform.xml" TIMEOUT=270 \
	  tests/xen/run.sh

bench:
	@scripts/deps.sh bench
	@$(MAKE) --no-print-directory all
	tests/bench/run.sh

clean:
	rm -rf build bin

distclean: clean
	rm -rf var
