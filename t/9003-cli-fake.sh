#!/bin/sh
# 9003-cli-fake: the CLI against the fake provider, whose cloud lives in a
# state file that every gpureconcile process shares: apply and status of
# 3 instances, scale down, faults from the config (no capacity, a lost
# spawn reply, a termination that never finishes), budget limits, and
# apply --json.
#
# Needs GR_BIN (absolute path of the binary) and GR_TOP (the source dir),
# as `make check` exports them.  JSON checks use python3, else jq, else
# they are skipped.  About 65 s: a hung termination is given up only
# after the apply's deadline (2 x (spinup + teardown + 30 s)).

: "${GR_BIN:?set GR_BIN to the gpureconcile binary (make check does)}"
: "${GR_TOP:?set GR_TOP to the source directory (make check does)}"
cd "$GR_TOP" || exit 1

T=$(mktemp -d "${TMPDIR:-/tmp}/gr9003.XXXXXX") || exit 1
T=$(cd "$T" && pwd -P)
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
	rm -rf "$T"		# the fake cloud is only a file
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

# --- one fake cloud per scenario ---------------------------------------------

# mkcfg NAME TIMEOUTS [OPTION-LINE...]: $T/NAME/config.yaml
mkcfg() {
	d=$T/$1
	to=$2
	shift 2
	mkdir -p "$d"
	{
		echo "poll_interval: 1s"
		echo "providers:"
		echo "  fake:"
		echo "    state_file: $d/cloud.json"
		echo "    boot_ms: 300"
		for l in "$@"; do
			echo "    $l"
		done
		echo "    timeouts: $to"
	} >"$d/config.yaml"
}

# mkfleet NAME COUNT [BUDGET]: $T/NAME/fleet/f.yaml
mkfleet() {
	mkdir -p "$T/$1/fleet"
	{
		echo "fleet: train"
		[ -n "${3:-}" ] && echo "budget: {max_per_hour: $3}"
		cat <<EOF
groups:
  - name: g
    count: $2
    provider: fake
    gpu: RTX_4090
    max_price_per_hour: 0.60
    disk_gb: 10
    image: pytorch/pytorch:2.4.0-cuda12.1-cudnn9-runtime
EOF
	} >"$T/$1/fleet/f.yaml"
}

# grc NAME ARGS...: gpureconcile on scenario NAME's config and ledger
grc() {
	s=$1
	shift
	run "$GR_BIN" --config "$T/$s/config.yaml" --state-dir "$T/$s/state" \
	    "$@"
}

# rows NAME STATE: how many rows of `status --all` are in STATE
rows() {
	"$GR_BIN" --config "$T/$1/config.yaml" --state-dir "$T/$1/state" \
	    status --all </dev/null 2>/dev/null |
	    awk -v st="$2" '$2 == st { n++ } END { print n + 0 }'
}

# active NAME: instances the fake cloud itself has up (PENDING or RUNNING)
active() {
	jv "$T/$1/cloud.json" \
	    'sum(1 for i in d["instances"] if i["phase"] == "active")' \
	    '[.instances[] | select(.phase == "active")] | length'
}

# is_active NAME WANT DESCRIPTION
is_active() {
	if [ -z "$JSONTOOL" ]; then
		skip "$3" "neither python3 nor jq"
		return 0
	fi
	got=$(active "$1" 2>"$T/jerr")
	why="the fake cloud has '$got' active instances, want $2 $(head -c 300 "$T/jerr")"
	[ "$got" = "$2" ]
	tap_ok $? "$3"
}

# --- C, first part: a termination that hangs, in the background --------------
# Its apply gives up only at its deadline, so it runs beside the others.

mkcfg stuck "{spinup: 5s, teardown: 5s}"
mkfleet stuck 2
grc stuck apply -f "$T/stuck/fleet"
is_rc 0 "stuck: the first apply brings up 2 instances"
mkcfg stuck "{spinup: 1s, teardown: 1s}" "teardown_stuck: 1"
mkfleet stuck 1
t_bg=$(date +%s)
"$GR_BIN" --config "$T/stuck/config.yaml" --state-dir "$T/stuck/state" \
    apply --json -f "$T/stuck/fleet" \
    </dev/null >"$T/stuck/bg.out" 2>"$T/stuck/bg.err" &
bgpid=$!

# --- A: 3 instances, idempotence, scale down ----------------------------------

mkcfg a "{spinup: 5s, teardown: 5s}"
mkfleet a 3
grc a plan --detailed-exitcode -f "$T/a/fleet"
is_rc 2 "plan --detailed-exitcode exits 2 before the first apply"
is "$(grep -Ec '^\+ spawn +train/g/[012] +fake +RTX_4090 ' "$T/out")" 3 \
    "plan lists 3 spawns on fake"
why="$(ls -la "$T/a")"
[ ! -e "$T/a/state/ledger.sqlite" ] &&
    ! grep -q '"label"' "$T/a/cloud.json" 2>/dev/null
tap_ok $? "plan made no ledger and no instance"

grc a apply --json -f "$T/a/fleet"
is_rc 0 "apply of 3 instances exits 0"
cp "$T/out" "$T/a/apply1.json"
is_jv "$T/a/apply1.json" \
    '[d["converged"], d["spawned"], d["terminated"], d["running"], d["error"]]' \
    '[.converged, .spawned, .terminated, .running, .error] | tostring' \
    '[true,3,0,3,null]' "apply --json: converged, 3 spawned, 3 running, no error"

grc a status
is_rc 0 "status exits 0"
is "$(grep -Ec '^train/g/[012] +RUNNING +fake +fake-[0-9]+ +RTX_4090 ' \
    "$T/out")" 3 "status shows 3 RUNNING instances on fake"
is "$(awk '$2 == "RUNNING" { print $4 }' "$T/out" | sort -u | wc -l |
    tr -d ' ')" 3 "the 3 instances have distinct provider ids"
like_fixed "$T/out" "3 instances; burning \$1.44/h now" \
    "status totals the burn rate"
grc a status --json
cp "$T/out" "$T/a/status.json"
is_jv "$T/a/status.json" \
    'sum(1 for r in d if r["state"] == "RUNNING" and r["price_per_hour"] == 0.48 and r["billing_start"] and not r["billing_end"])' \
    '[.[] | select(.state == "RUNNING" and .price_per_hour == 0.48 and .billing_start != null and .billing_end == null)] | length' \
    3 "status --json: 3 RUNNING, billed \$0.48/h, billing since they ran"
is_active a 3 "the fake cloud (seen by another process) has 3 instances up"
if [ -n "$JSONTOOL" ]; then
	want=$(jv "$T/a/status.json" '" ".join(sorted(r["label"] for r in d))' \
	    '[.[].label] | sort | join(" ")')
	got=$(jv "$T/a/cloud.json" \
	    '" ".join(sorted(i["label"] for i in d["instances"] if i["phase"] == "active"))' \
	    '[.instances[] | select(.phase == "active") | .label] | sort | join(" ")')
	is "$got" "$want" "the cloud's instances carry the ledger's owner labels"
else
	skip "the cloud's instances carry the ledger's owner labels" \
	    "neither python3 nor jq"
fi

grc a apply --json -f "$T/a/fleet"
is_rc 0 "a second apply exits 0"
cp "$T/out" "$T/a/apply2.json"
is_jv "$T/a/apply2.json" \
    '[d["converged"], d["passes"], d["spawned"], d["terminated"], d["mutating_calls"]]' \
    '[.converged, .passes, .spawned, .terminated, .mutating_calls] | tostring' \
    '[true,1,0,0,0]' "second apply --json: one pass, no mutating call"
is_active a 3 "still 3 instances in the cloud"
grc a plan --detailed-exitcode -f "$T/a/fleet"
is_rc 0 "plan --detailed-exitcode exits 0 once converged"

mkfleet a 1
grc a apply -f "$T/a/fleet"
is_rc 0 "apply with count 3 -> 1 exits 0"
like "$T/out" '0 spawned, 2 terminated; now 1 running, 0 pending, 0 stopping' \
    "apply says it terminated 2"
is "$(rows a TERMINATED) $(rows a RUNNING)" "2 1" \
    "status --all: 2 TERMINATED, 1 RUNNING"
grc a status
like "$T/out" '^train/g/0 +RUNNING ' "the kept one is slot 0"
is_active a 1 "the fake cloud has 1 instance left"

# --- B: no capacity ---------------------------------------------------------------

mkcfg b "{spinup: 5s, teardown: 5s}" 'faults: "spawn:CAPACITY:-1"'
mkfleet b 3
grc b apply -f "$T/b/fleet"
is_rc 69 "apply with no capacity exits 69"
last=$(tail -n 1 "$T/err")
why="last line: $last"
case $last in
"gpureconcile: apply: spawn 'train/g/"*"' on fake: "*capacity*) true ;;
*) false ;;
esac
tap_ok $? "the last line names the spawn, the provider and capacity"
why="last line: $last"
case $last in
*max_price*|*"raise "*) false ;;
*) true ;;
esac
tap_ok $? "the last line does not blame the price"
like "$T/out" '^not converged after .*: 0 spawned, 0 terminated; now 0 running' \
    "the summary says nothing was spawned"
grc b status
is_rc 0 "status after the capacity failure exits 0"
like "$T/out" '^no instances tracked' "nothing is RUNNING (or tracked)"
is_active b 0 "the fake cloud has no instance"

grc b apply --json -f "$T/b/fleet"
is_rc 69 "apply --json with no capacity exits 69 too"
cp "$T/out" "$T/b/apply.json"
is_jv "$T/b/apply.json" \
    '[d["converged"], d["spawned"], d["running"], d["error"]["code"]]' \
    '[.converged, .spawned, .running, .error.code] | tostring' \
    '[false,0,0,"CAPACITY"]' "apply --json: not converged, CAPACITY, nothing spawned"

mkcfg b "{spinup: 5s, teardown: 5s}"
grc b apply -f "$T/b/fleet"
is_rc 0 "once the capacity is back, apply converges"
is "$(rows b RUNNING)" 3 "3 RUNNING after the capacity came back"

# --- D: budget ------------------------------------------------------------------

# $0.25/h billed, $0.60/h reserved while pending, $1.00/h for the fleet:
# 0.25 + 0.60 fits, 0.25 + 0.25 + 0.60 does not.
mkcfg d "{spinup: 5s, teardown: 5s}" 'price: "RTX_4090:0.25"'
mkfleet d 3 1.00
grc d plan -f "$T/d/fleet"
is_rc 0 "plan of a fleet over its budget exits 0"
is "$(grep -Ec '^! blocked +train/g/[12] .*budget-limited' "$T/out")" 2 \
    "plan shows 2 slots budget-limited"
is "$(grep -Ec '^\+ spawn +train/g/0 ' "$T/out")" 1 "plan still spawns slot 0"
grc d plan --json -f "$T/d/fleet"
cp "$T/out" "$T/d/plan.json"
is_jv "$T/d/plan.json" \
    'sum(1 for a in d["actions"] if a["action"] == "blocked" and "budget-limited" in a["reason"])' \
    '[.actions[] | select(.action == "blocked" and (.reason | contains("budget-limited")))] | length' \
    2 "plan --json: 2 blocked, budget-limited"

grc d apply --json -f "$T/d/fleet"
is_rc 1 "apply of a fleet over its budget exits 1"
cp "$T/out" "$T/d/apply.json"
is_jv "$T/d/apply.json" '[d["converged"], d["error"]["code"]]' \
    '[.converged, .error.code] | tostring' '[false,"BUDGET"]' \
    "apply --json: not converged, BUDGET"
is_jv "$T/d/apply.json" '"budget-limited" in d["error"]["message"]' \
    '.error.message | contains("budget-limited")' true \
    "apply --json: the error says budget-limited"
is "$(rows d RUNNING)" 2 "one apply runs as many as the budget allows (2)"
grc d apply -f "$T/d/fleet"
is_rc 1 "apply again: still over budget, exits 1"
like "$T/out" '0 spawned, 0 terminated; now 2 running' \
    "apply again spawns nothing more"
like "$T/err" "budget-limited: fleet 'train' would reserve \\\$1\\.10/h of its \\\$1\\.00/h cap" \
    "the error gives the reservation and the cap"

# --- E: a lost spawn reply --------------------------------------------------------

mkcfg e "{spinup: 5s, teardown: 5s}" 'faults: "spawn:TRANSIENT:1:after_apply"'
mkfleet e 2
grc e apply -f "$T/e/fleet"
is_rc 0 "apply converges after a lost spawn reply"
is "$(rows e RUNNING)" 2 "2 RUNNING after a lost spawn reply"
is_active e 2 "the fake cloud has exactly 2 instances (no duplicate)"
like "$T/err" 'may or may not have happened' "apply says the reply was lost"

# --- C, second part: the hung termination --------------------------------------------

wait "$bgpid"
rc=$?
bgpid=
t_end=$(date +%s)
cmdline="gpureconcile apply --json (teardown_stuck: 1), in the background"
cp "$T/stuck/bg.out" "$T/out"
cp "$T/stuck/bg.err" "$T/err"
echo "# the hung termination was given up after $((t_end - t_bg))s"
is_rc 75 "stuck: apply exits 75 when billing end is not confirmed"
like_fixed "$T/err" "Could not confirm billing stopped. Check your provider dashboard." \
    "stuck: apply tells the user to check the dashboard"
like "$T/err" '^gpureconcile: apply: termination not confirmed' \
    "stuck: the error says the termination was not confirmed"
is_jv "$T/out" '[d["converged"], d["stopping"], d["error"]["code"]]' \
    '[.converged, .stopping, .error.code] | tostring' \
    '[false,1,"UNCONFIRMED"]' "stuck: apply --json: not converged, 1 stopping, UNCONFIRMED"
grc stuck status
like "$T/out" '^train/g/0 +RUNNING ' "stuck: slot 0 stays RUNNING"
like "$T/out" '^train/g/1 +STOPPING ' "stuck: slot 1 stays STOPPING"
like_fixed "$T/out" "burning \$0.96/h now" \
    "stuck: the STOPPING one still counts as billing"
grc stuck plan -f "$T/stuck/fleet"
like "$T/out" '^- terminate +train/g/1 .*not confirmed after [0-9]+s; asking again' \
    "stuck: past the teardown timeout, plan asks the provider again"
! grep -q '^no changes' "$T/out"
tap_ok $? "stuck: plan does not claim that the fleet matches its files"

# Clearing the knob should let the hung termination finish, as
# fake_set_teardown_stuck(p, false) does in process.
mkcfg stuck "{spinup: 5s, teardown: 5s}" "teardown_stuck: 0"
grc stuck plan -f "$T/stuck/fleet"
why="plan still waits: $(grep 'train/g/1' "$T/out")"
! grep -Eq '^ +wait +train/g/1 ' "$T/out"
if tap_ok $? "stuck: once teardown_stuck is cleared, the termination goes on"; then
	grc stuck apply -f "$T/stuck/fleet"
	is_rc 0 "stuck: apply converges once the termination finishes"
	is "$(rows stuck TERMINATED) $(rows stuck RUNNING)" "1 1" \
	    "stuck: 1 TERMINATED, 1 RUNNING in the end"
else
	skip "stuck: apply converges once the termination finishes" \
	    "the termination is still hung"
	skip "stuck: 1 TERMINATED, 1 RUNNING in the end" \
	    "the termination is still hung"
fi

echo "1..$n"
[ "$nfail" -eq 0 ]
