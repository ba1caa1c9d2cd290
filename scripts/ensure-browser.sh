#!/usr/bin/env bash
# ensure-browser: make sure Debian's chromium is here for the browser tier (test/browser, driven by
# playwright-core with executablePath /usr/bin/chromium). On a Debian host run as root it installs
# the package; elsewhere it says what to install. Idempotent; quick when chromium is there.
set -euo pipefail

BROWSER=/usr/bin/chromium

say() { printf '==> ensure-browser: %s\n' "$*"; }
die() {
  printf 'ensure-browser: %s\n' "$*" >&2
  printf 'Install Chromium at %s (Debian: apt-get install chromium), then rerun.\n' "$BROWSER" >&2
  exit 1
}

if [ ! -x "$BROWSER" ]; then
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null || die "no $BROWSER and cannot install it here (needs root on Debian)."
  say "installing Debian's chromium"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
[ -x "$BROWSER" ] || die "$BROWSER is still missing after the install"
say "$("$BROWSER" --version 2>/dev/null | head -1)"
