//! The `teardown` phase of `wsbox run`, in an order that matters: the
//! event loop's sources go first (the Wayland socket unlinks its own path
//! while the runtime directory is still this sandbox's), then wsbox empties
//! the directory, then the broker removes it, which the confined wsbox may
//! not; pid 1 is waited for while the kernel takes the sandbox apart, and
//! the exit status is decided last. Nothing here may change that order.

use anyhow::{Context, Result};
use wsbox_sandbox::Outcome;

use crate::exit::{EXIT_TIMEOUT, EXIT_WSBOX_ERROR};
use crate::run::serve::Ended;
use crate::run::state::RuntimeDir;

/// Ends everything `wsbox run` started and returns its exit status.
pub fn teardown(ended: Ended) -> Result<i32> {
    let mut run = ended.run;
    let outcome = run.outcome.take();
    let (timed_out, failure) = (run.timed_out, run.failure.take());
    let (process, ending) = (run.process.take(), run.ending);
    // Whether the app, in a display mode, ever showed a window on its own.
    let windowless = run
        .compositor
        .as_ref()
        .is_some_and(|c| c.windows_shown() == 0)
        && !run.stopping;
    let program_file = run.program_file.take();
    // The documents written back now, while the rest ends: the app has
    // ended (or is being stopped), and a request still running off the
    // loop may hold the helper.
    run.files.finish_documents();
    // The loop's sources first: the Wayland socket unlinks its path while
    // the directory is still this sandbox's. They live as long as any
    // handle of the loop does.
    drop(run);
    let RuntimeDir {
        event_loop,
        handle,
        instance,
        broker,
        cgroup,
    } = ended.runtime;
    let name = instance.name();
    drop(event_loop);
    drop(handle);
    // Then the runtime directory emptied, so that the broker can remove it
    // while wsbox ends the rest.
    drop(instance);
    broker.finish();
    // Read only for an app that showed nothing, from the file opened
    // before wsbox confined itself.
    let x11 = windowless && program_file.is_some_and(super::hints::links_x11);
    drop(ended.prepared);
    drop(ended.user_net);
    // pid 1 exits right after the app, and the kernel's teardown of the
    // sandbox ran beside the cleanup above; the broker's removal of the
    // directory and its exit run beside this wait.
    let outcome = match (outcome, process) {
        (Some(outcome), _) => Some(outcome),
        (None, Some(mut process)) if ending => Some(
            process
                .wait_ended()
                .context("failed to wait for the sandbox")?,
        ),
        (None, _) => None,
    };
    // Last: the broker has removed the directory and exited.
    drop(broker);
    // pid 1 is gone, and everything in the sandbox with it: the cgroup's
    // OOM count is final, and the cgroup is removed as it drops here.
    if let (Some(mut cgroup), Some(outcome)) = (cgroup, outcome.as_ref()) {
        let kills = cgroup.oom_kills();
        // 137: the app itself ended by SIGKILL (wsbox's own stop says so
        // otherwise, and kills no process by OOM).
        if kills > 0 && outcome.code == 137 {
            eprintln!("wsbox: sandbox {name}: out of memory, app killed");
        } else if kills > 0 {
            eprintln!(
                "wsbox: sandbox {name}: out of memory; the kernel killed {kills} of its processes, the app went on"
            );
        }
    }
    if windowless && x11 {
        hint_at_x11(outcome.as_ref());
    }
    let status = exit_status(outcome, timed_out, failure);
    // Last, the relay process and the accessibility helper: nothing above
    // needs them gone.
    drop(ended.relays);
    drop(ended.a11y);
    drop(ended.audio);
    Ok(status)
}

/// An X11 program (it links libX11 or libxcb) that failed on its own
/// without ever showing a window was most likely looking for its display:
/// one line says that wsbox gives it none unless asked. Factual only:
/// DISPLAY is not set inside without `--x11`.
fn hint_at_x11(outcome: Option<&Outcome>) {
    let Some(outcome) = outcome else {
        return;
    };
    if outcome.failure.is_none() && (1..EXIT_WSBOX_ERROR).contains(&outcome.code) {
        eprintln!(
            "wsbox: the app, an X11 program, exited with status {} without showing a window: \
             DISPLAY is not set inside; X11 programs need --x11 (or the policy's [display] x11 = \
             true), which starts an Xwayland of the sandbox's own",
            outcome.code
        );
    }
}

/// The exit status for how the sandbox ended, its failure reported: 124
/// after `--timeout` however the app ended (the contract CI relies on);
/// else the app's own, which tells a clean exit (its status) from one
/// wsbox forced (143 after SIGTERM, 137 after SIGKILL).
fn exit_status(outcome: Option<Outcome>, timed_out: bool, failure: Option<String>) -> i32 {
    if let Some(outcome) = &outcome {
        if let Some(failure) = &outcome.failure {
            // The sandbox could not be set up: when the kernel's settings
            // restrict user namespaces (AppArmor's, say, lets the clone
            // through and refuses what comes after), they are the reason.
            let restricted = (outcome.code == EXIT_WSBOX_ERROR)
                .then(wsbox_sandbox::namespaces::check_user_namespaces)
                .and_then(Result::err);
            match restricted {
                Some(reason) => eprintln!("wsbox: {failure} ({reason})"),
                None => eprintln!("wsbox: {failure}"),
            }
        }
    }
    if let Some(failure) = failure {
        eprintln!("wsbox: {failure}");
        return EXIT_WSBOX_ERROR;
    }
    match outcome {
        Some(_) if timed_out => EXIT_TIMEOUT,
        Some(outcome) => outcome.code,
        None => EXIT_WSBOX_ERROR,
    }
}
