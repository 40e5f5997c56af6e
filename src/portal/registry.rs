//! The pending file-chooser requests of one sandbox, shared between the
//! portal's D-Bus threads (which add and close them) and wsbox's event
//! loop (which lists and answers them). Bounded: at most
//! [`PENDING_MAX`] at a time, whoever asks.

use std::sync::{Mutex, MutexGuard};

use super::request::Pending;

/// The most requests waiting for the user at once, per sandbox. An app
/// that asks for more gets an error; one the user never answers holds a
/// place until the app closes it or leaves the bus.
pub const PENDING_MAX: usize = 4;

/// One waiting request.
#[derive(Debug, Clone)]
pub struct Entry {
    pub pending: Pending,
    /// The caller's unique name: the Response goes to it alone.
    pub sender: String,
    /// The request's object path, returned to the caller.
    pub path: String,
}

#[derive(Debug, Default)]
struct Inner {
    next_id: u32,
    entries: Vec<Entry>,
}

/// The pending requests.
#[derive(Debug, Default)]
pub struct Registry {
    inner: Mutex<Inner>,
}

/// Why a request was not taken.
#[derive(Debug, PartialEq)]
pub enum Refused {
    Full,
    /// The path is a request already (the token was used twice).
    Taken,
}

impl Registry {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere leaves plain data; carry on with it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds `pending` (its id is set here); its id.
    pub fn add(&self, sender: &str, path: &str, mut pending: Pending) -> Result<u32, Refused> {
        let mut inner = self.lock();
        if inner.entries.len() >= PENDING_MAX {
            return Err(Refused::Full);
        }
        if inner.entries.iter().any(|e| e.path == path) {
            return Err(Refused::Taken);
        }
        inner.next_id = inner.next_id.wrapping_add(1).max(1);
        let id = inner.next_id;
        pending.id = id;
        inner.entries.push(Entry {
            pending,
            sender: sender.to_owned(),
            path: path.to_owned(),
        });
        Ok(id)
    }

    /// The waiting requests, oldest first.
    pub fn list(&self) -> Vec<Pending> {
        self.lock()
            .entries
            .iter()
            .map(|e| e.pending.clone())
            .collect()
    }

    /// The request `id`, if it still waits.
    pub fn get(&self, id: u32) -> Option<Entry> {
        self.lock()
            .entries
            .iter()
            .find(|e| e.pending.id == id)
            .cloned()
    }

    /// Takes the request `id` out: it is being answered.
    pub fn take(&self, id: u32) -> Option<Entry> {
        let mut inner = self.lock();
        let at = inner.entries.iter().position(|e| e.pending.id == id)?;
        Some(inner.entries.remove(at))
    }

    /// Takes the request at `path` out if `sender` made it: Err(true) when
    /// it is someone else's, Err(false) when there is none.
    pub fn close(&self, path: &str, sender: &str) -> Result<Entry, bool> {
        let mut inner = self.lock();
        let at = inner
            .entries
            .iter()
            .position(|e| e.path == path)
            .ok_or(false)?;
        if inner.entries[at].sender != sender {
            return Err(true);
        }
        Ok(inner.entries.remove(at))
    }

    /// Takes out every request of `sender`, which left the bus.
    pub fn drop_sender(&self, sender: &str) -> Vec<Entry> {
        let mut inner = self.lock();
        let (gone, kept) = std::mem::take(&mut inner.entries)
            .into_iter()
            .partition(|e| e.sender == sender);
        inner.entries = kept;
        gone
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::portal::request::Kind;

    fn pending(id: u32) -> Pending {
        Pending {
            id,
            kind: Kind::Open,
            title: "t".into(),
            multiple: false,
            directory: false,
            filters: Vec::new(),
            current_filter: None,
            current_name: None,
            current_folder: None,
            files: Vec::new(),
            accept_label: None,
            modal: true,
            writable: true,
        }
    }

    #[test]
    fn requests_are_bounded_and_closed_only_by_their_caller() {
        let r = Registry::default();
        for i in 0..PENDING_MAX {
            r.add(":1.5", &format!("/r/{i}"), pending(0)).unwrap();
        }
        assert_eq!(r.add(":1.5", "/r/x", pending(0)), Err(Refused::Full));
        assert_eq!(r.close("/r/0", ":1.6").map(|_| ()), Err(true));
        assert_eq!(r.close("/r/none", ":1.5").map(|_| ()), Err(false));
        let closed = r.close("/r/0", ":1.5").unwrap();
        assert_eq!(closed.pending.id, 1);
        assert_eq!(r.add(":1.5", "/r/1", pending(0)), Err(Refused::Taken));
        let id = r.add(":1.7", "/r/7", pending(0)).unwrap();
        assert_eq!(r.get(id).unwrap().sender, ":1.7");
        assert_eq!(r.drop_sender(":1.5").len(), PENDING_MAX - 1);
        assert_eq!(r.list().len(), 1);
        assert!(r.take(id).is_some() && r.take(id).is_none());
    }
}
