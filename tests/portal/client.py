#!/usr/bin/python3
"""A D-Bus client of the sandbox's session bus, driven by tests/portal.rs.

It runs inside a sandbox as the app and does what the test asks, one JSON
object a line on stdin, answering each with one line on stdout that starts
with "@@ " (the rest of stdout is the app's and wsbox's). It keeps any
number of connections to the bus, named by the test ("a", "b", ...), and
records every Request.Response signal each connection receives: by match
rule (what a subscriber sees) and by a filter on the connection (every
message that reached it at all). It never waits for wsbox by itself: the
test polls "responses" and "seen".

Operations ("op"):
  connect conn           a new connection (the first one is "a")
  close conn             leave the bus
  call conn dest path iface method args [timeout_ms]
                         one method call; args in GVariant text format
  flood conn n method title [tokens]
                         n calls of FileChooser.METHOD at once, without
                         waiting between them; counts paths and errors
  responses conn         the Response signals conn's subscription saw
  seen conn              every Response signal that reached conn
  read path              the first bytes of a file inside, or its error
  listdir path           a directory's names inside, or its error
  glib                   which GLib backends the toolkits would use
  env                    the bus's address and the files toolkits look for
"""

import json
import os
import sys
import threading

import gi

gi.require_version("Gio", "2.0")
gi.require_version("GLib", "2.0")
from gi.repository import Gio, GLib  # noqa: E402

REQUEST_IFACE = "org.freedesktop.portal.Request"
PORTAL = "org.freedesktop.portal.Desktop"
PORTAL_PATH = "/org/freedesktop/portal/desktop"

conns = {}
# conn name -> Response signals its subscription delivered, in order.
responses = {}
# conn name -> Response signals that reached it (its filter saw them).
seen = {}
seen_lock = threading.Lock()


def error_of(e):
    """A GLib.Error as the D-Bus error name and message."""
    name = Gio.DBusError.get_remote_error(e) if Gio.DBusError.is_remote_error(e) else None
    if name:
        Gio.DBusError.strip_remote_error(e)
    return {
        "ok": False,
        "error": name or "%s:%d" % (GLib.quark_to_string(e.domain), e.code),
        "message": e.message,
    }


def connect(name):
    if name in conns:
        return {"ok": True, "unique": conns[name].get_unique_name()}
    if not conns:
        conn = Gio.bus_get_sync(Gio.BusType.SESSION, None)
    else:
        address = Gio.dbus_address_get_for_bus_sync(Gio.BusType.SESSION, None)
        conn = Gio.DBusConnection.new_for_address_sync(
            address,
            Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT
            | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION,
            None,
            None,
        )
    conn.set_exit_on_close(False)
    responses[name] = []
    with seen_lock:
        seen[name] = []

    def on_response(_conn, sender, path, _iface, _member, params, _data):
        code, results = params.unpack()
        responses[name].append(
            {"sender": sender, "path": path, "code": code, "results": results}
        )

    conn.signal_subscribe(
        None,
        REQUEST_IFACE,
        "Response",
        None,
        None,
        Gio.DBusSignalFlags.NONE,
        on_response,
        None,
    )

    def on_message(_conn, message, incoming, _data):
        if (
            incoming
            and message.get_message_type() == Gio.DBusMessageType.SIGNAL
            and message.get_interface() == REQUEST_IFACE
        ):
            with seen_lock:
                seen[name].append(
                    {
                        "sender": message.get_sender(),
                        "destination": message.get_destination(),
                        "path": message.get_path(),
                    }
                )
        return message

    conn.add_filter(on_message, None)
    conns[name] = conn
    return {"ok": True, "unique": conn.get_unique_name()}


def call(req):
    conn = conns[req["conn"]]
    try:
        args = GLib.Variant.parse(None, req["args"], None, None) if req.get("args") else None
    except GLib.Error as e:
        return {"ok": False, "error": "parse", "message": e.message}
    try:
        reply = conn.call_sync(
            req["dest"],
            req["path"],
            req["iface"],
            req["method"],
            args,
            None,
            Gio.DBusCallFlags.NONE,
            req.get("timeout_ms", 20000),
            None,
        )
    except GLib.Error as e:
        return error_of(e)
    return {"ok": True, "reply": reply.print_(True), "value": to_json(reply.unpack())}


def to_json(value):
    """An unpacked GVariant as JSON: bytes as text, tuples as lists."""
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def flood(req):
    """n FileChooser calls sent at once on one connection, then every reply
    collected: how many got a request path, and the errors by name."""
    conn = conns[req["conn"]]
    n = req["n"]
    ctx = GLib.MainContext.default()
    results = {"paths": [], "errors": {}}
    done = [0]

    def finished(source, result, _data):
        try:
            reply = source.call_finish(result)
            results["paths"].append(reply.unpack()[0])
        except GLib.Error as e:
            name = error_of(e)["error"]
            results["errors"][name] = results["errors"].get(name, 0) + 1
        done[0] += 1

    for i in range(n):
        token = "%s%d" % (req.get("prefix", "flood"), i)
        options = {"handle_token": GLib.Variant("s", token)}
        conn.call(
            PORTAL,
            PORTAL_PATH,
            "org.freedesktop.portal.FileChooser",
            req["method"],
            GLib.Variant("(ssa{sv})", ("", req["title"], options)),
            None,
            Gio.DBusCallFlags.NONE,
            60000,
            None,
            finished,
            None,
        )
    while done[0] < n:
        ctx.iteration(True)
    return {"ok": True, **results}


def read(path):
    try:
        with open(path, "rb") as f:
            return {"ok": True, "text": f.read(4096).decode("utf-8", "replace")}
    except OSError as e:
        return {"ok": False, "error": e.__class__.__name__, "message": str(e)}


def listdir(path):
    try:
        return {"ok": True, "names": sorted(os.listdir(path))}
    except OSError as e:
        return {"ok": False, "error": e.__class__.__name__, "message": str(e)}


def glib():
    monitor = Gio.NetworkMonitor.get_default()
    resolver = Gio.ProxyResolver.get_default()
    return {
        "ok": True,
        "network_monitor": type(monitor).__gtype__.name,
        "network_available": monitor.get_network_available(),
        "proxy_resolver": type(resolver).__gtype__.name,
    }


def env():
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    return {
        "ok": True,
        "address": os.environ.get("DBUS_SESSION_BUS_ADDRESS"),
        "flatpak_info": os.path.exists("/.flatpak-info"),
        "runtime_flatpak_info": os.path.exists(os.path.join(runtime, "flatpak-info")),
    }


def handle(req):
    op = req["op"]
    if op == "connect":
        return connect(req["conn"])
    if op == "close":
        conns.pop(req["conn"]).close_sync(None)
        return {"ok": True}
    if op == "call":
        return call(req)
    if op == "flood":
        return flood(req)
    if op == "responses":
        # Signals are delivered by the main loop: let it run first.
        ctx = GLib.MainContext.default()
        while ctx.iteration(False):
            pass
        return {"ok": True, "responses": to_json(responses[req["conn"]])}
    if op == "seen":
        with seen_lock:
            return {"ok": True, "seen": list(seen[req["conn"]])}
    if op == "read":
        return read(req["path"])
    if op == "listdir":
        return listdir(req["path"])
    if op == "glib":
        return glib()
    if op == "env":
        return env()
    return {"ok": False, "error": "unknown op %r" % op}


pending = bytearray()


def on_stdin(fd, _cond, loop):
    data = os.read(fd, 65536)
    if not data:
        loop.quit()
        return False
    pending.extend(data)
    while b"\n" in pending:
        at = pending.index(b"\n")
        line = bytes(pending[:at])
        del pending[: at + 1]
        try:
            answer = handle(json.loads(line))
        except Exception as e:  # the test reads what went wrong
            answer = {"ok": False, "error": "exception", "message": repr(e)}
        sys.stdout.write("@@ " + json.dumps(answer) + "\n")
        sys.stdout.flush()
    return True


def main():
    loop = GLib.MainLoop()
    GLib.io_add_watch(sys.stdin.fileno(), GLib.PRIORITY_DEFAULT, GLib.IO_IN | GLib.IO_HUP, on_stdin, loop)
    sys.stdout.write("@@ " + json.dumps({"ok": True, "ready": True}) + "\n")
    sys.stdout.flush()
    loop.run()


if __name__ == "__main__":
    main()
