//! The plan builder's tests: what each kind of host and spec gets, and the
//! order the steps must run in.

use std::path::Path;

use wsbox_policies::Requirement;

use super::*;
use crate::network::NetSpec;

fn spec() -> Spec {
    Spec {
        argv: vec!["/bin/true".into()],
        hostname: "sandbox".into(),
        machine_id: random_machine_id([7; 16]),
        binds: vec![],
        sys: false,
        env: vec![],
        landlock: Requirement::Required,
        nested_userns: false,
        host_ids: HostIds::for_caller(1000, 1000),
        home: None,
        net: NetSpec::default(),
        boot_id: random_boot_id([9; 16]),
        resolv_conf: None,
        documents: Vec::new(),
        files: Vec::new(),
        services: Vec::new(),
        tmpfs_size: 1 << 30,
        rlimits: Rlimits {
            files: 8192,
            tasks: None,
        },
        cgroup_join: Vec::new(),
    }
}

fn merged() -> HostLayout {
    let mut host = HostLayout::default();
    for name in ["bin", "sbin", "lib", "lib64"] {
        host.system_dirs
            .insert(name.into(), Some(PathBuf::from(format!("usr/{name}"))));
    }
    host.etc.insert("ld.so.cache".into(), EtcEntry::File);
    host.etc.insert("fonts".into(), EtcEntry::Dir);
    host.etc.insert(
        "localtime".into(),
        EtcEntry::Symlink("/usr/share/zoneinfo/Etc/UTC".into()),
    );
    host
}

fn index(plan: &Plan, pred: impl Fn(&MountStep) -> bool) -> usize {
    plan.mounts
        .iter()
        .position(pred)
        .unwrap_or_else(|| panic!("step missing from {:#?}", plan.mounts))
}

fn targets(plan: &Plan) -> Vec<PathBuf> {
    plan.mounts
        .iter()
        .filter_map(|s| match s {
            MountStep::Bind { target, .. } => Some(target.clone()),
            MountStep::Symlink { link, .. } => Some(link.clone()),
            MountStep::File { path, .. } => Some(path.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn merged_usr_gets_symlinks_not_binds() {
    let plan = Plan::new(&spec(), &merged());
    assert!(plan.mounts.contains(&symlink("usr/bin", "/bin")));
    assert!(plan.mounts.contains(&symlink("usr/lib64", "/lib64")));
    assert!(plan.mounts.contains(&ro_bind("/usr", "/usr")));
}

#[test]
fn split_usr_gets_read_only_binds() {
    let mut host = merged();
    host.system_dirs.insert("bin".into(), None);
    host.system_dirs.remove("lib64");
    let plan = Plan::new(&spec(), &host);
    assert!(plan.mounts.contains(&ro_bind("/bin", "/bin")));
    assert!(!targets(&plan).contains(&PathBuf::from("/lib64")));
}

#[test]
fn etc_holds_only_the_allowlist_and_generated_files() {
    let plan = Plan::new(&spec(), &merged());
    let etc: Vec<_> = targets(&plan)
        .into_iter()
        .filter(|p| p.starts_with("/etc"))
        .collect();
    for forbidden in [
        "shadow",
        "gshadow",
        "ssh",
        "NetworkManager",
        "sudoers",
        "subuid",
    ] {
        assert!(!etc.contains(&PathBuf::from("/etc").join(forbidden)));
        assert!(!ETC_ALLOWLIST.contains(&forbidden));
    }
    for generated in ["passwd", "group", "hostname", "hosts", "machine-id"] {
        let path = PathBuf::from("/etc").join(generated);
        assert!(
            plan.mounts
                .iter()
                .any(|s| matches!(s, MountStep::File { path: p, .. } if *p == path)),
            "{generated} not generated"
        );
        assert!(
            !ETC_ALLOWLIST.contains(&generated),
            "{generated} is bound from the host"
        );
    }
    assert!(plan
        .mounts
        .contains(&ro_bind("/etc/ld.so.cache", "/etc/ld.so.cache")));
    assert!(plan
        .mounts
        .contains(&symlink("/usr/share/zoneinfo/Etc/UTC", "/etc/localtime")));
}

#[test]
fn generated_identity_is_the_sandbox_s() {
    let plan = Plan::new(&spec(), &merged());
    let contents = |name: &str| {
        plan.mounts
            .iter()
            .find_map(|s| match s {
                MountStep::File { path, contents, .. } if path.ends_with(name) => {
                    Some(String::from_utf8_lossy(contents).into_owned())
                }
                _ => None,
            })
            .unwrap()
    };
    assert_eq!(contents("hostname"), "sandbox\n");
    assert_eq!(contents("machine-id"), format!("{}\n", "07".repeat(16)));
    let passwd = contents("passwd");
    assert!(passwd.contains("user:x:1000:1000:user:/home/user:/bin/sh"));
    assert_eq!(passwd.lines().count(), 3);
}

#[test]
fn proc_is_masked_after_it_is_mounted_and_sys_made_read_only() {
    let plan = Plan::new(&spec(), &merged());
    let proc_at = index(&plan, |s| matches!(s, MountStep::Proc { .. }));
    let ro = index(
        &plan,
        |s| matches!(s, MountStep::ReadOnly { path } if path == Path::new("/proc/sys")),
    );
    let kcore = index(
        &plan,
        |s| matches!(s, MountStep::MaskFile { path } if path == Path::new("/proc/kcore")),
    );
    assert!(proc_at < ro && ro < kcore);
    for masked in ["/proc/keys", "/proc/timer_list", "/proc/sysrq-trigger"] {
        assert!(plan.mounts.contains(&MountStep::MaskFile {
            path: masked.into()
        }));
    }
}

#[test]
fn dev_is_minimal() {
    let plan = Plan::new(&spec(), &merged());
    let devices: Vec<_> = plan
        .mounts
        .iter()
        .filter_map(|s| match s {
            MountStep::Bind {
                target,
                device: true,
                ..
            } => Some(target.clone()),
            _ => None,
        })
        .collect();
    let expected: Vec<PathBuf> = DEVICES.iter().map(|d| Path::new("/dev").join(d)).collect();
    assert_eq!(devices, expected);
    let dev_tmpfs = index(
        &plan,
        |s| matches!(s, MountStep::Tmpfs { target, .. } if target == Path::new("/dev")),
    );
    let first_device = index(&plan, |s| matches!(s, MountStep::Bind { device: true, .. }));
    assert!(dev_tmpfs < first_device);
    assert!(plan.mounts.contains(&symlink("pts/ptmx", "/dev/ptmx")));
    let sealed = index(
        &plan,
        |s| matches!(s, MountStep::Seal { path } if path == Path::new("/dev")),
    );
    let last_dev = plan
        .mounts
        .iter()
        .rposition(|s| match s {
            MountStep::Bind { target: p, .. }
            | MountStep::Tmpfs { target: p, .. }
            | MountStep::Symlink { link: p, .. }
            | MountStep::Devpts { target: p }
            | MountStep::Dir { path: p, .. } => p.starts_with("/dev"),
            _ => false,
        })
        .unwrap();
    assert!(last_dev < sealed, "/dev sealed before it is complete");
}

#[test]
fn only_device_binds_allow_devices_and_only_grants_are_writable() {
    let mut s = spec();
    s.binds.push(BindSpec {
        host: "/srv/data".into(),
        target: "/data".into(),
        writable: true,
        special: false,
    });
    s.binds.push(BindSpec {
        host: "/srv/ro".into(),
        target: "/ro".into(),
        writable: false,
        special: false,
    });
    let plan = Plan::new(&s, &merged());
    for step in &plan.mounts {
        if let MountStep::Bind {
            target,
            writable,
            device,
            ..
        } = step
        {
            if *device {
                assert!(target.starts_with("/dev"));
            } else {
                assert_eq!(
                    *writable,
                    target == Path::new("/data"),
                    "{} writable={writable}",
                    target.display()
                );
            }
        }
    }
    assert!(plan.writable.contains(&PathBuf::from("/data")));
    assert!(!plan.writable.contains(&PathBuf::from("/ro")));
    assert!(!plan
        .writable
        .iter()
        .any(|p| p.starts_with("/usr") || p.starts_with("/etc")));
}

#[test]
fn user_binds_come_after_the_system_tree() {
    let mut s = spec();
    s.binds.push(BindSpec {
        host: "/srv/a".into(),
        target: "/home/user/a".into(),
        writable: false,
        special: false,
    });
    let plan = Plan::new(&s, &merged());
    let home = index(
        &plan,
        |s| matches!(s, MountStep::Scratch { target, .. } if target == Path::new(SANDBOX_HOME)),
    );
    let bind = index(
        &plan,
        |s| matches!(s, MountStep::Bind { target, .. } if target == Path::new("/home/user/a")),
    );
    assert!(home < bind);
}

#[test]
fn boot_id_is_covered_after_proc_sys_is_read_only() {
    let plan = Plan::new(&spec(), &merged());
    let ro = index(
        &plan,
        |s| matches!(s, MountStep::ReadOnly { path } if path == Path::new("/proc/sys")),
    );
    let cover = index(
        &plan,
        |s| matches!(s, MountStep::Cover { path, .. } if path == Path::new(BOOT_ID)),
    );
    assert!(ro < cover);
    assert!(plan.mounts.contains(&MountStep::Cover {
        path: BOOT_ID.into(),
        contents: b"09090909-0909-4909-8909-090909090909\n".to_vec(),
    }));
}

#[test]
fn sysfs_serials_and_addresses_are_masked_after_the_mount() {
    let mut s = spec();
    s.sys = true;
    let plan = Plan::new(&s, &merged());
    let sysfs = index(&plan, |s| matches!(s, MountStep::Sysfs { .. }));
    let dmi = index(
        &plan,
        |s| matches!(s, MountStep::MaskDir { path } if path == Path::new("/sys/devices/virtual/dmi/id")),
    );
    let mac = index(
        &plan,
        |s| matches!(s, MountStep::MaskEach { dir, file } if dir == Path::new("/sys/class/net") && file == Path::new("address")),
    );
    let serial = index(
        &plan,
        |s| matches!(s, MountStep::MaskEach { dir, file } if dir == Path::new("/sys/block") && file == Path::new("device/serial")),
    );
    assert!(sysfs < dmi && sysfs < mac && sysfs < serial);
    let without = Plan::new(&spec(), &merged());
    assert!(!without
        .mounts
        .iter()
        .any(|s| matches!(s, MountStep::MaskEach { .. })));
}

#[test]
fn resolv_conf_only_when_given() {
    let has = |plan: &Plan| {
        plan.mounts.iter().any(
            |s| matches!(s, MountStep::File { path, .. } if path == Path::new("/etc/resolv.conf")),
        )
    };
    assert!(!has(&Plan::new(&spec(), &merged())));
    let mut s = spec();
    s.resolv_conf = Some("nameserver 10.0.2.3\n".into());
    assert!(has(&Plan::new(&s, &merged())));
}

#[test]
fn sys_only_when_asked() {
    let plan = Plan::new(&spec(), &merged());
    assert!(!plan
        .mounts
        .iter()
        .any(|s| matches!(s, MountStep::Sysfs { .. })));
    let mut s = spec();
    s.sys = true;
    let plan = Plan::new(&s, &merged());
    assert!(plan
        .mounts
        .iter()
        .any(|s| matches!(s, MountStep::Sysfs { .. })));
}

#[test]
fn writable_places_are_the_plan_s() {
    let plan = Plan::new(&spec(), &merged());
    let mut listed: Vec<PathBuf> = WRITABLE_PLACES.iter().map(PathBuf::from).collect();
    let mut planned = plan.writable.clone();
    listed.sort();
    planned.sort();
    assert_eq!(listed, planned);
}

#[test]
fn tmpfs_places_exist_and_home_is_private() {
    let plan = Plan::new(&spec(), &merged());
    assert!(plan.mounts.contains(&tmpfs("/run", 0o755, false)));
    for (path, mode) in [
        ("/tmp", 0o1777),
        ("/var/tmp", 0o1777),
        ("/run", 0o755),
        (SANDBOX_HOME, 0o700),
        (SANDBOX_RUNTIME_DIR, 0o700),
    ] {
        if path != "/run" {
            assert!(plan.mounts.contains(&scratch(path, mode)), "{path}");
        }
        assert_eq!(
            plan.writable.contains(&PathBuf::from(path)),
            path != "/run",
            "{path}"
        );
    }
}

#[test]
fn files_place_is_sealed_after_its_binds_and_read_only_under_landlock() {
    let mut s = spec();
    s.binds.push(BindSpec {
        host: "/srv/doc.pdf".into(),
        target: Path::new(FILES_DIR).join("doc.pdf"),
        writable: false,
        special: false,
    });
    let plan = Plan::new(&s, &merged());
    let place = index(
        &plan,
        |s| matches!(s, MountStep::Tmpfs { target, .. } if target == Path::new(FILES_DIR)),
    );
    let bind = index(
        &plan,
        |s| matches!(s, MountStep::Bind { target, .. } if target.starts_with(FILES_DIR)),
    );
    let sealed = index(
        &plan,
        |s| matches!(s, MountStep::Seal { path } if path == Path::new(FILES_DIR)),
    );
    let run_sealed = index(
        &plan,
        |s| matches!(s, MountStep::Seal { path } if path == Path::new("/run")),
    );
    assert!(place < bind && bind < sealed && bind < run_sealed);
    // Landlock grants are inherited by everything below: no writable
    // place may contain a read-only file grant.
    for w in &plan.writable {
        assert!(
            !Path::new(FILES_DIR).join("doc.pdf").starts_with(w),
            "{} is writable and holds the files place",
            w.display()
        );
    }
    assert!(plan.writable.contains(&PathBuf::from(FILES_RW_DIR)));
}

#[test]
fn persistent_home_is_a_writable_bind_instead_of_a_tmpfs() {
    let mut s = spec();
    s.home = Some("/home/alice/.local/share/wsbox/app".into());
    s.binds.push(BindSpec {
        host: "/srv/a".into(),
        target: "/home/user/a".into(),
        writable: false,
        special: false,
    });
    let plan = Plan::new(&s, &merged());
    assert!(!plan.mounts.contains(&tmpfs(SANDBOX_HOME, 0o700, false)));
    assert!(!plan.mounts.contains(&scratch(SANDBOX_HOME, 0o700)));
    let home = index(
        &plan,
        |s| matches!(s, MountStep::Bind { target, writable: true, .. } if target == Path::new(SANDBOX_HOME)),
    );
    let inside = index(
        &plan,
        |s| matches!(s, MountStep::Bind { target, .. } if target == Path::new("/home/user/a")),
    );
    assert!(home < inside);
    assert!(plan.writable.contains(&PathBuf::from(SANDBOX_HOME)));
}

#[test]
fn confinement_order_ends_with_seccomp_then_exec() {
    let order = CONFINE_ORDER;
    let pos = |step| order.iter().position(|s| *s == step).unwrap();
    // Capabilities go once the fds and the terminal are gone.
    assert!(pos(ConfineStep::CloseFds) < pos(ConfineStep::DropCapabilities));
    assert!(pos(ConfineStep::Setsid) < pos(ConfineStep::DropCapabilities));
    assert!(pos(ConfineStep::DropCapabilities) < pos(ConfineStep::NoNewPrivs));
    assert!(pos(ConfineStep::NoNewPrivs) < pos(ConfineStep::Landlock));
    assert!(pos(ConfineStep::Landlock) < pos(ConfineStep::Seccomp));
    assert_eq!(order[order.len() - 2], ConfineStep::Seccomp);
    assert_eq!(order[order.len() - 1], ConfineStep::Exec);
}

#[test]
fn the_font_cache_is_shown_read_only_where_the_host_has_one() {
    let mut host = merged();
    let plan = Plan::new(&spec(), &host);
    assert!(!targets(&plan).contains(&PathBuf::from(FONT_CACHE)));
    host.font_cache = true;
    let plan = Plan::new(&spec(), &host);
    let bind = MountStep::Bind {
        source: FONT_CACHE.into(),
        target: FONT_CACHE.into(),
        writable: false,
        device: false,
    };
    assert!(plan.mounts.contains(&bind), "{:#?}", plan.mounts);
    assert!(!plan.writable.iter().any(|w| w.starts_with("/var/cache")));
}

#[test]
fn writable_tmpfs_places_share_one_scratch_space_of_the_spec_size() {
    let mut s = spec();
    s.tmpfs_size = 256 << 20;
    let plan = Plan::new(&s, &merged());
    // First, before any place is bound from it.
    assert_eq!(plan.mounts[0], MountStep::ScratchSpace { size: 256 << 20 });
    let places: Vec<&Path> = plan
        .mounts
        .iter()
        .filter_map(|step| match step {
            MountStep::Scratch { target, .. } => Some(target.as_path()),
            _ => None,
        })
        .collect();
    assert_eq!(
        places,
        [
            Path::new("/dev/shm"),
            Path::new("/tmp"),
            Path::new("/var/tmp"),
            Path::new(SANDBOX_RUNTIME_DIR),
            Path::new(SANDBOX_HOME),
            Path::new(DOCS_DIR),
        ]
    );
    // Every place the app may write that is not a bind of the host's is
    // on it: nothing writable is a tmpfs of its own.
    for step in &plan.mounts {
        if let MountStep::Tmpfs { target, .. } = step {
            assert!(
                !plan.writable.contains(target),
                "{} is a writable tmpfs of its own",
                target.display()
            );
        }
    }
}
