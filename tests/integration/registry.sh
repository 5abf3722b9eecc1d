# Shared by the registry tests (source after lib.sh): loopback registries started
# inside the test and stopped when it ends. Nothing but 127.0.0.0/8 is contacted.
# Its servers need what the REGISTRY prerequisite checks for.

# Servers started inside a test run in its subshell: their pids go to a file.
pidfile="$TMP/server-pids"
: >"$pidfile"
stop_servers() {
	for p in $(cat "$pidfile"); do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
		for _ in $(seq 50); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
	done
	: >"$pidfile"
}
trap 'stop_servers; _cleanup' EXIT

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Waits until http[s]://127.0.0.1:$1/v2/ answers (any status); $2: scheme.
wait_port() {
	for _ in $(seq 100); do
		curl -sk -o /dev/null "${2:-http}://127.0.0.1:$1/v2/" && return 0
		sleep 0.1
	done
	echo "nothing answers on 127.0.0.1:$1" >&2
	return 1
}

# start_registry NAME [HTPASSWD [CERT KEY]]: a docker-registry on a free loopback
# port, with basic auth when HTPASSWD is not empty, TLS with CERT; sets $port.
start_registry() {
	port=$(free_port)
	mkdir -p "$TMP/$1"
	{
		echo "version: 0.1"
		echo "log: {level: error}"
		echo "storage: {filesystem: {rootdirectory: $TMP/$1/data}}"
		if [ -n "${3:-}" ]; then
			echo "http: {addr: 127.0.0.1:$port, tls: {certificate: $3, key: $4}}"
		else
			echo "http: {addr: 127.0.0.1:$port}"
		fi
		if [ -n "${2:-}" ]; then
			echo "auth: {htpasswd: {realm: cairn-test, path: $2}}"
		fi
	} >"$TMP/$1/config.yml"
	# the registry reads REGISTRY_* variables as configuration: none of ours
	env -u REGISTRY_AUTH_FILE docker-registry serve "$TMP/$1/config.yml" >"$TMP/$1/log" 2>&1 &
	echo $! >>"$pidfile"
	wait_port "$port" "$([ -n "${3:-}" ] && echo https || echo http)"
}

# start_fake DIR MODE: the python fake registry (fakereg.py, which lists the modes)
# serving DIR, its request log in DIR.log; sets $fport and $fpid.
start_fake() {
	fport=$(free_port)
	python3 "$CAIRN_SOURCE_ROOT/tests/integration/fakereg.py" "$fport" "$1" "$2" >"$1.log" 2>&1 &
	fpid=$!
	echo "$fpid" >>"$pidfile"
	wait_port "$fport"
}
