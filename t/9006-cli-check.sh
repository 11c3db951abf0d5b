#!/bin/sh
# 9006-cli-check: `gpureconcile check` against gpureconcile-sim: all good
# (exit 0), a missing key (77, export VAST_API_KEY), a world-readable key
# file (chmod 600), a key the sim refuses (401: 77 with a hint), a
# base_url nobody listens on (a network hint), a bad fleet file (65 with
# file:line:col), local without nvidia-smi for a GPU group (declare gpus)
# and with CPU groups only (fine), a stand-in nvidia-smi whose GPU a group
# has or lacks (69), a missing SSH key as a warning only,
# a good ledger and a broken one (74), and --json.
#
# Needs GR_BIN, GR_SIM and GR_TOP, as `make check` exports them.  Every
# gpureconcile runs with PATH holding only the test's own bin dir (no
# nvidia-smi but the stand-in, no secret-tool: the user's keyring is never
# asked), HOME in the temp dir and no *_API_KEY in the environment.  JSON checks use python3, else jq,
# else they are skipped.  About 1 s.

: "${GR_BIN:?set GR_BIN to the gpureconcile binary (make check does)}"
: "${GR_SIM:?set GR_SIM to the gpureconcile-sim binary (make check does)}"
: "${GR_TOP:?set GR_TOP to the source directory (make check does)}"

T=$(mktemp -d "${TMPDIR:-/tmp}/gr9006.XXXXXX") || exit 1
T=$(cd "$T" && pwd -P)
XDG_CONFIG_HOME=$T/xdg-config		# never the user's own config
XDG_STATE_HOME=$T/xdg-state
export XDG_CONFIG_HOME XDG_STATE_HOME
simpid=
cleanup() {
	[ -n "$simpid" ] && kill "$simpid" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
trap 'cleanup; trap - EXIT; exit 143' TERM INT HUP
unset VAST_API_KEY RUNPOD_API_KEY LAMBDA_API_KEY CREDENTIALS_DIRECTORY
mkdir -p "$T/bin" "$T/home"

# --- the shared TAP producer and helpers ---------------------------------
. "$GR_TOP/t/tap.sh"
cd "$T" || exit 1	# no .env of the user's

# check CONFIG [ARGS...]: gpureconcile check, stdout/stderr/status kept.
check() {
	cfg=$1
	shift
	cmdline="gpureconcile --config $cfg check $*"
	env PATH="$T/bin" HOME="$T/home" "$GR_BIN" --config "$cfg" \
	    --state-dir "${ST:-$T/state}" check "$@" >"$T/out" 2>"$T/err" \
	    </dev/null
	rc=$?
}

# json_ok FILE PY-EXPR JQ-EXPR DESCRIPTION: the expression is true.
json_ok() {
	case $JSONTOOL in
	python3)
		python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if eval(sys.argv[2]) else 1)' "$1" "$2" 2>"$T/jerr"
		;;
	jq)
		jq -e "$3" "$1" >/dev/null 2>"$T/jerr"
		;;
	*)
		skip "$4" "neither python3 nor jq"
		return 0
		;;
	esac
	st=$?
	why="$(head -c 300 "$T/jerr")"
	tap_ok "$st" "$4"
}

# --- the simulator ------------------------------------------------------------
# start_sim: a sim with the default keys and no rate limits; sets $port.
start_sim() {
	cat >"$T/scenario.json" <<'EOF'
{"providers": {"vastai": {"rate_limits": false},
               "runpod": {"rate_limits": false},
               "lambda": {"rate_limits": false}}}
EOF
	rm -f "$T/port"
	"$GR_SIM" --listen 127.0.0.1:0 --port-file "$T/port" \
	    --scenario "$T/scenario.json" -q 2>"$T/sim.err" &
	simpid=$!
	i=0
	while [ ! -s "$T/port" ] && [ $i -lt 500 ]; do
		sleep 0.02
		i=$((i + 1))
	done
	if [ ! -s "$T/port" ]; then
		echo "Bail out! gpureconcile-sim did not start: $(cat "$T/sim.err")"
		exit 1
	fi
	port=$(cat "$T/port")
}

# A closed loopback port: one a sim listened on, then stopped.
start_sim
closed=$port
kill "$simpid"
wait "$simpid" 2>/dev/null
simpid=
start_sim

# --- fixtures -----------------------------------------------------------------
umask 077
printf 'sim-vast-key\n' >"$T/vast.key"
printf 'not-the-key\n' >"$T/wrong.key"
cp "$T/vast.key" "$T/open.key"
chmod 644 "$T/open.key"

# vastcfg NAME KEYFILE-LINE [BASE]: a config for vastai only.
vastcfg() {
	cat >"$T/$1.yaml" <<EOF
providers:
  vastai:
    base_url: "http://127.0.0.1:${3:-$port}/vast"
$2
EOF
}
vastcfg good "    api_key_file: \"$T/vast.key\""
vastcfg nokey ""
vastcfg open "    api_key_file: \"$T/open.key\""
vastcfg wrong "    api_key_file: \"$T/wrong.key\""
vastcfg down "    api_key_file: \"$T/vast.key\"" "$closed"
printf 'providers:\n  local: {}\n' >"$T/local.yaml"

mkdir -p "$T/fleets" "$T/bad" "$T/gpu" "$T/cpu"
cat >"$T/fleets/train.yaml" <<'EOF'
fleet: train
groups:
  - name: g
    count: 1
    provider: vastai
    gpu: RTX_4090
    max_price_per_hour: 0.70
EOF
cat >"$T/bad/broken.yaml" <<'EOF'
fleet: broken
groups:
  - name: g
    count: many
    provider: vastai
    gpu: RTX_4090
    max_price_per_hour: 0.70
EOF
cat >"$T/gpu/gpu.yaml" <<'EOF'
fleet: onbox
groups:
  - name: g
    count: 1
    provider: local
    gpu: RTX_4090
    max_price_per_hour: 0.00
EOF
cat >"$T/cpu/cpu.yaml" <<'EOF'
fleet: onbox
groups:
  - name: g
    count: 1
    provider: local
    gpu: CPU
    max_price_per_hour: 0.00
EOF

# --- the checks ---------------------------------------------------------------
check "$T/good.yaml" -f "$T/fleets"
is_rc 0 "all good: exit 0"
like "$T/out" '^ok +spec ' "all good: the spec is checked"
like "$T/out" '^ok +credentials +vastai +found: --api-key-file ' \
    "all good: says where the key came from"
like "$T/out" '^ok +key file permissions +vastai ' \
    "all good: the key file's permissions are checked"
like "$T/out" '^ok +authenticated call +vastai ' \
    "all good: a real call to the sim succeeded"
like "$T/out" '^ok +state dir ' "all good: the state dir can be created"
like "$T/out" '^warn +ssh key +vastai .*no SSH client key' \
    "no SSH key: a warning"
like "$T/out" 'hint: ssh-keygen -t ed25519; only pull and ssh-info --check' \
    "no SSH key: the hint says what needs one"
like "$T/out" '^(ok|warn) +libssh2 +ssh +[0-9]+\.[0-9]+\.[0-9]+' \
    "a provider over SSH: the linked libssh2's version is checked"
[ ! -e "$T/state" ]
tap_ok $? "all good: check created nothing in the state dir"

mkdir -p "$T/home/.ssh"
: >"$T/home/.ssh/id_ed25519"
check "$T/good.yaml" -f "$T/fleets"
like "$T/out" '^ok +ssh key +vastai .*id_ed25519' \
    "an SSH key in ~/.ssh is found"
rm -f "$T/home/.ssh/id_ed25519"

check "$T/good.yaml"
is_rc 0 "no fleet files: every configured provider is checked, exit 0"
like "$T/out" '^ok +authenticated call +vastai ' \
    "no fleet files: vastai is checked"

check "$T/nokey.yaml" -f "$T/fleets"
is_rc 77 "missing key: exit 77"
like "$T/out" '^FAIL +credentials +vastai .*no API key' \
    "missing key: the credentials check fails"
like "$T/out" 'hint: export VAST_API_KEY=' \
    "missing key: the hint says export VAST_API_KEY=..."

check "$T/open.yaml" -f "$T/fleets"
is_rc 77 "world-readable key file: exit 77"
like "$T/out" '^FAIL +key file permissions +vastai .*group or others' \
    "world-readable key file: the permissions check fails"
like "$T/out" "hint: chmod 600 $T/open.key" \
    "world-readable key file: the hint names chmod 600 and the file"

check "$T/wrong.yaml" -f "$T/fleets"
is_rc 77 "key the sim refuses: exit 77"
like "$T/out" '^ok +credentials +vastai ' \
    "key the sim refuses: a key was found"
like "$T/out" '^FAIL +authenticated call +vastai ' \
    "key the sim refuses: the authenticated call fails"
like "$T/out" 'hint: .*was refused.*export VAST_API_KEY=' \
    "key the sim refuses: the hint says check the key"

check "$T/down.yaml" -f "$T/fleets"
why="expected a failure, got exit $rc"
[ "$rc" -ne 0 ]
tap_ok $? "unreachable base_url: a failing exit status"
like "$T/out" '^FAIL +authenticated call +vastai ' \
    "unreachable base_url: the call fails"
like "$T/out" "hint: check base_url .*127.0.0.1:$closed.* network" \
    "unreachable base_url: the hint names base_url and the network"

check "$T/good.yaml" -f "$T/bad"
is_rc 65 "bad fleet file: exit 65"
like "$T/err" "broken.yaml:[0-9]+:[0-9]+: " \
    "bad fleet file: errors as file:line:col"
like "$T/out" '^FAIL +spec ' "bad fleet file: the spec check fails"

check "$T/local.yaml" -f "$T/gpu"
is_rc 78 "local, GPU group, no nvidia-smi: exit 78"
like "$T/out" '^FAIL +tools +local .*nvidia-smi' \
    "local, GPU group, no nvidia-smi: the tools check fails"
like "$T/out" 'hint: .*declare the GPUs in the config' \
    "local, GPU group, no nvidia-smi: the hint says declare gpus"

check "$T/local.yaml" -f "$T/cpu"
is_rc 0 "local, CPU groups only, no nvidia-smi: exit 0"
like "$T/out" '^ok +tools +local .*only CPU groups' \
    "local, CPU groups only: says why no nvidia-smi is fine"
like "$T/out" '^ok +credentials +local +none needed' \
    "local: no credentials needed"
grep -q ' libssh2 ' "$T/out"
tap_ok $((! $?)) "local without ssh: true: no libssh2 line"

printf 'providers:\n  local: {ssh: true}\n' >"$T/localssh.yaml"
check "$T/localssh.yaml" -f "$T/cpu"
is_rc 0 "local with ssh: true: exit 0"
like "$T/out" '^(ok|warn) +libssh2 +ssh +[0-9]' \
    "local with ssh: true: the libssh2 line"

printf 'providers:\n  local: {gpus: "RTX_4090:1"}\n' >"$T/declared.yaml"
check "$T/declared.yaml" -f "$T/gpu"
is_rc 0 "local, GPUs declared in the config: exit 0"
like "$T/out" '^ok +tools +local .*declared' \
    "local, GPUs declared: says so"

# A stand-in nvidia-smi: this machine has one RTX 4090.
cat >"$T/bin/nvidia-smi" <<'EOF'
#!/bin/sh
echo "0, GPU-00000000-0000-0000-0000-000000000001, NVIDIA GeForce RTX 4090, 24564"
EOF
chmod 755 "$T/bin/nvidia-smi"
check "$T/local.yaml" -f "$T/gpu"
is_rc 0 "local, nvidia-smi shows the group's GPU: exit 0"
like "$T/out" "^ok +tools +local +nvidia-smi: $T/bin/nvidia-smi" \
    "local: says where nvidia-smi is"
like "$T/out" '^ok +gpus +local +RTX_4090 \(1 free\)' \
    "local: lists the GPUs nvidia-smi reports"
sed 's/gpu: RTX_4090/gpu: H100_SXM/' "$T/gpu/gpu.yaml" >"$T/h100.yaml"
check "$T/local.yaml" -f "$T/h100.yaml"
is_rc 69 "local, a GPU this machine lacks: exit 69"
like "$T/out" "^FAIL +gpus +local +group 'onbox/g' wants H100_SXM, .*has: RTX_4090" \
    "local, a GPU this machine lacks: says what it has"
like "$T/out" 'hint: give the group a GPU type this machine has' \
    "local, a GPU this machine lacks: a hint"
rm -f "$T/bin/nvidia-smi"

# A ledger that exists is checked; one that is not a database fails.
mkdir -p "$T/none"
cat >"$T/none/empty.yaml" <<'EOF'
fleet: empty
groups:
  - name: g
    count: 0
    provider: local
    gpu: CPU
    max_price_per_hour: 0.00
EOF
run env PATH="$T/bin" HOME="$T/home" "$GR_BIN" --config "$T/local.yaml" \
    --state-dir "$T/ledger1" apply -f "$T/none"
is_rc 0 "an apply of nothing makes a ledger"
ST=$T/ledger1
check "$T/local.yaml"
is_rc 0 "a good ledger: exit 0"
like "$T/out" '^ok +ledger .*integrity ok; 0 live rows' \
    "a good ledger: its integrity is checked"
mkdir -p "$T/ledger2"
echo 'this is not a database' >"$T/ledger2/ledger.sqlite"
ST=$T/ledger2
check "$T/local.yaml"
is_rc 74 "a ledger that is not a database: exit 74"
like "$T/out" '^FAIL +ledger ' "a ledger that is not a database: FAIL"
like "$T/out" 'hint: ' "a ledger that is not a database: a hint"
ST=

check "$T/good.yaml" -f "$T/fleets" --json
is_rc 0 "--json, all good: exit 0"
json_ok "$T/out" \
    'd["ok"] is True and all(set(c) >= {"name", "subject", "ok", "detail", "hint"} for c in d["checks"])' \
    '.ok == true and all(.checks[]; has("name") and has("subject") and has("ok") and has("detail") and has("hint"))' \
    "--json: ok true, every check has name, subject, ok, detail, hint"

check "$T/nokey.yaml" -f "$T/fleets" --json
is_rc 77 "--json, missing key: exit 77"
json_ok "$T/out" \
    'd["ok"] is False and any(c["name"] == "credentials" and not c["ok"] and "export VAST_API_KEY" in c["hint"] for c in d["checks"])' \
    '.ok == false and any(.checks[]; .name == "credentials" and .ok == false and (.hint | contains("export VAST_API_KEY")))' \
    "--json, missing key: ok false, the credentials check carries the hint"

echo "1..$n"
[ "$nfail" -eq 0 ]
