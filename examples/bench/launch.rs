//! The launch table: from spawning a real desktop app to its first painted
//! frame, in `wsbox run --headless --profile P` and directly on a weston
//! headless that is already running (one per app's table, as a desktop's
//! compositor would be).
//!
//! "First painted frame" is the first `wl_surface.commit` of the app's
//! toplevel surface (the `wl_surface` given an `xdg_toplevel`) with a
//! buffer attached. It may show little: Firefox's may come before the
//! page is drawn. Both sides read it the same way, from the app's own
//! `WAYLAND_DEBUG=client` lines: libwayland stamps each request when the
//! app sends it with CLOCK_REALTIME in microseconds, cut to 32 bits and
//! printed as `[ms.µs]` (libwayland 1.21, Debian 12), and the bench takes
//! the same clock just before it spawns the command, so neither side's
//! figure depends on a compositor's tooling or on how fast a pipe is read.
//!
//! At each run the app has a new home (Firefox makes a new profile in it,
//! gedit its settings) and runtime directory: on weston fresh directories,
//! in wsbox a new sandbox name, so a new home where the profile keeps it
//! (wsbox's own HOME and XDG_RUNTIME_DIR are kept over the table, as a
//! user's session keeps them: wsbox caches there, once per boot, what a
//! half-second scan of /usr finds). The app opens a file (an HTML
//! page, a text file). On weston it runs as the bench does (root), with the
//! toolkit variables wsbox sets inside, and with a session bus of the
//! table's own that activates nothing (wsbox's app finds a private bus too,
//! with only wsbox's portal on it). A third case runs it on the same weston
//! without any session bus, to show what the bus costs.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use testkit::{listening, poll_every, Log, Process as Proc, TempDir, Weston};

use super::wldebug::{object, realtime_us, since, Request};
use super::{
    children, find_in_path, reap_orphans, start_weston, Env, Group, Lines, Metric, Outcome,
};

/// How long an app may take to paint its first frame (Firefox's first start
/// on a cold page cache takes several seconds).
const PAINT_LIMIT: Duration = Duration::from_secs(60);

/// A program of the table.
pub(super) struct App {
    /// The program, as named in PATH and in the table.
    pub program: &'static str,
    /// The Debian package it comes from.
    package: &'static str,
    /// wsbox's built-in profile for it.
    profile: &'static str,
    /// Its options before the file.
    options: &'static [&'static str],
    /// The file it opens: name and contents.
    file: (&'static str, &'static str),
    /// Runs of each case when `--runs` does not say.
    pub runs: usize,
    /// JSON keys: the first painted frame, and the toplevel's creation.
    key: &'static str,
    window_key: &'static str,
}

pub(super) const APPS: [App; 2] = [
    App {
        program: "firefox-esr",
        package: "firefox-esr",
        profile: "browser",
        // One instance per run on both sides, never a message to another.
        options: &["--no-remote"],
        file: (
            "page.html",
            "<!doctype html>\n<html><head><title>wsbox bench page</title></head>\n\
             <body><h1>A local page</h1><p>Opened by the launch table.</p></body></html>\n",
        ),
        runs: 5,
        key: "launch_firefox_esr",
        window_key: "launch_firefox_esr_window",
    },
    App {
        program: "gedit",
        package: "gedit",
        profile: "editor",
        options: &[],
        file: (
            "notes.txt",
            "A text file opened by the launch table.\n\nSecond paragraph.\n",
        ),
        runs: 10,
        key: "launch_gedit",
        window_key: "launch_gedit_window",
    },
];

/// What wsbox sets inside for the toolkits that Firefox and gedit read; the
/// app on weston gets the same (src/run: the sandbox's environment).
const TOOLKIT_ENV: [(&str, &str); 2] = [("GDK_BACKEND", "wayland"), ("MOZ_ENABLE_WAYLAND", "1")];

/// The session bus of the weston cases: a bus with no service directory,
/// so that it activates nothing.
const BUS_CONFIG: &str =
    "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n \
     \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n\
     <busconfig>\n  <type>session</type>\n  <listen>unix:path=SOCKET</listen>\n  \
     <auth>EXTERNAL</auth>\n  <policy context=\"default\">\n    \
     <allow send_destination=\"*\" eavesdrop=\"true\"/>\n    <allow eavesdrop=\"true\"/>\n    \
     <allow own=\"*\"/>\n  </policy>\n</busconfig>\n";

/// What one app's table shares: the file it opens, weston, the bus, and
/// wsbox's own home and runtime directory.
struct Table {
    file: PathBuf,
    /// wsbox's HOME and XDG_RUNTIME_DIR: a user's, kept over the launches
    /// as a session keeps them (wsbox caches its scan of /usr for the /etc
    /// entries programs need in the runtime directory, once per boot). The
    /// app's own home is a new one below it at each run.
    wsbox_dirs: Fresh,
    weston: Option<Weston>,
    bus: Option<(Proc, String)>,
    /// Removed last, once the bus has ended (fields drop in order).
    _dir: TempDir,
}

impl Table {
    fn new(env: &Env, app: &App) -> Result<Table, String> {
        let dir = TempDir::new(env.scratch.path.join(env.unique("launch")))?;
        let file = dir.path.join(app.file.0);
        fs::write(&file, app.file.1).map_err(|e| format!("write {}: {e}", file.display()))?;
        let (weston, bus) = if env.weston {
            let weston = start_weston(env, 1280, 720)?;
            (Some(weston), Some(start_bus(&dir.path)?))
        } else {
            (None, None)
        };
        Ok(Table {
            file,
            wsbox_dirs: Fresh::new(env)?,
            weston,
            bus,
            _dir: dir,
        })
    }
}

/// A dbus-daemon of [`BUS_CONFIG`] in `dir`, once it listens; its address.
fn start_bus(dir: &Path) -> Result<(Proc, String), String> {
    let socket = dir.join("bus");
    let config = dir.join("bus.conf");
    fs::write(
        &config,
        BUS_CONFIG.replace("SOCKET", &socket.to_string_lossy()),
    )
    .map_err(|e| format!("write {}: {e}", config.display()))?;
    let mut cmd = Command::new("dbus-daemon");
    cmd.arg(format!("--config-file={}", config.display()))
        .arg("--nofork")
        .stdout(Stdio::null());
    let mut bus = Proc::start(cmd, "dbus-daemon", false, dir.join("bus.log"), Log::Stderr)?;
    let up = poll_every(Duration::from_millis(1), Duration::from_secs(10), || {
        if let Some(status) = bus.try_wait() {
            return Some(Err(format!(
                "dbus-daemon ended with {status}{}",
                bus.log_tail()
            )));
        }
        listening(&socket).then_some(Ok(()))
    });
    match up {
        Some(Ok(())) => Ok((bus, format!("unix:path={}", socket.display()))),
        Some(Err(e)) => Err(e),
        None => Err("dbus-daemon did not listen within 10 s".into()),
    }
}

/// The table of `app`: `runs` rounds of its cases, interleaved.
pub(super) fn group(env: &Env, app: &'static App, runs: usize) -> Group {
    let what = |x: &str| {
        format!(
            "Launch to {x}: {} (from spawning it to the first commit of a buffer to its toplevel)",
            app.program
        )
    };
    let mut g = Group::new(
        runs,
        vec![
            Metric {
                title: what("first painted frame"),
                unit: "ms",
                key: app.key,
                suffix: "ms",
                digits: 1,
                print: true,
            },
            Metric {
                title: format!(
                    "Launch to the toplevel's creation: {} (from spawning it to its \
                     xdg_surface.get_toplevel)",
                    app.program
                ),
                unit: "ms",
                key: app.window_key,
                suffix: "ms",
                digits: 1,
                print: false,
            },
        ],
    );
    g.warmup = 1;
    if find_in_path(app.program).is_none() {
        env.skip(&format!(
            "the launch table of {}: it is not installed (Debian package {})",
            app.program, app.package
        ));
        return g;
    }
    let wsbox_name = format!("wsbox --profile {} + {}", app.profile, app.program);
    let table = match Table::new(env, app) {
        Ok(table) => Rc::new(table),
        Err(e) => {
            eprintln!("bench: FAILED the launch table's set-up: {e}");
            g.add(
                wsbox_name,
                None,
                "the table's weston and bus".into(),
                move |_| Err(e.clone()),
            );
            return g;
        }
    };
    let argv = format!("{} {}", app.program, app.options.join(" "));
    let weston_name = format!("weston + {}", app.program);
    let bare_name = format!("weston, no session bus + {}", app.program);
    if env.weston {
        let t = table.clone();
        g.add(
            weston_name.clone(),
            None,
            format!(
                "WAYLAND_DISPLAY=<weston headless 1280x720, running> \
                 DBUS_SESSION_BUS_ADDRESS=<the table's bus> WAYLAND_DEBUG=client {argv} {}, \
                 a fresh HOME and XDG_RUNTIME_DIR",
                app.file.0
            ),
            move |env| on_weston(env, app, &t, true),
        );
        let t = table.clone();
        g.add(
            bare_name.clone(),
            None,
            format!(
                "the same without DBUS_SESSION_BUS_ADDRESS: {argv} {}",
                app.file.0
            ),
            move |env| on_weston(env, app, &t, false),
        );
        g.extra_ratios.push((wsbox_name.clone(), bare_name));
    }
    let t = table;
    g.add(
        wsbox_name,
        env.weston.then_some(weston_name),
        format!(
            "wsbox run --headless --name <new> --profile {} --env WAYLAND_DEBUG=client -- {argv} \
             {}: the profile's home is new at each run; wsbox's HOME and XDG_RUNTIME_DIR are \
             kept over the table",
            app.profile, app.file.0
        ),
        move |env| in_wsbox(env, app, &t),
    );
    g.notes.push(format!(
        "First painted frame: the first wl_surface.commit of the toplevel's surface with a \
         buffer attached, stamped by libwayland in the app (WAYLAND_DEBUG=client, \
         CLOCK_REALTIME), from just before the spawn; {} may show little in it. weston \
         headless (pixman, 1280x720, as wsbox's output) runs for the whole table; the app has \
         a new home and runtime directory at every run (in wsbox: a new sandbox name, so a new \
         home under the profile's ~/.local/share/wsbox/<name>; wsbox's own home and runtime \
         directory are kept over the table, as a session keeps them), and it opens {}. The \
         weston cases get \
         GDK_BACKEND=wayland MOZ_ENABLE_WAYLAND=1, as wsbox sets inside, and a session bus that \
         activates nothing (wsbox's app has its own bus with wsbox's portal), or none.",
        app.program, app.file.0
    ));
    g
}

/// A home and a runtime directory, removed on drop.
struct Fresh {
    home: PathBuf,
    runtime: PathBuf,
    _dir: TempDir,
}

impl Fresh {
    fn new(env: &Env) -> Result<Fresh, String> {
        let dir = TempDir::new(env.scratch.path.join(env.unique("launch-run")))?;
        let make = |name: &str| -> Result<PathBuf, String> {
            let path = dir.path.join(name);
            fs::DirBuilder::new()
                .mode(0o700)
                .create(&path)
                .map_err(|e| format!("create {}: {e}", path.display()))?;
            Ok(path)
        };
        Ok(Fresh {
            home: make("home")?,
            runtime: make("run")?,
            _dir: dir,
        })
    }

    /// A bare environment, the same on both sides: PATH, HOME, LANG,
    /// XDG_RUNTIME_DIR.
    fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("HOME", &self.home)
            .env("LANG", "C.UTF-8")
            .env("XDG_RUNTIME_DIR", &self.runtime)
            .current_dir(&self.home);
        cmd
    }
}

fn on_weston(env: &Env, app: &App, table: &Table, bus: bool) -> Outcome {
    let weston = table.weston.as_ref().ok_or("no weston")?;
    let fresh = Fresh::new(env)?;
    let mut cmd = fresh.command(app.program);
    cmd.args(app.options)
        .arg(&table.file)
        .envs(TOOLKIT_ENV)
        .env("WAYLAND_DISPLAY", &weston.socket)
        .env("WAYLAND_DEBUG", "client");
    if bus {
        let (_, address) = table.bus.as_ref().ok_or("no session bus")?;
        cmd.env("DBUS_SESSION_BUS_ADDRESS", address);
    }
    // In a process group of its own: Firefox's helpers end with it.
    measure(env, table, cmd, app.program, true)
}

fn in_wsbox(env: &Env, app: &App, table: &Table) -> Outcome {
    let dirs = &table.wsbox_dirs;
    // A new name: a new home, ~/.local/share/wsbox/<name> for both profiles.
    let name = env.unique("launch");
    let home = dirs.home.join(".local/share/wsbox").join(&name);
    let mut cmd = dirs.command(&env.wsbox);
    cmd.args(["run", "--headless", "--name", &name])
        .args(["--profile", app.profile])
        .args(["--env", "WAYLAND_DEBUG=client", "--", app.program])
        .args(app.options)
        .arg(&table.file);
    // SIGTERM to wsbox goes on to the app, as on weston.
    let figures = measure(env, table, cmd, "wsbox", false);
    match fs::remove_dir_all(&home) {
        Ok(()) => figures,
        Err(e) if figures.is_ok() => Err(format!("remove {}: {e}", home.display())),
        Err(_) => figures,
    }
}

/// Spawns `cmd`, reads its stderr until the app's first painted frame,
/// then stops it (SIGTERM; SIGKILL 3 s later) while its output is still
/// read. Returns the first painted frame and the toplevel's creation, in ms
/// from the spawn.
fn measure(env: &Env, table: &Table, cmd: Command, name: &str, group: bool) -> Outcome {
    let stdout = env
        .scratch
        .path
        .join(format!("{}.stdout", env.unique(name)));
    // No dirty data of earlier runs (their Firefox profiles, written and
    // removed) or of anything else left to write back: an fsync in the run
    // waits only for its own data. gedit's GSettings writes in wsbox are
    // such an fsync (the keyfile backend: wsbox's /.flatpak-info makes GLib
    // take it), and weston's side has none.
    // SAFETY: sync(2) takes no arguments and cannot fail.
    unsafe { libc::sync() };
    let mut out = Lines::new();
    let t0 = realtime_us();
    let mut proc = Proc::start(cmd, name, group, stdout, Log::StdoutWithStderrPiped)?;
    let stderr = proc
        .child
        .stderr
        .take()
        .ok_or_else(|| format!("{name}: no stderr pipe"))?;
    out.read(stderr);
    let deadline = Instant::now() + PAINT_LIMIT;
    let mut trace = Trace::default();
    let found = loop {
        match out.next(deadline, &mut [&mut proc]) {
            Ok(line) => {
                if let Some(found) = trace.feed(&line) {
                    break Ok(found);
                }
            }
            Err(e) => break Err(e),
        }
    };
    proc.stop();
    // Whatever the run started must be gone before the next run, or its
    // exit would share the CPUs with it: on weston the app's group (killed
    // with its leader), in wsbox what outlives wsbox for a moment (its
    // user-mode network helper, passt, ends a little after it).
    let settled = settle(table);
    drop(out);
    let (window, paint) = found?;
    settled?;
    Ok(vec![since(t0, paint)?, since(t0, window)?])
}

/// Waits until the bench has no process left but the table's weston and
/// bus: it is the subreaper of what the runs leave, and reaps it.
fn settle(table: &Table) -> Result<(), String> {
    let mut keep = Vec::new();
    if let Some(weston) = &table.weston {
        keep.push(weston.process.pid());
    }
    if let Some((bus, _)) = &table.bus {
        keep.push(bus.pid());
    }
    poll_every(Duration::from_millis(2), Duration::from_secs(10), || {
        reap_orphans();
        children()
            .iter()
            .all(|pid| keep.contains(pid))
            .then_some(())
    })
    .ok_or_else(|| {
        format!(
            "processes of the run still there 10 s after it: {:?}",
            children()
        )
    })
}

/// The app's `WAYLAND_DEBUG=client` lines, followed until its first
/// painted frame.
#[derive(Default)]
struct Trace {
    /// xdg_surface → its wl_surface.
    xdg: HashMap<u32, u32>,
    /// The toplevels' wl_surfaces, and the stamp of the first one's creation.
    toplevels: HashSet<u32>,
    window: Option<u32>,
    /// Surfaces with a buffer attached and not yet committed.
    attached: HashSet<u32>,
}

impl Trace {
    /// Takes one line; once it is the first commit of a buffer to a
    /// toplevel: the stamps of the toplevel's creation and of that commit.
    fn feed(&mut self, line: &str) -> Option<(u32, u32)> {
        let r = Request::parse(line)?;
        let (stamp, id, args) = (r.stamp, r.id, r.args);
        match (r.interface, r.method) {
            ("xdg_wm_base", "get_xdg_surface") => {
                // (new id xdg_surface@N, wl_surface@M)
                let (xdg, surface) = args.split_once(", ")?;
                let xdg = xdg.strip_prefix("new id xdg_surface@")?.parse().ok()?;
                let surface = surface.strip_prefix("wl_surface@")?.parse().ok()?;
                self.xdg.insert(xdg, surface);
            }
            ("xdg_surface", "get_toplevel") => {
                let surface = *self.xdg.get(&id)?;
                self.toplevels.insert(surface);
                self.window.get_or_insert(stamp);
            }
            ("wl_surface", "attach") => {
                if r.arg(0).and_then(object).is_some() {
                    self.attached.insert(id);
                } else {
                    self.attached.remove(&id);
                }
            }
            ("wl_surface", "commit") => {
                // A commit applies what was attached, on any surface.
                let painted = self.attached.remove(&id) && self.toplevels.contains(&id);
                return painted.then(|| (self.window.unwrap_or(stamp), stamp));
            }
            _ => {}
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_buffer_committed_to_the_toplevel_is_found() {
        let lines = [
            "[4152029.827]  -> wl_display@1.get_registry(new id wl_registry@2)",
            "[4152258.661]  -> wl_compositor@4.create_surface(new id wl_surface@7)",
            "[4152270.616]  -> wl_compositor@4.create_surface(new id wl_surface@13)",
            // A buffer on another surface (a popup, a subsurface) does not count.
            "[4152270.700]  -> wl_surface@13.attach(wl_buffer@30, 0, 0)",
            "[4152270.710]  -> wl_surface@13.commit()",
            "[4152271.890]  -> xdg_wm_base@12.get_xdg_surface(new id xdg_surface@20, wl_surface@7)",
            "[4152271.899]  -> xdg_surface@20.get_toplevel(new id xdg_toplevel@21)",
            // The initial commit has no buffer.
            "[4152271.913]  -> wl_surface@7.commit()",
            "[4152415.018] xdg_surface@20.configure(2)",
            "(gedit:28607): Gdk-CRITICAL **: 19:09:36.348: a line of its own",
            "[4152455.294]  -> wl_surface@7.attach(wl_buffer@23, 0, 0)",
            "[4152455.330]  -> wl_surface@7.damage(0, 0, 952, 799)",
            "[4152455.409]  -> wl_surface@7.commit()",
            "[4152492.151]  -> wl_surface@7.commit()",
        ];
        let mut trace = Trace::default();
        let found: Vec<(u32, u32)> = lines.iter().filter_map(|l| trace.feed(l)).collect();
        assert_eq!(found, vec![(4_152_271_899, 4_152_455_409)]);
    }

    #[test]
    fn a_detached_buffer_is_no_frame() {
        let mut trace = Trace::default();
        for line in [
            "[   10.000]  -> xdg_wm_base@3.get_xdg_surface(new id xdg_surface@5, wl_surface@4)",
            "[   10.001]  -> xdg_surface@5.get_toplevel(new id xdg_toplevel@6)",
            "[   11.000]  -> wl_surface@4.attach(wl_buffer@9, 0, 0)",
            "[   11.001]  -> wl_surface@4.attach(nil, 0, 0)",
        ] {
            assert_eq!(trace.feed(line), None);
        }
        assert_eq!(trace.feed("[   11.002]  -> wl_surface@4.commit()"), None);
        trace.feed("[   12.000]  -> wl_surface@4.attach(wl_buffer@9, 0, 0)");
        assert_eq!(
            trace.feed("[   12.001]  -> wl_surface@4.commit()"),
            Some((10_001, 12_001))
        );
    }
}
