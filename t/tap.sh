# tap.sh: the TAP producer and helpers the shell tests (t/9*.sh) share;
# sourced after each script sets T, GR_BIN and GR_TOP.

# --- a small TAP producer ---------------------------------------------------
n=0 nfail=0 todo='' why='' cmdline='' rc=0

# What the last command did, as # lines.
diag_last() {
	[ -n "$why" ] && printf '%s\n' "$why" | sed 's/^/# /'
	[ -n "$cmdline" ] || return 0
	echo "# last command: $cmdline"
	echo "# exit status: $rc"
	if [ -s "$T/out" ]; then
		echo "# stdout:"
		head -n 40 "$T/out" | sed 's/^/#   /'
	fi
	if [ -s "$T/err" ]; then
		echo "# stderr:"
		head -n 40 "$T/err" | sed 's/^/#   /'
	fi
}

# tap_ok STATUS DESCRIPTION: STATUS 0 is a pass.
tap_ok() {
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then
		res="ok"
	else
		res="not ok"
	fi
	if [ -n "$todo" ]; then
		echo "$res $n - $2 # TODO $todo"
	else
		echo "$res $n - $2"
	fi
	if [ "$1" -ne 0 ]; then
		[ -n "$todo" ] || nfail=$((nfail + 1))
		diag_last
	fi
	todo='' why=''
	return "$1"
}

skip() {
	n=$((n + 1))
	echo "ok $n - $1 # SKIP $2"
}

# run CMD...: its stdout, stderr and exit status into $T/out, $T/err, $rc.
# stdin is never a terminal, so apply does not ask.
run() {
	cmdline="$*"
	"$@" >"$T/out" 2>"$T/err" </dev/null
	rc=$?
}

gr() {
	run "$GR_BIN" --config "$CFG" --state-dir "$ST" "$@"
}

is_rc() {
	why="expected exit status $1, got $rc"
	[ "$rc" -eq "$1" ]
	tap_ok $? "$2"
}

# like FILE EXTENDED-REGEX DESCRIPTION
like() {
	why="no line of $(basename "$1") matches: $2"
	grep -Eq -- "$2" "$1"
	tap_ok $? "$3"
}

# like_fixed FILE STRING DESCRIPTION
like_fixed() {
	why="no line of $(basename "$1") contains: $2"
	grep -Fq -- "$2" "$1"
	tap_ok $? "$3"
}

is() {
	why="expected '$2', got '$1'"
	[ "$1" = "$2" ]
	tap_ok $? "$3"
}

if command -v python3 >/dev/null 2>&1 && python3 -c 'import json' \
    >/dev/null 2>&1; then
	JSONTOOL=python3
elif command -v jq >/dev/null 2>&1; then
	JSONTOOL=jq
else
	JSONTOOL=
fi
case ${GR_JSON_TOOL:-} in	# GR_JSON_TOOL=jq tests the other path
jq|python3|none) JSONTOOL=${GR_JSON_TOOL%none} ;;
esac

# jv FILE PY-EXPR JQ-EXPR: the value, in the same shape from either tool
# (strings raw, numbers and booleans as JSON).  In PY-EXPR the document is d.
jv() {
	case $JSONTOOL in
	python3)
		python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
r = eval(sys.argv[2])
print(r if isinstance(r, str) else
    json.dumps(r, separators=(",", ":")))' "$1" "$2"
		;;
	jq)
		jq -r "$3" "$1"
		;;
	*)
		return 2
		;;
	esac
}

# is_jv FILE PY-EXPR JQ-EXPR WANT DESCRIPTION
is_jv() {
	if [ -z "$JSONTOOL" ]; then
		skip "$5" "neither python3 nor jq"
		return 0
	fi
	got=$(jv "$1" "$2" "$3" 2>"$T/jerr")
	why="expected '$4', got '$got' $(head -c 300 "$T/jerr")"
	[ "$got" = "$4" ]
	tap_ok $? "$5"
}

