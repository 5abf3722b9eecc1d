# Shared by the integration tests: a TAP producer in the style of git's test
# library, and helpers that drive the real cairn binary against a temp store.
#
#   . "$(dirname "$0")/lib.sh"
#   test_expect_success 'what it proves' '
#           cairn build -t app "$ctx" &&
#           test -f "$CAIRN_ROOT/index.json"
#   '
#   test_done
#
# Environment (set by meson): CAIRN (the binary), CAIRN_SOURCE_ROOT.
# Each script gets its own temp dir $TMP (removed at the end unless
# CAIRN_TEST_KEEP=1) and its own store $CAIRN_ROOT inside it.
set -u

: "${CAIRN:?CAIRN must name the cairn binary}"

# Every process a test starts is gone when the test ends, whatever the test forgot:
# as root the script runs as PID 1 of a pid namespace of its own, and the kernel
# kills what is left in it when the script exits (or when unshare is killed).
if [ "$(id -u)" = 0 ] && [ -z "${CAIRN_TEST_PIDNS:-}" ] && command -v unshare >/dev/null; then
	export CAIRN_TEST_PIDNS=1
	exec unshare --pid --fork --kill-child --mount-proc bash "$0" "$@"
fi
: "${CAIRN_SOURCE_ROOT:=$(cd "$(dirname "$0")/../.." && pwd)}"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/cairn-test.XXXXXX")
export CAIRN_ROOT="$TMP/store"
export TMP
FIXTURES="$CAIRN_SOURCE_ROOT/tests/fixtures"
test_count=0
test_failed=0

cairn() { "$CAIRN" "$@"; }

# Tests reach loopback only. A build that pulls an image the test did not serve
# (FROM of a missing name pulls it, as docker does) must not reach the internet:
# everything but loopback goes to a proxy address where nothing listens.
export http_proxy=http://127.0.0.1:9 https_proxy=http://127.0.0.1:9
export HTTP_PROXY=$http_proxy HTTPS_PROXY=$https_proxy
export no_proxy=localhost,127.0.0.0/8,::1 NO_PROXY=localhost,127.0.0.0/8,::1

_cleanup() {
	# a failed test may leave a process behind; nothing of ours may outlive the script
	if [ "${CAIRN_TEST_KEEP:-0}" = 1 ]; then
		echo "# kept $TMP"
	else
		rm -rf "$TMP"
	fi
}
trap _cleanup EXIT

# ---- prerequisites, as git's test library has them ----
# A test may name what it needs first: test_expect_success ROOT,REGISTRY 'what' '...'.
# Without it the test is reported as a TAP skip saying what is missing, never as a
# pass. Prerequisites are found once, lazily:
#   ROOT      running as root (the sandbox with every namespace, overlay mounts)
#   REGISTRY  Debian's docker-registry, htpasswd, skopeo, python3, curl, openssl, jq
#   SKOPEO    skopeo, to read the store as an OCI layout
#   UMOCI     umoci, to unpack an image of the store
#   PYTHON    python3 (its tarfile reads layers independently of tar)
#   NETNS     root, unshare and ip: a server on an address in a network namespace
#   UIDMAP    root with newuidmap, newgidmap, useradd, usermod and runuser: a test
#             makes a normal user, gives it subordinate ids and builds as it
#   SLIRP     slirp4netns and /dev/net/tun: RUN's private network (the default)
#   SCRIPT    util-linux's script, to run cairn on a terminal
#   MAN       man and groff, to render the pages
# test_set_prereq NAME declares another one the script found itself.
_prereqs_ok=" "
_prereqs_missing=" "
test_set_prereq() { _prereqs_ok="$_prereqs_ok$1 "; }
_lazy_prereq() {
	case "$1" in
	ROOT) [ "$(id -u)" = 0 ] ;;
	REGISTRY)
		for _t in docker-registry htpasswd skopeo curl openssl jq; do
			command -v "$_t" >/dev/null || return 1
		done
		_lazy_prereq PYTHON
		;;
	SKOPEO) command -v skopeo >/dev/null ;;
	UMOCI) command -v umoci >/dev/null ;;
	# found is not enough: a shim on PATH may not run for this user
	PYTHON) python3 -c '' 2>/dev/null ;;
	NETNS) [ "$(id -u)" = 0 ] && command -v unshare >/dev/null && command -v ip >/dev/null ;;
	UIDMAP)
		[ "$(id -u)" = 0 ] || return 1
		for _t in newuidmap newgidmap useradd usermod userdel runuser; do
			command -v "$_t" >/dev/null || return 1
		done
		;;
	SLIRP) command -v slirp4netns >/dev/null && [ -c /dev/net/tun ] ;;
	SCRIPT) command -v script >/dev/null ;;
	MAN) command -v man >/dev/null && command -v groff >/dev/null ;;
	*) return 1 ;;
	esac
}
# test_have_prereq A[,B...]: true when each is met.
test_have_prereq() {
	_ifs=$IFS
	IFS=,
	set -- $1
	IFS=$_ifs
	for _p in "$@"; do
		case "$_prereqs_ok" in *" $_p "*) continue ;; esac
		case "$_prereqs_missing" in *" $_p "*) return 1 ;; esac
		if _lazy_prereq "$_p"; then
			_prereqs_ok="$_prereqs_ok$_p "
		else
			_prereqs_missing="$_prereqs_missing$_p "
			return 1
		fi
	done
}
# The prerequisites of the last test_have_prereq that are missing, for messages.
_missing_of() {
	_m=
	_ifs=$IFS
	IFS=,
	for _p in $1; do
		test_have_prereq "$_p" || _m="$_m${_m:+,}$_p"
	done
	IFS=$_ifs
	echo "$_m"
}

# test_expect_success [PREREQS] DESCRIPTION BODY
test_expect_success() {
	if [ $# = 3 ]; then
		_req=$1
		shift
		if ! test_have_prereq "$_req"; then
			test_count=$((test_count + 1))
			echo "ok $test_count # SKIP $1 (missing $(_missing_of "$_req"))"
			return 0
		fi
	fi
	test_count=$((test_count + 1))
	_out="$TMP/.out.$test_count"
	if (set -e; eval "$2") >"$_out" 2>&1; then
		echo "ok $test_count - $1"
	else
		test_failed=$((test_failed + 1))
		echo "not ok $test_count - $1"
		sed 's/^/#   /' "$_out" | tail -n 40
	fi
}

test_done() {
	echo "1..$test_count"
	[ "$test_failed" = 0 ]
	exit $?
}

# A build context with a static busybox in it, at $1.
make_busybox_context() {
	mkdir -p "$1" && cp /bin/busybox "$1/busybox"
}

# The standard preamble: FROM scratch + busybox installed, as recipe text.
busybox_base() {
	cat <<'RECIPE'
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
RECIPE
}

# Fails with a message unless "$1" contains "$2".
# test_expect_code CODE COMMAND...: runs COMMAND, which must exit with CODE.
test_expect_code() {
	_want=$1
	shift
	"$@"
	_got=$?
	[ "$_got" = "$_want" ] && return 0
	echo "expected exit status $_want, got $_got: $*"
	return 1
}

expect_contains() {
	case "$1" in
	*"$2"*) return 0 ;;
	esac
	echo "expected to find: $2"
	echo "in: $1"
	return 1
}

# Compares two strings, printing both when they differ.
expect_eq() {
	[ "$1" = "$2" ] && return 0
	echo "expected: $2"
	echo "got:      $1"
	return 1
}

# The config of an image as JSON.
image_config() { cairn inspect "$1" | jq -c .Config; }

# Reads a file out of an image: unpacks all layers with umoci... which needs gzip
# layers, so instead apply the layers with tar in order (whiteouts handled), with
# the modes the layers hold whoever runs it (-p; only root gets their owners too).
# Usage: image_rootfs REF DIR
image_rootfs() {
	_ref=$1
	_dir=$2
	mkdir -p "$_dir"
	for _l in $(cairn inspect "$_ref" | jq -r '.Manifest.layers[].digest'); do
		_blob="$CAIRN_ROOT/blobs/sha256/${_l#sha256:}"
		_list=$(mktemp)
		case "$(head -c 4 "$_blob" | od -An -tx1 | tr -d ' ')" in
		28b52ffd) _cat="zstd -dc" ;;
		1f8b*) _cat="gzip -dc" ;;
		*) _cat="cat" ;;
		esac
		$_cat "$_blob" >"$_list.tar"
		# whiteouts: remove what they hide, then extract the rest
		tar -tf "$_list.tar" | while IFS= read -r _e; do
			case "$_e" in
			*/.wh..wh..opq) _d=${_e%/.wh..wh..opq}; find "$_dir/$_d" -mindepth 1 -delete 2>/dev/null || true ;;
			.wh..wh..opq) find "$_dir" -mindepth 1 -delete ;;
			*/.wh.*|.wh.*) _b=${_e##*/}; _p=${_e%"$_b"}; rm -rf "$_dir/$_p${_b#.wh.}" ;;
			esac
		done
		tar -xpf "$_list.tar" -C "$_dir" --exclude='*.wh.*' --numeric-owner
		rm -f "$_list" "$_list.tar"
	done
}

# layer_tar REF N OUT: the Nth (0-based; -1 the last) layer of REF, decompressed, to OUT.
layer_tar() {
	_d=$(cairn inspect "$1" | jq -r ".Manifest.layers[$2].digest")
	decompress "$CAIRN_ROOT/blobs/sha256/${_d#sha256:}" >"$3"
}

# out REF PATH: the content of PATH in the image REF.
out() {
	rm -rf "$TMP/rootfs.out" && image_rootfs "$1" "$TMP/rootfs.out" && cat "$TMP/rootfs.out$2"
}

# ctx NAME: a context $TMP/NAME with busybox and a Recipe of busybox_base plus stdin.
ctx() {
	make_busybox_context "$TMP/$1" &&
		{ busybox_base && cat; } >"$TMP/$1/Recipe"
}

# decompress FILE: the tar inside a layer blob (zstd, gzip or plain), on stdout.
decompress() {
	case "$(head -c 4 "$1" | od -An -tx1 | tr -d ' ')" in
	28b52ffd) zstd -qdc "$1" ;;
	1f8b*) gzip -dc "$1" ;;
	*) cat "$1" ;;
	esac
}

# layer_names REF: the entries of every layer of REF, one a line, "./" removed.
layer_names() {
	for _l in $(cairn inspect "$1" | jq -r '.Manifest.layers[].digest'); do
		decompress "$CAIRN_ROOT/blobs/sha256/${_l#sha256:}" | tar -t | sed 's,^\./,,'
	done
}

# The store must hold no temp entry and no mount of cairn's may remain.
expect_no_leftovers() {
	_left=$(find "$CAIRN_ROOT/cairn/tmp" -mindepth 1 -maxdepth 1 2>/dev/null)
	if [ -n "$_left" ]; then
		echo "left in cairn/tmp: $_left"
		return 1
	fi
	if grep -F "$TMP" /proc/self/mountinfo; then
		echo "mounts under $TMP remain"
		return 1
	fi
}

# ref_digest REF: the digest index.json gives the full reference REF ("" if none).
ref_digest() {
	jq -r --arg r "$1" '[.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $r) | .digest] | join(" ")' \
		"$CAIRN_ROOT/index.json"
}

# tree DIR: the files and directories under DIR, sorted, one line.
tree() { (cd "$1" && find . -mindepth 1 | sort | tr "\n" " "); }

# test_must_fail_build NAME [ARGS...]: cairn build of $TMP/NAME exits non-zero (not
# killed by a signal); stderr in $TMP/NAME.err.
test_must_fail_build() {
	_n=$1
	shift
	_rc=0
	cairn build "$@" -t "$_n" "$TMP/$_n" >"$TMP/$_n.out" 2>"$TMP/$_n.err" || _rc=$?
	cat "$TMP/$_n.err"
	[ "$_rc" -ne 0 ] && [ "$_rc" -lt 128 ]
}

# new_ctx NAME: an empty context at $TMP/NAME (printed); the recipe goes in NAME/Recipe.
new_ctx() {
	rm -rf "${TMP:?}/$1"
	mkdir -p "$TMP/$1"
	echo "$TMP/$1"
}

# recipe NAME: stdin becomes the recipe of a fresh context $TMP/NAME.
recipe() {
	rm -rf "${TMP:?}/$1"
	mkdir -p "$TMP/$1"
	cat >"$TMP/$1/Recipe"
}

# build NAME [BUILD-OPTIONS...]: builds $TMP/NAME as the image NAME.
build() {
	_name=$1
	shift
	cairn build -t "$_name" "$@" "$TMP/$_name"
}

# cfg NAME JQ: a jq filter applied to the config of image NAME (compact output).
cfg() { cairn inspect "$1" | jq -c ".Config | $2"; }

# fails_with NAME TEXT...: building $TMP/NAME fails with each TEXT in its error,
# and leaves no tag NAME behind.
fails_with() {
	_name=$1
	shift
	if cairn build -t "$_name" "$TMP/$_name" >"$TMP/$_name.err" 2>&1; then
		echo "the build succeeded; it should have failed"
		return 1
	fi
	for _t in "$@"; do
		expect_contains "$(cat "$TMP/$_name.err")" "$_t" || return 1
	done
	if cairn inspect "$_name" >/dev/null 2>&1; then
		echo "a failed build left the tag $_name behind"
		return 1
	fi
}

# build_base TAG RECIPE-TEXT: builds busybox_base plus RECIPE-TEXT as TAG, or bails
# out of the whole script (every test after it needs that base).
build_base() {
	make_busybox_context "$TMP/base"
	{ busybox_base; printf '%s' "$2"; } >"$TMP/base/Recipe"
	if ! cairn build -q -t "$1" "$TMP/base" >"$TMP/base.out" 2>&1; then
		echo "Bail out! the base image does not build"
		cat "$TMP/base.out"
		exit 1
	fi
}
