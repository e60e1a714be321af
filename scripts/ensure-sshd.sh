#!/usr/bin/env bash
# Put OpenSSH's server on this machine (Debian's openssh-server), idempotently, without starting
# it: the engine tests start their own sshd on a loopback port, with their own host key and
# authorized key, and stop it by PID. Nothing listens because of this script.
set -euo pipefail
say() { printf '[sshd] %s\n' "$*" >&2; }
if command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ]; then exit 0; fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  say "sshd is not installed and this is not Debian as root: install OpenSSH's server to run the ssh engine tests."
  exit 1
fi
say "Installing openssh-server (apt-get; the service is not started)..."
export DEBIAN_FRONTEND=noninteractive
# policy-rc.d exit 101 keeps the package from starting a daemon on port 22.
made_policy=0
if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; made_policy=1; fi
apt-get install -y -qq openssh-server >/dev/null 2>&1 || { apt-get update -qq >/dev/null && apt-get install -y -qq openssh-server >/dev/null; }
if [ "$made_policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
