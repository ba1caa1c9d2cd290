#!/usr/bin/env bash
# ensure-k8s: a single-node Kubernetes cluster on loopback for the Kubernetes target of
# reset-and-test, built only from Debian bookworm (no registry, no prebuilt binaries).
#
#   ensure-k8s.sh up                 build (once per machine) and start the cluster; idempotent
#   ensure-k8s.sh down               stop it and put the host back as it was before `up`
#   ensure-k8s.sh purge              down, then delete the cluster's state (certs, etcd, images)
#   ensure-k8s.sh load-images IMG... copy images from Docker into the cluster's containerd
#   ensure-k8s.sh example            the bundled example on the cluster: images built by Compose,
#                                    loaded, example/k8s applied, every pod Ready (idempotent)
#   ensure-k8s.sh status             exit 0 when the apiserver answers and the node is Ready
#   ensure-k8s.sh env                print `export KUBECONFIG=...` (eval "$(ensure-k8s.sh env)")
#   ensure-k8s.sh kubectl ARGS...    run the cluster's kubectl with its kubeconfig
#
# How: Kubernetes 1.20 is compiled from Debian bookworm's source package `kubernetes` with
# bookworm's golang-go, offline (the source ships vendor/). A cold build takes 8-35 min on
# 2 cores; the binaries are then cached per version and every later `up` takes seconds.
# One fix: the vendored reflect2 1.0.1 crashes every Go >= 1.18 binary that JSON-encodes a
# map (the apiserver dies on the first such request; Debian's own kubernetes-client 1.20
# panics in `kubectl config`), so the build swaps in Debian's reflect2 1.0.2 and builds kubectl
# from the same tree. etcd-server, containerd, runc and the CNI plugins are Debian's packages.
# The pause image is compiled from the source tree and wrapped by hand. The cluster runs its
# OWN containerd, never Docker's.
#
# Where things live:
#   /var/cache/reset-and-test/k8s/<version>/bin    binaries (kept by `down`; delete to rebuild)
#   /var/lib/reset-and-test-k8s/                   state: pki/, etcd/, containerd/, kubelet/,
#                                                  logs/<component>.log, run/<component>.pid,
#                                                  host-state/ (what `down` restores)
#   /var/lib/reset-and-test-k8s/kubeconfig         admin kubeconfig, context reset-and-test-local
#
# Networks: pods 10.88.0.0/24 on bridge rat-k8s0, services 10.96.0.0/24 (kube-proxy, iptables
# mode), apiserver https://127.0.0.1:6443. No CoreDNS: pods find services through the
# <NAME>_SERVICE_HOST variables Kubernetes injects.
#
# Host changes that `down` undoes: the sysctls the kubelet and kube-proxy set (recorded in
# host-state/ before the first start), /var/log/pods, /var/log/containers, /var/lib/cni,
# /var/lib/kubelet (device-plugin socket), kube-proxy's KUBE-* iptables chains, our
# RESET-AND-TEST-K8S forward chain, the bridge, the pods' network namespaces, mounts and
# kubepods cgroups. `up` also installs Debian packages and a deb-src entry; those stay.
#
# Measured on 2 cores: cold `up` 8 min 29 s on a fresh machine (build 7 min 49 s), 31 min when
# the cores were shared with other work; warm `up` 2-30 s, `down` 16-27 s.
set -euo pipefail

STATE_DIR=${K8S_STATE_DIR:-/var/lib/reset-and-test-k8s}
CACHE_ROOT=${K8S_CACHE_DIR:-/var/cache/reset-and-test/k8s}
CONTEXT=reset-and-test-local
NODE_NAME=localhost
API_PORT=6443
POD_CIDR=${K8S_POD_CIDR:-10.88.0.0/24}
SERVICE_CIDR=${K8S_SERVICE_CIDR:-10.96.0.0/24}
BRIDGE=rat-k8s0
FORWARD_CHAIN=RESET-AND-TEST-K8S
PAUSE_IMAGE=reset-and-test.local/pause:3.4
SRC_LIST=/etc/apt/sources.list.d/reset-and-test-k8s-src.sources
LOCK_FILE=/run/lock/reset-and-test-k8s.lock
READY_TIMEOUT=${K8S_READY_TIMEOUT:-180}
BUILD_TARGETS="cmd/kube-apiserver cmd/kube-controller-manager cmd/kube-scheduler cmd/kubelet cmd/kube-proxy cmd/kubectl"
BUILD_RECIPE=2   # bump to rebuild cached binaries when the build steps change
RUNTIME_PACKAGES=(etcd-server containerd runc containernetworking-plugins conntrack iptables openssl curl jq)
BUILD_PACKAGES=(golang-go rsync make gcc libc6-dev dpkg-dev golang-github-modern-go-reflect2-dev)
REFLECT2_SRC=/usr/share/gocode/src/github.com/modern-go/reflect2
# Sysctls the kubelet (setupKernelTunables) and kube-proxy may change; saved by `up`, restored by `down`.
SYSCTLS=(vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops
         kernel.keys.root_maxkeys kernel.keys.root_maxbytes net.ipv4.conf.all.route_localnet
         net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables net.netfilter.nf_conntrack_max)
# Host paths the cluster writes outside its state dir; removed by `down` when `up` created them.
# (/var/lib/kubelet: the kubelet's device-plugin socket dir is fixed in 1.20.)
HOST_PATHS=(/var/log/pods /var/log/containers /var/lib/cni /var/lib/kubelet /usr/libexec/kubernetes)

PKI=$STATE_DIR/pki
RUN=$STATE_DIR/run
LOGS=$STATE_DIR/logs
HOST_RECORD=$STATE_DIR/host-state
CTRD_DIR=$STATE_DIR/containerd
CTR_SOCK=$CTRD_DIR/containerd.sock
KUBELET_DIR=$STATE_DIR/kubelet
CNI_DIR=$STATE_DIR/cni
KUBECONFIG_PATH=$STATE_DIR/kubeconfig
BIN_LINK=$STATE_DIR/bin           # -> the cached bin dir of the version in use
EXAMPLE_LOGS=$STATE_DIR/example-logs

pod_net=${POD_CIDR%/*}; POD_GATEWAY=${pod_net%.*}.1
svc_net=${SERVICE_CIDR%/*}; API_SERVICE_IP=${svc_net%.*}.1

say() { printf '==> ensure-k8s: %s\n' "$*"; }
warn() { printf 'ensure-k8s: warning: %s\n' "$*" >&2; }
die() { printf 'ensure-k8s: %s\n' "$*" >&2; exit 1; }
elapsed() { local s=$1; printf '%dm%02ds' $((s / 60)) $((s % 60)); }
kctl() { "$BIN_LINK/kubectl" --kubeconfig "$KUBECONFIG_PATH" "$@"; }
ctr_k8s() { ctr --address "$CTR_SOCK" -n k8s.io "$@"; }

# ---------------------------------------------------------------------------------------------
# Preconditions, packages, the Kubernetes build
# ---------------------------------------------------------------------------------------------

require_root_debian() {
  [ "$(id -u)" = 0 ] || die "must run as root (it starts a kubelet and changes iptables and sysctls)."
  command -v apt-get >/dev/null || die "needs a Debian host (apt-get)."
  grep -q bookworm /etc/os-release 2>/dev/null || warn "not Debian bookworm; the build recipe is made for bookworm."
}

take_lock() {
  mkdir -p "$(dirname "$LOCK_FILE")"
  exec 9>"$LOCK_FILE"
  flock -w 3600 9 || die "another ensure-k8s is running (lock $LOCK_FILE)."
}

apt_retry() {  # apt-get with waits on the locks other people's apt runs hold
  local i
  for i in 1 2 3 4 5; do
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 "$@" && return 0
    [ "$i" = 5 ] && return 1
    sleep 10
  done
}

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

install_packages() {
  local missing=() p
  for p in "$@"; do installed "$p" || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing from Debian: ${missing[*]}"
  apt_retry update -qq || apt_retry update -qq
  apt_retry install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# A deb-src entry for bookworm main, on the mirror the existing bookworm source uses.
ensure_deb_src() {
  local uri
  uri=$(sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | grep -v security | head -1)
  [ -n "$uri" ] || uri=$(awk '$1 == "deb" && $3 == "bookworm" { print $2; exit }' /etc/apt/sources.list 2>/dev/null)
  [ -n "$uri" ] || die "no bookworm apt source found to derive a deb-src entry from."
  say "adding a deb-src entry for bookworm main ($SRC_LIST)"
  printf 'Types: deb-src\nURIs: %s\nSuites: bookworm\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    "$uri" >"$SRC_LIST"
  apt_retry update -qq
}

# The Debian version of the kubernetes source package: it keys the binary cache.
resolve_version() {
  local dsc cached
  if [ -n "${K8S_DEB_VERSION:-}" ]; then K8S_VERSION=$K8S_DEB_VERSION; return; fi
  dsc=$(apt-get source --print-uris -qq kubernetes/bookworm 2>/dev/null | grep -o "kubernetes_[^' ]*\.dsc" | head -1 || true)
  if [ -z "$dsc" ]; then
    cached=$(ls -1d "$CACHE_ROOT"/*/bin/.complete 2>/dev/null | sort -V | tail -1 || true)
    if [ -n "$cached" ] && [ -f "$SRC_LIST" ]; then   # apt lists gone: keep using what was built
      K8S_VERSION=$(basename "$(dirname "$(dirname "$cached")")"); return
    fi
    ensure_deb_src
    dsc=$(apt-get source --print-uris -qq kubernetes/bookworm | grep -o "kubernetes_[^' ]*\.dsc" | head -1 || true)
  fi
  [ -n "$dsc" ] || die "apt does not know bookworm's kubernetes source package."
  K8S_VERSION=${dsc#kubernetes_}; K8S_VERSION=${K8S_VERSION%.dsc}
  K8S_VERSION=$(printf '%b' "${K8S_VERSION//%/\\x}")   # the URI is URL-encoded: %2b -> +
}

# Compile the control plane, kubelet, kube-proxy and kubectl (cold: 8-35 min) and the
# pause binary. Result: $CACHE_ROOT/<version>/bin.
build_binaries() {
  local vdir=$CACHE_ROOT/$K8S_VERSION bin work started pid t
  bin=$vdir/bin work=$vdir/build
  if [ "$(cat "$bin/.complete" 2>/dev/null)" = "recipe $BUILD_RECIPE" ]; then
    say "Kubernetes binaries cached: $bin (build skipped)"
  else
    install_packages "${BUILD_PACKAGES[@]}"
    say "building Kubernetes $K8S_VERSION from Debian's source package (cold: 8-35 min on 2 cores; once per machine; log: $vdir/build.log)"
    started=$SECONDS
    rm -rf "$bin.tmp"; mkdir -p "$bin.tmp"
    if [ ! -f "$work/src/Makefile" ]; then   # else: resume an interrupted build (its Go cache is in the tree)
      rm -rf "$work"; mkdir -p "$work/home"
      chmod 755 "$work"   # lets apt's _apt user write the download
      (cd "$work" && apt_retry source --download-only -qq "kubernetes=$K8S_VERSION" >/dev/null 2>&1) \
        || { ensure_deb_src; (cd "$work" && apt_retry source --download-only -qq "kubernetes=$K8S_VERSION" >/dev/null); }
      # apt checked the files against the signed Release; gpgv would only lack the uploader's key
      (cd "$work" && dpkg-source -x kubernetes_*.dsc src >dpkg-source.log 2>&1) || { cat "$work/dpkg-source.log" >&2; die "could not unpack the source"; }
    fi
    patch_reflect2 "$work/src/vendor/github.com/modern-go/reflect2"
    # GOPATH mode with vendor/; hack/lib/golang.sh keeps GOPATH and GOCACHE under _output/.
    (cd "$work/src" && env GOPROXY=off CGO_ENABLED=0 HOME="$work/home" make WHAT="$BUILD_TARGETS") \
      9>&- >"$vdir/build.log" 2>&1 &
    pid=$!
    while kill -0 "$pid" 2>/dev/null; do
      sleep 30
      kill -0 "$pid" 2>/dev/null || break
      say "  building... $(elapsed $((SECONDS - started))) ($(grep -v '^[[:space:]]*$' "$vdir/build.log" | tail -1 | sed 's/^[[:space:]]*//' | cut -c1-90))"
    done
    wait "$pid" || { tail -30 "$vdir/build.log" >&2; die "the Kubernetes build failed (log: $vdir/build.log); rerun resumes with the Go cache."; }
    for t in kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl; do
      install -m 0755 "$work/src/_output/bin/$t" "$bin.tmp/$t"
    done
    gcc -Os -Wall -static -DVERSION=v3.4-reset-and-test -o "$bin.tmp/pause" "$work/src/build/pause/linux/pause.c"
    echo "recipe $BUILD_RECIPE" >"$bin.tmp/.complete"
    rm -rf "$bin"; mv "$bin.tmp" "$bin"
    rm -rf "$work"   # the tree and its 2.6 GB Go cache: not needed any more
    say "built Kubernetes $K8S_VERSION in $(elapsed $((SECONDS - started))) -> $bin ($(du -sh "$bin" | cut -f1))"
  fi
  ln -sfn "$bin" "$BIN_LINK.new" && mv -T "$BIN_LINK.new" "$BIN_LINK"
}

# reflect2 1.0.1 (vendored) calls reflect.mapiterinit with its pre-Go-1.18 signature: any
# JSON encoding of a map then segfaults. Debian's reflect2 1.0.2 (same API) is the fix.
patch_reflect2() {
  local dir=$1
  [ -f "$dir/go_above_118.go" ] && return 0
  [ -f "$REFLECT2_SRC/go_above_118.go" ] || die "$REFLECT2_SRC has no Go 1.18 support (golang-github-modern-go-reflect2-dev >= 1.0.2 needed)."
  rm -f "$dir"/*.go "$dir"/*.s
  cp "$REFLECT2_SRC"/*.go "$REFLECT2_SRC"/*.s "$dir/"
  say "vendored reflect2 replaced by Debian's $(dpkg-query -W -f='${Version}' golang-github-modern-go-reflect2-dev) (Go 1.18+ map iteration)"
}

# ---------------------------------------------------------------------------------------------
# Host state: recorded before the first start, restored by `down`
# ---------------------------------------------------------------------------------------------

record_host_state() {
  local key val p
  [ -f "$HOST_RECORD/sysctls" ] && return 0   # already recorded by an earlier `up`: keep the originals
  mkdir -p "$HOST_RECORD"
  : >"$HOST_RECORD/sysctls.tmp"
  for key in "${SYSCTLS[@]}"; do
    val=$(sysctl -n "$key" 2>/dev/null) && printf '%s=%s\n' "$key" "$val" >>"$HOST_RECORD/sysctls.tmp"
  done
  : >"$HOST_RECORD/existing-paths"
  for p in "${HOST_PATHS[@]}"; do [ -e "$p" ] && echo "$p" >>"$HOST_RECORD/existing-paths"; done
  ls -1 /run/netns 2>/dev/null | grep '^cni-' >"$HOST_RECORD/existing-netns" || true
  mv "$HOST_RECORD/sysctls.tmp" "$HOST_RECORD/sysctls"
  say "recorded host state before start ($HOST_RECORD)"
}

restore_sysctls() {
  local line key val cur
  [ -f "$HOST_RECORD/sysctls" ] || return 0
  while IFS= read -r line; do
    key=${line%%=*} val=${line#*=}
    cur=$(sysctl -n "$key" 2>/dev/null) || continue
    if [ "$cur" != "$val" ]; then
      sysctl -qw "$key=$val" >/dev/null && say "restored sysctl $key=$val (was $cur)" || warn "could not restore $key=$val"
    fi
  done <"$HOST_RECORD/sysctls"
}

remove_created_paths() {
  local p
  [ -f "$HOST_RECORD/existing-paths" ] || return 0
  for p in "${HOST_PATHS[@]}"; do
    if grep -qx "$p" "$HOST_RECORD/existing-paths"; then
      case $p in  # it existed before: remove only what this cluster put there
        /var/lib/cni) rm -rf /var/lib/cni/results/reset-and-test-* /var/lib/cni/networks/reset-and-test ;;
        /var/log/pods) rm -rf /var/log/pods/reset-and-test-example_* ;;
      esac
    elif [ -e "$p" ]; then
      rm -rf --one-file-system "$p" && say "removed $p"
    fi
  done
}

# ---------------------------------------------------------------------------------------------
# Certificates and kubeconfigs
# ---------------------------------------------------------------------------------------------

# sign NAME SUBJECT [SAN] -> $PKI/NAME.crt/.key signed by the CA (client cert unless SAN given)
sign() {
  local name=$1 subj=$2 san=${3:-} ext
  [ -f "$PKI/$name.crt" ] && return 0
  ext=$(mktemp)
  if [ -n "$san" ]; then
    printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=%s\n' "$san" >"$ext"
  else
    printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n' >"$ext"
  fi
  openssl req -new -newkey rsa:2048 -nodes -keyout "$PKI/$name.key" -subj "$subj" -out "$PKI/$name.csr" 2>/dev/null
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
    -days 3650 -sha256 -extfile "$ext" -out "$PKI/$name.crt" 2>/dev/null
  rm -f "$ext" "$PKI/$name.csr"
}

generate_pki() {
  mkdir -p "$PKI"; chmod 700 "$PKI"
  if [ ! -f "$PKI/ca.crt" ]; then
    say "generating certificates ($PKI)"
    openssl req -x509 -new -newkey rsa:2048 -nodes -keyout "$PKI/ca.key" -days 3650 -sha256 \
      -subj "/CN=reset-and-test-k8s-ca" -out "$PKI/ca.crt" 2>/dev/null
  fi
  sign apiserver "/CN=kube-apiserver" \
    "IP:127.0.0.1,IP:$API_SERVICE_IP,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  sign admin "/O=system:masters/CN=reset-and-test-admin"                  # kubectl, controllers, kube-proxy
  sign apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client"
  sign kubelet "/O=system:nodes/CN=system:node:$NODE_NAME"
  if [ ! -f "$PKI/sa.key" ]; then
    openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
    openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
  fi
}

# write_kubeconfig FILE CERTNAME
write_kubeconfig() {
  local file=$1 cert=$2
  [ -f "$file" ] && return 0
  local k=("$BIN_LINK/kubectl" config --kubeconfig "$file.tmp")
  rm -f "$file.tmp"
  "${k[@]}" set-cluster "$CONTEXT" --server "https://127.0.0.1:$API_PORT" --certificate-authority "$PKI/ca.crt" --embed-certs >/dev/null
  "${k[@]}" set-credentials "$CONTEXT-$cert" --client-certificate "$PKI/$cert.crt" --client-key "$PKI/$cert.key" --embed-certs >/dev/null
  "${k[@]}" set-context "$CONTEXT" --cluster "$CONTEXT" --user "$CONTEXT-$cert" >/dev/null
  "${k[@]}" use-context "$CONTEXT" >/dev/null
  chmod 600 "$file.tmp"; mv "$file.tmp" "$file"
}

write_kubeconfigs() {
  write_kubeconfig "$KUBECONFIG_PATH" admin
  write_kubeconfig "$STATE_DIR/kubelet.kubeconfig" kubelet
}

# ---------------------------------------------------------------------------------------------
# Processes: each runs in its own session (pid = process group), log in logs/, pid in run/
# ---------------------------------------------------------------------------------------------

pid_of() {  # prints the pid if the component runs (and is the binary it was started as)
  local f=$RUN/$1.pid pid exe
  [ -f "$f" ] || return 1
  read -r pid exe <"$f" || true
  [ -n "${pid:-}" ] && [ -d "/proc/$pid" ] || return 1
  [ "$(readlink "/proc/$pid/exe" 2>/dev/null | sed 's/ (deleted)$//')" = "$(readlink -f "$exe")" ] || return 1
  echo "$pid"
}

# start NAME BINARY ARGS...
start() {
  local name=$1 bin=$2 pid; shift 2
  if pid=$(pid_of "$name"); then say "$name already running (pid $pid)"; return 0; fi
  mkdir -p "$RUN" "$LOGS"
  printf '\n--- %s start %s\n' "$(date -Is)" "$name" >>"$LOGS/$name.log"
  setsid "$bin" "$@" >>"$LOGS/$name.log" 2>&1 </dev/null 9>&- &
  echo "$! $bin" >"$RUN/$name.pid"
  date +%s >"$RUN/$name.started"
  say "started $name (pid $!, log $LOGS/$name.log)"
}

# stop NAME...: SIGTERM to their process groups (all at once), SIGKILL to what is left after 15 s
stop() {
  local name pid i pids=() names=()
  for name in "$@"; do
    if pid=$(pid_of "$name"); then
      kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
      pids+=("$pid"); names+=("$name")
    fi
    rm -f "$RUN/$name.pid"
  done
  [ ${#pids[@]} -gt 0 ] || return 0
  for i in $(seq 1 75); do
    for pid in "${pids[@]}"; do [ -d "/proc/$pid" ] && break; done
    [ -d "/proc/$pid" ] || break
    sleep 0.2
  done
  for pid in "${pids[@]}"; do
    if [ -d "/proc/$pid" ]; then kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true; fi
  done
  say "stopped ${names[*]} (pids ${pids[*]})"
}

# wait_until DESCRIPTION TIMEOUT COMMAND...: progress every 5 s, log tail on timeout
wait_until() {
  local what=$1 timeout=$2 start=$SECONDS next=5; shift 2
  until "$@" >/dev/null 2>&1; do
    if [ $((SECONDS - start)) -ge "$timeout" ]; then return 1; fi
    if [ $((SECONDS - start)) -ge "$next" ]; then say "  waiting for $what ($((SECONDS - start))s)"; next=$((next + 5)); fi
    sleep 1
  done
}

port_free_or_ours() {  # die when another program listens on the port a component needs
  local port=$1 name=$2
  pid_of "$name" >/dev/null && return 0
  if ss -Hltn "sport = :$port" 2>/dev/null | grep -q .; then
    die "port $port (for $name) is taken by another program: $(ss -Hltnp "sport = :$port" | head -1)"
  fi
}

# ---------------------------------------------------------------------------------------------
# Components
# ---------------------------------------------------------------------------------------------

start_etcd() {
  port_free_or_ours 2379 etcd; port_free_or_ours 2380 etcd
  mkdir -p "$STATE_DIR/etcd"; chmod 700 "$STATE_DIR/etcd"
  start etcd /usr/bin/etcd --name reset-and-test --data-dir "$STATE_DIR/etcd" \
    --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster reset-and-test=http://127.0.0.1:2380 --listen-metrics-urls "" --logger zap --log-level warn
  wait_until "etcd" 60 curl -fsS http://127.0.0.1:2379/health || { tail -20 "$LOGS/etcd.log" >&2; die "etcd did not start"; }
}

start_apiserver() {
  port_free_or_ours "$API_PORT" kube-apiserver
  start kube-apiserver "$BIN_LINK/kube-apiserver" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$API_PORT" --insecure-port=0 \
    --etcd-servers=http://127.0.0.1:2379 \
    --service-cluster-ip-range="$SERVICE_CIDR" --allow-privileged=true \
    --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
    --client-ca-file="$PKI/ca.crt" --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
    --kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt" --kubelet-client-key="$PKI/apiserver-kubelet-client.key" \
    --kubelet-preferred-address-types=Hostname,InternalIP \
    --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local --api-audiences=https://kubernetes.default.svc.cluster.local \
    --endpoint-reconciler-type=none --profiling=false --v=1
  wait_until "kube-apiserver" 90 kctl get --raw=/readyz || { tail -20 "$LOGS/kube-apiserver.log" >&2; die "kube-apiserver did not become ready"; }
}

start_controllers() {
  start kube-controller-manager "$BIN_LINK/kube-controller-manager" \
    --kubeconfig="$KUBECONFIG_PATH" --bind-address=127.0.0.1 --port=0 --leader-elect=false \
    --service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt" \
    --cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
    --flex-volume-plugin-dir="$STATE_DIR/kubelet-plugins" --profiling=false --v=1
  start kube-scheduler "$BIN_LINK/kube-scheduler" \
    --kubeconfig="$KUBECONFIG_PATH" --bind-address=127.0.0.1 --port=0 --leader-elect=false --profiling=false --v=1
}

# containerd of its own (own root, state, socket); CNI bridge config in the state dir.
write_runtime_config() {
  mkdir -p "$CTRD_DIR" "$CNI_DIR/net.d" "$CNI_DIR/ipam"
  cat >"$CTRD_DIR/config.toml" <<EOF
# Written by ensure-k8s.sh: the cluster's own containerd (Docker's is left alone).
version = 2
root = "$CTRD_DIR/root"
state = "$CTRD_DIR/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
                    "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$CTR_SOCK"
[ttrpc]
  address = "$CTR_SOCK.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$CTRD_DIR/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  # Without it runc fails with "can't get final child's PID from pipe: EOF" (no CAP_SYS_RESOURCE).
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "$(command -v runc)"
        Root = "$CTRD_DIR/runc"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$CNI_DIR/net.d"
    max_conf_num = 1
EOF
  cat >"$CNI_DIR/net.d/10-reset-and-test.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "reset-and-test",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$CNI_DIR/ipam",
        "ranges": [[{ "subnet": "$POD_CIDR", "gateway": "$POD_GATEWAY" }]],
        "routes": [{ "dst": "0.0.0.0/0" }]
      }
    }
  ]
}
EOF
}

start_containerd() {
  write_runtime_config
  start containerd /usr/bin/containerd --config "$CTRD_DIR/config.toml" --log-level warn
  wait_until "containerd" 60 ctr --address "$CTR_SOCK" version || { tail -20 "$LOGS/containerd.log" >&2; die "containerd did not start"; }
}

# The sandbox ("pause") image: the static pause binary in a one-layer docker-archive, by hand.
import_pause_image() {
  local tarball=$CACHE_ROOT/$K8S_VERSION/pause-image.tar dir diff cfg
  ctr_k8s images ls -q "name==$PAUSE_IMAGE" | grep -q . && return 0
  if [ ! -f "$tarball" ]; then
    dir=$(mktemp -d)
    mkdir "$dir/rootfs"; install -m 0755 "$BIN_LINK/pause" "$dir/rootfs/pause"
    tar -C "$dir/rootfs" --owner=0 --group=0 --numeric-owner --mtime=@0 -cf "$dir/layer.tar" pause
    diff=$(sha256sum "$dir/layer.tar" | cut -d' ' -f1)
    printf '{"architecture":"amd64","os":"linux","config":{"Entrypoint":["/pause"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"history":[{"created_by":"ensure-k8s.sh"}]}' \
      "$diff" >"$dir/config.json"
    cfg=$(sha256sum "$dir/config.json" | cut -d' ' -f1)
    mv "$dir/config.json" "$dir/$cfg.json"
    printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["layer.tar"]}]' "$cfg" "$PAUSE_IMAGE" >"$dir/manifest.json"
    tar -C "$dir" -cf "$tarball.tmp" manifest.json "$cfg.json" layer.tar && mv "$tarball.tmp" "$tarball"
    rm -rf "$dir"
  fi
  ctr_k8s images import "$tarball" >/dev/null
  say "imported the sandbox image $PAUSE_IMAGE"
}

# Docker's FORWARD policy is DROP and bridged pod traffic goes through it (br_netfilter):
# accept the pod network in a chain of our own, jumped to first.
setup_forward_rules() {
  iptables -N "$FORWARD_CHAIN" 2>/dev/null || true
  iptables -C "$FORWARD_CHAIN" -s "$POD_CIDR" -j ACCEPT 2>/dev/null || iptables -A "$FORWARD_CHAIN" -s "$POD_CIDR" -j ACCEPT
  iptables -C "$FORWARD_CHAIN" -d "$POD_CIDR" -j ACCEPT 2>/dev/null || iptables -A "$FORWARD_CHAIN" -d "$POD_CIDR" -j ACCEPT
  iptables -C FORWARD -j "$FORWARD_CHAIN" 2>/dev/null || iptables -I FORWARD 1 -j "$FORWARD_CHAIN"
}

start_kubelet() {
  mkdir -p "$KUBELET_DIR" "$STATE_DIR/kubelet-plugins" "$EXAMPLE_LOGS"
  cat >"$STATE_DIR/kubelet-config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: "$PKI/ca.crt"}
authorization: {mode: Webhook}
cgroupDriver: cgroupfs
failSwapOn: false
makeIPTablesUtilChains: false
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
serializeImagePulls: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
EOF
  start kubelet "$BIN_LINK/kubelet" --config="$STATE_DIR/kubelet-config.yaml" \
    --kubeconfig="$STATE_DIR/kubelet.kubeconfig" --root-dir="$KUBELET_DIR" \
    --cert-dir="$KUBELET_DIR/pki" --volume-plugin-dir="$STATE_DIR/kubelet-plugins" \
    --seccomp-profile-root="$KUBELET_DIR/seccomp" \
    --hostname-override="$NODE_NAME" \
    --container-runtime=remote --container-runtime-endpoint="unix://$CTR_SOCK" --v=1
}

start_kube_proxy() {
  start kube-proxy "$BIN_LINK/kube-proxy" --kubeconfig="$KUBECONFIG_PATH" \
    --hostname-override="$NODE_NAME" --proxy-mode=iptables --cluster-cidr="$POD_CIDR" \
    --metrics-bind-address=127.0.0.1:10249 --healthz-bind-address=127.0.0.1:10256 \
    --conntrack-max-per-core=0 --conntrack-tcp-timeout-established=0 --conntrack-tcp-timeout-close-wait=0 \
    --profiling=false --v=1
}

# Ready = condition True, reported by the kubelet running now (not a status left from before `down`).
node_ready_now() {
  local ready hb started
  ready=$(kctl get node "$NODE_NAME" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status} {.status.conditions[?(@.type=="Ready")].lastHeartbeatTime}' 2>/dev/null) || return 1
  [ "${ready%% *}" = True ] || return 1
  started=$(cat "$RUN/kubelet.started" 2>/dev/null || echo 0)
  hb=$(date -d "${ready#* }" +%s 2>/dev/null || echo 0)
  [ "$hb" -ge $((started - 1)) ]
}

wait_node_ready() {
  wait_until "node $NODE_NAME to be Ready" "$READY_TIMEOUT" node_ready_now \
    || { tail -15 "$LOGS/kubelet.log" >&2; die "node $NODE_NAME not Ready after ${READY_TIMEOUT}s (logs: $LOGS)"; }
  wait_until "the default service account" 60 kctl get serviceaccount default -n default || true
}

# ---------------------------------------------------------------------------------------------
# Teardown helpers
# ---------------------------------------------------------------------------------------------

# Kill every container, remember the pods' network namespaces, remove the containers (so the
# next start begins clean). Needs the cluster's containerd running.
remove_containers() {
  local ids id ns
  pid_of containerd >/dev/null || return 0
  ids=$(ctr_k8s containers ls -q 2>/dev/null || true)
  [ -n "$ids" ] || return 0
  for id in $(ctr_k8s containers ls -q 'labels."io.cri-containerd.kind"==sandbox' 2>/dev/null || true); do
    ns=$(ctr_k8s containers info "$id" 2>/dev/null | jq -r '.Spec.linux.namespaces[]? | select(.type=="network") | .path // empty' 2>/dev/null || true)
    [ -z "$ns" ] || echo "$ns" >>"$HOST_RECORD/pod-netns"
  done
  # shellcheck disable=SC2086
  ctr_k8s tasks delete -f $ids >/dev/null 2>&1 || true     # kills and deletes the tasks
  # shellcheck disable=SC2086
  ctr_k8s containers rm $ids >/dev/null 2>&1 || true
  say "removed $(echo "$ids" | wc -w) containers"
}

# Processes this cluster started that outlive containerd: shims (they name our socket) and
# whatever is still inside the kubepods cgroups. Killed by pid.
kill_leftover_processes() {
  local p pids=()
  for p in /proc/[0-9]*; do
    tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -qF -- "-address $CTR_SOCK " && pids+=("${p#/proc/}")
  done
  if [ -d /sys/fs/cgroup/pids/kubepods ]; then
    while read -r p; do [ -n "$p" ] && pids+=("$p"); done < <(find /sys/fs/cgroup/pids/kubepods -name cgroup.procs -exec cat {} + 2>/dev/null)
  fi
  [ ${#pids[@]} -gt 0 ] || return 0
  kill -KILL "${pids[@]}" 2>/dev/null || true
  say "killed ${#pids[@]} leftover container/shim processes"
  sleep 1
}

unmount_state() {
  local m n=0
  while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || warn "could not unmount $m"
    n=$((n + 1))
  done < <(awk -v d="$STATE_DIR/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r)
  [ "$n" = 0 ] || say "unmounted $n mounts under $STATE_DIR"
}

remove_netns() {
  local ns list
  list=$( { cat "$HOST_RECORD/pod-netns" 2>/dev/null
            ls -1 /run/netns 2>/dev/null | grep '^cni-' | grep -vxF -f "$HOST_RECORD/existing-netns" 2>/dev/null | sed 's|^|/run/netns/|'
          } | sort -u || true)
  for ns in $list; do
    [ -e "$ns" ] || continue
    umount "$ns" 2>/dev/null || umount -l "$ns" 2>/dev/null || true
    rm -f "$ns" 2>/dev/null || true
  done
  rm -f "$HOST_RECORD/pod-netns"
  rmdir /run/netns 2>/dev/null || true   # only when empty
}

remove_cgroups() {
  local h
  for h in /sys/fs/cgroup/*/kubepods; do
    [ -d "$h" ] || continue
    find "$h" -depth -type d -exec rmdir {} \; 2>/dev/null || true
    [ -d "$h" ] && warn "could not remove cgroup $h"
  done
  return 0
}

# kube-proxy's own cleanup, then any KUBE-* chain left (kubelet canaries), then our forward chain.
# Docker's chains are never touched.
cleanup_iptables() {
  local ipt t line c
  [ -x "$BIN_LINK/kube-proxy" ] && "$BIN_LINK/kube-proxy" --cleanup >>"$LOGS/kube-proxy-cleanup.log" 2>&1 || true
  for ipt in iptables ip6tables; do
    command -v "$ipt" >/dev/null || continue
    for t in filter nat mangle; do
      "$ipt" -t "$t" -S 2>/dev/null | grep -q -- '-j KUBE-\|^-N KUBE-' || continue
      { "$ipt" -t "$t" -S | grep -E '^-A (INPUT|OUTPUT|FORWARD|PREROUTING|POSTROUTING) .*-j KUBE-' || true; } | while read -r line; do
        eval "$ipt -t $t ${line/#-A/-D}" 2>/dev/null || true
      done
      for c in $("$ipt" -t "$t" -S | awk '/^-N KUBE-/ { print $2 }'); do "$ipt" -t "$t" -F "$c" 2>/dev/null || true; done
      for c in $("$ipt" -t "$t" -S | awk '/^-N KUBE-/ { print $2 }'); do "$ipt" -t "$t" -X "$c" 2>/dev/null || true; done
    done
  done
  while iptables -D FORWARD -j "$FORWARD_CHAIN" 2>/dev/null; do :; done
  iptables -F "$FORWARD_CHAIN" 2>/dev/null && iptables -X "$FORWARD_CHAIN" 2>/dev/null || true
}

# ---------------------------------------------------------------------------------------------
# Subcommands
# ---------------------------------------------------------------------------------------------

cmd_up() {
  local t0=$SECONDS
  require_root_debian
  take_lock
  mkdir -p "$STATE_DIR" "$RUN" "$LOGS"
  install_packages "${RUNTIME_PACKAGES[@]}"
  resolve_version
  build_binaries
  record_host_state
  generate_pki
  write_kubeconfigs
  start_etcd
  start_apiserver
  start_controllers
  start_containerd
  import_pause_image
  setup_forward_rules
  start_kubelet
  start_kube_proxy
  wait_node_ready
  say "ready in $(elapsed $((SECONDS - t0))): Kubernetes $("$BIN_LINK/kubectl" version --client --short 2>/dev/null | awk '{print $3}'), node $NODE_NAME Ready"
  say "kubeconfig $KUBECONFIG_PATH (context $CONTEXT); eval \"\$($0 env)\" to use it"
}

cmd_down() {
  local t0=$SECONDS
  require_root_debian
  take_lock
  [ -d "$STATE_DIR" ] || { say "nothing to stop ($STATE_DIR absent)"; return 0; }
  mkdir -p "$HOST_RECORD"
  stop kubelet
  remove_containers
  stop kube-proxy containerd
  kill_leftover_processes
  stop kube-scheduler kube-controller-manager kube-apiserver
  stop etcd
  cleanup_iptables
  unmount_state
  remove_netns
  remove_cgroups
  ip link show "$BRIDGE" >/dev/null 2>&1 && ip link del "$BRIDGE" && say "removed bridge $BRIDGE"
  restore_sysctls
  remove_created_paths
  if [ -z "$(awk -v d="$KUBELET_DIR/" 'index($5, d) == 1' /proc/self/mountinfo)" ]; then
    rm -rf --one-file-system "$KUBELET_DIR/pods" "$CNI_DIR/ipam"   # pod volumes and IP leases of gone pods
  fi
  rm -f "$HOST_RECORD"/sysctls "$HOST_RECORD"/existing-paths "$HOST_RECORD"/existing-netns
  say "down in $(elapsed $((SECONDS - t0))) (binaries stay in $CACHE_ROOT)"
}

cmd_purge() {
  cmd_down
  rm -rf --one-file-system "$STATE_DIR"
  say "removed $STATE_DIR"
}

# The name containerd gives an image Docker calls NAME (docker.io/library/NAME:latest, ...).
containerd_ref() {
  local r=$1 first=${1%%/*}
  if [[ $r != */* ]]; then r=docker.io/library/$r
  elif [[ $first != *.* && $first != *:* && $first != localhost ]]; then r=docker.io/$r; fi
  [[ ${r##*/} == *:* || $r == *@* ]] || r=$r:latest
  echo "$r"
}

# docker save | ctr import, skipping images whose id (config digest) is already there.
cmd_load_images() {
  local img ref id have digest
  [ $# -gt 0 ] || die "usage: $0 load-images IMAGE..."
  pid_of containerd >/dev/null || die "the cluster's containerd is not running: run '$0 up' first."
  take_lock
  for img in "$@"; do
    id=$(docker image inspect -f '{{.Id}}' "$img" 2>/dev/null) || die "docker has no image $img"
    ref=$(containerd_ref "$img")
    have=
    digest=$(ctr_k8s images ls "name==$ref" 2>/dev/null | awk 'NR == 2 { print $3 }')
    [ -n "$digest" ] && have=$(ctr_k8s content get "$digest" 2>/dev/null | jq -r '.config.digest // empty' 2>/dev/null || true)
    if [ "$have" = "$id" ]; then
      say "$img already loaded (${id:7:12})"
      continue
    fi
    say "loading $img (${id:7:12}) into the cluster's containerd"
    docker save "$img" | ctr_k8s images import - >/dev/null
  done
}

EXAMPLE_NS=reset-and-test-example
EXAMPLE_IMAGES=(reset-and-test-example-api:latest reset-and-test-example-worker:latest reset-and-test-example-postgres:latest reset-and-test-example-redis:latest)

# Pods of the example that are Ready and whose containers started after this kubelet did (right
# after an `up`, pods still show the Ready status they had before the `down` for a few seconds).
example_pods_ready() {
  local since
  since=$(cat "$RUN/kubelet.started" 2>/dev/null || echo 0)
  kctl get pods -n "$EXAMPLE_NS" -o json | jq -e --argjson since "$since" '
    [.items[] | select(.metadata.deletionTimestamp == null)] as $pods
    | ($pods | length) > 0 and all($pods[];
        ([.status.conditions[]? | select(.type == "Ready" and .status == "True")] | length) == 1
        and all(.status.containerStatuses[]?; (.state.running.startedAt // "1970-01-01T00:00:00Z") | fromdateiso8601 >= $since))' >/dev/null
}

cmd_example() {
  local root compose before after t0=$SECONDS i
  root=$(cd "$(dirname "$0")/.." && pwd)
  cmd_status >/dev/null || die "the cluster is not up: run '$0 up' first."
  if docker compose version >/dev/null 2>&1; then compose=(docker compose); else compose=(docker-compose); fi
  before=$(for i in "${EXAMPLE_IMAGES[@]}"; do docker image inspect -f '{{.Id}}' "$i" 2>/dev/null || echo none; done)
  say "building the example's images with ${compose[*]} (the same images the Compose stack runs)"
  (cd "$root/example" && "${compose[@]}" build 2>&1) | sed 's/^/    /' || die "building the example's images failed (see above)"
  after=$(for i in "${EXAMPLE_IMAGES[@]}"; do docker image inspect -f '{{.Id}}' "$i" 2>/dev/null || echo none; done)
  cmd_load_images "${EXAMPLE_IMAGES[@]}"
  say "applying $root/example/k8s to namespace $EXAMPLE_NS"
  kctl apply -f "$root/example/k8s/" | sed 's/^/    /'
  if [ "$before" != "$after" ]; then
    say "images changed: restarting the example's deployments"
    kctl rollout restart -n "$EXAMPLE_NS" deployment | sed 's/^/    /'
  fi
  for i in $(kctl get deployments -n "$EXAMPLE_NS" -o name); do
    kctl rollout status -n "$EXAMPLE_NS" "$i" --timeout="${READY_TIMEOUT}s" | tail -n 1 | sed 's/^/    /' \
      || die "$i did not roll out within ${READY_TIMEOUT} s: kubectl describe -n $EXAMPLE_NS $i"
  done
  for ((i = 0; i < READY_TIMEOUT; i += 2)); do
    example_pods_ready && { say "example ready in namespace $EXAMPLE_NS ($(elapsed $((SECONDS - t0))))"; return 0; }
    [ $((i % 10)) -eq 0 ] && say "waiting for the example's pods to be Ready ($i s)"
    sleep 2
  done
  kctl get pods -n "$EXAMPLE_NS" -o wide >&2
  die "the example's pods were not all Ready within ${READY_TIMEOUT} s (above); kubectl describe pod -n $EXAMPLE_NS NAME tells why"
}

cmd_status() {
  local lease now
  [ -x "$BIN_LINK/kubectl" ] && [ -f "$KUBECONFIG_PATH" ] || { echo "not set up (run: $0 up)"; return 1; }
  kctl --request-timeout=5s get --raw=/readyz >/dev/null 2>&1 || { echo "apiserver not answering on https://127.0.0.1:$API_PORT"; return 1; }
  [ "$(kctl get node "$NODE_NAME" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ] \
    || { echo "node $NODE_NAME not Ready"; return 1; }
  lease=$(kctl get lease -n kube-node-lease "$NODE_NAME" -o 'jsonpath={.spec.renewTime}' 2>/dev/null || true)
  now=$(date +%s)
  if [ -z "$lease" ] || [ $((now - $(date -d "$lease" +%s))) -gt 40 ]; then echo "kubelet not reporting (node lease stale)"; return 1; fi
  echo "ok: apiserver https://127.0.0.1:$API_PORT, node $NODE_NAME Ready, kubeconfig $KUBECONFIG_PATH"
}

cmd_env() {
  printf 'export KUBECONFIG=%s\n' "$KUBECONFIG_PATH"
  printf '# kubectl of the cluster version: %s/kubectl\n' "$BIN_LINK"
}

usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; }

case ${1:-} in
  up) cmd_up ;;
  down) cmd_down ;;
  purge) cmd_purge ;;
  load-images) shift; cmd_load_images "$@" ;;
  example) cmd_example ;;
  status) cmd_status ;;
  env) cmd_env ;;
  kubectl) shift; exec "$BIN_LINK/kubectl" --kubeconfig "$KUBECONFIG_PATH" "$@" ;;
  -h|--help|help) usage ;;
  *) usage >&2; exit 2 ;;
esac
