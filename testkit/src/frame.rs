//! What wsbox draws, as the tests check it on screenshots: the policy
//! colour of its frame, its background, and the frame's sizes in a host
//! window (compositor/src/marking.rs) and on the headless output.

use crate::image::{near, Image};

/// The default policy colour of wsbox's frame, #e66100.
pub const POLICY_COLOUR: [u8; 3] = [0xe6, 0x61, 0x00];
/// The frame while it confirms a clipboard transfer: halfway to white.
pub const FLASH_COLOUR: [u8; 3] = [0xf2, 0xb0, 0x7f];
/// wsbox's background where no window is (render.rs BACKGROUND,
/// 0.12/0.12/0.14 of 255).
pub const BACKGROUND: [u8; 3] = [30, 30, 35];

/// wsbox's border around the host window, logical pixels.
pub const HOST_BORDER: i64 = 4;
/// wsbox's title bar in the host window.
pub const HOST_TITLE_HEIGHT: i64 = 28;
/// wsbox's strip above the output when the host draws the title bar.
pub const HOST_STRIP_HEIGHT: i64 = 16;
/// wsbox's close button in the host window: this wide and high, a border's
/// width left of the right border, centred in the title bar.
pub const HOST_CLOSE_SIZE: i64 = 20;

/// wsbox's title bar around a window on the headless output, at scale 1.
pub const TITLE_HEIGHT: i64 = 24;
/// wsbox's border around a window on the headless output.
pub const BORDER: i64 = 2;

/// What is wrong with wsbox's frame around the host window at `rect` (x0,
/// y0, x1, y1) of `shot`, if anything: its border all around and the top
/// of its title bar in the policy colour.
pub fn check_host_frame(shot: &Image, rect: [i64; 4]) -> Result<(), String> {
    let [x0, y0, x1, y1] = rect;
    let frame = |x: i64, y: i64, what: &str| -> Result<(), String> {
        let px = shot.at(x, y);
        if near(px, POLICY_COLOUR) {
            Ok(())
        } else {
            Err(format!(
                "{what} at {x},{y} is {px:?}, not the policy colour"
            ))
        }
    };
    for y in (y0..y1).step_by(7) {
        for dx in 0..HOST_BORDER {
            frame(x0 + dx, y, "the left border")?;
            frame(x1 - 1 - dx, y, "the right border")?;
        }
    }
    for x in (x0..x1).step_by(7) {
        for dy in 0..HOST_BORDER {
            frame(x, y1 - 1 - dy, "the bottom border")?;
        }
        frame(x, y0, "the top of the title bar")?;
    }
    Ok(())
}

/// The centre of wsbox's close button in the host window at `rect` (x0,
/// y0, x1, y1 on the screen): where a user clicks to close it.
pub fn host_close_button(rect: [i64; 4]) -> (i64, i64) {
    let [_, y0, x1, _] = rect;
    (
        x1 - HOST_BORDER - 4 - HOST_CLOSE_SIZE / 2,
        y0 + HOST_TITLE_HEIGHT / 2,
    )
}
