//! `zwp_text_input_v3`'s requests, and the input method's text from
//! wsbox ([`crate::text_input`]).

use smithay::reexports::wayland_protocols::wp::text_input::zv3::server::{
    zwp_text_input_manager_v3::{self, ZwpTextInputManagerV3},
    zwp_text_input_v3::{self, ZwpTextInputV3},
};
use smithay::reexports::wayland_server::backend::ClientId;
use smithay::reexports::wayland_server::{
    Client, DataInit, Dispatch, DisplayHandle, GlobalDispatch, New, Resource,
};

use crate::state::State;
use crate::text_input::{Error, Instance, PER_CLIENT};

impl State {
    /// Shows `text` as the input method's composition (preedit) in the
    /// focused window, replacing the last one; empty clears it.
    pub fn ime_preedit(&mut self, text: &str) -> Result<(), Error> {
        if !self.core.config.input_method {
            return Err(Error::Off);
        }
        self.core.text_inputs.send(text, false)
    }

    /// Commits `text` into the focused window, as an input method does
    /// when the user accepts a composition.
    pub fn ime_commit(&mut self, text: &str) -> Result<(), Error> {
        if !self.core.config.input_method {
            return Err(Error::Off);
        }
        self.core.text_inputs.send(text, true)
    }
}

impl GlobalDispatch<ZwpTextInputManagerV3, ()> for State {
    fn bind(
        _state: &mut State,
        _dh: &DisplayHandle,
        _client: &Client,
        resource: New<ZwpTextInputManagerV3>,
        _data: &(),
        data_init: &mut DataInit<'_, State>,
    ) {
        data_init.init(resource, ());
    }
}

impl Dispatch<ZwpTextInputManagerV3, ()> for State {
    fn request(
        state: &mut State,
        client: &Client,
        _manager: &ZwpTextInputManagerV3,
        request: zwp_text_input_manager_v3::Request,
        _data: &(),
        _dh: &DisplayHandle,
        data_init: &mut DataInit<'_, State>,
    ) {
        if let zwp_text_input_manager_v3::Request::GetTextInput { id, .. } = request {
            let resource = data_init.init(id, ());
            let inputs = &mut state.core.text_inputs;
            if inputs.of_client(&client.id()) >= PER_CLIENT {
                resource.post_error(
                    0u32,
                    format!("wsbox: per-client limit: more than {PER_CLIENT} text inputs"),
                );
                return;
            }
            let mut instance = Instance {
                resource: resource.clone(),
                entered: None,
                enabled: false,
                pending_enable: None,
                commits: 0,
            };
            if let Some(focus) = inputs.focus.as_ref().filter(|f| f.is_alive()) {
                if resource.id().same_client_as(&focus.id()) {
                    resource.enter(focus);
                    instance.entered = Some(focus.clone());
                }
            }
            inputs.instances.push(instance);
        }
    }
}

impl Dispatch<ZwpTextInputV3, ()> for State {
    fn request(
        state: &mut State,
        _client: &Client,
        resource: &ZwpTextInputV3,
        request: zwp_text_input_v3::Request,
        _data: &(),
        _dh: &DisplayHandle,
        _data_init: &mut DataInit<'_, State>,
    ) {
        let inputs = &mut state.core.text_inputs;
        let Some(instance) = inputs
            .instances
            .iter_mut()
            .find(|i| i.resource == *resource)
        else {
            return;
        };
        match request {
            zwp_text_input_v3::Request::Enable => instance.pending_enable = Some(true),
            zwp_text_input_v3::Request::Disable => instance.pending_enable = Some(false),
            zwp_text_input_v3::Request::Commit => {
                instance.commits = instance.commits.wrapping_add(1);
                if let Some(enable) = instance.pending_enable.take() {
                    instance.enabled = enable && instance.entered.is_some();
                }
            }
            // Destroy: `destroyed` below forgets the instance. Surrounding
            // text, its change's cause, the content type and the cursor
            // rectangle: read, never used or passed on.
            _ => {}
        }
    }

    fn destroyed(state: &mut State, _client: ClientId, resource: &ZwpTextInputV3, _data: &()) {
        state
            .core
            .text_inputs
            .instances
            .retain(|i| i.resource != *resource);
    }
}
