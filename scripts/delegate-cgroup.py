#!/usr/bin/env python3
"""Runs a command in a cgroup delegated to the test user, as systemd
delegates one to each user's session: `delegate-cgroup.py USER -- CMD...`.

wsbox gives each sandbox a cgroup of its own below the cgroup it runs in,
where it may write there: root may anywhere, a user only in a subtree
delegated to them. A desktop's systemd delegates one (user@UID.service); a
bare machine, a container or CI has none. Run as root, this makes
`<this process's cgroup>/wsbox-delegated-<pid>` in each hierarchy wsbox uses
(cgroup v2's unified one, or v1's memory, pids and cpu), gives it to USER,
moves itself in and execs CMD, so that the tests' sandboxes, as root and
as USER, get their cgroups. Where it cannot (not root, no such
hierarchies), it says why in one line and runs CMD as it is. When CMD
ends, the cgroups left below (empty ones) are removed, then the
delegated one, and its status is this script's.

For test machines only: root's test processes run inside the subtree
given to USER, and on cgroup v2 the owner of a subtree may move the
processes within it.
"""

import os
import pwd
import subprocess
import sys

# One per run: two runs side by side (two worktrees) must not remove each
# other's.
NAME = f"wsbox-delegated-{os.getpid()}"


def hierarchies():
    """(directory of this process, is v2, controllers) per hierarchy."""
    mounts = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            left, right = left.split(), right.split()
            if right and right[0] in ("cgroup", "cgroup2"):
                mounts.append((right[0], left[3], left[4], right[2].split(",")))
    out = []
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, names, path = line.rstrip("\n").split(":", 2)
            wanted = [n for n in names.split(",") if n]
            for fstype, root, point, options in mounts:
                v2 = fstype == "cgroup2"
                if (not names and v2) or (names and not v2 and all(n in options for n in wanted)):
                    rel = path[len(root.rstrip("/")):] if path.startswith(root.rstrip("/")) else None
                    if rel is None:
                        continue
                    d = os.path.join(point, rel.lstrip("/"))
                    if v2:
                        try:
                            wanted = open(os.path.join(d, "cgroup.controllers")).read().split()
                        except OSError:
                            wanted = []
                    out.append((d, v2, wanted))
                    break
    return out


def clean(dirs):
    """Removes the empty cgroups below each delegated one, then it, once
    this process has moved back up."""
    for d in dirs:
        child = os.path.join(d, NAME)
        for top, subdirs, _ in os.walk(child, topdown=False):
            for sub in subdirs:
                try:
                    os.rmdir(os.path.join(top, sub))
                except OSError:
                    pass
        try:
            with open(os.path.join(d, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))
            os.rmdir(child)
        except OSError:
            pass


def delegate(user):
    uid, gid = user.pw_uid, user.pw_gid
    found = hierarchies()
    v2 = [h for h in found if h[1] and "memory" in h[2] and "pids" in h[2]]
    if v2:
        chosen = v2[:1]
    else:
        chosen = [h for h in found if not h[1] and set(h[2]) & {"memory", "pids", "cpu"}]
        if not {"memory", "pids"} <= {c for h in chosen for c in h[2]}:
            raise OSError("no cgroup v2 with the memory controller, nor v1's memory and pids hierarchies")
    made = []
    for d, is_v2, controllers in chosen:
        made.append(d)
        child = os.path.join(d, NAME)
        os.makedirs(child, exist_ok=True)
        if is_v2:
            enable = " ".join("+" + c for c in ("memory", "pids", "cpu") if c in controllers)
            # Processes may sit only in leaves once controllers are handed
            # down: this process moves first.
            with open(os.path.join(child, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))
            with open(os.path.join(d, "cgroup.subtree_control"), "w") as f:
                f.write(enable)
        files = ["cgroup.procs", "cgroup.subtree_control", "cgroup.threads", "tasks"]
        os.chown(child, uid, gid)
        for name in files:
            path = os.path.join(child, name)
            if os.path.exists(path):
                os.chown(path, uid, gid)
        with open(os.path.join(child, "cgroup.procs"), "w") as f:
            f.write(str(os.getpid()))
    return made


def main():
    args = sys.argv[1:]
    if len(args) < 3 or args[1] != "--":
        sys.exit("usage: delegate-cgroup.py USER -- COMMAND...")
    user, command = args[0], args[2:]
    why, made = None, []
    if os.geteuid() != 0:
        why = "not root"
    else:
        try:
            made = delegate(pwd.getpwnam(user))
        except (KeyError, OSError) as e:
            why = str(e)
    if why:
        print(f"delegate-cgroup: no cgroup delegated to {user} ({why}); "
              "the tests that need one say so", file=sys.stderr)
        os.execvp(command[0], command)
    print(f"delegate-cgroup: the tests run in a cgroup delegated to {user}", file=sys.stderr)
    try:
        status = subprocess.call(command)
    except KeyboardInterrupt:
        status = 130
    clean(made)
    sys.exit(status)


if __name__ == "__main__":
    main()
