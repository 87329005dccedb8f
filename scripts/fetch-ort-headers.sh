#!/usr/bin/env bash
# Fetch the ONNX Runtime C/C++ API headers (Debian package libonnxruntime-dev, API 21)
# into DEST without installing anything: a private apt configuration points apt at the
# Debian mirror that this machine's own apt sources already use, with the trixie suite.
#
#   scripts/fetch-ort-headers.sh DEST      -> headers in DEST/include/onnxruntime
set -euo pipefail

dest=${1:?usage: fetch-ort-headers.sh DEST}
suite=${ORT_HEADERS_SUITE:-trixie}
keyring=/usr/share/keyrings/debian-archive-keyring.gpg

if [[ -f "$dest/include/onnxruntime/onnxruntime_cxx_api.h" ]]; then
    exit 0
fi
command -v apt-get >/dev/null || {
    echo "fetch-ort-headers: apt-get not found; set ORT_INCLUDE_DIR to a folder with onnxruntime_cxx_api.h" >&2
    exit 1
}

# The first Debian archive URI of the system's sources (deb822 .sources or one-line .list files),
# skipping the security archive, which carries no libonnxruntime-dev.
mirror=$(
    { cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk 'tolower($1)=="uris:" {for (i=2;i<=NF;i++) print $i}'
      cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
          awk '$1=="deb" {for (i=2;i<=NF;i++) if ($i !~ /^\[/ && $i !~ /\]$/) {print $i; break}}'
    } | grep -v -e security -e '^$' | grep -i debian | head -n 1
) || true
[[ -n "$mirror" ]] || { echo "fetch-ort-headers: no Debian mirror in /etc/apt sources" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work"/{state/lists/partial,cache/archives/partial,etc/sources.list.d,etc/preferences.d,deb}
touch "$work/state/status"
echo "deb [signed-by=$keyring] $mirror $suite main" > "$work/etc/sources.list"
cat > "$work/apt.conf" <<CONF
Dir::State "$work/state";
Dir::State::status "$work/state/status";
Dir::Cache "$work/cache";
Dir::Etc::SourceList "$work/etc/sources.list";
Dir::Etc::SourceParts "$work/etc/sources.list.d";
Dir::Etc::Preferences "$work/etc/preferences";
Dir::Etc::PreferencesParts "$work/etc/preferences.d";
Acquire::Languages "none";
APT::Sandbox::User "root";
Debug::NoLocking "true";
CONF
export APT_CONFIG="$work/apt.conf"
echo "fetch-ort-headers: libonnxruntime-dev from $mirror $suite" >&2
apt-get -qq update
(cd "$work/deb" && apt-get -qq download libonnxruntime-dev)
dpkg-deb -x "$work"/deb/libonnxruntime-dev_*.deb "$work/x"
mkdir -p "$dest/include"
rm -rf "$dest/include/onnxruntime"
cp -r "$work/x/usr/include/onnxruntime" "$dest/include/"
echo "fetch-ort-headers: headers in $dest/include/onnxruntime" >&2
