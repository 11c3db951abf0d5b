#!/bin/sh
# 9001-cli-local: the real binary driven as a user would, on the `local`
# provider (real processes on this machine): plan, apply, status, scale
# down, a spec change (replace), deleting the fleet file; the instances'
# processes outlive the CLI and die with their instance.
#
# Needs GR_BIN (absolute path of the binary) and GR_TOP (the source dir),
# as `make check` exports them.  JSON checks use python3, else jq, else
# they are skipped.

: "${GR_BIN:?set GR_BIN to the gpureconcile binary (make check does)}"
: "${GR_TOP:?set GR_TOP to the source directory (make check does)}"
cd "$GR_TOP" || exit 1		# never inside $T: cleanup kills what is there

T=$(mktemp -d "${TMPDIR:-/tmp}/gr9001.XXXXXX") || exit 1
T=$(cd "$T" && pwd -P)
ST=$T/state
CFG=$T/config.yaml
EX=examples/local
XDG_CONFIG_HOME=$T/xdg-config		# never the user's own config
XDG_STATE_HOME=$T/xdg-state
export XDG_CONFIG_HOME XDG_STATE_HOME

# --- the shared TAP producer and helpers ---------------------------------
. "$GR_TOP/t/tap.sh"

# --- processes ---------------------------------------------------------------

# The live (not zombie) processes whose working directory is under DIR.
procs_under() {
	for p in /proc/[0-9]*; do
		c=$(readlink "$p/cwd" 2>/dev/null) || continue
		case $c in
		"$1" | "$1"/* | "$1 (deleted)") ;;
		*) continue ;;
		esac
		s=$(sed 's/^.*) //' "$p/stat" 2>/dev/null) || continue
		case $s in
		Z* | X*) continue ;;
		esac
		echo "${p#/proc/}"
	done
}

# The live processes in session SID (an instance's supervisor leads one).
session_members() {
	cat /proc/[0-9]*/stat 2>/dev/null | awk -v sid="$1" '{
		s = $0; sub(/^.*\) /, "", s); split(s, f, " ")
		if (f[4] == sid && f[1] != "Z" && f[1] != "X") {
			p = $0; sub(/ .*/, "", p); print p
		}
	}'
}

# The session id of PID.
sid_of() {
	sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f4
}

alive() {
	[ -n "$1" ] && kill -0 "$1" 2>/dev/null || return 1
	s=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
	case $s in
	Z* | X*) return 1 ;;
	esac
	return 0
}

# The supervisor pid of local instance ID, from its meta.json.
sup_pid() {
	for d in "$ST/local/instances/$1" "$ST/local/terminated/$1"; do
		[ -f "$d/meta.json" ] || continue
		sed -n 's/^ *"pid": *\([0-9][0-9]*\).*/\1/p' "$d/meta.json"
		return 0
	done
}

# Provider ids of the rows of `status` in STATE, sorted, space-separated.
ids_in() {
	"$GR_BIN" --config "$CFG" --state-dir "$ST" status --all \
	    </dev/null 2>/dev/null | awk -v st="$1" '$2 == st { print $4 }' |
	    sort | tr '\n' ' ' | sed 's/ $//'
}

# wait_for SECONDS CMD...: until CMD succeeds.
wait_for() {
	w=$(($1 * 10))
	shift
	while ! "$@"; do
		w=$((w - 1))
		[ "$w" -gt 0 ] || return 1
		sleep 0.1
	done
}

# The instance is gone: supervisor dead, nothing of its session or its
# directory alive.
instance_gone() {
	! alive "$2" &&
	[ -z "$(session_members "$2")" ] &&
	[ -z "$(procs_under "$ST/local/instances/$1")" ] &&
	[ -z "$(procs_under "$ST/local/terminated/$1")" ]
}

# --- cleanup, even when a check fails ----------------------------------------
cleanup() {
	trap - EXIT HUP INT TERM
	if [ -d "$ST" ]; then
		# what the fleet files still ask for, then the demo fleet itself
		# wherever its file lives now
		"$GR_BIN" --config "$CFG" --state-dir "$ST" --once \
		    -f "$T/empty" </dev/null >/dev/null 2>&1
		"$GR_BIN" --config "$CFG" --state-dir "$ST" --once --destroy \
		    -f "$T/cleanup" </dev/null >/dev/null 2>&1
	fi
	for _ in 1 2 3; do
		left=$(procs_under "$T" | tr '\n' ' ')
		[ -n "$left" ] || break
		echo "# cleanup: killing leftover processes: $left"
		# shellcheck disable=SC2086
		kill -KILL $left 2>/dev/null
		sleep 0.2
	done
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$T/empty" "$XDG_CONFIG_HOME" || exit 1
cp -R "$EX" "$T/cleanup" || exit 1
cat >"$CFG" <<EOF
# 9001: the local provider with its defaults
poll_interval: 1s
EOF

# --- plan: read-only -----------------------------------------------------------

gr plan -f examples/local/
is_rc 0 "plan -f examples/local/ exits 0"
is "$(grep -Ec '^\+ spawn +demo/worker/[01] +local ' "$T/out")" 2 \
    "plan lists 2 spawns, demo/worker/0 and /1 on local"
like "$T/out" '2 to spawn, 0 to replace, 0 to terminate' \
    "plan totals say 2 to spawn"

gr plan --detailed-exitcode -f examples/local/
is_rc 2 "plan --detailed-exitcode exits 2 when there are changes"

gr plan --json -f examples/local/
is_rc 0 "plan --json exits 0"
cp "$T/out" "$T/plan.json"
is_jv "$T/plan.json" 'len(d["actions"])' '.actions | length' 2 \
    "plan --json: 2 actions"
is_jv "$T/plan.json" 'sorted(a["action"] + " " + a["address"] for a in d["actions"]) == ["spawn demo/worker/0", "spawn demo/worker/1"]' \
    '[.actions[] | .action + " " + .address] | sort == ["spawn demo/worker/0", "spawn demo/worker/1"]' \
    true "plan --json: both are spawns of demo/worker/0 and /1"
is_jv "$T/plan.json" 'd["changes"]' '.changes' 2 "plan --json: changes is 2"

why="$(find "$ST" -name '*.sqlite*' 2>/dev/null | tr '\n' ' ')"
[ ! -e "$ST/ledger.sqlite" ] && [ -z "$(find "$ST" -name '*.sqlite*' \
    2>/dev/null)" ]
tap_ok $? "plan created no ledger file"
why="processes: $(procs_under "$T")"
[ -z "$(procs_under "$T")" ]
tap_ok $? "plan started no process"

# --- apply ------------------------------------------------------------------

gr apply -f examples/local/
is_rc 0 "apply exits 0 without a prompt when stdin is not a terminal"
like "$T/out" '^converged after .*2 spawned, 0 terminated; now 2 running' \
    "apply says it converged with 2 spawned"

gr status
is_rc 0 "status exits 0"
is "$(grep -Ec '^demo/worker/[01] +RUNNING +local +loc-' "$T/out")" 2 \
    "status shows 2 RUNNING instances with local ids"
ids=$(ids_in RUNNING)
id0=$(awk '$1 == "demo/worker/0" && $2 == "RUNNING" { print $4 }' "$T/out")
id1=$(awk '$1 == "demo/worker/1" && $2 == "RUNNING" { print $4 }' "$T/out")

gr status --json
is_rc 0 "status --json exits 0"
cp "$T/out" "$T/status1.json"
is_jv "$T/status1.json" \
    'sum(1 for r in d if r["state"] == "RUNNING" and r["provider"] == "local" and r["provider_id"])' \
    '[.[] | select(.state == "RUNNING" and .provider == "local" and .provider_id != null)] | length' \
    2 "status --json: 2 RUNNING rows with provider ids"
is_jv "$T/status1.json" '" ".join(sorted(r["provider_id"] for r in d))' \
    '[.[].provider_id] | sort | join(" ")' "$ids" \
    "status --json and the table agree on the ids"

# The CLI has exited: the supervisors must still be there.
pid0=$(sup_pid "$id0")
pid1=$(sup_pid "$id1")
why="supervisor pids: '$pid0' '$pid1'"
alive "$pid0" && alive "$pid1"
tap_ok $? "both supervisors are alive after the CLI exited"
why="sessions: '$(sid_of "$pid0")' '$(sid_of "$pid1")'"
[ -n "$pid0" ] && [ "$(sid_of "$pid0")" = "$pid0" ] &&
    [ -n "$pid1" ] && [ "$(sid_of "$pid1")" = "$pid1" ]
tap_ok $? "each supervisor leads a session of its own"
for slot in 0 1; do
	if [ "$slot" = 0 ]; then id=$id0; else id=$id1; fi
	log=$ST/local/instances/$id/stdout.log
	wait_for 10 grep -Fq "hello from demo/worker/$slot" "$log"
	why="$log: $(head -c 300 "$log" 2>&1)"
	grep -Fq "hello from demo/worker/$slot (gr-" "$log"
	tap_ok $? "instance $slot's stdout.log has the bootstrap's greeting"
done
sleep 1
why="supervisor pids: '$pid0' '$pid1'"
alive "$pid0" && alive "$pid1"
tap_ok $? "the instances are still alive a second later"

gr apply --json -f examples/local/
is_rc 0 "a second apply exits 0"
cp "$T/out" "$T/apply2.json"
is_jv "$T/apply2.json" '[d["converged"], d["spawned"], d["terminated"], d["mutating_calls"]]' \
    '[.converged, .spawned, .terminated, .mutating_calls] | tostring' \
    '[true,0,0,0]' \
    "second apply --json: converged, nothing spawned or terminated, no mutating call"
is "$(ids_in RUNNING)" "$ids" "the second apply kept the same provider ids"

gr plan --detailed-exitcode -f examples/local/
is_rc 0 "plan --detailed-exitcode now exits 0"
like "$T/out" '^no changes' "plan says there are no changes"

# --- status calls no provider ------------------------------------------------

cat >"$T/broken.yaml" <<EOF
# the local provider cannot even be set up with this
providers:
  local: {no_such_option: 1}
EOF
t0=$(date +%s)
run "$GR_BIN" --config "$T/broken.yaml" --state-dir "$ST" status
t1=$(date +%s)
is_rc 0 "status works with a config that breaks the provider"
is "$(grep -Ec '^demo/worker/[01] +RUNNING ' "$T/out")" 2 \
    "status still lists both rows without calling the provider"
why="took $((t1 - t0))s"
[ $((t1 - t0)) -le 3 ]
tap_ok $? "status answers at once"

# A provider that cannot be set up is an error, not "no changes".
run "$GR_BIN" --config "$T/broken.yaml" --state-dir "$ST" plan \
    --detailed-exitcode -f examples/local/
why="plan saw nothing it could check, yet said: $(tail -n 1 "$T/out")"
[ "$rc" -ne 0 ] && [ "$rc" -ne 2 ]
tap_ok $? "plan --detailed-exitcode fails when the provider cannot be set up"
like "$T/err" "no_such_option" "plan names the bad provider option"
run "$GR_BIN" --config "$T/broken.yaml" --state-dir "$ST" apply \
    -f examples/local/
is_rc 78 "apply exits 78 (config) when the provider cannot be set up"
why="apply said: $(cat "$T/out")"
! grep -q '^converged' "$T/out"
tap_ok $? "apply does not claim to have converged without listing"

# --- scale down, replace, delete (on a copy) ------------------------------------

cp -R "$EX" "$T/fleet" || exit 1
sed 's/count: 2/count: 1/' "$EX/demo.yaml" >"$T/fleet/demo.yaml"
gr apply -f "$T/fleet"
is_rc 0 "apply with count 2 -> 1 exits 0"
like "$T/out" '0 spawned, 1 terminated; now 1 running' \
    "apply says it terminated one"
is "$(ids_in TERMINATED)" "$id1" "status --all: slot 1 is TERMINATED"
is "$(ids_in RUNNING)" "$id0" "status --all: slot 0 is still RUNNING"
wait_for 5 instance_gone "$id1" "$pid1"
why="supervisor $pid1: $(alive "$pid1" && echo alive); session: \
$(session_members "$pid1" | tr '\n' ' '); in its dir: \
$(procs_under "$ST/local/terminated/$id1") $(procs_under "$ST/local/instances/$id1")"
instance_gone "$id1" "$pid1"
tap_ok $? "the terminated instance's processes are gone"
why="supervisor $pid0"
alive "$pid0"
tap_ok $? "the kept instance's supervisor is untouched"

sed -e 's/count: 2/count: 1/' -e 's/GREETING: hello/GREETING: bonjour/' \
    "$EX/demo.yaml" >"$T/fleet/demo.yaml"
gr plan -f "$T/fleet"
like "$T/out" '^~ replace +demo/worker/0 ' "plan shows the env change as a replace"
gr apply -f "$T/fleet"
is_rc 0 "apply after an env change exits 0"
new=$(ids_in RUNNING)
why="running now: '$new', before: '$id0'"
[ -n "$new" ] && [ "$new" != "$id0" ] && [ "$(echo "$new" | wc -w)" -eq 1 ]
tap_ok $? "the env change replaced the instance (one RUNNING, new id)"
is "$(ids_in TERMINATED)" "$(printf '%s\n' "$id0" "$id1" | sort |
    tr '\n' ' ' | sed 's/ $//')" "both old ids are TERMINATED"
wait_for 5 instance_gone "$id0" "$pid0"
why="supervisor $pid0 or its session still alive"
instance_gone "$id0" "$pid0"
tap_ok $? "the replaced instance's processes are gone"
newlog=$ST/local/instances/$new/stdout.log
wait_for 10 grep -Fq "bonjour from demo/worker/0" "$newlog"
why="$newlog: $(head -c 300 "$newlog" 2>&1)"
grep -Fq "bonjour from demo/worker/0" "$newlog"
tap_ok $? "the new instance runs with the new env"
newpid=$(sup_pid "$new")

rm -f "$T/fleet/demo.yaml"
gr plan -f "$T/fleet"
like "$T/out" '^- terminate +demo/worker/0 ' \
    "plan after deleting the file shows a terminate"
gr apply -f "$T/fleet"
is_rc 0 "apply after deleting the fleet file exits 0"
like "$T/out" '1 terminated; now 0 running, 0 pending, 0 stopping' \
    "apply says it terminated the last one"
wait_for 5 instance_gone "$new" "$newpid"
why="left: $(procs_under "$ST")"
[ -z "$(procs_under "$ST")" ] && ! alive "$newpid"
tap_ok $? "no process of the state dir remains"
why="$(ls "$ST/local/instances" 2>&1)"
[ -z "$(ls "$ST/local/instances")" ]
tap_ok $? "no instance directory is left under instances/"

gr status
is_rc 0 "status exits 0 with nothing running"
like "$T/out" '^no instances tracked' "status says nothing is tracked"
gr status --all --json
cp "$T/out" "$T/status-all.json"
is_jv "$T/status-all.json" \
    '[len(d), sum(1 for r in d if r["state"] == "TERMINATED" and r["billing_end"])]' \
    '[length, ([.[] | select(.state == "TERMINATED" and .billing_end != null)] | length)] | tostring' \
    '[3,3]' "status --all --json: 3 rows, all TERMINATED with a billing end"

echo "1..$n"
[ "$nfail" -eq 0 ]
