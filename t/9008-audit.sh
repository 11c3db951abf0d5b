#!/bin/sh
# 9008-audit: the audit trail.  A fleet directory that is a git work tree:
# every event records the spec file, the spec hash and the commit it was
# read from ("+dirty" for an uncommitted edit); status --history lists
# them and sums cost per spawning commit; drift shows the commit; the
# commits survive ledger export and import; a directory outside git and
# a machine without git record no commit; the git child gets no secret.
#
# Needs GR_BIN and GR_TOP, as `make check` exports them, and git (skipped
# without it).  JSON checks use python3 or jq.  About 5 s.

: "${GR_BIN:?set GR_BIN to the gpureconcile binary (make check does)}"
: "${GR_TOP:?set GR_TOP to the source directory (make check does)}"
cd "$GR_TOP" || exit 1

T=$(mktemp -d "${TMPDIR:-/tmp}/gr9008.XXXXXX") || exit 1
T=$(cd "$T" && pwd -P)
XDG_CONFIG_HOME=$T/xdg-config
XDG_STATE_HOME=$T/xdg-state
HOME=$T/home
GIT_CONFIG_NOSYSTEM=1
export XDG_CONFIG_HOME XDG_STATE_HOME HOME GIT_CONFIG_NOSYSTEM
mkdir -p "$HOME"

. "$GR_TOP/t/tap.sh"

cleanup() {
	trap - EXIT HUP INT TERM
	rm -rf "$T"		# the fake cloud is only a file
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

if ! command -v git >/dev/null 2>&1; then
	echo "1..0 # SKIP git is not installed"
	exit 0
fi
REALGIT=$(command -v git)

CFG=$T/config.yaml
ST=$T/state
cat >"$CFG" <<EOF
providers:
  fake:
    state_file: $T/cloud.json
    boot_ms: 0
EOF

# fleet DIR COUNT: DIR/train.yaml
fleet() {
	mkdir -p "$1"
	cat >"$1/train.yaml" <<EOF
fleet: train
groups:
  - name: g
    count: $2
    provider: fake
    gpu: RTX_4090
    max_price_per_hour: 0.60
    disk_gb: 10
    image: pytorch/pytorch:2.4.0-cuda12.1-cudnn9-runtime
EOF
}

G="git -C $T/repo -c user.name=t -c user.email=t@example.invalid"

# A git wrapper first on PATH records what each git child was given.
mkdir -p "$T/bin"
cat >"$T/bin/git" <<EOF
#!/bin/sh
{ echo "ARGV: \$*"; env; } >>"$T/git-calls"
exec "$REALGIT" "\$@"
EOF
chmod +x "$T/bin/git"

echo "1..31"

# --- commit A: 2 instances -----------------------------------------------------
fleet "$T/repo" 2
git init -q "$T/repo"
$G add train.yaml
$G commit -qm A
A=$($G rev-parse HEAD)

PATH=$T/bin:$PATH VAST_API_KEY=sk-audit-secret-1 \
    RUNPOD_API_KEY=sk-audit-secret-2 gr apply -f "$T/repo"
is_rc 0 "apply at commit A exits 0"

gr status --history --json
is_rc 0 "status --history --json exits 0"
cp "$T/out" "$T/h1.json"
is_jv "$T/h1.json" \
    'len([e for e in d["events"] if e["event"] == "spawn-intent"])' \
    '[.events[] | select(.event == "spawn-intent")] | length' 2 \
    "two spawn intents"
is_jv "$T/h1.json" \
    'sorted(set(e["git_commit"] for e in d["events"]))[0]' \
    '[.events[].git_commit] | unique | .[0]' "$A" \
    "every event records commit A"
is_jv "$T/h1.json" \
    'sorted(set(e["spec_file"] for e in d["events"]))[0]' \
    '[.events[].spec_file] | unique | .[0]' "$T/repo/train.yaml" \
    "every event records the spec file"
is_jv "$T/h1.json" 'len(d["events"][0]["spec_hash"])' \
    '.events[0].spec_hash | length' 64 "and the group's spec hash"
is_jv "$T/h1.json" 'd["commits"][0]["instances"]' \
    '.commits[0].instances' 2 "the commits table: A spawned 2"

# the git child: no secret in its environment or argv, no optional locks
if [ -s "$T/git-calls" ]; then
	why="a secret reached git: $(grep -n sk-audit "$T/git-calls" | head -3)"
	! grep -q sk-audit "$T/git-calls"
	tap_ok $? "no API key reaches the git child"
	like "$T/git-calls" '^GIT_OPTIONAL_LOCKS=0$' \
	    "git runs with optional locks off (never takes index.lock)"
	like "$T/git-calls" '^ARGV: -c core.fsmonitor=false ' \
	    "git runs with the fsmonitor hook off"
else
	why="the wrapper recorded no git call"
	tap_ok 1 "no API key reaches the git child"
	tap_ok 1 "git runs with optional locks off"
	tap_ok 1 "git runs with the fsmonitor hook off"
fi

# --- commit B: 3 instances -------------------------------------------------------
fleet "$T/repo" 3
$G commit -qam B
B=$($G rev-parse HEAD)
gr apply -f "$T/repo"
is_rc 0 "apply at commit B exits 0"
gr status --history --json
cp "$T/out" "$T/h2.json"
is_jv "$T/h2.json" \
    '[e["git_commit"] for e in d["events"] if e["event"] == "spawn-intent"][2]' \
    '[.events[] | select(.event == "spawn-intent")][2].git_commit' "$B" \
    "the third instance's intent records commit B"
is_jv "$T/h2.json" \
    '",".join("%s:%d" % (c["git_commit"][:7], c["instances"]) for c in d["commits"])' \
    '[.commits[] | "\(.git_commit[0:7]):\(.instances)"] | join(",")' \
    "$(echo "$A" | cut -c1-7):2,$(echo "$B" | cut -c1-7):1" \
    "the commits table: A spawned 2, B spawned 1"

# --- an uncommitted edit: count 1 -------------------------------------------------
fleet "$T/repo" 1
gr apply -f "$T/repo"
is_rc 0 "apply of an uncommitted edit exits 0"
gr status --history --json
cp "$T/out" "$T/h3.json"
is_jv "$T/h3.json" \
    'sorted(set(e["git_commit"] for e in d["events"] if e["event"] in ("terminate-intent", "terminated")))' \
    '[.events[] | select(.event == "terminate-intent" or .event == "terminated") | .git_commit] | unique' \
    "[\"$B+dirty\"]" \
    "the terminations record B+dirty: the file differed from the commit"

gr status --history
is_rc 0 "status --history (text) exits 0"
like "$T/out" "^$(date -u +%Y)-.* train/g/2 +terminated +STOPPING->TERMINATED +$(echo "$B" | cut -c1-12)\\+dirty" \
    "the table shows each event with its commit"
like "$T/out" "^$(echo "$A" | cut -c1-12) +2 +0 +1 " \
    "the per-commit table: A spawned 2, 1 still billing"

# one instance only
gr status --history --instance train/g/2 --json
is_rc 0 "--instance by address exits 0"
is_jv "$T/out" 'sorted(set(e["address"] for e in d["events"]))' \
    '[.events[].address] | unique' '["train/g/2"]' \
    "--instance shows that instance's events only"
gr status --history --instance no/such/9
is_rc 66 "--instance that matches nothing exits 66"
like "$T/err" "no instance 'no/such/9'" "and says so"
gr status --instance train/g/2
is_rc 64 "--instance without --history is a usage error"

# --- drift names the spawning commit ----------------------------------------------
gr drift -f "$T/repo" --json
is_jv "$T/out" \
    '",".join(sorted(set(str(i["git_commit"])[:7] for i in d["instances"])))' \
    '[.instances[].git_commit[0:7]] | unique | join(",")' \
    "$(printf '%s\n%s\n' "$(echo "$A" | cut -c1-7)" "$(echo "$B" | cut -c1-7)" | sort | paste -sd,)" \
    "drift --json gives each instance its spawning commit"

# --- export and import keep the commits ----------------------------------------
gr ledger export --jsonl --events --output "$T/exp.jsonl"
is_rc 0 "ledger export exits 0"
run "$GR_BIN" --config "$CFG" --state-dir "$T/state2" ledger import \
    --input "$T/exp.jsonl"
is_rc 0 "ledger import into a new state dir exits 0"
run "$GR_BIN" --config "$CFG" --state-dir "$T/state2" ledger export \
    --jsonl --events --output "$T/exp2.jsonl"
why="the second export differs: $(diff "$T/exp.jsonl" "$T/exp2.jsonl" | head -5)"
cmp -s "$T/exp.jsonl" "$T/exp2.jsonl"
tap_ok $? "export -> import -> export is byte-identical, commits included"
like "$T/exp.jsonl" "\"git_commit\":\"$B\\+dirty\"" \
    "the export carries the events' commits"

# --- no git: a directory outside git, and a machine without git ------------------
fleet "$T/plain" 1
run "$GR_BIN" --config "$CFG" --state-dir "$T/state3" apply -f "$T/plain"
is_rc 0 "apply from a directory outside git exits 0"
run "$GR_BIN" --config "$CFG" --state-dir "$T/state3" status --history --json
is_jv "$T/out" '[e["git_commit"] for e in d["events"]][0]' \
    '.events[0].git_commit' "null" \
    "outside git no commit is recorded"
mkdir -p "$T/nogit"
ln -s "$(command -v sh)" "$T/nogit/sh"
PATH=$T/nogit run "$GR_BIN" --config "$CFG" --state-dir "$T/state4" apply \
    -f "$T/repo"
is_rc 0 "apply where git is not installed exits 0 (the commit is optional)"
