"""An app that races wsbox for the portal's name (tests/portal.rs); with
the argument `takeover`, one that tries to take it from wsbox later.

As soon as it runs, it connects to the sandbox's bus and writes its whole
handshake at once, as wsbox does: ANONYMOUS authentication (which the bus's
per-user rules do not cover), Hello, and RequestName for
org.freedesktop.portal.Desktop. Then it prints the answer to RequestName
(`request N`, 1 meaning it got the name) and the name's owner as the bus
tells it (`owner NAME`), compared with its own unique name (`me NAME`).
It keeps its connection, and so whatever name it got, until its input
ends. Plain sockets, no D-Bus library: nothing to load before the race.
"""

import os
import socket
import struct
import sys

PORTAL = "org.freedesktop.portal.Desktop"


def pad(buf, n):
    return buf + b"\0" * (-len(buf) % n)


def string(buf, s, code=b"s"):
    raw = s.encode()
    if code == b"g":
        return buf + bytes([len(raw)]) + raw + b"\0"
    buf = pad(buf, 4)
    return buf + struct.pack("<I", len(raw)) + raw + b"\0"


def call(serial, member, signature="", body=b""):
    fields = b""
    for code, kind, value in (
        (1, b"o", "/org/freedesktop/DBus"),
        (2, b"s", "org.freedesktop.DBus"),
        (3, b"s", member),
        (6, b"s", "org.freedesktop.DBus"),
    ) + (((8, b"g", signature),) if signature else ()):
        fields = pad(fields, 8) + bytes([code, 1]) + kind + b"\0"
        fields = string(fields, value, kind)
    head = b"l\x01\x00\x01" + struct.pack("<III", len(body), serial, len(fields))
    return pad(head + fields, 8) + body


def read_exact(sock, n):
    buf = b""
    while len(buf) < n:
        got = sock.recv(n - len(buf))
        if not got:
            sys.exit("the bus closed the connection")
        buf += got
    return buf


def messages(sock):
    """(type, reply_serial, body) of each message the bus sends."""
    while True:
        head = read_exact(sock, 16)
        body_len, _, fields_len = struct.unpack("<III", head[4:16])
        fields = read_exact(sock, fields_len)
        read_exact(sock, -(16 + fields_len) % 8)
        body = read_exact(sock, body_len)
        reply = None
        i = 0
        while i < len(fields):
            i += -i % 8
            code, siglen = fields[i], fields[i + 1]
            kind = fields[i + 2 : i + 2 + siglen]
            i += 3 + siglen
            if kind in (b"s", b"o"):
                i += -i % 4
                (n,) = struct.unpack("<I", fields[i : i + 4])
                i += 4 + n + 1
            elif kind == b"g":
                i += 1 + fields[i] + 1
            elif kind == b"u":
                i += -i % 4
                if code == 5:
                    (reply,) = struct.unpack("<I", fields[i : i + 4])
                i += 4
            else:
                break
        yield head[1], reply, body


def body_string(body):
    (n,) = struct.unpack("<I", body[:4])
    return body[4 : 4 + n].decode()


def connect(calls):
    """A connection to the sandbox's bus with `calls` written right behind
    the ANONYMOUS authentication, once the bus said OK."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(os.environ["XDG_RUNTIME_DIR"] + "/bus")
    sock.sendall(b"\0AUTH ANONYMOUS 72616365\r\nBEGIN\r\n" + calls)
    line = b""
    while not line.endswith(b"\r\n"):
        line += read_exact(sock, 1)
    if not line.startswith(b"OK "):
        sys.exit(f"refused: {line!r}")
    return sock


def oversized(serial, limit):
    """A call to the portal whose error answer cannot fit the bus's
    message limit: an unknown object path that brings the call itself to
    within 8 bytes of it."""
    n = limit - 200
    for _ in range(20):
        msg = call_to(serial, PORTAL, "/" + "a" * n, "org.wsbox.Nothing", "Nothing")
        short = limit - len(msg)
        if 0 <= short < 8:
            return msg
        n += short if short > 0 else short - 1
    sys.exit("no path length fits")


def call_to(serial, dest, path, iface, member):
    fields = b""
    for code, kind, value in ((1, b"o", path), (2, b"s", iface), (3, b"s", member), (6, b"s", dest)):
        fields = pad(fields, 8) + bytes([code, 1]) + kind + b"\0"
        fields = string(fields, value, kind)
    head = b"l\x01\x00\x01" + struct.pack("<III", 0, serial, len(fields))
    return pad(head + fields, 8)


def takeover():
    """Queues for the portal's name, then asks wsbox for an unknown object
    whose error answer is too big for the bus, which then cuts wsbox off
    and hands the name to the next in its queue. Prints `me NAME`,
    `queued N` (2: in the queue) and, once it owns the name or after 5 s,
    `owner NAME`."""
    import time

    queue = pad(string(b"", PORTAL), 4) + struct.pack("<I", 0)
    sock = connect(
        call(1, "Hello")
        + call(2, "RequestName", "su", queue)
        + oversized(3, 4194304)
    )
    me = None
    serial = 4
    deadline = time.monotonic() + 5
    for kind, reply, body in messages(sock):
        if reply is None:
            continue
        if reply == 1:
            me = body_string(body)
            print("me", me)
        elif reply == 2:
            print("queued", struct.unpack("<I", body[:4])[0] if kind == 2 else "error")
        elif reply >= 4 and kind == 2:
            owner = body_string(body)
            if owner == me or time.monotonic() > deadline:
                print("owner", owner)
                break
        if reply != 3:
            sys.stdout.flush()
            time.sleep(0.05)
            sock.sendall(call(serial, "GetNameOwner", "s", string(b"", PORTAL)))
            serial += 1
    sys.stdout.flush()
    sys.stdin.read()
    sock.close()


def main():
    if sys.argv[1:] == ["takeover"]:
        return takeover()
    request = pad(string(b"", PORTAL), 4) + struct.pack("<I", 4)
    sock = connect(
        call(1, "Hello")
        + call(2, "RequestName", "su", request)
        + call(3, "GetNameOwner", "s", string(b"", PORTAL))
    )
    seen = {}
    for kind, reply, body in messages(sock):
        if reply in (1, 2, 3):
            seen[reply] = (kind, body)
        if len(seen) == 3:
            break
    print("me", body_string(seen[1][1]))
    kind, body = seen[2]
    print("request", struct.unpack("<I", body[:4])[0] if kind == 2 else "error")
    kind, body = seen[3]
    print("owner", body_string(body) if kind == 2 else "none")
    sys.stdout.flush()
    # Whatever it got, it keeps until its input ends.
    sys.stdin.read()
    sock.close()


main()
