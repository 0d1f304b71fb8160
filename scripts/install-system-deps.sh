#!/usr/bin/env bash
# Installs the Debian packages stockade needs, when they are missing.
#   base: what `make demo` needs (a venv-capable Python 3.11+)
#   test: what the test suite needs as well (run as root, as CI does)
set -euo pipefail
set_name=${1:-base}
base=(python3 python3-venv)
test=(acl attr apparmor apparmor-profiles auditd bubblewrap strace gcc libseccomp2
      python3-setools setools selinux-policy-default graphviz git
      runc busybox-static golang-github-containers-common
      libsystemd-dev pkg-config systemd tomoyo-tools)
test+=(python3-libapparmor)  # libapparmor 3.0.8 as the log-parsing oracle (tests/audit/test_aalog.py)
test+=(python3-dev libc6-dev linux-libc-dev)  # builds the supervisor's C extension (setup.py, cffi)
want=("${base[@]}")
[ "$set_name" = test ] && want+=("${test[@]}")

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "stockade: missing Debian packages: ${missing[*]} (run as root or: sudo apt-get install ${missing[*]})" >&2
  [ "$set_name" = base ] && exit 1
  exit 0
fi
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# auditd's postinst tries to start the daemon; tests start it themselves when they need it.
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
