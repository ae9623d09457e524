#!/usr/bin/env bash
# The browser tests (tests/browser) drive Debian's chromium through Playwright; Playwright
# never downloads a browser of its own. On Debian/Ubuntu this installs chromium when it is
# missing (as system-deps.sh does for WeasyPrint's libraries); elsewhere it says what to do.
set -euo pipefail
chromium="${CHROMIUM:-/usr/bin/chromium}"
[ -x "$chromium" ] && exit 0
if [ -n "${CHROMIUM:-}" ]; then
  echo "CHROMIUM=$CHROMIUM is not an executable; unset it to use Debian's /usr/bin/chromium." >&2
  exit 1
fi
if command -v apt-get >/dev/null 2>&1; then
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  echo "Installing Chromium for the browser tests"
  $sudo_cmd apt-get update -qq
  $sudo_cmd apt-get install -y -qq chromium
else
  echo "The browser tests need Chromium: install it and set CHROMIUM=/path/to/chromium," >&2
  echo "or skip them with SKIP_BROWSER_TESTS=1." >&2
fi
