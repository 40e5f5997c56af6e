//! Connecting to the host session and creating the window in it; reading
//! and flushing the connection afterwards. A host that lacks what the
//! window needs, or refuses it, fails here, before the sandbox starts.

use std::os::fd::OwnedFd;

use smithay::output::Output;
use wayland_client::backend::WaylandError;
use wayland_client::globals::registry_queue_init;
use wayland_client::protocol::{wl_compositor, wl_data_device_manager, wl_output, wl_seat, wl_shm};
use wayland_client::{Connection, EventQueue};
use wayland_protocols::wp::fractional_scale::v1::client::wp_fractional_scale_manager_v1;
use wayland_protocols::wp::viewporter::client::wp_viewporter;
use wayland_protocols::xdg::decoration::zv1::client::{
    zxdg_decoration_manager_v1, zxdg_toplevel_decoration_v1,
};
use wayland_protocols::xdg::shell::client::xdg_wm_base;

use super::{
    Error, Exporter, Foreign, Host, HostClipboard, HostEvent, HostSeat, HostWindow, Link,
    PendingAxis, Presenter, ShmBuffer,
};
use crate::config::Config;
use crate::marking::HostFrame;
use crate::render;

/// The host globals a window is made of.
struct Globals {
    compositor: wl_compositor::WlCompositor,
    shm: wl_shm::WlShm,
    wm_base: xdg_wm_base::XdgWmBase,
    decorations: Option<zxdg_decoration_manager_v1::ZxdgDecorationManagerV1>,
    seat: Option<wl_seat::WlSeat>,
    data_device_manager: Option<wl_data_device_manager::WlDataDeviceManager>,
    fractional: Option<wp_fractional_scale_manager_v1::WpFractionalScaleManagerV1>,
    viewporter: Option<wp_viewporter::WpViewporter>,
    exporter: Option<Exporter>,
    outputs: Vec<wl_output::WlOutput>,
    text_input: Option<wayland_protocols::wp::text_input::zv3::client::zwp_text_input_manager_v3::ZwpTextInputManagerV3>,
}

impl HostWindow {
    /// Connects to the host session of this process and creates the window
    /// (not yet shown: that waits for the host's first configure).
    pub fn connect(output: &Output, config: &Config) -> Result<Self, Error> {
        if std::env::var_os("WAYLAND_DISPLAY").is_none_or(|d| d.is_empty())
            && std::env::var_os("WAYLAND_SOCKET").is_none()
        {
            return Err(Error::NoSession);
        }
        let conn = Connection::connect_to_env().map_err(|e| Error::Connect(e.to_string()))?;
        let (list, queue) =
            registry_queue_init::<Host>(&conn).map_err(|e| Error::Connect(e.to_string()))?;
        let qh = queue.handle();
        let mut outputs = Vec::new();
        list.contents().with_list(|globals| {
            for global in globals.iter().filter(|g| g.interface == "wl_output") {
                outputs.push(
                    list.registry()
                        .bind(global.name, global.version.min(3), &qh, ()),
                );
            }
        });
        let globals = Globals {
            compositor: list
                .bind(&qh, 4..=6, ())
                .map_err(|_| Error::MissingGlobal("wl_compositor (version 4)"))?,
            shm: list
                .bind(&qh, 1..=1, ())
                .map_err(|_| Error::MissingGlobal("wl_shm"))?,
            wm_base: list
                .bind(&qh, 1..=5, ())
                .map_err(|_| Error::MissingGlobal("xdg_wm_base"))?,
            decorations: list.bind(&qh, 1..=1, ()).ok(),
            // Version 7 at most: axis_discrete, not axis_value120.
            seat: list.bind(&qh, 1..=7, ()).ok(),
            // The host clipboard, for the gestures or the auto mode only; no
            // drag and drop.
            data_device_manager: if config.clipboard.crosses() {
                list.bind(&qh, 1..=3, ()).ok()
            } else {
                None
            },
            fractional: list.bind(&qh, 1..=1, ()).ok(),
            viewporter: list.bind(&qh, 1..=1, ()).ok(),
            // Only bound here: the window is exported when wsbox asks
            // (HostWindow::export).
            exporter: list
                .bind(&qh, 1..=1, ())
                .ok()
                .map(Exporter::V2)
                .or_else(|| list.bind(&qh, 1..=1, ()).ok().map(Exporter::V1)),
            outputs,
            // The host's input method, for the app inside (src/backend/host/ime.rs).
            text_input: list.bind(&qh, 1..=1, ()).ok(),
        };
        let mut window = Self::open(conn, queue, globals, output, config)?;
        // Seat capabilities and output scales arrive now; a host that
        // refuses the window fails here, before the sandbox starts.
        let link = &mut window.link;
        link.queue
            .roundtrip(&mut link.host)
            .map_err(|e| Error::Connect(e.to_string()))?;
        let (width, height) = window.marking.content();
        tracing::info!(title = %window.marking.title(), width, height, "host window created");
        Ok(window)
    }

    /// A window on a host that never answers: the far end of a socketpair,
    /// returned for the caller to keep open. The window's requests queue up
    /// there unread, and no event ever comes: the in-process tests play
    /// the host by feeding [`HostEvent`]s to the compositor
    /// ([`crate::State::apply_host_events`]).
    #[cfg(test)]
    pub(crate) fn silent(
        output: &Output,
        config: &Config,
    ) -> Result<(Self, std::os::unix::net::UnixStream), Error> {
        let (ours, theirs) =
            std::os::unix::net::UnixStream::pair().map_err(|e| Error::Connect(e.to_string()))?;
        let conn = Connection::from_socket(ours).map_err(|e| Error::Connect(e.to_string()))?;
        let queue = conn.new_event_queue();
        let qh = queue.handle();
        let registry = conn.display().get_registry(&qh, ());
        // Made-up global names: no host is there to check them.
        let globals = Globals {
            compositor: registry.bind(1, 6, &qh, ()),
            shm: registry.bind(2, 1, &qh, ()),
            wm_base: registry.bind(3, 5, &qh, ()),
            decorations: Some(registry.bind(4, 1, &qh, ())),
            seat: Some(registry.bind(5, 7, &qh, ())),
            data_device_manager: config
                .clipboard
                .crosses()
                .then(|| registry.bind(6, 3, &qh, ())),
            fractional: None,
            viewporter: None,
            exporter: None,
            outputs: Vec::new(),
            text_input: None,
        };
        Ok((Self::open(conn, queue, globals, output, config)?, theirs))
    }

    /// Creates the window from the host's `globals`: its surface and
    /// toplevel, the decoration request, the cursor, and the renderer.
    fn open(
        conn: Connection,
        queue: EventQueue<Host>,
        globals: Globals,
        output: &Output,
        config: &Config,
    ) -> Result<Self, Error> {
        let qh = queue.handle();
        let data_device =
            globals
                .data_device_manager
                .zip(globals.seat.as_ref())
                .map(|(manager, seat)| {
                    let device = manager.get_data_device(seat, &qh, ());
                    (manager, device)
                });
        let ime = globals
            .text_input
            .zip(globals.seat.as_ref())
            .map(|(manager, seat)| super::HostIme {
                text_input: manager.get_text_input(seat, &qh, ()),
                enabled: false,
            });
        let surface = globals.compositor.create_surface(&qh, ());
        // Fractional scales need both: the buffer at the real size, shown
        // at the logical size.
        let viewport = globals
            .fractional
            .zip(globals.viewporter)
            .map(|(manager, viewporter)| {
                (
                    viewporter.get_viewport(&surface, &qh, ()),
                    manager.get_fractional_scale(&surface, &qh, ()),
                )
            });
        let size = output
            .current_mode()
            .map_or(config.size, |m| (m.size.w, m.size.h));
        let marking = HostFrame::new(&config.name, config.color, size, config.host_decorations);
        let xdg_surface = globals.wm_base.get_xdg_surface(&surface, &qh, ());
        let toplevel = xdg_surface.get_toplevel(&qh, ());
        toplevel.set_title(marking.title().to_owned());
        toplevel.set_app_id(format!("wsbox.{}", config.name));
        let (min_w, min_h) = HostFrame::min_window_size();
        toplevel.set_min_size(min_w, min_h);
        // wsbox always draws its own border (the marking must not depend
        // on the host). The title bar is wsbox's too unless the policy lets
        // a host that offers server-side decorations draw it; otherwise the
        // host is asked not to add a second one.
        let decoration = globals.decorations.map(|manager| {
            let decoration = manager.get_toplevel_decoration(&toplevel, &qh, ());
            decoration.set_mode(if config.host_decorations {
                zxdg_toplevel_decoration_v1::Mode::ServerSide
            } else {
                zxdg_toplevel_decoration_v1::Mode::ClientSide
            });
            decoration
        });
        surface.commit();

        let cursor_surface = globals.compositor.create_surface(&qh, ());
        let (pixels, w, h) = render::arrow_pixels();
        let cursor_buffer = match ShmBuffer::new(&globals.shm, &qh, w, h, (0, 0), (w, h)) {
            Ok(mut buffer) => {
                buffer.map[..pixels.len()].copy_from_slice(&pixels);
                cursor_surface.attach(Some(&buffer.buffer), 0, 0);
                cursor_surface.damage_buffer(0, 0, w, h);
                cursor_surface.commit();
                Some(buffer)
            }
            Err(err) => {
                tracing::warn!(%err, "no cursor over the window");
                None
            }
        };

        let host = Host {
            events: Vec::new(),
            pending_size: (0, 0),
            surface: Some(surface.clone()),
            cursor_surface: Some(cursor_surface.clone()),
            keyboard: None,
            pointer: None,
            axis: PendingAxis::default(),
            outputs: globals.outputs.into_iter().map(|o| (o, 1)).collect(),
            entered: Vec::new(),
            preferred_scale: None,
            fractional: None,
            offers: Vec::new(),
            selection: None,
            source: None,
            exported_handle: None,
            ime: Default::default(),
        };
        let presenter = Presenter::new(output, marking.title().to_owned())?;
        Ok(Self {
            link: Link {
                conn,
                queue,
                qh,
                host,
                lost: None,
                shm: globals.shm,
                seat: globals.seat,
                surface,
                _xdg_surface: xdg_surface,
                toplevel,
                _decoration: decoration,
                _cursor: (cursor_surface, cursor_buffer),
                viewport,
                foreign: Foreign::new(globals.exporter),
                ime,
            },
            presenter,
            marking,
            seat: HostSeat::default(),
            clipboard: HostClipboard::new(data_device),
        })
    }

    /// A duplicate of the connection's fd, for the event loop to poll.
    pub fn poll_fd(&self) -> Result<OwnedFd, Error> {
        self.link
            .conn
            .backend()
            .poll_fd()
            .try_clone_to_owned()
            .map_err(|e| Error::Connect(format!("failed to duplicate its fd: {e}")))
    }

    /// Reads and dispatches what the host sent; the events for the
    /// compositor are returned.
    pub(crate) fn read_events(&mut self) -> Result<Vec<HostEvent>, Error> {
        let link = &mut self.link;
        if let Some(lost) = &link.lost {
            return Err(Error::Lost(lost.clone()));
        }
        let result = (|| {
            if let Some(guard) = link.queue.prepare_read() {
                match guard.read() {
                    Ok(_) => {}
                    Err(WaylandError::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e.to_string()),
                }
            }
            link.queue
                .dispatch_pending(&mut link.host)
                .map_err(|e| e.to_string())
        })();
        if let Err(e) = result {
            link.lost = Some(e.clone());
            return Err(Error::Lost(e));
        }
        Ok(std::mem::take(&mut link.host.events))
    }

    /// Sends what is queued to the host.
    pub(crate) fn flush(&mut self) -> Result<(), Error> {
        let link = &mut self.link;
        if let Some(lost) = &link.lost {
            return Err(Error::Lost(lost.clone()));
        }
        match link.conn.flush() {
            Ok(()) => Ok(()),
            Err(WaylandError::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(()),
            Err(e) => {
                link.lost = Some(e.to_string());
                Err(Error::Lost(e.to_string()))
            }
        }
    }
}
