#!/usr/bin/env bash
# Package test (CTest label "package"): what a Debian/Ubuntu user does with the .deb, for real.
#
#   cpack the current build tree (DEB + TGZ) -> lintian -> apt-get install ./vigil-console_<v>_<arch>.deb
#   -> installed files (desktop file, icons, AppStream, man page, systemd unit, conffile) validated
#   -> /usr/bin/vigil --version, and --headless with the shipped config answering /healthz
#   -> upgrade to a newer package keeps an edited /etc/vigil-console/vigil.conf
#   -> apt-get remove, apt-get purge: nothing of the package is left.
#
# It installs into the machine, so it needs root and dpkg; otherwise it exits 77 (CTest: skipped).
# Whatever fails, the EXIT trap purges the package again.
#
# Usage: package_test.sh <cmake binary dir> <cpack> <project version>
set -euo pipefail

BUILD_DIR=$1
CPACK=$2
VERSION=$3
PKG=vigil-console
MARKER=/var/lib/$PKG-package-test.marker # "this test installed it": lets a later run clean up after a killed one

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "==> $*"; }

[[ $(id -u) -eq 0 ]] || skip "needs root (it installs the .deb into this machine)"
for tool in dpkg dpkg-deb apt-get; do
    command -v "$tool" >/dev/null || skip "$tool not available (not a Debian-based system)"
done
# One package test at a time on a machine (several build trees may run their CTest at once): they share dpkg.
exec 9>/run/lock/vigil-console-package-test.lock
flock -w 180 9 || fail "another package test has held the lock for 3 minutes"
pkg_state() { dpkg-query -W -f='${db:Status-Status}' "$PKG" 2>/dev/null || true; }
state=$(pkg_state)
if [[ -n "$state" && "$state" != "not-installed" ]]; then
    [[ -e "$MARKER" ]] || skip "$PKG is already installed on this machine ($state); not replacing a real installation"
    echo "a previous package test left $PKG installed ($state): purging it first"
    dpkg --purge "$PKG" >/dev/null
fi
missing=()
for tool in dpkg-shlibdeps file lintian appstreamcli desktop-file-validate curl man gzip; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
((${#missing[@]} == 0)) || fail "missing tools: ${missing[*]} (scripts/deps.sh --test installs them)"

work=$(mktemp -d)
chmod 755 "$work" # apt's _apt user must be able to read the .deb
server_pid=""
installed_by_us=0
cleanup() {
    local rc=$?
    if [[ -n "$server_pid" ]]; then kill "$server_pid" 2>/dev/null || true; fi
    if ((installed_by_us)); then
        state=$(pkg_state)
        if [[ -n "$state" && "$state" != "not-installed" ]]; then
            echo "cleanup: purging $PKG (left in state '$state')"
            DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq "$PKG" >/dev/null 2>&1 || dpkg --purge "$PKG" || true
        fi
        rm -f "$MARKER"
    fi
    rm -rf "$work"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

apt_get() {
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=120 -y -q "$@" </dev/null
}

# ------------------------------------------------------------------------------------------------------------------
step "cpack DEB and TGZ from $BUILD_DIR"
# gzip instead of the shipped xz only to keep this test quick (the 20 MB dbgsym package); contents are the same.
"$CPACK" --config "$BUILD_DIR/CPackConfig.cmake" -B "$work/out" -G DEB -D CPACK_DEBIAN_COMPRESSION_TYPE=gzip \
    >"$work/cpack-deb.log" 2>&1 || { cat "$work/cpack-deb.log"; fail "cpack -G DEB failed"; }
"$CPACK" --config "$BUILD_DIR/CPackConfig.cmake" -B "$work/out" -G TGZ >"$work/cpack-tgz.log" 2>&1 \
    || { cat "$work/cpack-tgz.log"; fail "cpack -G TGZ failed"; }
arch=$(dpkg --print-architecture)
deb="$work/out/${PKG}_${VERSION}_${arch}.deb"
[[ -f "$deb" ]] || { ls -l "$work/out"; fail "expected $deb"; }
chmod 644 "$work"/out/*.deb

step "control fields"
dpkg-deb -f "$deb" >"$work/control"
cat "$work/control"
field() { sed -n "s/^$1: //p" "$work/control"; }
[[ $(field Package) == "$PKG" ]] || fail "Package"
[[ $(field Version) == "$VERSION" ]] || fail "Version is not the project version $VERSION"
[[ $(field Architecture) == "$arch" ]] || fail "Architecture"
[[ $(field Section) == admin && $(field Priority) == optional ]] || fail "Section/Priority"
[[ -n $(field Maintainer) && -n $(field Homepage) && -n $(field Description) ]] || fail "Maintainer/Homepage/Description"
depends=$(field Depends)
for dep in libqt6sql6-sqlite qt6-qpa-plugins libqt6core6 libqt6httpserver6 libqt6charts6 libc6; do
    grep -qw -- "$dep" <<<"$depends" || fail "Depends lacks $dep (shlibdeps or the hand-added plugins): $depends"
done
grep -qw libqt6sql6-psql <<<"$(field Recommends)" || fail "Recommends lacks libqt6sql6-psql"
# (Outputs go to files or variables before grep -q: with pipefail, grep -q closing a pipe early fails the writer.)
dpkg-deb -e "$deb" "$work/DEBIAN"
grep -qx /etc/vigil-console/vigil.conf "$work/DEBIAN/conffiles" || fail "/etc/vigil-console/vigil.conf is not a conffile"
[[ -f "$work/out/${PKG}-dbgsym_${VERSION}_${arch}.ddeb" ]] || fail "no -dbgsym package"

step "lintian"
lintian --fail-on error,warning --display-info "$deb" | tee "$work/lintian.txt" || fail "lintian reports errors or warnings"

step "TGZ: a relocatable tree"
tgz="$work/out/${PKG}-${VERSION}-Linux-$(uname -m).tar.gz"
[[ -f "$tgz" ]] || { ls -l "$work/out"; fail "expected $tgz"; }
tar -tzf "$tgz" >"$work/tgz.list"
top="${PKG}-${VERSION}-Linux-$(uname -m)"
for f in bin/vigil share/applications/vigil-console.desktop share/man/man1/vigil.1.gz \
    share/doc/vigil-console/examples/vigil.conf share/doc/vigil-console/examples/vigil-server.service; do
    grep -qx "$top/$f" "$work/tgz.list" || fail "TGZ lacks $f"
done
if grep -Ev "^$top/(bin|share)(/|$)" "$work/tgz.list"; then fail "TGZ has files outside bin/ and share/"; fi
mkdir "$work/tgz" && tar -xzf "$tgz" -C "$work/tgz"
"$work/tgz/$top/bin/vigil" --version >"$work/tgz-version"
grep -qE "^$PKG $VERSION( |$)" "$work/tgz-version" || fail "vigil from the TGZ: wrong --version"

# ------------------------------------------------------------------------------------------------------------------
step "apt-get install ./$(basename "$deb")"
touch "$MARKER"
installed_by_us=1
(cd "$work/out" && apt_get install "./$(basename "$deb")") || fail "apt-get install failed"
[[ $(pkg_state) == installed ]] || fail "package state is '$(pkg_state)'"
dpkg -L "$PKG" >"$work/files"

step "installed files"
[[ -x /usr/bin/vigil ]] || fail "/usr/bin/vigil missing"
[[ $(file -L /usr/bin/vigil) == *"not stripped"* ]] && fail "/usr/bin/vigil is not stripped"
if command -v readelf >/dev/null && [[ $(readelf -d /usr/bin/vigil) =~ RPATH|RUNPATH ]]; then
    fail "/usr/bin/vigil has an RPATH/RUNPATH (it must use the system's Qt)"
fi
/usr/bin/vigil --version | tee "$work/version"
grep -qE "^$PKG $VERSION( |$)" "$work/version" || fail "vigil --version does not say '$PKG $VERSION'"

desktop=/usr/share/applications/vigil-console.desktop
desktop-file-validate "$desktop" || fail "desktop-file-validate"
exec_cmd=$(sed -n 's/^Exec=\([^ ]*\).*/\1/p' "$desktop")
[[ $(command -v "$exec_cmd") == /usr/bin/vigil ]] || fail "Exec=$exec_cmd does not run /usr/bin/vigil"
icon=$(sed -n 's/^Icon=//p' "$desktop")
[[ -f /usr/share/icons/hicolor/scalable/apps/$icon.svg ]] || fail "scalable icon $icon.svg"
for size in 16 22 24 32 48 64 128 256; do
    png=/usr/share/icons/hicolor/${size}x${size}/apps/$icon.png
    [[ -f "$png" ]] || fail "icon $png missing"
    # PNG header: width and height are big-endian 32-bit integers at bytes 16..23.
    dims=$(od -An -tu1 -j16 -N8 "$png" | awk '{print $3*256+$4 "x" $7*256+$8}')
    [[ "$dims" == "${size}x${size}" ]] || fail "$png is $dims"
done

metainfo=$(grep -E '^/usr/share/metainfo/[^/]+\.metainfo\.xml$' "$work/files" || true)
[[ -n "$metainfo" && $(wc -l <<<"$metainfo") -eq 1 ]] || fail "expected one metainfo file, got: $metainfo"
appstreamcli validate --no-net "$metainfo" || fail "appstreamcli validate"
grep -q "<launchable type=\"desktop-id\">$(basename "$desktop")</launchable>" "$metainfo" \
    || fail "metainfo does not launch $(basename "$desktop")"
grep -q "<release version=\"$VERSION\"" "$metainfo" || fail "metainfo has no release $VERSION"

man_gz=/usr/share/man/man1/vigil.1.gz
gzip -t "$man_gz" || fail "man page is not gzip"
LC_ALL=C MANWIDTH=120 man --warnings -l "$man_gz" 2>"$work/man.err" | col -b >"$work/man.txt"
[[ ! -s "$work/man.err" ]] || { cat "$work/man.err"; fail "man page has groff warnings"; }
# True to --help: every option vigil --help lists is documented.
for opt in $(/usr/bin/vigil --help | grep -o -- '--[a-z][a-z-]*' | sort -u); do
    grep -q -- "$opt" "$work/man.txt" || fail "man page does not document $opt"
done

unit=$(grep -E '/systemd/system/vigil-server\.service$' "$work/files")
[[ -f "$unit" ]] || fail "systemd unit missing"
grep -qx 'ExecStart=/usr/bin/vigil --headless --config /etc/vigil-console/vigil.conf' "$unit" || fail "ExecStart"
for opt in DynamicUser=yes StateDirectory=vigil-console; do grep -qx "$opt" "$unit" || fail "unit lacks $opt"; done
for opt in NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes PrivateTmp=yes PrivateDevices=yes \
    'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX'; do
    grep -qx "$opt" "$unit" || fail "unit lacks $opt"
done
if command -v systemd-analyze >/dev/null; then
    systemd-analyze verify "$unit" || fail "systemd-analyze verify $unit"
fi
[[ -L /etc/systemd/system/multi-user.target.wants/vigil-server.service ]] && fail "the service was enabled on install"

conf=/etc/vigil-console/vigil.conf
[[ -f "$conf" ]] || fail "$conf missing"
[[ $(dpkg-query -W -f='${Conffiles}\n' "$PKG") == *" $conf "* ]] || fail "$conf is not registered as a conffile"
[[ $(zcat /usr/share/doc/$PKG/changelog.gz) == "$PKG ($VERSION) "* ]] || fail "changelog's top entry is not $VERSION"
[[ -f /usr/share/doc/$PKG/copyright ]] || fail "copyright file"

# ------------------------------------------------------------------------------------------------------------------
step "installed vigil --headless with the shipped config, unprivileged like the service"
free_port() {
    local p
    for _ in $(seq 1 50); do
        p=$((30000 + RANDOM % 30000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
    done
    return 1
}
state_dir="$work/state"
mkdir -m 700 "$state_dir"
runas=()
if command -v setpriv >/dev/null && id nobody >/dev/null 2>&1; then
    chown nobody "$state_dir"
    runas=(setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups --no-new-privs)
fi
for _ in 1 2 3; do # a port found free can be taken before vigil binds it
    port=$(free_port) || fail "no free port"
    env -u DISPLAY -u WAYLAND_DISPLAY -u QT_QPA_PLATFORM HOME=/nonexistent "${runas[@]}" \
        /usr/bin/vigil --headless --config "$conf" --port "$port" --db "$state_dir/vigil.db" \
        >"$work/server.out" 2>"$work/server.err" &
    server_pid=$!
    for _ in $(seq 1 100); do
        grep -q "serving on http://127.0.0.1:$port" "$work/server.out" 2>/dev/null && break
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.1
    done
    grep -q "serving on http://127.0.0.1:$port" "$work/server.out" && break
    wait "$server_pid" || true
    server_pid=""
    grep -q "already in use" "$work/server.err" || { cat "$work/server.out" "$work/server.err"; fail "server did not start"; }
done
[[ -n "$server_pid" ]] || fail "server did not start"
health=$(curl -sf --max-time 5 "http://127.0.0.1:$port/healthz") || fail "/healthz did not answer"
echo "GET /healthz -> $health"
grep -q '"ok":true' <<<"$health" || fail "/healthz: $health"
# The shipped config was read: log-format = json and fault-injection = off.
[[ $(grep -m1 '"event":"server_started"' "$work/server.err") == '{'*'"fault_injection":false'* ]] \
    || { cat "$work/server.err"; fail "the shipped config (json logs, fault injection off) was not applied"; }
kill -TERM "$server_pid"
rc=0
wait "$server_pid" || rc=$?
server_pid=""
((rc == 0)) || { cat "$work/server.err"; fail "SIGTERM: exit code $rc"; }
grep -q '"event":"server_stopped"' "$work/server.err" || fail "no server_stopped after SIGTERM"

# ------------------------------------------------------------------------------------------------------------------
step "upgrade keeps an edited conffile"
echo "; edited by the administrator" >>"$conf"
"$CPACK" --config "$BUILD_DIR/CPackConfig.cmake" -B "$work/up" -G DEB -D "CPACK_PACKAGE_VERSION=$VERSION+pkgtest1" \
    -D CPACK_DEBIAN_DEBUGINFO_PACKAGE=OFF -D CPACK_DEBIAN_COMPRESSION_TYPE=gzip >"$work/cpack-up.log" 2>&1 \
    || { cat "$work/cpack-up.log"; fail "cpack (upgrade package) failed"; }
up=$(ls "$work"/up/${PKG}_*.deb)
chmod 755 "$work/up" && chmod 644 "$up"
(cd "$work/up" && apt_get install "./$(basename "$up")") || fail "apt-get install (upgrade) failed"
[[ $(dpkg-query -W -f='${Version}' "$PKG") == "$VERSION+pkgtest1" ]] || fail "upgrade did not happen"
grep -qx '; edited by the administrator' "$conf" || fail "the upgrade overwrote the edited $conf"
/usr/bin/vigil --version >/dev/null || fail "vigil --version after upgrade"

# ------------------------------------------------------------------------------------------------------------------
step "apt-get remove, then purge"
apt_get remove "$PKG" || fail "apt-get remove failed"
[[ ! -e /usr/bin/vigil ]] || fail "/usr/bin/vigil is still there after remove"
[[ $(pkg_state) == config-files ]] || fail "after remove the state is '$(pkg_state)'"
[[ -f "$conf" ]] || fail "remove (not purge) must keep $conf"
apt_get purge "$PKG" || fail "apt-get purge failed"
state=$(pkg_state)
[[ -z "$state" || "$state" == not-installed ]] || fail "after purge the state is '$state'"
[[ ! -e /etc/vigil-console ]] || fail "/etc/vigil-console is still there after purge"
left=()
while read -r f; do
    # Files and symlinks only: directories such as /usr/share or /lib (a symlink with merged /usr) are shared.
    if [[ -e "$f" || -L "$f" ]] && [[ ! -d "$f" ]]; then left+=("$f"); fi
done <"$work/files"
((${#left[@]} == 0)) || fail "files left after purge: ${left[*]}"
rm -f "$MARKER"
installed_by_us=0

echo "package test: ok ($(basename "$deb"), $(grep -c . "$work/files") paths installed and removed)"
