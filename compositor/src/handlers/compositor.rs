//! wl_compositor, wl_subcompositor, wl_shm and buffers.

use smithay::backend::renderer::utils::on_commit_buffer_handler;
use smithay::reexports::wayland_server::backend::{ClientId, ObjectId};
use smithay::reexports::wayland_server::protocol::{
    wl_buffer, wl_shm, wl_shm_pool, wl_surface::WlSurface,
};
use smithay::reexports::wayland_server::protocol::{
    wl_callback::WlCallback, wl_compositor::WlCompositor, wl_subcompositor::WlSubcompositor,
};
use smithay::reexports::wayland_server::{
    delegate_dispatch, delegate_global_dispatch, Client, DataInit, Dispatch, DisplayHandle,
    Resource,
};
use smithay::wayland::buffer::BufferHandler;
use smithay::wayland::compositor::{
    add_destruction_hook, get_parent, is_sync_subsurface, CompositorClientState, CompositorHandler,
    CompositorState,
};
use smithay::wayland::shm::{ShmBufferUserData, ShmHandler, ShmPoolUserData, ShmState};

use crate::state::{ClientState, State};

/// Used for a client that has no ClientState (never inserted by us); its
/// requests still need a place to go, and it owns no data.
static FALLBACK_CLIENT_STATE: std::sync::OnceLock<CompositorClientState> =
    std::sync::OnceLock::new();

impl CompositorHandler for State {
    fn compositor_state(&mut self) -> &mut CompositorState {
        &mut self.core.compositor_state
    }

    fn client_compositor_state<'a>(&self, client: &'a Client) -> &'a CompositorClientState {
        match client.get_data::<ClientState>() {
            Some(data) => &data.compositor_state,
            None => FALLBACK_CLIENT_STATE.get_or_init(CompositorClientState::default),
        }
    }

    fn new_surface(&mut self, surface: &WlSurface) {
        let Some(client) = surface.client() else {
            return;
        };
        let Some(data) = client.get_data::<ClientState>() else {
            return;
        };
        if let Err(why) = data.limits.add_surface() {
            cut_off(surface, &why);
            return;
        }
        add_destruction_hook(surface, |_: &mut State, surface| {
            if let Some(client) = surface.client() {
                if let Some(data) = client.get_data::<ClientState>() {
                    data.limits.remove_surface();
                }
            }
        });
    }

    fn destroyed(&mut self, surface: &WlSurface) {
        // A wl_surface destroyed before its xdg_toplevel is a protocol error
        // (wl_surface.defunct_role_object); its window must not linger with
        // the keyboard focus.
        if let Some(window) = self.core.window_for(surface) {
            if let Some(toplevel) = window.toplevel() {
                toplevel.xdg_toplevel().post_error(
                    smithay::reexports::wayland_server::protocol::wl_surface::Error::DefunctRoleObject
                        as u32,
                    "the wl_surface was destroyed before its xdg_toplevel",
                );
            }
            self.core.space.unmap_elem(&window);
            self.core.refocus = true;
            self.core.needs_redraw = true;
        }
    }

    fn commit(&mut self, surface: &WlSurface) {
        on_commit_buffer_handler::<Self>(surface);
        self.x11_pair(surface);
        // The window of the surface's tree, looked up once; `own` when the
        // surface is the window's own.
        let mut own = None;
        if !is_sync_subsurface(surface) {
            let mut root = surface.clone();
            while let Some(parent) = get_parent(&root) {
                root = parent;
            }
            if let Some(window) = self.core.window_for(&root) {
                window.on_commit();
                own = (root == *surface).then_some(window);
            }
        }
        match own.as_ref() {
            Some(window) if window.is_x11() => {
                if super::xwm::has_buffer(surface) {
                    self.core.mark_shown(window);
                }
            }
            _ => super::xdg_shell::handle_commit(self, surface, own.as_ref()),
        }
        self.core.needs_redraw = true;
    }
}
// delegate_compositor! without wl_surface, wl_region and wl_subsurface, which go through
// the checks of super::guards first.
delegate_global_dispatch!(State: [WlCompositor: ()] => CompositorState);
delegate_global_dispatch!(State: [WlSubcompositor: ()] => CompositorState);
delegate_dispatch!(State: [WlCompositor: ()] => CompositorState);
delegate_dispatch!(State: [WlCallback: ()] => CompositorState);
delegate_dispatch!(State: [WlSubcompositor: ()] => CompositorState);

impl BufferHandler for State {
    fn buffer_destroyed(&mut self, _buffer: &wl_buffer::WlBuffer) {}
}

impl ShmHandler for State {
    fn shm_state(&self) -> &ShmState {
        &self.core.shm_state
    }
}

/// Disconnects a client that went over a limit, saying which: in the log,
/// and to the client as a protocol error on `resource`, the object of the
/// request that went over (the code is 0: the message names the limit).
pub(super) fn cut_off(resource: &impl Resource, why: &str) {
    tracing::warn!(object = %resource.id(), limit = %why, "client cut off: over a per-client limit");
    resource.post_error(0u32, format!("wsbox: per-client limit: {why}"));
}

// wl_shm and wl_shm_pool go through smithay's ShmState after the limits of
// crate::limits are checked; wl_buffer and the global are smithay's.
delegate_global_dispatch!(State: [wl_shm::WlShm: ()] => ShmState);

/// The object of `interface` that the client's current request created.
fn created(dh: &DisplayHandle, client: &Client, interface: &str) -> Option<ObjectId> {
    dh.backend_handle()
        .last_created_object(client.id())
        .ok()
        .flatten()
        .filter(|id| id.interface().name == interface)
}

// Shm buffers go to smithay; their destruction also releases the pool they
// keep mapped (crate::limits).
impl Dispatch<wl_buffer::WlBuffer, ShmBufferUserData> for State {
    fn request(
        state: &mut Self,
        client: &Client,
        buffer: &wl_buffer::WlBuffer,
        request: wl_buffer::Request,
        data: &ShmBufferUserData,
        dh: &DisplayHandle,
        data_init: &mut DataInit<'_, Self>,
    ) {
        <ShmState as Dispatch<wl_buffer::WlBuffer, ShmBufferUserData, Self>>::request(
            state, client, buffer, request, data, dh, data_init,
        )
    }

    fn destroyed(
        state: &mut Self,
        client: ClientId,
        buffer: &wl_buffer::WlBuffer,
        data: &ShmBufferUserData,
    ) {
        if let Ok(d) = state
            .core
            .display_handle
            .backend_handle()
            .get_client_data(client.clone())
        {
            if let Some(d) = d.downcast_ref::<ClientState>() {
                d.limits.buffer_destroyed(&buffer.id());
            }
        }
        <ShmState as Dispatch<wl_buffer::WlBuffer, ShmBufferUserData, Self>>::destroyed(
            state, client, buffer, data,
        )
    }
}

impl Dispatch<wl_shm::WlShm, ()> for State {
    fn request(
        state: &mut Self,
        client: &Client,
        shm: &wl_shm::WlShm,
        request: wl_shm::Request,
        data: &(),
        dh: &DisplayHandle,
        data_init: &mut DataInit<'_, Self>,
    ) {
        let wl_shm::Request::CreatePool { size, .. } = &request else {
            return <ShmState as Dispatch<wl_shm::WlShm, (), Self>>::request(
                state, client, shm, request, data, dh, data_init,
            );
        };
        let size = *size;
        let Some(limits) = client.get_data::<ClientState>().map(|d| &d.limits) else {
            return;
        };
        if let Err(why) = limits.add_pool(size) {
            cut_off(shm, &why);
            return;
        }
        <ShmState as Dispatch<wl_shm::WlShm, (), Self>>::request(
            state, client, shm, request, data, dh, data_init,
        );
        // The pool this request made (none if smithay refused it).
        match created(dh, client, "wl_shm_pool") {
            Some(pool) => limits.pool_created(pool, size),
            None => limits.remove_pool(size),
        }
    }
}

impl Dispatch<wl_shm_pool::WlShmPool, ShmPoolUserData> for State {
    fn request(
        state: &mut Self,
        client: &Client,
        pool: &wl_shm_pool::WlShmPool,
        request: wl_shm_pool::Request,
        data: &ShmPoolUserData,
        dh: &DisplayHandle,
        data_init: &mut DataInit<'_, Self>,
    ) {
        if let wl_shm_pool::Request::Resize { size } = &request {
            // smithay 0.7 posts an error for a size of 0 or less but goes on
            // and unwraps it into a NonZeroUsize: a panic. Found by the fuzzer.
            if *size <= 0 {
                pool.post_error(
                    wl_shm::Error::InvalidFd,
                    format!("wl_shm_pool resized to {size} bytes"),
                );
                return;
            }
            if let Some(limits) = client.get_data::<ClientState>().map(|d| &d.limits) {
                if let Err(why) = limits.resize_pool(&pool.id(), *size) {
                    cut_off(pool, &why);
                    return;
                }
            }
        }
        let creates_buffer = matches!(request, wl_shm_pool::Request::CreateBuffer { .. });
        <ShmState as Dispatch<wl_shm_pool::WlShmPool, ShmPoolUserData, Self>>::request(
            state, client, pool, request, data, dh, data_init,
        );
        if creates_buffer {
            if let (Some(buffer), Some(d)) = (
                created(dh, client, "wl_buffer"),
                client.get_data::<ClientState>(),
            ) {
                d.limits.buffer_created(buffer, &pool.id());
            }
        }
    }

    fn destroyed(
        state: &mut Self,
        client: ClientId,
        pool: &wl_shm_pool::WlShmPool,
        data: &ShmPoolUserData,
    ) {
        if let Ok(data) = state
            .core
            .display_handle
            .backend_handle()
            .get_client_data(client.clone())
        {
            if let Some(d) = data.downcast_ref::<ClientState>() {
                d.limits.pool_destroyed(&pool.id());
            }
        }
        <ShmState as Dispatch<wl_shm_pool::WlShmPool, ShmPoolUserData, Self>>::destroyed(
            state, client, pool, data,
        )
    }
}
