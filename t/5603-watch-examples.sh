#!/bin/sh
# 5603-watch-examples: the examples for running gpureconcile unattended,
# tried as far as this machine allows.  examples/systemd/
# gpureconcile-watch.service passes `systemd-analyze verify` (with its
# binary path pointed at the build) and its ExecStart, ExecReload and
# LoadCredential= work as systemd would run them: the key comes from
# $CREDENTIALS_DIRECTORY, SIGHUP reloads, SIGTERM exits 0.  The command of
# examples/cron/gpureconcile.cron, run by hand (paths pointed at a temp
# dir, `logger` replaced by a file), converges, and says that the daemon
# holds the lock when one runs.  Against gpureconcile-sim (Vast API).
# Also: watch refuses to start from an invalid spec (65, file:line:col,
# no ledger made) or a --resync without a unit (64).
#
# Needs GR_BIN, GR_SIM and GR_TOP, as `make check` exports them.

: "${GR_BIN:?set GR_BIN to the gpureconcile binary (make check does)}"
: "${GR_SIM:?set GR_SIM to the gpureconcile-sim binary (make check does)}"
: "${GR_TOP:?set GR_TOP to the source directory (make check does)}"
cd "$GR_TOP" || exit 1

T=$(mktemp -d "${TMPDIR:-/tmp}/gr5603.XXXXXX") || exit 1
T=$(cd "$T" && pwd -P)
XDG_CONFIG_HOME=$T/xdg-config
XDG_STATE_HOME=$T/xdg-state
export XDG_CONFIG_HOME XDG_STATE_HOME
simpid= dpid=

. "$GR_TOP/t/tap.sh"

cleanup() {
	trap - EXIT HUP INT TERM
	for p in $dpid $simpid; do
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

UNIT=examples/systemd/gpureconcile-watch.service
CRON=examples/cron/gpureconcile.cron

# wait_for FILE STRING SECONDS
wait_for() {
	i=0
	while [ "$i" -lt $(($3 * 20)) ]; do
		grep -Fq -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
		i=$((i + 1))
	done
	return 1
}

# Paths of the examples, pointed at this test's dir.
paths() {
	sed -e "s#/usr/local/bin/gpureconcile#$GR_BIN#g" \
	    -e "s#/etc/gpureconcile#$T/etc/gpureconcile#g" \
	    -e "s#/var/lib/gpureconcile#$T/state#g"
}

# --- the unit, statically ------------------------------------------------------
paths <"$UNIT" >"$T/gpureconcile-watch.service"
if command -v systemd-analyze >/dev/null 2>&1; then
	run systemd-analyze verify "$T/gpureconcile-watch.service"
	why="systemd-analyze verify: $(cat "$T/err")"
	[ "$rc" -eq 0 ] && ! grep -q . "$T/err"
	tap_ok $? "systemd-analyze verify accepts the unit"
else
	skip "systemd-analyze verify accepts the unit" "no systemd-analyze"
fi
like "$UNIT" '^LoadCredential=VAST_API_KEY:' \
    "the unit hands the Vast key over with LoadCredential="
like "$UNIT" '^ExecReload=/bin/kill -HUP \$MAINPID' "reload is SIGHUP"
like "$UNIT" '^ExecStart=/usr/local/bin/gpureconcile .* watch -f ' \
    "ExecStart runs watch"
like "$UNIT" '^KillMode=process' \
    "stopping the unit signals the daemon only (local instances live on)"

# --- a simulated cloud and the files the examples expect -------------------------
"$GR_SIM" --listen 127.0.0.1:0 --port-file "$T/port" --time-scale 100 -q \
    2>"$T/sim.err" &
simpid=$!
i=0
while ! grep -q '^[0-9]' "$T/port" 2>/dev/null && [ $i -lt 200 ]; do
	sleep 0.05
	i=$((i + 1))
done
PORT=$(cat "$T/port" 2>/dev/null)
if [ -z "$PORT" ]; then
	echo "Bail out! gpureconcile-sim did not start: $(cat "$T/sim.err")"
	exit 1
fi
mkdir -p "$T/etc/gpureconcile/fleet.d" "$T/creds" "$T/bin"
cat >"$T/etc/gpureconcile/config.yaml" <<EOF
poll_interval: 1s
providers:
  vastai: {base_url: "http://127.0.0.1:$PORT/vast", time_scale: 100}
EOF
cat >"$T/etc/gpureconcile/fleet.d/train.yaml" <<EOF
fleet: train
groups:
  - name: trainer
    count: 1
    provider: vastai
    gpu: RTX_4090
    max_price_per_hour: 0.70
EOF
# what LoadCredential= makes: one file per key, 0400
printf 'sim-vast-key\n' >"$T/creds/VAST_API_KEY"
chmod 0400 "$T/creds/VAST_API_KEY"

# --- watch refuses to start from a bad spec or bad options ----------------------
CFG=$T/etc/gpureconcile/config.yaml
ST=$T/state-bad
mkdir -p "$T/bad"
printf 'fleet: f\ngroups:\n  - name: g\n    count: lots\n' >"$T/bad/f.yaml"
gr watch -f "$T/bad"
is_rc 65 "watch on an invalid spec exits 65"
like "$T/err" "bad/f.yaml:4:12: " "with file:line:col"
why="$ST/ledger.sqlite exists"
[ ! -e "$ST/ledger.sqlite" ]
tap_ok $? "and creates no ledger"
gr watch -f "$T/etc/gpureconcile/fleet.d" --resync 10
is_rc 64 "--resync without a unit is a usage error"
like "$T/err" "resync '10'" "naming the option"

# --- the unit's commands, as systemd runs them --------------------------------------
start=$(sed -n 's/^ExecStart=//p' "$T/gpureconcile-watch.service")
reload=$(sed -n 's/^ExecReload=//p' "$T/gpureconcile-watch.service")
env -u VAST_API_KEY CREDENTIALS_DIRECTORY="$T/creds" sh -c "exec $start" \
    >"$T/watch.log" 2>&1 </dev/null &
dpid=$!
wait_for "$T/watch.log" "train: converged" 20
why="$(tail -20 "$T/watch.log")"
tap_ok $? "ExecStart: the daemon converges, the key read from \$CREDENTIALS_DIRECTORY"
MAINPID=$dpid sh -c "$(echo "$reload" | sed "s/\\\$MAINPID/$dpid/")"
wait_for "$T/watch.log" "reload (SIGHUP)" 5
why="$(tail -5 "$T/watch.log")"
tap_ok $? "ExecReload: the daemon reloads its files"

# --- the cron line, run by hand beside the daemon, then alone ----------------------
cat >"$T/bin/logger" <<EOF
#!/bin/sh
cat >>"$T/cron.log"
EOF
chmod +x "$T/bin/logger"
ln -s "$GR_BIN" "$T/bin/gpureconcile"
line=$(grep -v '^#' "$CRON" | grep -v '=' | grep .)
# m h dom mon dow user command: the command is field 7 onwards
cmd=$(echo "$line" | paths | cut -d' ' -f7-)
user=$(echo "$line" | cut -d' ' -f6)
is "$user" "gpureconcile" "the cron line runs as its own user"
PATH="$T/bin:$PATH" sh -c "$cmd"
wait_for "$T/cron.log" "held by the watch daemon" 2
why="$(cat "$T/cron.log")"
tap_ok $? "--once beside the daemon says the watch daemon holds the lock"
grep -q '^gpureconcile --once: exit 75$' "$T/cron.log"
tap_ok $? "and its exit code (75) reaches the log too"

kill -TERM "$dpid"
wait "$dpid"
rc=$?
dpid=
is "$rc" 0 "the unit's KillSignal (SIGTERM) stops the daemon with 0"

: >"$T/cron.log"
# the key as a VAST_API_KEY= line of the cron file would give it
PATH="$T/bin:$PATH" VAST_API_KEY=sim-vast-key sh -c "$cmd"
why="$(cat "$T/cron.log")"
grep -q '^converged after' "$T/cron.log"
tap_ok $? "the cron line's --once converges on its own"
grep -q '^gpureconcile --once: exit 0$' "$T/cron.log"
tap_ok $? "and logs exit 0"

echo "1..$n"
[ "$nfail" -eq 0 ]
