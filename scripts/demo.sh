#!/usr/bin/env bash
# The main demo: stockade's reference monitor deciding real requests, layer by layer.
set -uo pipefail
cd "$(dirname "$0")/.."
S="$PWD/.venv/bin/stockade"
say() { printf '\n\033[1m== %s\033[0m\n$ stockade %s\n' "$1" "${*:2}"; }
run() { say "$@"; "$S" "${@:2}"; echo "(exit $?)"; }

run "DAC: nobody may not read /etc/shadow (mode 0640 root:shadow)" \
    explain --as nobody read /etc/shadow
run "An allowed access: nobody reads /etc/hostname" \
    explain --as nobody read /etc/hostname

# A process of nobody's that is not our descendant: Yama's restricted scope refuses the attach
# although DAC (same uid) and commoncap (no capabilities either side) allow it.
if command -v setpriv >/dev/null && [ "$(id -u)" -eq 0 ]; then
  setpriv --reuid=nobody --regid=nogroup --clear-groups sleep 60 &
  target=$!
  sleep 0.2
  run "Yama (ptrace_scope=1): nobody may not attach to a non-descendant" \
      explain --lsm capability,yama --yama-scope 1 --as nobody ptrace "$target"
  kill "$target" 2>/dev/null
fi

# A kernel module file that carries no signature (the magic string signed modules end with).
workdir=$(mktemp -d /var/tmp/stockade-demo.XXXXXX)
trap 'rm -rf "$workdir"' EXIT
printf '\177ELF not a real module' > "$workdir/unsigned.ko"
run "Lockdown (integrity): even root may not load an unsigned kernel module" \
    explain --lsm capability,loadpin,lockdown --lockdown integrity --loadpin-root / \
    --as root load-module "$workdir/unsigned.ko"
if [ -d /dev/shm ] && [ "$(stat -c %d /dev/shm)" != "$(stat -c %d /)" ]; then
  cp "$workdir/unsigned.ko" /dev/shm/stockade-demo.ko
  run "LoadPin: kernel files only from the pinned filesystem (here /, not tmpfs)" \
      explain --lsm capability,loadpin,lockdown --loadpin-root / --as root \
      load-module /dev/shm/stockade-demo.ko
  rm -f /dev/shm/stockade-demo.ko
fi
run "AppArmor: the demo-reader profile denies /etc/shadow by an explicit (audited) deny rule" \
    explain --lsm capability --profile examples/profiles/demo-reader read /etc/shadow
run "AppArmor: the same profile allows shared data under /usr/share" \
    explain --lsm capability --profile examples/profiles/demo-reader read /usr/share/common-licenses/GPL-3
run "The same question as JSON, for programs" \
    explain --json --lsm capability --as nobody write /etc/passwd

say "The host's layers at a glance" "status | head -16"
"$S" status | head -16

run "Profiles in AppArmor's own language: parse, resolve includes, compile, lint" \
    check examples/profiles/demo-reader

# Real processes, confined by the kernel (Landlock, seccomp, capabilities, no_new_privs).
run "Confined: cat may read /etc, so it reads /etc/hostname" \
    run --ro /etc --rx /usr -- cat /etc/hostname
run "Confined: without /etc, Landlock refuses the same read" \
    run --rx /usr -- cat /etc/hostname

# Learn a profile from what a program does, enforce it, and see something new refused.
mkdir -p "$workdir/in" "$workdir/out"
printf 'pear\napple\npear\n' > "$workdir/in/fruit.txt"
printf 'not for the pipeline\n' > "$workdir/in/private.txt"
cd "$workdir"
run "Learn: watch a pipeline through the seccomp supervisor and write its profile" \
    learn -o pipeline.profile --name pipeline -- sh -c 'sort in/fruit.txt | uniq -c > out/counts.txt'
sed -n '/^profile/,$p' pipeline.profile
run "Enforce the learned profile: the same pipeline works" \
    run -p pipeline.profile -- sh -c 'sort in/fruit.txt | uniq -c > out/counts.txt'
cat out/counts.txt
run "...and what it never did is refused" \
    run -p pipeline.profile -- sh -c 'sort in/private.txt'
cd - >/dev/null
exit 0
