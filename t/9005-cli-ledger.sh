#!/bin/sh
# 9005-cli-ledger: `ledger export --jsonl` and `ledger import` through the
# CLI on the fake provider: apply, export (beside a held writer lock),
# import into a new state dir, the same `status --json`, a byte-identical
# export, a re-apply from the imported ledger against the same fake cloud
# that makes no mutating call (the owner labels still match); an import
# into a non-empty ledger and a bad file change nothing; another tool's
# tracked-instances file is adopted and `provider fake teardown` ends it.
#
# Needs GR_BIN and GR_TOP, as `make check` exports them.  JSON checks use
# python3, else jq, else they are skipped.  About 3 s.

: "${GR_BIN:?set GR_BIN to the gpureconcile binary (make check does)}"
: "${GR_TOP:?set GR_TOP to the source directory (make check does)}"
cd "$GR_TOP" || exit 1

T=$(mktemp -d "${TMPDIR:-/tmp}/gr9005.XXXXXX") || exit 1
T=$(cd "$T" && pwd -P)
XDG_CONFIG_HOME=$T/xdg-config		# never the user's own config
XDG_STATE_HOME=$T/xdg-state
export XDG_CONFIG_HOME XDG_STATE_HOME
CFG=$T/config.yaml
ST=$T/s1

. "$GR_TOP/t/tap.sh"

cleanup() {
	trap - EXIT HUP INT TERM
	rm -rf "$T"		# the fake cloud is only a file
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

# grs DIR ARGS...: gpureconcile on state dir DIR
grs() {
	d=$1
	shift
	run "$GR_BIN" --config "$CFG" --state-dir "$d" "$@"
}

# status_norm DIR: `status --all --json` without the fields that tick
status_norm() {
	"$GR_BIN" --config "$CFG" --state-dir "$1" status --all --json \
	    </dev/null >"$T/st.json" 2>/dev/null || return 1
	case $JSONTOOL in
	python3)
		python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
for r in d:
    r.pop("age_seconds"); r.pop("cost")
print(json.dumps(d, sort_keys=True))' "$T/st.json" ;;
	jq)
		jq -S -c 'map(del(.age_seconds, .cost))' "$T/st.json" ;;
	esac
}

cat >"$CFG" <<EOF
poll_interval: 1s
providers:
  fake:
    state_file: $T/cloud.json
    boot_ms: 100
    timeouts: {spinup: 5s, teardown: 5s}
EOF
mkdir -p "$T/fleet"
cat >"$T/fleet/f.yaml" <<EOF
fleet: train
groups:
  - name: g
    count: 2
    provider: fake
    gpu: RTX_4090
    max_price_per_hour: 0.60
    disk_gb: 10
    image: pytorch/pytorch:2.4.0-cuda12.1-cudnn9-runtime
EOF

grs "$ST" apply -f "$T/fleet"
is_rc 0 "apply brings up 2 instances on fake"

# --- export, beside a held writer lock ------------------------------------
# The test shell itself holds the lock (flock(1) on fd 9), as apply would.
locked=
if command -v flock >/dev/null 2>&1 && exec 9>>"$ST/ledger.lock" &&
    flock -n 9; then
	locked=1
fi
grs "$ST" ledger export --jsonl --events --output "$T/exp.jsonl"
is_rc 0 "ledger export --jsonl --events --output exits 0"
if [ -n "$locked" ]; then
	tap_ok 0 "export ran while the writer lock was held"
	grs "$ST" ledger import --input "$T/exp.jsonl"
	is_rc 75 "import takes the writer lock: a held lock refuses it (75)"
	flock -u 9
	exec 9>&-
else
	skip "export ran while the writer lock was held" "no flock(1)"
	skip "import takes the writer lock: a held lock refuses it (75)" \
	    "no flock(1)"
fi
like "$T/exp.jsonl" '^\{"type":"ledger","ledger_id":"[0-9a-f]{16}","schema_version":3,' \
    "the first line is the ledger line"
is "$(grep -c '"type":"instance"' "$T/exp.jsonl")" 2 "2 instance lines"
like "$T/exp.jsonl" '"type":"event".*"kind":"spawn-intent"' \
    "with --events, event lines"
grs "$ST" ledger export --jsonl --events
cp "$T/out" "$T/exp-stdout.jsonl"
cmp -s "$T/exp.jsonl" "$T/exp-stdout.jsonl"
tap_ok $? "stdout and --output get the same export"
grs "$ST" ledger export --jsonl
is "$(grep -c '"type":"event"' "$T/out")" 0 "without --events, no events"

# --- import into a new state dir: the same ledger --------------------------
"$GR_BIN" --config "$CFG" --state-dir "$T/s2" ledger import \
    <"$T/exp.jsonl" >"$T/out" 2>"$T/err"
rc=$? cmdline="ledger import <exp.jsonl (stdin)"
is_rc 0 "ledger import from stdin into a new state dir exits 0"
like "$T/out" '^imported 2 instances and [0-9]+ events into ledger [0-9a-f]{16}$' \
    "import says what it imported"
grs "$T/s2" ledger export --jsonl --events --output "$T/exp2.jsonl"
cmp -s "$T/exp.jsonl" "$T/exp2.jsonl"
why="$(diff "$T/exp.jsonl" "$T/exp2.jsonl" | head -5)"
tap_ok $? "export -> import -> export is byte-identical"
if [ -n "$JSONTOOL" ]; then
	a=$(status_norm "$ST")
	b=$(status_norm "$T/s2")
	why="before: $a
after:  $b"
	[ -n "$a" ] && [ "$a" = "$b" ]
	tap_ok $? "status --all --json is the same from the imported ledger"
else
	skip "status --all --json is the same from the imported ledger" \
	    "neither python3 nor jq"
fi

grs "$T/s2" apply --json -f "$T/fleet"
is_rc 0 "apply from the imported ledger against the same cloud exits 0"
cp "$T/out" "$T/apply.json"
is_jv "$T/apply.json" \
    '[d["converged"], d["spawned"], d["terminated"], d["mutating_calls"]]' \
    '[.converged, .spawned, .terminated, .mutating_calls] | tostring' \
    '[true,0,0,0]' "it finds its instances by label: no mutating call"

grs "$T/s5" ledger import --json --input "$T/exp.jsonl"
is_rc 0 "ledger import --json exits 0"
cp "$T/out" "$T/import.json"
is_jv "$T/import.json" '[d["instances"], d["adopted"], d["events"] > 0]' \
    '[.instances, .adopted, .events > 0] | tostring' '[2,0,true]' \
    "import --json: 2 instances, none adopted, the events"
grs "$T/s5" help ledger
is_rc 0 "help ledger exits 0"
like_fixed "$T/out" "usage: gpureconcile ledger export --jsonl" \
    "help ledger gives the usage"

# --- refusals that change nothing ----------------------------------------------
grs "$T/s2" ledger import --input "$T/exp.jsonl"
is_rc 74 "import into a non-empty ledger exits 74"
like "$T/err" "already tracks 2 instances.*nothing was imported" \
    "the error says why and that nothing changed"
like_fixed "$T/err" "(hint: import into a new --state-dir)" "with a hint"
grs "$T/s2" ledger export --jsonl --events --output "$T/exp3.jsonl"
cmp -s "$T/exp2.jsonl" "$T/exp3.jsonl"
tap_ok $? "the refused import changed nothing"

printf '{"provider":"fake","instance_id":"fake-1"}\n{"provider":"fake"}\n' \
    >"$T/bad.jsonl"
grs "$T/s3" ledger import --input "$T/bad.jsonl"
is_rc 64 "a bad line exits 64"
like_fixed "$T/err" "bad.jsonl:2: no instance id" "the error is FILE:LINE"
[ ! -e "$T/s3/ledger.sqlite" ]
tap_ok $? "a bad file creates no ledger"
grs "$T/s3" ledger import --input "$T/missing.jsonl"
is_rc 74 "a missing input file exits 74"
grs "$T/s3" ledger export
is_rc 64 "export without --jsonl is a usage error"
grs "$T/s3" ledger export --jsonl
is_rc 74 "export of a state dir with no ledger exits 74"
grs "$T/s3" ledger frob
is_rc 64 "an unknown ledger command exits 64"

# --- another tool's tracked instances ------------------------------------------
id=$(sed -n 's/.*"type":"instance".*"slot":0,"provider":"fake","provider_id":"\([^"]*\)".*/\1/p' \
    "$T/exp.jsonl")
printf '{"provider":"fake","instance_id":"%s","name":"theirs"}\n' "$id" \
    >"$T/foreign.jsonl"
grs "$T/s4" ledger import --input "$T/foreign.jsonl"
is_rc 0 "another tool's tracked-instances file is imported"
like "$T/out" '^adopted 1 instance as tracked ad-hoc rows' "import says so"
grs "$T/s4" status
like "$T/out" "^adhoc/theirs +RUNNING +fake +$id " \
    "status shows it as a RUNNING ad-hoc row"
grs "$T/s4" provider fake teardown --instance "$id" -y
is_rc 0 "provider fake teardown --instance ends it"
grs "$T/s4" status --all
like "$T/out" "^adhoc/theirs +TERMINATED +fake +$id " "its row is TERMINATED"
if [ -n "$JSONTOOL" ]; then
	is_jv "$T/cloud.json" \
	    "[i['phase'] for i in d['instances'] if i['id'] == '$id'][0] != 'active'" \
	    ".instances[] | select(.id == \"$id\") | .phase != \"active\"" \
	    true "the fake cloud no longer has it active"
else
	skip "the fake cloud no longer has it active" "neither python3 nor jq"
fi

echo "1..$n"
[ "$nfail" -eq 0 ]
