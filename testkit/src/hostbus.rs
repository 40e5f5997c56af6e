//! A host session bus of a test's own, for window mode's portal
//! (tests/portal_window.rs) and `wsbox session` (tests/session.rs):
//! Debian's dbus-daemon with nothing activatable but the services a test
//! writes into `<dir>/services`,
//! and with [`HostBus::with_portal`] the real xdg-desktop-portal in front
//! of a test backend ([`BACKEND`], python3-dbus) for
//! `org.freedesktop.impl.portal.FileChooser` and `.Settings`. The backend
//! writes every call it gets as a JSON line ([`HostBus::calls`]) and
//! answers a dialog as the test said last ([`HostBus::answer`]). With
//! [`HostBus::start_a11y`] it has an accessibility bus too: at-spi2-core's
//! bus launcher owns `org.a11y.Bus` on it (tests/a11y.rs).
//!
//! Everything runs as root, or as the test user for a sway host; nothing
//! here touches the machine's own session bus.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::poll::poll;
use crate::process::{socket_in, Log, Process};
use crate::run::output;
use crate::scratch::next;
use crate::user::as_user;

/// How long a daemon may take to start.
const START_LIMIT: Duration = Duration::from_secs(20);
/// The Python with python3-dbus and python3-gi (not one of a version
/// manager's on PATH).
pub const PYTHON: &str = "/usr/bin/python3";
/// Where Debian installs the desktop portal.
pub const XDG_DESKTOP_PORTAL: &str = "/usr/libexec/xdg-desktop-portal";
/// Where Debian (at-spi2-core) installs the accessibility bus's launcher.
pub const AT_SPI_BUS_LAUNCHER: &str = "/usr/libexec/at-spi-bus-launcher";
/// The backend's bus name, and the desktop it serves.
const BACKEND_NAME: &str = "org.freedesktop.impl.portal.Test";
const DESKTOP: &str = "wsboxtest";

/// The test backend: FileChooser answers from the answer file, read at
/// each call (`{"code": 0, "uris": [...]}`, `{"code": 1}`, or
/// `{"hold": true}`: no answer until the portal closes the request, which
/// is logged as a `Close`); Settings answers color-scheme 1, a theme, a
/// cursor size, and a key no sandbox may see; AppChooser (which app opens
/// a link) logs the question and cancels; Print accepts an A4 page and
/// writes the printed document beside the calls' log.
pub const BACKEND: &str = r#"
import json, sys
import dbus, dbus.service
from dbus.mainloop.glib import DBusGMainLoop
from gi.repository import GLib

DBusGMainLoop(set_as_default=True)
bus_name, log_path, answer_path = sys.argv[1:4]
log = open(log_path, "a", buffering=1)

def plain(v):
    if isinstance(v, dbus.Boolean):
        return bool(v)
    if isinstance(v, (dbus.Array, dbus.Struct, list, tuple)):
        return [plain(x) for x in v]
    if isinstance(v, dbus.Dictionary):
        return {str(k): plain(x) for k, x in v.items()}
    if isinstance(v, (dbus.String, dbus.ObjectPath)):
        return str(v)
    if isinstance(v, (int, float)):
        return v
    return str(v)

class Request(dbus.service.Object):
    def __init__(self, bus, handle, done):
        super().__init__(bus, handle)
        self.handle, self.done = handle, done

    @dbus.service.method("org.freedesktop.impl.portal.Request", in_signature="", out_signature="")
    def Close(self):
        log.write(json.dumps({"method": "Close", "handle": str(self.handle)}) + "\n")
        self.remove_from_connection()
        self.done(dbus.UInt32(2), dbus.Dictionary({}, signature="sv"))

class Portal(dbus.service.Object):
    def answer(self, method, handle, app_id, parent, title, options, ok):
        log.write(json.dumps({"method": method, "handle": str(handle), "app_id": str(app_id),
                              "parent_window": str(parent), "title": str(title),
                              "options": plain(options)}) + "\n")
        with open(answer_path) as f:
            answer = json.load(f)
        if answer.get("hold"):
            Request(self.connection, handle, ok)
            return
        code = answer["code"]
        results = {"uris": dbus.Array(answer.get("uris", []), signature="s")} if code == 0 else {}
        ok(dbus.UInt32(code), dbus.Dictionary(results, signature="sv"))

    @dbus.service.method("org.freedesktop.impl.portal.FileChooser", in_signature="osssa{sv}",
                         out_signature="ua{sv}", async_callbacks=("ok", "err"))
    def OpenFile(self, handle, app_id, parent, title, options, ok, err):
        self.answer("OpenFile", handle, app_id, parent, title, options, ok)

    @dbus.service.method("org.freedesktop.impl.portal.FileChooser", in_signature="osssa{sv}",
                         out_signature="ua{sv}", async_callbacks=("ok", "err"))
    def SaveFile(self, handle, app_id, parent, title, options, ok, err):
        self.answer("SaveFile", handle, app_id, parent, title, options, ok)

    @dbus.service.method("org.freedesktop.impl.portal.FileChooser", in_signature="osssa{sv}",
                         out_signature="ua{sv}", async_callbacks=("ok", "err"))
    def SaveFiles(self, handle, app_id, parent, title, options, ok, err):
        self.answer("SaveFiles", handle, app_id, parent, title, options, ok)

    SETTINGS = {
        "org.freedesktop.appearance": {"color-scheme": dbus.UInt32(1)},
        "org.gnome.desktop.interface": {"gtk-theme": dbus.String("HostTheme"),
                                        "cursor-size": dbus.Int32(48)},
        "org.gnome.desktop.background": {"picture-uri": dbus.String("file:///host/secret.png")},
    }

    @dbus.service.method("org.freedesktop.impl.portal.Settings", in_signature="as",
                         out_signature="a{sa{sv}}")
    def ReadAll(self, namespaces):
        log.write(json.dumps({"method": "ReadAll", "namespaces": plain(namespaces)}) + "\n")
        return {ns: keys for ns, keys in self.SETTINGS.items()
                if not namespaces or ns in namespaces or "" in namespaces}

    @dbus.service.method("org.freedesktop.impl.portal.Settings", in_signature="ss",
                         out_signature="v")
    def Read(self, namespace, key):
        return self.SETTINGS[namespace][key]

    # The host's print dialog: logged and accepted with an A4 page; the
    # printed document is written beside the log as printed-N.pdf.
    @dbus.service.method("org.freedesktop.impl.portal.Print", in_signature="osssa{sv}a{sv}a{sv}",
                         out_signature="ua{sv}")
    def PreparePrint(self, handle, app_id, parent, title, settings, page_setup, options):
        log.write(json.dumps({"method": "PreparePrint", "app_id": str(app_id),
                              "title": str(title), "settings": plain(settings),
                              "page_setup": plain(page_setup)}) + "\n")
        setup = dbus.Dictionary({"Name": "iso_a4", "DisplayName": "A4",
                                 "Width": dbus.Double(210.0), "Height": dbus.Double(297.0),
                                 "MarginTop": dbus.Double(6.35), "MarginBottom": dbus.Double(14.224),
                                 "MarginLeft": dbus.Double(6.35), "MarginRight": dbus.Double(6.35),
                                 "Orientation": "portrait"}, signature="sv")
        return dbus.UInt32(0), dbus.Dictionary({
            "settings": dbus.Dictionary({"n-copies": "1"}, signature="sv"),
            "page-setup": setup, "token": dbus.UInt32(7)}, signature="sv")

    @dbus.service.method("org.freedesktop.impl.portal.Print", in_signature="osssha{sv}",
                         out_signature="ua{sv}")
    def Print(self, handle, app_id, parent, title, fd, options):
        import os
        data = b""
        with os.fdopen(fd.take(), "rb") as f:
            data = f.read()
        n = sum(1 for _ in open(log_path)) if os.path.exists(log_path) else 0
        out = os.path.join(os.path.dirname(log_path), "printed-%d.pdf" % n)
        with open(out, "wb") as f:
            f.write(data)
        log.write(json.dumps({"method": "Print", "app_id": str(app_id), "title": str(title),
                              "options": plain(options), "file": out, "bytes": len(data)}) + "\n")
        return dbus.UInt32(0), dbus.Dictionary({}, signature="sv")

    # Which app opens a link: logged and cancelled, so that nothing starts
    # on the test's host.
    @dbus.service.method("org.freedesktop.impl.portal.AppChooser", in_signature="ossasa{sv}",
                         out_signature="ua{sv}")
    def ChooseApplication(self, handle, app_id, parent, choices, options):
        log.write(json.dumps({"method": "ChooseApplication", "app_id": str(app_id),
                              "choices": plain(choices), "options": plain(options)}) + "\n")
        return dbus.UInt32(1), dbus.Dictionary({}, signature="sv")

    @dbus.service.method("org.freedesktop.impl.portal.AppChooser", in_signature="oas",
                         out_signature="")
    def UpdateChoices(self, handle, choices):
        pass

bus = dbus.SessionBus()
name = dbus.service.BusName(bus_name, bus)
Portal(bus, "/org/freedesktop/portal/desktop")
GLib.MainLoop().run()
"#;

/// A session bus of the test's own, with or without a desktop portal.
#[derive(Debug)]
pub struct HostBus {
    /// Its directory: the socket, the logs, the backend's files.
    pub dir: PathBuf,
    /// `DBUS_SESSION_BUS_ADDRESS` for the host's clients (wsbox).
    pub address: String,
    user: Option<(u32, u32)>,
    /// Stopped in this order: the accessibility bus (its launcher, in a
    /// process group with the bus and the registry it starts), the portal,
    /// the backend, the daemon.
    a11y: Option<Process>,
    portal: Option<Process>,
    backend: Option<Process>,
    _daemon: Process,
}

impl HostBus {
    /// A bus in `dir` (the test user's, with `user`) without a portal: a
    /// host whose apps get "no such service" for the portal.
    pub fn start(dir: &Path, user: Option<(u32, u32)>) -> Result<HostBus, String> {
        let socket = dir.join("bus");
        let config = dir.join("bus.conf");
        // Empty unless a test activates a service of its own.
        let services = dir.join("services");
        fs::create_dir_all(&services).map_err(|e| format!("mkdir {}: {e}", services.display()))?;
        write(
            &config,
            &format!(
                r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={}</listen>
  <servicedir>{}</servicedir>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#,
                socket.display(),
                services.display()
            ),
        )?;
        let mut cmd = command("dbus-daemon", dir, user);
        cmd.arg(format!("--config-file={}", config.display()))
            .arg("--nofork")
            .arg("--nopidfile");
        let mut daemon = Process::start(
            cmd,
            "dbus-daemon",
            true,
            dir.join("dbus-daemon.log"),
            Log::Stderr,
        )?;
        daemon.wait_for_socket(Duration::from_millis(20), START_LIMIT, || {
            socket_in(dir, "bus")
        })?;
        Ok(HostBus {
            dir: dir.to_owned(),
            address: format!("unix:path={}", socket.display()),
            user,
            a11y: None,
            portal: None,
            backend: None,
            _daemon: daemon,
        })
    }

    /// A bus with xdg-desktop-portal and the test backend on it; returns
    /// once the portal owns its name.
    pub fn with_portal(dir: &Path, user: Option<(u32, u32)>) -> Result<HostBus, String> {
        let mut bus = HostBus::start(dir, user)?;
        let script = dir.join("backend.py");
        write(&script, BACKEND)?;
        bus.answer(r#"{"code": 1}"#);
        let mut cmd = bus.command(PYTHON);
        cmd.arg(&script)
            .arg(BACKEND_NAME)
            .arg(bus.calls_path())
            .arg(dir.join("answer.json"));
        bus.backend = Some(Process::start(
            cmd,
            "backend",
            true,
            dir.join("backend.log"),
            Log::Stderr,
        )?);
        bus.wait_for_name(BACKEND_NAME)?;
        let portals = dir.join("portals");
        fs::create_dir_all(&portals).map_err(|e| format!("create {}: {e}", portals.display()))?;
        write(
            &portals.join("test.portal"),
            &format!(
                "[portal]\nDBusName={BACKEND_NAME}\nInterfaces=org.freedesktop.impl.portal.\
                 FileChooser;org.freedesktop.impl.portal.Settings;\
                 org.freedesktop.impl.portal.AppChooser;org.freedesktop.impl.portal.Print;\
                 \nUseIn={DESKTOP}\n"
            ),
        )?;
        let mut cmd = bus.command(XDG_DESKTOP_PORTAL);
        cmd.env("XDG_DESKTOP_PORTAL_DIR", &portals)
            .env("XDG_CURRENT_DESKTOP", DESKTOP);
        bus.portal = Some(Process::start(
            cmd,
            "xdg-desktop-portal",
            true,
            dir.join("xdg-desktop-portal.log"),
            Log::Stderr,
        )?);
        bus.wait_for_name("org.freedesktop.portal.Desktop")?;
        Ok(bus)
    }

    /// Starts at-spi2-core's bus launcher on this bus, as a desktop
    /// session does, with a runtime directory of its own (where the
    /// accessibility bus's socket goes) and settings in memory; returns
    /// once it owns `org.a11y.Bus`.
    pub fn start_a11y(&mut self) -> Result<(), String> {
        let runtime = self.dir.join("a11y-runtime");
        fs::create_dir_all(&runtime).map_err(|e| format!("mkdir {}: {e}", runtime.display()))?;
        fs::set_permissions(&runtime, fs::Permissions::from_mode(0o700))
            .map_err(|e| format!("chmod {}: {e}", runtime.display()))?;
        if let Some((uid, gid)) = self.user {
            std::os::unix::fs::chown(&runtime, Some(uid), Some(gid))
                .map_err(|e| format!("chown {}: {e}", runtime.display()))?;
        }
        let mut cmd = self.command(AT_SPI_BUS_LAUNCHER);
        cmd.env("XDG_RUNTIME_DIR", &runtime)
            .env("GSETTINGS_BACKEND", "memory")
            .env_remove("AT_SPI_BUS_ADDRESS")
            // The registry it starts greets on stdout.
            .stdout(std::process::Stdio::null());
        self.a11y = Some(Process::start(
            cmd,
            "at-spi-bus-launcher",
            true,
            self.dir.join("at-spi-bus-launcher.log"),
            Log::Stderr,
        )?);
        self.wait_for_name("org.a11y.Bus")
    }

    /// The accessibility bus's address, as `org.a11y.Bus` tells host apps.
    pub fn a11y_address(&self) -> Result<String, String> {
        let mut cmd = self.command("gdbus");
        cmd.args([
            "call",
            "--session",
            "--dest",
            "org.a11y.Bus",
            "--object-path",
            "/org/a11y/bus",
            "--method",
            "org.a11y.Bus.GetAddress",
        ]);
        let out = output(cmd, START_LIMIT);
        // ('unix:path=…,guid=…',)
        out.stdout
            .trim()
            .strip_prefix("('")
            .and_then(|s| s.strip_suffix("',)"))
            .map(str::to_owned)
            .ok_or_else(|| format!("org.a11y.Bus gave no address\n{out}"))
    }

    /// Stops xdg-desktop-portal: a host portal that crashed.
    pub fn stop_portal(&mut self) {
        if let Some(mut portal) = self.portal.take() {
            portal.kill();
        }
    }

    /// `program` as a client of this bus (as the bus's user).
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = command(program, &self.dir, self.user);
        cmd.env("DBUS_SESSION_BUS_ADDRESS", &self.address);
        cmd
    }

    /// Waits until `name` has an owner on the bus.
    pub fn wait_for_name(&mut self, name: &str) -> Result<(), String> {
        let owned = poll(START_LIMIT, || {
            let mut cmd = self.command("gdbus");
            cmd.args([
                "call",
                "--session",
                "--dest",
                "org.freedesktop.DBus",
                "--object-path",
                "/org/freedesktop/DBus",
                "--method",
                "org.freedesktop.DBus.NameHasOwner",
                name,
            ]);
            output(cmd, START_LIMIT)
                .stdout
                .contains("true")
                .then_some(())
        });
        owned.ok_or_else(|| format!("nothing owned {name} on the test bus\n{}", self.logs()))
    }

    /// How the backend answers the next dialogs (JSON, see [`BACKEND`]).
    pub fn answer(&self, json: &str) {
        let to = self.dir.join("answer.json");
        let tmp = self.dir.join(format!("answer.{}", next()));
        write(&tmp, json).unwrap_or_else(|e| panic!("{e}"));
        fs::rename(&tmp, &to).unwrap_or_else(|e| panic!("rename {}: {e}", tmp.display()));
    }

    fn calls_path(&self) -> PathBuf {
        self.dir.join("calls.log")
    }

    /// The calls the backend got so far, oldest first.
    pub fn calls(&self) -> Vec<Value> {
        fs::read_to_string(self.calls_path())
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The calls of `method` so far.
    pub fn calls_of(&self, method: &str) -> Vec<Value> {
        self.calls()
            .into_iter()
            .filter(|c| c["method"] == method)
            .collect()
    }

    /// What the backend and the portal logged, for a failure's message.
    pub fn logs(&self) -> String {
        let read = |name: &str| fs::read_to_string(self.dir.join(name)).unwrap_or_default();
        format!(
            "--- backend calls ---\n{}--- backend ---\n{}--- xdg-desktop-portal ---\n{}\
             --- at-spi-bus-launcher ---\n{}",
            read("calls.log"),
            read("backend.log"),
            read("xdg-desktop-portal.log"),
            read("at-spi-bus-launcher.log")
        )
    }
}

/// `program` as `user` (else as the caller), in `dir`.
fn command(program: &str, dir: &Path, user: Option<(u32, u32)>) -> Command {
    match user {
        Some(user) => as_user(program, user, dir),
        None => {
            let mut cmd = Command::new(program);
            cmd.current_dir(dir);
            cmd
        }
    }
}

/// Writes `text` to `path`, readable by all (the backend may run as the
/// test user; nothing here is secret).
fn write(path: &Path, text: &str) -> Result<(), String> {
    fs::write(path, text)
        .and_then(|()| fs::set_permissions(path, fs::Permissions::from_mode(0o644)))
        .map_err(|e| format!("write {}: {e}", path.display()))
}
