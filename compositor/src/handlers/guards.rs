//! Requests refused before smithay sees them: values smithay 0.7 would
//! `debug_assert!` on (a panic in the debug builds the tests run) or pass on
//! unchecked. Each wrapper checks, posts the protocol's error, and otherwise
//! hands the request to smithay unchanged. Found by the fuzzer
//! (`crate::tests::fuzz`); each case has a regression test there.

use smithay::reexports::wayland_protocols::xdg::shell::server::xdg_positioner::{
    self, XdgPositioner,
};
use smithay::reexports::wayland_protocols::xdg::shell::server::xdg_surface::{self, XdgSurface};
use smithay::reexports::wayland_protocols::xdg::shell::server::xdg_toplevel::{self, XdgToplevel};
use smithay::reexports::wayland_server::protocol::wl_region::{self, WlRegion};
use smithay::reexports::wayland_server::protocol::wl_subsurface::{self, WlSubsurface};
use smithay::reexports::wayland_server::protocol::wl_surface::{self, WlSurface};
use smithay::reexports::wayland_server::{Client, DataInit, Dispatch, DisplayHandle, Resource};
use smithay::utils::Rectangle;
use smithay::wayland::compositor::{
    get_region_attributes, with_states, CompositorState, Damage, RegionUserData,
    SubsurfaceUserData, SurfaceAttributes, SurfaceUserData,
};
use smithay::wayland::shell::xdg::{
    XdgPositionerUserData, XdgShellState, XdgShellSurfaceUserData, XdgSurfaceUserData,
};

use smithay::reexports::wayland_protocols::wp::primary_selection::zv1::server::zwp_primary_selection_source_v1::{
    self as primary_source, ZwpPrimarySelectionSourceV1 as PrimarySource,
};
use smithay::reexports::wayland_server::protocol::wl_data_source::{self, WlDataSource};
use smithay::wayland::selection::data_device::{DataDeviceState, DataSourceUserData};
use smithay::wayland::selection::primary_selection::{PrimarySelectionState, PrimarySourceUserData};

use crate::limits::{MAX_DAMAGE_RECTS, MAX_MIME_BYTES};
use crate::state::{ClientState, State};

impl Dispatch<XdgSurface, XdgSurfaceUserData> for State {
    fn request(
        state: &mut Self,
        client: &Client,
        resource: &XdgSurface,
        request: xdg_surface::Request,
        data: &XdgSurfaceUserData,
        dh: &DisplayHandle,
        data_init: &mut DataInit<'_, Self>,
    ) {
        // xdg-shell: "the width and height must be greater than zero";
        // smithay would build a negative Size from them.
        if let xdg_surface::Request::SetWindowGeometry { width, height, .. } = &request {
            if *width <= 0 || *height <= 0 {
                resource.post_error(
                    xdg_surface::Error::InvalidSize,
                    format!("window geometry {width}x{height} is not positive"),
                );
                return;
            }
        }
        <XdgShellState as Dispatch<XdgSurface, XdgSurfaceUserData, Self>>::request(
            state, client, resource, request, data, dh, data_init,
        )
    }

    fn destroyed(
        state: &mut Self,
        client: smithay::reexports::wayland_server::backend::ClientId,
        resource: &XdgSurface,
        data: &XdgSurfaceUserData,
    ) {
        <XdgShellState as Dispatch<XdgSurface, XdgSurfaceUserData, Self>>::destroyed(
            state, client, resource, data,
        )
    }
}

/// Rectangles one wl_region may hold: each `add`/`subtract` is kept, so
/// without a cap a client grows the compositor's memory for as long as it
/// sends them.
pub const MAX_REGION_RECTS: usize = 1024;

impl Dispatch<WlRegion, RegionUserData> for State {
    fn request(
        state: &mut Self,
        client: &Client,
        resource: &WlRegion,
        request: wl_region::Request,
        data: &RegionUserData,
        dh: &DisplayHandle,
        data_init: &mut DataInit<'_, Self>,
    ) {
        if let wl_region::Request::Add { width, height, .. }
        | wl_region::Request::Subtract { width, height, .. } = &request
        {
            // An empty rectangle adds or removes nothing (and smithay would
            // build a negative Size from it).
            if *width <= 0 || *height <= 0 {
                return;
            }
            if get_region_attributes(resource).rects.len() >= MAX_REGION_RECTS {
                super::compositor::cut_off(
                    resource,
                    &format!("more than {MAX_REGION_RECTS} rectangles in one wl_region"),
                );
                return;
            }
            // And all its regions together: 65536 regions of 1024
            // rectangles would be over a GiB.
            if let Some(d) = client.get_data::<ClientState>() {
                if let Err(why) = d.limits.add_region_rect() {
                    super::compositor::cut_off(resource, &why);
                    return;
                }
            }
        }
        if let wl_region::Request::Destroy = &request {
            if let Some(d) = client.get_data::<ClientState>() {
                d.limits
                    .remove_region_rects(get_region_attributes(resource).rects.len());
            }
        }
        <CompositorState as Dispatch<WlRegion, RegionUserData, Self>>::request(
            state, client, resource, request, data, dh, data_init,
        )
    }
}

impl Dispatch<WlSurface, SurfaceUserData> for State {
    fn request(
        state: &mut Self,
        client: &Client,
        resource: &WlSurface,
        request: wl_surface::Request,
        data: &SurfaceUserData,
        dh: &DisplayHandle,
        data_init: &mut DataInit<'_, Self>,
    ) {
        // Damage of no area is no damage (smithay would build a negative
        // Size from it).
        if let wl_surface::Request::Damage { width, height, .. }
        | wl_surface::Request::DamageBuffer { width, height, .. } = &request
        {
            if *width <= 0 || *height <= 0 {
                return;
            }
            // Damage piles up until a commit, which a client need never
            // send: past MAX_DAMAGE_RECTS it becomes one rectangle over
            // the whole buffer (what a compositor may always assume).
            let collapsed = with_states(resource, |states| {
                let mut attributes = states.cached_state.get::<SurfaceAttributes>();
                let pending = attributes.pending();
                if pending.damage.len() < MAX_DAMAGE_RECTS {
                    return false;
                }
                pending.damage.clear();
                pending.damage.push(Damage::Buffer(Rectangle::from_size(
                    (1 << 16, 1 << 16).into(),
                )));
                true
            });
            if collapsed {
                return;
            }
        }
        <CompositorState as Dispatch<WlSurface, SurfaceUserData, Self>>::request(
            state, client, resource, request, data, dh, data_init,
        )
    }

    fn destroyed(
        state: &mut Self,
        client: smithay::reexports::wayland_server::backend::ClientId,
        resource: &WlSurface,
        data: &SurfaceUserData,
    ) {
        <CompositorState as Dispatch<WlSurface, SurfaceUserData, Self>>::destroyed(
            state, client, resource, data,
        )
    }
}

impl Dispatch<XdgToplevel, XdgShellSurfaceUserData> for State {
    fn request(
        state: &mut Self,
        client: &Client,
        resource: &XdgToplevel,
        request: xdg_toplevel::Request,
        data: &XdgShellSurfaceUserData,
        dh: &DisplayHandle,
        data_init: &mut DataInit<'_, Self>,
    ) {
        // xdg-shell: negative min/max sizes are an invalid_size error.
        if let xdg_toplevel::Request::SetMaxSize { width, height }
        | xdg_toplevel::Request::SetMinSize { width, height } = &request
        {
            if *width < 0 || *height < 0 {
                resource.post_error(
                    xdg_toplevel::Error::InvalidSize,
                    format!("negative size {width}x{height}"),
                );
                return;
            }
        }
        <XdgShellState as Dispatch<XdgToplevel, XdgShellSurfaceUserData, Self>>::request(
            state, client, resource, request, data, dh, data_init,
        )
    }

    fn destroyed(
        state: &mut Self,
        client: smithay::reexports::wayland_server::backend::ClientId,
        resource: &XdgToplevel,
        data: &XdgShellSurfaceUserData,
    ) {
        <XdgShellState as Dispatch<XdgToplevel, XdgShellSurfaceUserData, Self>>::destroyed(
            state, client, resource, data,
        )
    }
}

impl Dispatch<WlSubsurface, SubsurfaceUserData> for State {
    fn request(
        state: &mut Self,
        client: &Client,
        resource: &WlSubsurface,
        request: wl_subsurface::Request,
        data: &SubsurfaceUserData,
        dh: &DisplayHandle,
        data_init: &mut DataInit<'_, Self>,
    ) {
        // Placing a subsurface above or below itself: smithay's reorder
        // inserts past the end of the children (a panic). The protocol asks
        // for a sibling or the parent; the surface itself is neither.
        if let wl_subsurface::Request::PlaceAbove { sibling }
        | wl_subsurface::Request::PlaceBelow { sibling } = &request
        {
            if sibling == data.surface() {
                resource.post_error(
                    wl_subsurface::Error::BadSurface,
                    "a subsurface cannot be placed relative to itself",
                );
                return;
            }
        }
        <CompositorState as Dispatch<WlSubsurface, SubsurfaceUserData, Self>>::request(
            state, client, resource, request, data, dh, data_init,
        )
    }

    fn destroyed(
        state: &mut Self,
        client: smithay::reexports::wayland_server::backend::ClientId,
        resource: &WlSubsurface,
        data: &SubsurfaceUserData,
    ) {
        <CompositorState as Dispatch<WlSubsurface, SubsurfaceUserData, Self>>::destroyed(
            state, client, resource, data,
        )
    }
}

impl Dispatch<XdgPositioner, XdgPositionerUserData> for State {
    fn request(
        state: &mut Self,
        client: &Client,
        resource: &XdgPositioner,
        request: xdg_positioner::Request,
        data: &XdgPositionerUserData,
        dh: &DisplayHandle,
        data_init: &mut DataInit<'_, Self>,
    ) {
        // smithay builds a Size from the parent size unchecked.
        if let xdg_positioner::Request::SetParentSize {
            parent_width,
            parent_height,
        } = &request
        {
            if *parent_width < 0 || *parent_height < 0 {
                resource.post_error(
                    xdg_positioner::Error::InvalidInput,
                    format!("negative parent size {parent_width}x{parent_height}"),
                );
                return;
            }
        }
        <XdgShellState as Dispatch<XdgPositioner, XdgPositionerUserData, Self>>::request(
            state, client, resource, request, data, dh, data_init,
        )
    }
}

/// Whether one more MIME type `mime` may be offered by `source` of
/// `client`: at most MAX_MIME_TYPES per source, of at most MAX_MIME_BYTES
/// (smithay keeps every one, and a selection offers them all to the
/// focused client). Past them an offer is ignored.
fn mime_allowed(client: &Client, source: &impl Resource, mime: &str) -> bool {
    let Some(d) = client.get_data::<ClientState>() else {
        return true;
    };
    let allowed = mime.len() <= MAX_MIME_BYTES && d.limits.add_mime_type(source.id());
    if !allowed {
        tracing::debug!(source = %source.id(), "MIME type ignored: over the per-source limit");
    }
    allowed
}

impl Dispatch<WlDataSource, DataSourceUserData> for State {
    fn request(
        state: &mut Self,
        client: &Client,
        resource: &WlDataSource,
        request: wl_data_source::Request,
        data: &DataSourceUserData,
        dh: &DisplayHandle,
        data_init: &mut DataInit<'_, Self>,
    ) {
        match &request {
            wl_data_source::Request::Offer { mime_type }
                if !mime_allowed(client, resource, mime_type) =>
            {
                return;
            }
            wl_data_source::Request::Destroy => {
                if let Some(d) = client.get_data::<ClientState>() {
                    d.limits.source_gone(&resource.id());
                }
            }
            _ => {}
        }
        <DataDeviceState as Dispatch<WlDataSource, DataSourceUserData, Self>>::request(
            state, client, resource, request, data, dh, data_init,
        )
    }

    fn destroyed(
        state: &mut Self,
        client: smithay::reexports::wayland_server::backend::ClientId,
        resource: &WlDataSource,
        data: &DataSourceUserData,
    ) {
        <DataDeviceState as Dispatch<WlDataSource, DataSourceUserData, Self>>::destroyed(
            state, client, resource, data,
        )
    }
}

impl Dispatch<PrimarySource, PrimarySourceUserData> for State {
    fn request(
        state: &mut Self,
        client: &Client,
        resource: &PrimarySource,
        request: primary_source::Request,
        data: &PrimarySourceUserData,
        dh: &DisplayHandle,
        data_init: &mut DataInit<'_, Self>,
    ) {
        match &request {
            primary_source::Request::Offer { mime_type }
                if !mime_allowed(client, resource, mime_type) =>
            {
                return;
            }
            primary_source::Request::Destroy => {
                if let Some(d) = client.get_data::<ClientState>() {
                    d.limits.source_gone(&resource.id());
                }
            }
            _ => {}
        }
        <PrimarySelectionState as Dispatch<PrimarySource, PrimarySourceUserData, Self>>::request(
            state, client, resource, request, data, dh, data_init,
        )
    }

    fn destroyed(
        state: &mut Self,
        client: smithay::reexports::wayland_server::backend::ClientId,
        resource: &PrimarySource,
        data: &PrimarySourceUserData,
    ) {
        <PrimarySelectionState as Dispatch<PrimarySource, PrimarySourceUserData, Self>>::destroyed(
            state, client, resource, data,
        )
    }
}
