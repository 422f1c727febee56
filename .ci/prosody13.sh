#!/usr/bin/env bash
# Prepares Prosody 13 (Debian bookworm-backports) beside the system Prosody 0.12, without installing it:
# the two .deb files are unpacked into a cache folder and patched copies of the launchers point into that
# tree. Idempotent; the machine's apt configuration and /usr are not touched.
#
#   .ci/prosody13.sh                 prints the launcher paths (prosody, prosodyctl, prosody-migrator)
#   .ci/prosody13.sh -- CMD ARGS…    then runs CMD with PROSODY_BIN_DIR set to their folder
#
# Cache folder: $PROSODY13_CACHE, else /var/cache/xap-prosody13 (root) or ~/.cache/xap-prosody13.
# Prosody 13's Lua dependencies (lua5.4, lua-expat, lua-filesystem, lua-socket, lua-sec…) are the ones
# the Debian 0.12 package already pulled in.
set -euo pipefail

if [ -n "${PROSODY13_CACHE:-}" ]; then
  cache=$PROSODY13_CACHE
elif [ "$(id -u)" -eq 0 ]; then
  cache=/var/cache/xap-prosody13
else
  cache=${XDG_CACHE_HOME:-$HOME/.cache}/xap-prosody13
fi
root=$cache/root
bin=$cache/bin

say() { echo "prosody13: $*" >&2; }

prepare() {
  local work=$cache/apt
  mkdir -p "$work/lists/partial" "$work/debs"
  # A private source list and package index: only the backports suite, nothing written to /etc/apt.
  cat >"$work/backports.sources" <<'EOF'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  local apt_opts=(
    -o "Dir::Etc::SourceList=$work/backports.sources"
    -o "Dir::Etc::SourceParts=$work/no-parts"
    -o "Dir::State::Lists=$work/lists"
    -o "Dir::Cache=$work/cache"
    -o "APT::Sandbox::User=root"
  )
  mkdir -p "$work/no-parts" "$work/cache/archives/partial"
  say "fetching the bookworm-backports index"
  apt-get -qq "${apt_opts[@]}" update
  rm -f "$work/debs"/*.deb
  say "downloading prosody and prosody-modules from bookworm-backports"
  (cd "$work/debs" && apt-get -qq "${apt_opts[@]}" download -t bookworm-backports prosody prosody-modules)
  rm -rf "$root.new"
  mkdir -p "$root.new"
  for deb in "$work/debs"/*.deb; do dpkg -x "$deb" "$root.new"; done
  local version
  version=$(cat "$root.new/usr/lib/prosody/prosody.version")
  case "$version" in
    13.*) ;;
    *) say "unexpected Prosody version '$version' in bookworm-backports"; exit 1 ;;
  esac
  rm -rf "$root"
  mv "$root.new" "$root"
}

write_launchers() {
  mkdir -p "$bin" "$cache/data"
  local name
  for name in prosody prosodyctl prosody-migrator; do
    # The launchers set these four paths near their top (Debian's values); point them into the cache.
    sed -e "s|^CFG_SOURCEDIR=.*|CFG_SOURCEDIR='$root/usr/lib/prosody';|" \
      -e "s|^CFG_CONFIGDIR=.*|CFG_CONFIGDIR='$root/etc/prosody';|" \
      -e "s|^CFG_PLUGINDIR=.*|CFG_PLUGINDIR='$root/usr/lib/prosody/modules/';|" \
      -e "s|^CFG_DATADIR=.*|CFG_DATADIR='$cache/data';|" \
      "$root/usr/bin/$name" >"$bin/$name.new"
    grep -q "^CFG_SOURCEDIR='$root" "$bin/$name.new" || { say "could not patch $name"; exit 1; }
    chmod 755 "$bin/$name.new"
    mv "$bin/$name.new" "$bin/$name"
  done
}

if [ ! -f "$root/usr/lib/prosody/prosody.version" ] || [ ! -d "$root/usr/lib/prosody/modules/mod_privilege" ]; then
  prepare
  rm -rf "$bin"
fi
[ -x "$bin/prosody-migrator" ] || write_launchers
say "Prosody $(cat "$root/usr/lib/prosody/prosody.version") in $cache"

if [ "${1:-}" = "--" ]; then
  shift
  export PROSODY_BIN_DIR=$bin
  exec "$@"
fi
printf '%s\n' "$bin/prosody" "$bin/prosodyctl" "$bin/prosody-migrator"
