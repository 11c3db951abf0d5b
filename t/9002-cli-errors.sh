#!/bin/sh
# 9002-cli-errors: what a user who gets something wrong sees: bad fleet
# files (every error as file:line:col, with hints, and nothing touched),
# a missing -f path, unknown commands and options, help and version, a bad
# config, a ledger locked by another apply, and `make install`.
#
# Needs GR_BIN (absolute path of the binary) and GR_TOP (the source dir),
# as `make check` exports them (GR_BUILD too, for make install).  JSON
# checks use python3, else jq, else they are skipped.

: "${GR_BIN:?set GR_BIN to the gpureconcile binary (make check does)}"
: "${GR_TOP:?set GR_TOP to the source directory (make check does)}"
cd "$GR_TOP" || exit 1

T=$(mktemp -d "${TMPDIR:-/tmp}/gr9002.XXXXXX") || exit 1
T=$(cd "$T" && pwd -P)
ST=$T/state
CFG=$T/config.yaml
XDG_CONFIG_HOME=$T/xdg-config		# never the user's own config
XDG_STATE_HOME=$T/xdg-state
export XDG_CONFIG_HOME XDG_STATE_HOME
bgpid=

# --- the shared TAP producer and helpers ---------------------------------
. "$GR_TOP/t/tap.sh"

# --- cleanup, even when a check fails ----------------------------------------
cleanup() {
	trap - EXIT HUP INT TERM
	if [ -n "$bgpid" ] && kill -0 "$bgpid" 2>/dev/null; then
		kill -TERM "$bgpid" 2>/dev/null
		sleep 0.3
		kill -KILL "$bgpid" 2>/dev/null
	fi
	[ -n "$bgpid" ] && wait "$bgpid" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$XDG_CONFIG_HOME" "$T/bad" "$T/good" || exit 1
cat >"$CFG" <<EOF
# 9002: a fake cloud in a file, so that "touched" can be seen
poll_interval: 1s
providers:
  fake:
    state_file: $T/cloud.json
    boot_ms: 600000
    timeouts: {spinup: 30s, teardown: 5s}
EOF

# --- a bad fleet directory: every error, nothing touched ---------------------

cat >"$T/bad/a.yaml" <<'EOF'
fleet: train
budget: {max_per_hour: 5.00}
groups:
  - name: trainer
    cuont: 2
    provider: fake
    gpu: RTX4090
    max_price_per_hour: $0.70
    spot: yes
    ttl: 1w
EOF
cat >"$T/bad/b.yaml" <<'EOF'
fleets: other
groups:
  - name: g
    count: 1
    provider: fake
    gpu: T4
    max_price_per_hour: 0.50
    state: stoped
EOF

for cmd in plan apply; do
	gr $cmd -f "$T/bad"
	is_rc 65 "$cmd on a bad fleet directory exits 65"
	why="stdout should be empty"
	[ ! -s "$T/out" ]
	tap_ok $? "$cmd on a bad fleet directory prints no result"
	like_fixed "$T/err" "$T/bad/a.yaml:4:5: missing required key 'count' in group 'trainer'" \
	    "$cmd: a missing key, at its group's line and column"
	like_fixed "$T/err" "$T/bad/a.yaml:5:5: unknown key 'cuont' in group 'trainer' (hint: did you mean 'count'?)" \
	    "$cmd: a misspelt key with a did-you-mean hint"
	like_fixed "$T/err" "$T/bad/a.yaml:7:10: unknown gpu type 'RTX4090' (hint: did you mean 'RTX_4090'?)" \
	    "$cmd: an unknown gpu type with a hint"
	like_fixed "$T/err" "$T/bad/a.yaml:8:25: bad amount '\$0.70' for 'max_price_per_hour'" \
	    "$cmd: a money value with a currency sign, at its column"
	like_fixed "$T/err" "$T/bad/a.yaml:9:11: 'spot' must be true or false, got 'yes' (hint: " \
	    "$cmd: a YAML 1.1 boolean with a hint"
	like_fixed "$T/err" "$T/bad/a.yaml:10:10: bad duration '1w' for 'ttl'" \
	    "$cmd: a bad duration"
	like_fixed "$T/err" "$T/bad/b.yaml:1:1: unknown key 'fleets' in the top level (hint: did you mean 'fleet'?)" \
	    "$cmd: errors of the second file too"
	like_fixed "$T/err" "$T/bad/b.yaml:8:12: 'state' must be running or stopped, got 'stoped' (hint: did you mean 'stopped'?)" \
	    "$cmd: the last error of the second file"
	is "$(grep -Ec "^$T/bad/[ab]\.yaml:[0-9]+:[0-9]+: " "$T/err")" 9 \
	    "$cmd: all 9 errors, each as file:line:col"
	like "$T/err" '^gpureconcile: fleet files have 9 errors; nothing was changed$' \
	    "$cmd: a last line says how many and that nothing changed"
done
why="$(ls -la "$T")"
[ ! -e "$ST" ] && [ ! -e "$T/cloud.json" ]
tap_ok $? "after a bad fleet: no state dir (no ledger) and the fake cloud was never touched"

gr plan -f "$T/bad/a.yaml" -f "$T/no-such-dir"
is_rc 65 "a missing -f path exits 65"
like_fixed "$T/err" "fleet path '$T/no-such-dir' does not exist" \
    "a missing -f path is named in the error"

gr plan
is_rc 64 "plan without -f (and no fleets in the config) exits 64"
like_fixed "$T/err" "no fleet files given (hint: pass -f DIR" \
    "plan without -f says how to give fleet files"
why="$(ls -la "$T")"
[ ! -e "$ST" ] && [ ! -e "$T/cloud.json" ]
tap_ok $? "a missing path touched nothing either"

# --- usage ------------------------------------------------------------------------

run "$GR_BIN" plna -f "$T/good"
is_rc 64 "an unknown command exits 64"
like_fixed "$T/err" "unknown command 'plna' (hint: did you mean 'plan'?)" \
    "an unknown command gets a did-you-mean"
run "$GR_BIN" aply
like_fixed "$T/err" "unknown command 'aply' (hint: did you mean 'apply'?)" \
    "a misspelt apply gets a did-you-mean too"
run "$GR_BIN" plan --frobnicate
is_rc 64 "an unknown option exits 64"
like_fixed "$T/err" "unknown option '--frobnicate'" \
    "an unknown option is named"
run "$GR_BIN" plan --parallel
is_rc 64 "an option without its value exits 64"
run "$GR_BIN"
is_rc 64 "no command at all exits 64"
like "$T/err" '^usage: gpureconcile ' "no command at all prints the usage on stderr"

run "$GR_BIN" --help
is_rc 0 "--help exits 0"
like "$T/out" '^usage: gpureconcile \[options\] COMMAND' "--help prints the usage on stdout"
for c in plan apply status help version; do
	like "$T/out" "^  $c " "--help lists the $c command"
done
like "$T/out" '^Exit codes: 0 success' "--help documents the exit codes"
why="stderr should be empty"
[ ! -s "$T/err" ]
tap_ok $? "--help writes nothing to stderr"

run "$GR_BIN" help plan
is_rc 0 "help plan exits 0"
like "$T/out" '^usage: gpureconcile plan -f PATH' "help plan prints plan's usage"
like_fixed "$T/out" "--detailed-exitcode" "help plan documents --detailed-exitcode"
cp "$T/out" "$T/help-plan.out"
run "$GR_BIN" plan --help
is_rc 0 "plan --help exits 0"
why="plan --help and help plan differ: $(diff "$T/help-plan.out" "$T/out" | head -n 5)"
cmp -s "$T/help-plan.out" "$T/out"
tap_ok $? "plan --help prints the same as help plan"
run "$GR_BIN" help nosuch
is_rc 64 "help for an unknown command exits 64"
like_fixed "$T/err" "unknown command 'nosuch'" \
    "help for an unknown command names it"

run "$GR_BIN" --version
is_rc 0 "--version exits 0"
like "$T/out" '^gpureconcile [0-9]+\.[0-9]+\.[0-9]+' "--version prints the name and version"
cp "$T/out" "$T/version.out"
run "$GR_BIN" version
is_rc 0 "version exits 0"
why="$(diff "$T/version.out" "$T/out")"
cmp -s "$T/version.out" "$T/out"
tap_ok $? "version prints the same as --version"

# --- a bad config ------------------------------------------------------------------

cat >"$T/bad-config.yaml" <<EOF
state_dir: $ST
poll_interval: 1s
provders:
  fake: {}
EOF
cat >"$T/good/f.yaml" <<'EOF'
fleet: train
groups:
  - name: g
    count: 1
    provider: fake
    gpu: RTX_4090
    max_price_per_hour: 0.60
    disk_gb: 10
    image: img
EOF
for cmd in plan status; do
	if [ $cmd = plan ]; then
		run "$GR_BIN" --config "$T/bad-config.yaml" plan -f "$T/good"
	else
		run "$GR_BIN" --config "$T/bad-config.yaml" status
	fi
	is_rc 78 "$cmd with an unknown config key exits 78"
	like_fixed "$T/err" "$T/bad-config.yaml:3:1: unknown key 'provders' (hint: did you mean 'providers'?)" \
	    "$cmd: the config error is file:line:col with a hint"
done
cat >"$T/bad-timeout.yaml" <<'EOF'
providers:
  fake:
    timeouts: {spinup: 5s, teardwn: 5s}
EOF
run "$GR_BIN" --config "$T/bad-timeout.yaml" --state-dir "$ST" plan -f "$T/good"
is_rc 78 "a misspelt timeout exits 78"
like_fixed "$T/err" "$T/bad-timeout.yaml:3:28: unknown timeout 'teardwn' (hint: did you mean 'teardown'?)" \
    "a misspelt timeout: file:line:col and a hint"
run "$GR_BIN" --config "$T/no-such-config.yaml" status
is_rc 78 "a --config that does not exist exits 78"
like_fixed "$T/err" "$T/no-such-config.yaml" "a missing --config is named"
run "$GR_BIN" --config "$T/bad-config.yaml" version
is_rc 0 "version works with a bad config"
why="$(ls -la "$T")"
[ ! -e "$ST" ]
tap_ok $? "a bad config touched nothing"

# --- the ledger lock ---------------------------------------------------------------

# An apply that holds the lock for a while: its instance boots for 10 min.
"$GR_BIN" --config "$CFG" --state-dir "$ST" apply -f "$T/good" \
    </dev/null >"$T/bg.out" 2>"$T/bg.err" &
bgpid=$!
pending() {
	"$GR_BIN" --config "$CFG" --state-dir "$ST" status </dev/null \
	    2>/dev/null | grep -q '^train/g/0 *PENDING '
}
wait_for() {
	w=$(($1 * 10))
	shift
	while ! "$@"; do
		w=$((w - 1))
		[ "$w" -gt 0 ] || return 1
		sleep 0.1
	done
}
wait_for 15 pending
why="$(cat "$T/bg.err")"
pending && kill -0 "$bgpid" 2>/dev/null
tap_ok $? "a background apply is waiting for its instance (and holds the lock)"

t0=$(date +%s)
gr apply -f "$T/good"
t1=$(date +%s)
is_rc 75 "a second apply exits 75 (temporary failure) while the lock is held"
like_fixed "$T/err" "locked by pid $bgpid (gpureconcile apply" \
    "the second apply names the holder's pid and command"
like_fixed "$T/err" "(hint: " "the lock error has a hint"
why="took $((t1 - t0))s"
[ $((t1 - t0)) -le 3 ]
tap_ok $? "the second apply fails at once instead of waiting"

gr plan --detailed-exitcode -f "$T/good"
is_rc 0 "plan works beside a running apply"
like "$T/out" '^ +wait +train/g/0 +fake ' \
    "plan beside the apply shows the slot waiting for its boot"
like "$T/out" '^no changes to make now, but the fleet does not match its files yet: 1 waiting' \
    "plan does not claim that a booting fleet matches its files"
gr status
is_rc 0 "status works beside a running apply"
like "$T/out" '^train/g/0 +PENDING +fake +fake-' \
    "status beside the apply shows the PENDING instance"
gr status --json
cp "$T/out" "$T/status.json"
is_jv "$T/status.json" '[r["state"] for r in d] == ["PENDING"]' \
    '[.[].state] == ["PENDING"]' true "status --json beside the apply is valid JSON"
why="$(cat "$T/bg.err")"
kill -0 "$bgpid" 2>/dev/null
tap_ok $? "the background apply is still running, undisturbed"
kill -TERM "$bgpid" 2>/dev/null
wait "$bgpid" 2>/dev/null
bgpid=

# --- make install ------------------------------------------------------------------

b=$(basename "${GR_BUILD:-$GR_TOP/build}")
san=
[ "$b" = build-san ] && san=SANITIZE=1
# -o: install what is built; never rebuild in the middle of the test run
run env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS make -s -C "$GR_TOP" \
    -o "$b/gpureconcile" -o "$b/gpureconcile-sim" install PREFIX=/usr \
    DESTDIR="$T/dest" $san
is_rc 0 "make install PREFIX=/usr DESTDIR=... exits 0"
why="$(ls -l "$T/dest/usr/bin" 2>&1)"
[ -f "$T/dest/usr/bin/gpureconcile" ] && [ -x "$T/dest/usr/bin/gpureconcile" ]
tap_ok $? "make install puts an executable at DESTDIR/usr/bin/gpureconcile"
why="$(cd "$T/dest" && find . ! -type d)"
is "$(cd "$T/dest" && find . ! -type d | sort | tr '\n' ' ')" \
    "./usr/bin/gpureconcile ./usr/bin/gpureconcile-sim " \
    "make install installs the two programs and nothing else"
[ -x "$T/dest/usr/bin/gpureconcile-sim" ]
tap_ok $? "make install puts gpureconcile-sim beside it"
run "$T/dest/usr/bin/gpureconcile" --version
is_rc 0 "the installed binary runs --version"
why="$(diff "$T/version.out" "$T/out")"
cmp -s "$T/version.out" "$T/out"
tap_ok $? "the installed binary is the same version"

echo "1..$n"
[ "$nfail" -eq 0 ]
