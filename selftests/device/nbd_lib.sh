# NBD test helpers (sourced after lib.sh): nbdkit servers on unix sockets
# in the VM only, stopped on exit after the devices that use them.

command -v nbdkit >/dev/null || die "nbdkit is not installed (selftests/install-deps.sh installs it)"

servers=()
# the devices first, so that no daemon sees its servers go
stop_servers() {
	local p
	"$BUBLK" del -a --force >/dev/null 2>&1
	for p in "${servers[@]}"; do
		kill "$p" 2>/dev/null
	done
}
trap 'stop_servers; cleanup' EXIT

# start nbdkit in the foreground on unix socket $1 (then plugin args),
# wait until it accepts connections; its pid in $srv_pid
srv_pid=
serve() {	# sock plugin args...
	local sock=$1 i
	shift
	nbdkit -f -U "$sock" "$@" >"$sock.log" 2>&1 &
	srv_pid=$!
	disown "$srv_pid"	# killing one is the test's business, not a job to report
	servers+=("$srv_pid")
	# the socket exists once nbdkit listens on it
	for i in $(seq 300); do
		[ -S "$sock" ] && return 0
		kill -0 "$srv_pid" 2>/dev/null || die "nbdkit $* exited: $(cat "$sock.log")"
		sleep 0.1
	done
	die "nbdkit $* did not create $sock in 30 s"
}
url() { echo "nbd+unix:///${2:-}?socket=$1"; }

# the same on TCP: nbdkit on 127.0.0.1:$1, ready once it wrote its pid
# file (it does so after binding the port)
serve_tcp() {	# port plugin args...
	local port=$1 pidf=$TMP/nbdkit-$1.pid i
	shift
	rm -f "$pidf"
	nbdkit -f -i 127.0.0.1 -p "$port" -P "$pidf" "$@" >"$TMP/nbdkit-$port.log" 2>&1 &
	srv_pid=$!
	disown "$srv_pid"
	servers+=("$srv_pid")
	for i in $(seq 300); do
		[ -s "$pidf" ] && return 0
		kill -0 "$srv_pid" 2>/dev/null || die "nbdkit on port $port ($*) exited: $(cat "$TMP/nbdkit-$port.log")"
		sleep 0.1
	done
	die "nbdkit $* did not listen on port $port in 30 s"
}
