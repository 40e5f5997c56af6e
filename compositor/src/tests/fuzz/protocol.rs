//! The protocol XML of the offered globals (`compositor/fuzz/protocols/`),
//! parsed at test time into what the fuzzer needs: every interface, its
//! requests and events with their argument types, and enum values.
//!
//! The files are well-formed wayland-scanner input, so a small tag scanner
//! is enough: no XML dependency.

use std::collections::HashMap;
use std::path::Path;

/// The wire type of an argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Int,
    Uint,
    Fixed,
    String,
    Object,
    NewId,
    Array,
    Fd,
}

#[derive(Debug, Clone)]
pub struct Arg {
    pub name: String,
    pub kind: Kind,
    /// The interface of an object or new_id argument, when the XML names one.
    pub interface: Option<String>,
    pub nullable: bool,
    /// `enum="…"`: the enum's name, possibly `other_interface.name`.
    pub enumeration: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Message {
    pub name: String,
    pub since: u32,
    pub destructor: bool,
    pub args: Vec<Arg>,
}

#[derive(Debug, Clone)]
pub struct Interface {
    pub name: String,
    pub version: u32,
    pub requests: Vec<Message>,
    pub events: Vec<Message>,
    pub enums: HashMap<String, Vec<u32>>,
}

/// Every interface of every file, by name.
#[derive(Debug, Default)]
pub struct Protocols {
    pub interfaces: Vec<Interface>,
    by_name: HashMap<String, usize>,
}

impl Protocols {
    /// Parses every `*.xml` in `dir`.
    pub fn load(dir: &Path) -> Self {
        let mut paths: Vec<_> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "xml"))
            .collect();
        paths.sort();
        let mut protocols = Self::default();
        for path in paths {
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
            for interface in parse(&text) {
                protocols
                    .by_name
                    .insert(interface.name.clone(), protocols.interfaces.len());
                protocols.interfaces.push(interface);
            }
        }
        protocols
    }

    pub fn index(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    /// The values of `enumeration` as seen from `interface`.
    pub fn enum_values(&self, interface: usize, enumeration: &str) -> Option<&[u32]> {
        let (iface, name) = match enumeration.split_once('.') {
            Some((i, n)) => (self.index(i)?, n),
            None => (interface, enumeration),
        };
        self.interfaces[iface].enums.get(name).map(Vec::as_slice)
    }
}

/// One start or empty tag: its name, attributes, and whether it closes itself.
struct Tag<'a> {
    name: &'a str,
    attrs: Vec<(&'a str, &'a str)>,
    closing: bool,
    empty: bool,
}

impl Tag<'_> {
    fn attr(&self, key: &str) -> Option<&str> {
        self.attrs.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }
}

/// The tags of `text`, skipping comments, processing instructions and text.
fn tags(text: &str) -> Vec<Tag<'_>> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find('<') {
        rest = &rest[start..];
        if let Some(after) = rest.strip_prefix("<!--") {
            rest = after.find("-->").map_or("", |end| &after[end + 3..]);
            continue;
        }
        let Some(end) = rest.find('>') else { break };
        let inner = &rest[1..end];
        rest = &rest[end + 1..];
        if inner.starts_with('?') || inner.starts_with('!') {
            continue;
        }
        let closing = inner.starts_with('/');
        let empty = inner.ends_with('/');
        let inner = inner.trim_start_matches('/').trim_end_matches('/');
        let name_end = inner
            .find(|c: char| c.is_whitespace())
            .unwrap_or(inner.len());
        let mut attrs = Vec::new();
        let mut a = &inner[name_end..];
        while let Some(eq) = a.find('=') {
            let key = a[..eq].trim();
            let after = a[eq + 1..].trim_start();
            let quote = after.chars().next().unwrap_or('"');
            let body = &after[1..];
            let close = body.find(quote).unwrap_or(body.len());
            attrs.push((key, &body[..close]));
            a = body.get(close + 1..).unwrap_or("");
        }
        out.push(Tag {
            name: &inner[..name_end],
            attrs,
            closing,
            empty,
        });
    }
    out
}

fn parse_u32(s: &str) -> u32 {
    match s.strip_prefix("0x") {
        Some(hex) => u32::from_str_radix(hex, 16).unwrap_or(0),
        None => s.parse().unwrap_or(0),
    }
}

fn parse(text: &str) -> Vec<Interface> {
    let mut interfaces = Vec::new();
    let mut current: Option<Interface> = None;
    // (is_request, message) while inside <request> or <event>.
    let mut message: Option<(bool, Message)> = None;
    let mut enumeration: Option<String> = None;
    for tag in tags(text) {
        match (tag.name, tag.closing) {
            ("interface", false) => {
                current = Some(Interface {
                    name: tag.attr("name").unwrap_or_default().to_owned(),
                    version: tag.attr("version").map_or(1, parse_u32),
                    requests: Vec::new(),
                    events: Vec::new(),
                    enums: HashMap::new(),
                });
            }
            ("interface", true) => interfaces.extend(current.take()),
            ("request" | "event", false) => {
                let m = Message {
                    name: tag.attr("name").unwrap_or_default().to_owned(),
                    since: tag.attr("since").map_or(1, parse_u32),
                    destructor: tag.attr("type") == Some("destructor"),
                    args: Vec::new(),
                };
                if tag.empty {
                    push(&mut current, tag.name == "request", m);
                } else {
                    message = Some((tag.name == "request", m));
                }
            }
            ("request" | "event", true) => {
                if let Some((is_request, m)) = message.take() {
                    push(&mut current, is_request, m);
                }
            }
            ("arg", false) => {
                let kind = match tag.attr("type").unwrap_or_default() {
                    "int" => Kind::Int,
                    "uint" => Kind::Uint,
                    "fixed" => Kind::Fixed,
                    "string" => Kind::String,
                    "object" => Kind::Object,
                    "new_id" => Kind::NewId,
                    "array" => Kind::Array,
                    "fd" => Kind::Fd,
                    other => panic!("unknown argument type {other:?}"),
                };
                if let Some((_, m)) = &mut message {
                    m.args.push(Arg {
                        name: tag.attr("name").unwrap_or_default().to_owned(),
                        kind,
                        interface: tag.attr("interface").map(str::to_owned),
                        nullable: tag.attr("allow-null") == Some("true"),
                        enumeration: tag.attr("enum").map(str::to_owned),
                    });
                }
            }
            ("enum", false) => {
                let name = tag.attr("name").unwrap_or_default().to_owned();
                if let Some(i) = &mut current {
                    i.enums.insert(name.clone(), Vec::new());
                }
                enumeration = (!tag.empty).then_some(name);
            }
            ("enum", true) => enumeration = None,
            ("entry", false) => {
                if let (Some(i), Some(e)) = (&mut current, &enumeration) {
                    if let Some(values) = i.enums.get_mut(e) {
                        values.push(tag.attr("value").map_or(0, parse_u32));
                    }
                }
            }
            _ => {}
        }
    }
    interfaces
}

fn push(current: &mut Option<Interface>, is_request: bool, m: Message) {
    if let Some(i) = current {
        if is_request {
            i.requests.push(m);
        } else {
            i.events.push(m);
        }
    }
}

#[test]
fn the_offered_globals_are_all_described() {
    let p = Protocols::load(&super::protocols_dir());
    for (name, version) in crate::globals::OFFERED {
        let i = p
            .index(name)
            .unwrap_or_else(|| panic!("no XML for the offered global {name}"));
        assert!(p.interfaces[i].version >= *version, "{name}");
    }
    let display = &p.interfaces[p.index("wl_display").unwrap()];
    assert_eq!(display.requests[0].name, "sync");
    assert_eq!(display.requests[1].args[0].kind, Kind::NewId);
    let shm = p.index("wl_shm").unwrap();
    assert!(p.enum_values(shm, "format").unwrap().contains(&0));
    let registry = &p.interfaces[p.index("wl_registry").unwrap()];
    assert_eq!(registry.events[0].args.len(), 3);
}
