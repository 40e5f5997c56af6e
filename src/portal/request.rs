//! A file-chooser request as wsbox keeps and shows it: what the app asked
//! for, read from its options (`a{sv}`) leniently but bounded. Everything
//! here comes from the app: strings are cut to a length, lists to a count,
//! and `current_folder` is only ever a hint shown to the user.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use zbus::zvariant::{OwnedValue, Value};

/// What the app asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// OpenFile: files (or, with `directory`, one directory) to read.
    Open,
    /// SaveFile: one path to write.
    Save,
    /// SaveFiles: a directory to write the app's named files into.
    SaveFiles,
}

impl Kind {
    /// Its name in `wsbox requests`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Open => "open",
            Kind::Save => "save",
            Kind::SaveFiles => "save-files",
        }
    }
}

/// One filter of the dialog: a name and its patterns (`*.txt`) and MIME
/// types (`text/plain`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filter {
    /// What the dialog shows for it.
    pub name: String,
    /// Shell patterns of file names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub patterns: Vec<String>,
    /// MIME types.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mime_types: Vec<String>,
}

/// A pending request, as `wsbox requests` lists it and the host dialog is
/// asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    /// Its number in this sandbox, for `wsbox choose NAME ID`.
    pub id: u32,
    /// Open, save, or save several.
    pub kind: Kind,
    /// The dialog's title, as the app gave it.
    pub title: String,
    /// OpenFile: several files may be chosen.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub multiple: bool,
    /// OpenFile asks for a directory.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub directory: bool,
    /// The filters the app offers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filters: Vec<Filter>,
    /// The filter the app selects first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_filter: Option<Filter>,
    /// SaveFile: the name the app suggests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_name: Option<String>,
    /// Where the app would start the dialog: a hint only, never a grant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_folder: Option<String>,
    /// SaveFiles: the names of the files the app will write.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
    /// The label of the dialog's accept button.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accept_label: Option<String>,
    /// The dialog should be modal to the app's window.
    pub modal: bool,
    /// Whether an opened file becomes read-write (the policy's
    /// `portal.open`), so that `wsbox choose` opens it for writing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub writable: bool,
}

/// The longest string kept from the app (titles, names, patterns).
const TEXT_MAX: usize = 256;
/// The most filters, patterns per filter, and names kept.
const LIST_MAX: usize = 32;

/// An option of the wrong type: the call fails with InvalidArgs.
#[derive(Debug, PartialEq)]
pub struct BadOption(pub String);

impl std::fmt::Display for BadOption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "option {} has the wrong type", self.0)
    }
}

/// Cuts `text` to [`TEXT_MAX`] bytes on a character boundary, without
/// control characters (a title is shown to the user).
fn clean(text: &str) -> String {
    let out: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    crate::util::cut_bytes(out, TEXT_MAX)
}

/// A NUL-terminated byte string (`ay`), as a lossy path text.
fn bytes_text(value: &Value<'_>) -> Option<String> {
    let Value::Array(array) = value else {
        return None;
    };
    let mut bytes = Vec::new();
    for item in array.iter() {
        match item {
            Value::U8(b) => bytes.push(*b),
            _ => return None,
        }
    }
    if bytes.last() == Some(&0) {
        bytes.pop();
    }
    Some(clean(&String::from_utf8_lossy(&bytes)))
}

/// One `(sa(us))` filter.
fn filter(value: &Value<'_>) -> Option<Filter> {
    let Value::Structure(s) = value else {
        return None;
    };
    let [Value::Str(name), Value::Array(rules)] = s.fields() else {
        return None;
    };
    let mut f = Filter {
        name: clean(name),
        patterns: Vec::new(),
        mime_types: Vec::new(),
    };
    for rule in rules.iter().take(LIST_MAX) {
        let Value::Structure(rule) = rule else {
            return None;
        };
        let [Value::U32(kind), Value::Str(text)] = rule.fields() else {
            return None;
        };
        match kind {
            0 => f.patterns.push(clean(text)),
            1 => f.mime_types.push(clean(text)),
            _ => {}
        }
    }
    Some(f)
}

/// Reads a request's options. Unknown options are ignored, as the desktop
/// portal does; a known one of the wrong type is refused.
pub fn parse(
    id: u32,
    kind: Kind,
    title: &str,
    options: &HashMap<String, OwnedValue>,
    writable: bool,
) -> Result<Pending, BadOption> {
    let bad = |name: &str| BadOption(name.to_owned());
    let get = |name: &str| options.get(name).map(|v| &**v);
    let flag = |name: &str, default: bool| match get(name) {
        None => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(bad(name)),
    };
    let text = |name: &str| match get(name) {
        None => Ok(None),
        Some(Value::Str(s)) => Ok(Some(clean(s))),
        Some(_) => Err(bad(name)),
    };
    let mut pending = Pending {
        id,
        kind,
        title: clean(title),
        multiple: false,
        directory: false,
        filters: Vec::new(),
        current_filter: None,
        current_name: None,
        current_folder: None,
        files: Vec::new(),
        accept_label: text("accept_label")?,
        modal: flag("modal", true)?,
        writable,
    };
    if kind == Kind::Open {
        pending.multiple = flag("multiple", false)?;
        pending.directory = flag("directory", false)?;
    }
    if kind != Kind::SaveFiles {
        if let Some(value) = get("filters") {
            let Value::Array(list) = value else {
                return Err(bad("filters"));
            };
            for item in list.iter().take(LIST_MAX) {
                pending
                    .filters
                    .push(filter(item).ok_or_else(|| bad("filters"))?);
            }
        }
        if let Some(value) = get("current_filter") {
            pending.current_filter = Some(filter(value).ok_or_else(|| bad("current_filter"))?);
        }
    }
    if kind == Kind::Save {
        pending.current_name = text("current_name")?;
    }
    if kind != Kind::Open {
        if let Some(value) = get("current_folder") {
            pending.current_folder = Some(bytes_text(value).ok_or_else(|| bad("current_folder"))?);
        }
    }
    if kind == Kind::SaveFiles {
        if let Some(value) = get("files") {
            let Value::Array(list) = value else {
                return Err(bad("files"));
            };
            for item in list.iter().take(LIST_MAX) {
                let name = bytes_text(item).ok_or_else(|| bad("files"))?;
                pending.files.push(name);
            }
        }
    }
    Ok(pending)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned(value: Value<'_>) -> OwnedValue {
        OwnedValue::try_from(value).unwrap()
    }

    #[test]
    fn options_are_read_bounded_and_typed() {
        let mut options = HashMap::new();
        options.insert("multiple".into(), owned(Value::Bool(true)));
        options.insert("modal".into(), owned(Value::Bool(false)));
        let filters = vec![(
            "Text".to_owned(),
            vec![(0u32, "*.txt".to_owned()), (1, "text/plain".to_owned())],
        )];
        options.insert("filters".into(), owned(Value::from(filters)));
        options.insert("unknown".into(), owned(Value::U32(7)));
        let p = parse(3, Kind::Open, "Open\u{7}File", &options, true).unwrap();
        assert!(p.multiple && !p.modal && p.writable);
        assert_eq!(p.title, "Open File");
        assert_eq!(p.filters[0].patterns, ["*.txt"]);
        assert_eq!(p.filters[0].mime_types, ["text/plain"]);

        let mut options = HashMap::new();
        options.insert("multiple".into(), owned(Value::from("yes")));
        assert_eq!(
            parse(1, Kind::Open, "t", &options, true),
            Err(BadOption("multiple".into()))
        );
    }

    #[test]
    fn save_options_keep_the_name_and_the_folder_only_as_text() {
        let mut options = HashMap::new();
        options.insert("current_name".into(), owned(Value::from("notes.txt")));
        let folder: Vec<u8> = b"/root\0".to_vec();
        options.insert("current_folder".into(), owned(Value::from(folder)));
        options.insert("multiple".into(), owned(Value::Bool(true)));
        let p = parse(1, Kind::Save, &"x".repeat(1000), &options, false).unwrap();
        assert_eq!(p.current_name.as_deref(), Some("notes.txt"));
        assert_eq!(p.current_folder.as_deref(), Some("/root"));
        assert!(!p.multiple, "SaveFile has no multiple");
        assert_eq!(p.title.len(), TEXT_MAX);
    }
}
