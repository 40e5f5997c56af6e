//! `wsbox desktop`: launchers that start a program confined. `install`
//! writes a `.desktop` file to `$XDG_DATA_HOME/applications` (default
//! `~/.local/share/applications`) whose `Exec` is `wsbox run --profile
//! PROFILE -- PROGRAM %U`, with the program's own name, icon and MIME types
//! taken from its installed `.desktop` file: the menu, and "Open with" in a
//! file manager, then start it confined, and the file it is given is
//! granted as file arguments are. `--replace` writes the launcher under the
//! program's own desktop file name instead, which shadows it (the user's
//! applications directory comes first). `list` and `remove` find wsbox's
//! launchers by their `X-Wsbox-Profile` key.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Serialize;

/// The key that marks a launcher as wsbox's.
const PROFILE_KEY: &str = "X-Wsbox-Profile";
const PROGRAM_KEY: &str = "X-Wsbox-Program";

/// One launcher of wsbox's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Launcher {
    pub profile: String,
    pub program: String,
    pub file: PathBuf,
}

/// `$XDG_DATA_HOME/applications`, or `~/.local/share/applications`.
fn user_dir() -> Result<PathBuf> {
    if let Some(data) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(data).join("applications"));
    }
    let home = std::env::var_os("HOME").context("HOME is not set")?;
    Ok(PathBuf::from(home).join(".local/share/applications"))
}

/// The system's applications directories, most important first.
fn system_dirs() -> Vec<PathBuf> {
    let dirs = std::env::var("XDG_DATA_DIRS")
        .ok()
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| "/usr/local/share:/usr/share".into());
    dirs.split(':')
        .filter(|d| d.starts_with('/'))
        .map(|d| Path::new(d).join("applications"))
        .collect()
}

/// The `[Desktop Entry]` group of a desktop file: (key, value) in order.
fn entry(text: &str) -> Vec<(String, String)> {
    let mut inside = false;
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim_end();
        if line.starts_with('[') {
            inside = line == "[Desktop Entry]";
            continue;
        }
        if !inside || line.starts_with('#') {
            continue;
        }
        if let Some((key, value)) = line.split_once('=') {
            out.push((key.trim().to_owned(), value.trim().to_owned()));
        }
    }
    out
}

fn get<'a>(entry: &'a [(String, String)], key: &str) -> Option<&'a str> {
    entry
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// The program an `Exec` line runs (its first word's file name).
fn exec_program(exec: &str) -> Option<&str> {
    let first = exec.split_whitespace().next()?.trim_matches('"');
    Path::new(first).file_name()?.to_str()
}

/// The program's installed desktop file: (its file name, its entry).
fn find_program(program: &str) -> Result<(String, Vec<(String, String)>)> {
    for dir in system_dirs() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut names: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "desktop"))
            .collect();
        names.sort();
        for path in names {
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            let entry = entry(&text);
            let runs = get(&entry, "Exec").and_then(exec_program) == Some(program);
            let app = get(&entry, "Type") == Some("Application");
            let hidden = get(&entry, "Hidden") == Some("true");
            if runs && app && !hidden {
                let name = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .context("a desktop file name that is not UTF-8")?
                    .to_owned();
                return Ok((name, entry));
            }
        }
    }
    bail!(
        "no installed desktop file runs {program} (looked in {})",
        system_dirs()
            .iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// A name a launcher may carry: a profile's or a program's.
fn check_word(what: &str, word: &str) -> Result<()> {
    let ok = !word.is_empty()
        && word.len() <= 64
        && !word.starts_with('.')
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !ok {
        bail!("invalid {what} {word:?}: 1 to 64 letters, digits, '.', '_' and '-'");
    }
    Ok(())
}

/// The launcher's text.
fn launcher(
    wsbox: &Path,
    profile: &str,
    program: &str,
    own: &[(String, String)],
) -> Result<String> {
    let wsbox = wsbox
        .to_str()
        .filter(|w| !w.contains(char::is_whitespace))
        .context("wsbox's path has spaces or is not UTF-8; install it elsewhere")?;
    let name = get(own, "Name").unwrap_or(program);
    // The program's own field code: how it takes files (%U, %F, %u, %f).
    let code = get(own, "Exec")
        .and_then(|exec| {
            exec.split_whitespace()
                .find(|w| matches!(*w, "%U" | "%u" | "%F" | "%f"))
        })
        .unwrap_or("");
    let mut text = format!(
        "[Desktop Entry]\nType=Application\nName={name} (sandboxed)\n\
         Exec={wsbox} run --profile {profile} -- {program} {code}\n"
    );
    for key in [
        "GenericName",
        "Comment",
        "Icon",
        "MimeType",
        "Categories",
        "Keywords",
    ] {
        if let Some(value) = get(own, key) {
            text.push_str(&format!("{key}={value}\n"));
        }
    }
    text.push_str(&format!(
        "Terminal=false\nStartupNotify=false\n{PROFILE_KEY}={profile}\n{PROGRAM_KEY}={program}\n"
    ));
    Ok(text.replace(" \n", "\n"))
}

/// `wsbox desktop install`: writes the launcher and returns its path.
pub fn install(profile: &str, program: &str, replace: bool) -> Result<PathBuf> {
    check_word("profile", profile)?;
    check_word("program", program)?;
    // The profile must exist: a launcher that cannot start is no use.
    wsbox_policies::Policy::builtin(profile)?;
    let (own_name, own) = find_program(program)?;
    let wsbox = std::env::current_exe().context("cannot tell where wsbox is")?;
    let text = launcher(&wsbox, profile, program, &own)?;
    let dir = user_dir()?;
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let name = if replace {
        own_name
    } else {
        format!("wsbox-{profile}-{program}.desktop")
    };
    let path = dir.join(name);
    if let Ok(existing) = std::fs::read_to_string(&path) {
        if get(&entry(&existing), PROFILE_KEY).is_none() {
            bail!(
                "{} exists and is not wsbox's: move it away first",
                path.display()
            );
        }
    }
    write_atomically(&path, text.as_bytes())?;
    Ok(path)
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("desktop.tmp");
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

/// `wsbox desktop list`: wsbox's launchers in the user's directory.
pub fn list() -> Result<Vec<Launcher>> {
    let dir = user_dir()?;
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for path in entries.flatten().map(|e| e.path()) {
        if path.extension().is_none_or(|x| x != "desktop") {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let entry = entry(&text);
        if let (Some(profile), Some(program)) = (get(&entry, PROFILE_KEY), get(&entry, PROGRAM_KEY))
        {
            out.push(Launcher {
                profile: profile.to_owned(),
                program: program.to_owned(),
                file: path,
            });
        }
    }
    out.sort_by(|a, b| (&a.profile, &a.program).cmp(&(&b.profile, &b.program)));
    Ok(out)
}

/// `wsbox desktop remove`: removes wsbox's launchers of `profile` (and
/// `program`, when given); returns their paths. None is an error.
pub fn remove(profile: &str, program: Option<&str>) -> Result<Vec<PathBuf>> {
    let gone: Vec<Launcher> = list()?
        .into_iter()
        .filter(|l| l.profile == profile && program.is_none_or(|p| l.program == p))
        .collect();
    if gone.is_empty() {
        bail!(
            "no launcher of wsbox's for profile {profile}{} (see wsbox desktop list)",
            program.map(|p| format!(" and {p}")).unwrap_or_default()
        );
    }
    for l in &gone {
        std::fs::remove_file(&l.file)
            .with_context(|| format!("cannot remove {}", l.file.display()))?;
    }
    Ok(gone.into_iter().map(|l| l.file).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVINCE: &str = "[Desktop Entry]\nName=Document Viewer\nName[de]=Dokumentenbetrachter\n\
        Comment=View documents\nExec=evince %U\nIcon=org.gnome.Evince\nType=Application\n\
        MimeType=application/pdf;image/tiff;\nCategories=GNOME;Office;Viewer;\n\n\
        [Desktop Action new-window]\nName=New Window\nExec=evince --new-window\n";

    #[test]
    fn only_the_main_group_counts() {
        let e = entry(EVINCE);
        assert_eq!(get(&e, "Exec"), Some("evince %U"));
        assert_eq!(get(&e, "Name"), Some("Document Viewer"));
        assert_eq!(exec_program("/usr/bin/evince %U"), Some("evince"));
    }

    #[test]
    fn the_launcher_runs_the_program_confined_with_its_field_code() {
        let text = launcher(
            Path::new("/usr/bin/wsbox"),
            "default",
            "evince",
            &entry(EVINCE),
        )
        .unwrap();
        assert_eq!(
            text,
            "[Desktop Entry]\nType=Application\nName=Document Viewer (sandboxed)\n\
             Exec=/usr/bin/wsbox run --profile default -- evince %U\nComment=View documents\n\
             Icon=org.gnome.Evince\nMimeType=application/pdf;image/tiff;\n\
             Categories=GNOME;Office;Viewer;\nTerminal=false\nStartupNotify=false\n\
             X-Wsbox-Profile=default\nX-Wsbox-Program=evince\n"
        );
        assert!(launcher(Path::new("/opt/my apps/wsbox"), "default", "evince", &[]).is_err());
    }

    #[test]
    fn names_are_words() {
        for bad in ["", ".x", "a b", "a/b", "a;b", "x\ny"] {
            assert!(check_word("program", bad).is_err(), "{bad:?}");
        }
        check_word("program", "gnome-text-editor").unwrap();
    }
}
