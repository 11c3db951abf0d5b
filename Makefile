# gpureconcile: build, test, install.
#
#   make                 build build/gpureconcile, build/gpureconcile-sim
#                        and the tests
#   make check           run the test suite (TAP, through prove)
#   make check SANITIZE=1   the same under ASan + UBSan (build-san/)
#   make bench           build the benchmarks in bench/ (never run by check)
#   make dst SEEDS=N     the deterministic simulation over N seeds
#   make dst-long        the same over 20000 seeds
#   make install PREFIX=/usr/local DESTDIR=
#
# Every target first makes sure the Debian packages it needs are present
# (scripts/deps installs them as root, or prints the apt-get line).

PREFIX	?= /usr/local
BINDIR	?= $(PREFIX)/bin
CC	?= cc
PKGS	 = yaml-0.1 sqlite3 jansson libcrypto libcurl libssh2

ifeq ($(SANITIZE),1)
B	:= build-san
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined \
	    -fno-omit-frame-pointer
OPT	?= -O1
else
B	:= build
SANFLAGS :=
OPT	?= -O2
endif

WARN	 = -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-format-nonliteral \
	   -Wstrict-prototypes -Wmissing-prototypes
# pkg-config is optional on the command line; deps makes sure it exists.
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null || \
	      echo -lyaml -lsqlite3 -ljansson -lcrypto -lcurl -lssh2)
CFLAGS	+= -std=c11 -D_GNU_SOURCE $(OPT) -g $(WARN) $(SANFLAGS) $(PKG_CFLAGS) \
	   -MMD -MP
LDLIBS	+= $(PKG_LIBS) -lpthread -lm
# The HTTP layer's test runs an HTTP server of its own.
$(B)/t/3201-http.t: LDLIBS += $(shell pkg-config --libs libmicrohttpd \
	    2>/dev/null || echo -lmicrohttpd)
LDFLAGS	+= $(SANFLAGS)

LIB_SRCS := $(wildcard util/*.c spec/*.c providers/*.c state/*.c) \
	    $(filter-out reconciler/main.c,$(wildcard reconciler/*.c))
LIB_OBJS := $(LIB_SRCS:%.c=$(B)/%.o)
LIB	 := $(B)/libgpureconcile.a
BIN	 := $(B)/gpureconcile

# gpureconcile-sim, the simulated cloud (sim/): built from util/ alone so
# that it never waits on the rest of the tree.
SIM_SRCS := $(wildcard sim/*.c)
SIM_OBJS := $(SIM_SRCS:%.c=$(B)/%.o)
UTIL_OBJS := $(patsubst %.c,$(B)/%.o,$(wildcard util/*.c))
SIM_BIN	 := $(B)/gpureconcile-sim
SIM_LIBS := $(shell pkg-config --libs libmicrohttpd 2>/dev/null || \
	    echo -lmicrohttpd) -lm

TEST_LIB_SRCS := t/tap.c t/testlib.c
TEST_LIB_OBJS := $(TEST_LIB_SRCS:%.c=$(B)/%.o)
TEST_SRCS := $(filter-out $(TEST_LIB_SRCS),$(wildcard t/[0-9]*.c))
TEST_BINS := $(TEST_SRCS:t/%.c=$(B)/t/%.t)
TEST_SCRIPTS := $(wildcard t/[0-9]*.sh)

BENCH_SRCS := $(wildcard bench/*.c)
BENCH_BINS := $(BENCH_SRCS:bench/%.c=$(B)/bench/%)

# The deterministic simulation (dst/): the reconciler against the fake
# cloud, seeded faults and crashes.  `make check` runs 200 seeds
# (t/5001-dst.sh); `make dst SEEDS=N` or `make dst-long` many more.
DST_BIN	 := $(B)/dst/dst
SEEDS	?= 1000
FIRST_SEED ?= 1

all: deps $(BIN) $(SIM_BIN) $(TEST_BINS) $(DST_BIN)

deps:
	@sh scripts/deps build

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(BIN): $(B)/reconciler/main.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(SIM_BIN): $(SIM_OBJS) $(UTIL_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(SIM_LIBS)

$(B)/t/%.t: $(B)/t/%.o $(TEST_LIB_OBJS) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/bench/%: $(B)/bench/%.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(DST_BIN): $(B)/dst/dst.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Tests find the binary, the sources and their data through these.
export GR_BIN := $(abspath $(BIN))
export GR_SIM := $(abspath $(SIM_BIN))
export GR_TOP := $(abspath .)
export GR_BUILD := $(abspath $(B))

check: all
	@sh scripts/deps test
	prove -j2 --exec '' $(TEST_BINS) $(TEST_SCRIPTS)

# One test, verbose: make test T=1001-spec-load
test: all
	prove -v --exec '' $(wildcard $(B)/t/$(T).t t/$(T).sh)

bench: deps $(BIN) $(BENCH_BINS)

# make dst SEEDS=5000 [FIRST_SEED=1]; a failing seed prints its replay.
dst: deps $(DST_BIN)
	$(DST_BIN) --seeds $(FIRST_SEED)..$$(( $(FIRST_SEED) + $(SEEDS) - 1 ))

dst-long: deps $(DST_BIN)
	$(DST_BIN) --seeds $(FIRST_SEED)..$$(( $(FIRST_SEED) + 20000 - 1 ))

demo: all
	@sh scripts/demo $(BIN)

install: $(BIN) $(SIM_BIN)
	install -d $(DESTDIR)$(BINDIR)
	install -m 0755 $(BIN) $(DESTDIR)$(BINDIR)/gpureconcile
	install -m 0755 $(SIM_BIN) $(DESTDIR)$(BINDIR)/gpureconcile-sim

clean:
	rm -rf build build-san

.PHONY: all deps check test bench dst dst-long demo install clean
.SECONDARY:

-include $(shell find $(B) -name '*.d' 2>/dev/null)
