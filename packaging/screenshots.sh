#!/usr/bin/env bash
# Screenshots of the INSTALLED package for the docs: the window started the way a desktop starts it (the Exec line of
# /usr/share/applications/vigil-console.desktop) under Xvfb, fed by the simulator for a while, then Help > About.
#
#   sudo apt install ./vigil-console_<version>_amd64.deb
#   packaging/screenshots.sh [output dir, default docs/images]   -> installed-window.png, about.png
#
# Needs xvfb (xvfb-run), xdotool, imagemagick (import) and curl. The window's embedded server takes its default port
# 8000, so nothing else may listen there. A throw-away HOME keeps the user's database out of it.
set -euo pipefail

out=$(realpath "${1:-docs/images}")
desktop=/usr/share/applications/vigil-console.desktop
[[ -f "$desktop" ]] || { echo "vigil-console is not installed ($desktop missing)" >&2; exit 1; }
for tool in xvfb-run xdotool import curl; do
    command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 1; }
done
if (exec 3<>/dev/tcp/127.0.0.1/8000) 2>/dev/null; then
    echo "port 8000 is in use: the window's embedded server would ask for another one" >&2
    exit 1
fi
# The Exec line without field codes (%f, %u, ...), as a launcher runs it.
exec_line=$(sed -n 's/^Exec=//p' "$desktop" | sed 's/ *%[fFuUdDnNickvm]//g')
echo "Exec line: $exec_line"
mkdir -p "$out"

home=$(mktemp -d)
trap 'rm -rf "$home"' EXIT
export EXEC_LINE="$exec_line" OUT="$out" HOME="$home"
unset XDG_DATA_HOME XDG_CONFIG_HOME XDG_RUNTIME_DIR QT_QPA_PLATFORM WAYLAND_DISPLAY

# shellcheck disable=SC2016 # expanded by the inner shell
xvfb-run -a -s "-screen 0 1440x900x24" bash -euo pipefail -c '
    # shellcheck disable=SC2086 # the Exec line is split into words, as a launcher does
    $EXEC_LINE >"$HOME/vigil.out" 2>"$HOME/vigil.err" &
    pid=$!
    trap "kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true" EXIT
    wid=$(timeout 30 xdotool search --sync --onlyvisible --name "^Vigil Console" | head -1)
    # No window manager under Xvfb: place the window over the whole screen ourselves.
    xdotool windowmove --sync "$wid" 0 0
    xdotool windowsize --sync "$wid" 1440 900
    for _ in $(seq 1 100); do curl -sf http://127.0.0.1:8000/healthz >/dev/null && break; sleep 0.1; done
    curl -sf -X POST "http://127.0.0.1:8000/api/v1/ui/simulator/start?rate=3000&mode=burst&seed=7" >/dev/null
    xdotool windowfocus --sync "$wid"
    xdotool key --clearmodifiers ctrl+1 # View > Last 1 minute: one whole burst cycle fills the charts
    sleep 58
    import -window root "$OUT/installed-window.png"
    xdotool key --clearmodifiers alt+h
    sleep 0.5
    xdotool key a
    sleep 1.5
    import -window root "$OUT/about.png"
    xdotool key Return
    curl -sf -X POST http://127.0.0.1:8000/api/v1/ui/simulator/stop >/dev/null || true
'
echo "wrote $out/installed-window.png and $out/about.png"
