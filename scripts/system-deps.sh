#!/usr/bin/env bash
# WeasyPrint needs Pango and HarfBuzz (with its subsetting library) from the system.
# On Debian/Ubuntu this installs them when missing; elsewhere it says what to install.
set -euo pipefail
missing=()
have_lib() { ldconfig -p 2>/dev/null | grep -q "$1"; }
have_lib 'libpango-1.0.so' || missing+=(libpango-1.0-0)
have_lib 'libpangoft2-1.0.so' || missing+=(libpangoft2-1.0-0)
have_lib 'libharfbuzz-subset.so' || missing+=(libharfbuzz-subset0)
fc-list 2>/dev/null | grep -qi dejavu || missing+=(fonts-dejavu-core)
[ ${#missing[@]} -eq 0 ] && exit 0
if command -v apt-get >/dev/null 2>&1; then
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  echo "Installing WeasyPrint system libraries: ${missing[*]}"
  $sudo_cmd apt-get update -qq
  $sudo_cmd apt-get install -y -qq "${missing[@]}"
else
  echo "Please install Pango and HarfBuzz for WeasyPrint (macOS: brew install pango harfbuzz)." >&2
  echo "Missing: ${missing[*]}" >&2
fi
