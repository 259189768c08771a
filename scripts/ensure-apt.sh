#!/usr/bin/env bash
# Installs the named Debian packages that are missing, and nothing else, so
# `make run` and `make test` are idempotent and fast on a machine that has them.
set -euo pipefail
missing=()
for pkg in "$@"; do
	if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$pkg")
	fi
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null || { echo "ensure-apt: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
	sudo=sudo
fi
echo "ensure-apt: installing ${missing[*]}" >&2
# Packages such as nginx and apache2 start their daemon on port 80 when
# installed; the tests run their own instances on loopback, so a policy-rc.d
# that refuses service starts (Debian's mechanism for this) is in place while
# installing, unless the machine already has one.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
	$sudo chmod +x "$policy"
	trap '$sudo rm -f "$policy"' EXIT
fi
$sudo apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
