#!/bin/bash
# Lists the syscalls the wsbox process (its main thread after it started the
# sandbox, and every thread it starts) makes in a run, to review
# WSBOX_ALLOWED in sandbox-runtime/src/seccomp_rules.rs. Run it as root with
# the confinement's filter still allowing everything the run needs (or look
# at the kernel log, `dmesg | grep type=1326`, for what it refused).
#
#   scripts/wsbox-syscalls.sh [wsbox run options] -- PROGRAM [ARGS...]
#   e.g. scripts/wsbox-syscalls.sh --headless --timeout 4 -- weston-simple-shm
#
# Needs strace and python3. Drive the sandbox meanwhile (wsbox input,
# wsbox screenshot, the clipboard) to cover those paths too.
set -euo pipefail
WSBOX=${WSBOX:-target/debug/wsbox}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
strace -f -ff -qq -o "$out/t" "$WSBOX" run "$@" || true
python3 - "$out" <<'PY'
import glob, re, sys
files = {int(f.rsplit('.', 1)[1]): f for f in glob.glob(sys.argv[1] + '/t.*')}
main = min(files)
names, threads = set(), []

def scan(path, wait_for_sandbox):
    started = not wait_for_sandbox
    for line in open(path):
        m = re.match(r'^(\w+)\(', line) or re.match(r'^<\.\.\. (\w+) resumed>', line)
        if not m:
            continue
        if wait_for_sandbox and 'CLONE_NEWUSER' in line:
            started = True
            continue
        if 'CLONE_THREAD' in line:
            r = re.search(r'= (\d+)', line)
            if r:
                threads.append(int(r.group(1)))
        if started:
            names.add(m.group(1))

scan(files[main], True)
seen = set()
while threads:
    t = threads.pop()
    if t in seen or t not in files:
        continue
    seen.add(t)
    scan(files[t], False)
print(' '.join(sorted(names)))
PY
