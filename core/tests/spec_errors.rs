//! Every validation error names file, line, column and key, with a hint where one helps.

use std::path::Path;

use stockade_core::spec::{MountKind, NetworkMode, Privilege, RootSource, Spec, User};

const FILE: &str = "/etc/stockade/web.toml";

/// A valid minimal spec, to which each test appends or in which it replaces a line.
const BASE: &str = r#"name = "web"
[root]
host = true
[process]
command = ["/bin/sh"]
"#;

/// The diagnostics of an invalid spec, as printed.
fn errors(text: &str) -> Vec<String> {
    match Spec::from_toml(text, Some(Path::new(FILE))) {
        Ok(spec) => panic!("expected errors, got {spec:#?}"),
        Err(e) => e.diagnostics().iter().map(ToString::to_string).collect(),
    }
}

/// Asserts the spec has exactly one error, equal to `expected` (after the file name).
fn one_error(text: &str, expected: &str) {
    let all = errors(text);
    assert_eq!(all, vec![format!("{FILE}:{expected}")], "for:\n{text}");
}

fn ok(text: &str) -> Spec {
    Spec::from_toml(text, Some(Path::new(FILE))).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn the_minimal_spec_is_valid_with_safe_defaults() {
    let spec = ok(BASE);
    assert_eq!(spec.name, "web");
    assert_eq!(spec.hostname, "web");
    assert_eq!(spec.root.source, RootSource::Host);
    assert!(!spec.root.readonly);
    assert_eq!(spec.process.cwd, Path::new("/"));
    assert_eq!(spec.process.user, User::ROOT);
    assert!(!spec.process.init);
    assert_eq!(spec.network.mode, NetworkMode::None);
    assert!(spec.limits.is_empty());
    assert!(spec.privileges.allow.is_empty());
    assert_eq!(spec.source.as_deref(), Some(Path::new(FILE)));
}

#[test]
fn unknown_key_suggests_the_near_miss() {
    one_error(
        &BASE.replace("name = \"web\"", "name = \"web\"\nhostnme = \"x\""),
        "2:1: hostnme: unknown key (did you mean `hostname`?)",
    );
    one_error(
        &BASE.replace("command", "comand"),
        "5:1: process.comand: unknown key (did you mean `process.command`?)",
    )
}

#[test]
fn unknown_key_in_the_wrong_table_names_its_home() {
    one_error(
        &BASE.replace("name = \"web\"", "name = \"web\"\nmemory = \"1G\""),
        "2:1: memory: unknown key (did you mean `limits.memory`? it belongs in its table)",
    );
}

#[test]
fn wrong_type_says_what_was_expected() {
    one_error(
        &format!("{BASE}[limits]\nprocesses = \"many\"\n"),
        "7:13: limits.processes: expected a whole number, found a string",
    );
    one_error(
        &BASE.replace("host = true", "host = \"yes\""),
        "3:8: root.host: expected true or false, found a string",
    );
}

#[test]
fn bad_size_is_refused_with_the_accepted_forms() {
    one_error(
        &format!("{BASE}[limits]\nmemory = \"12Q\"\n"),
        "7:10: limits.memory: invalid size \"12Q\" (a number of bytes, or a number with K, M, G or T, e.g. \"256M\")",
    );
}

#[test]
fn bad_cidr_is_refused() {
    one_error(
        &format!("{BASE}[network]\nmode = \"private\"\naddress = \"10.77.0.2\"\n"),
        "8:11: network.address: \"10.77.0.2\" is not an address with a prefix length (CIDR form, e.g. \"10.77.0.2/24\")",
    );
    one_error(
        &format!("{BASE}[network]\nmode = \"private\"\naddress = \"10.77.0.300/24\"\n"),
        "8:11: network.address: \"10.77.0.300/24\" is not an address with a prefix length (CIDR form, e.g. \"10.77.0.2/24\")",
    );
}

#[test]
fn path_and_host_together_are_refused() {
    one_error(
        &BASE.replace("host = true", "path = \"/srv/web\"\nhost = true"),
        "4:8: root.host: `path` and `host` are both set (choose one: a prepared folder (path) or a view of the host (host = true))",
    );
}

#[test]
fn empty_command_is_refused() {
    one_error(
        &BASE.replace("[\"/bin/sh\"]", "[]"),
        "5:11: process.command: is empty (name the program to run: command = [\"/bin/sh\"])",
    );
}

#[test]
fn relative_mount_target_is_refused() {
    one_error(
        &format!("{BASE}[[mount]]\nkind = \"tmpfs\"\ntarget = \"data\"\n"),
        "8:10: mount[1].target: \"data\" is relative (paths inside the environment start with '/': \"/data\")",
    );
}

#[test]
fn mount_target_with_dotdot_is_refused() {
    one_error(
        &format!("{BASE}[[mount]]\nkind = \"tmpfs\"\ntarget = \"/a/../../etc\"\n"),
        "8:10: mount[1].target: \"/a/../../etc\" contains '..' (write the path without '..')",
    );
}

#[test]
fn unknown_enum_values_suggest_the_near_miss() {
    one_error(
        &format!("{BASE}[[mount]]\nkind = \"bnd\"\ntarget = \"/x\"\n"),
        "7:8: mount[1].kind: unknown kind \"bnd\" (did you mean \"bind\"?)",
    );
    one_error(
        &format!("{BASE}[network]\nmode = \"privat\"\n"),
        "7:8: network.mode: unknown value \"privat\" (did you mean \"private\"?)",
    );
    one_error(
        &format!("{BASE}[privileges]\nallow = [\"raw_socket\"]\n"),
        "7:10: privileges.allow[1]: unknown privilege \"raw_socket\" (did you mean \"raw_sockets\"?)",
    );
}

#[test]
fn single_bracket_mount_table_says_to_double_them() {
    one_error(
        &format!("{BASE}[mount]\nkind = \"proc\"\ntarget = \"/proc\"\n"),
        "6:1: mount: expected an array, found a table (write each mount as [[mount]] (double brackets))",
    );
}

#[test]
fn keys_that_belong_to_another_mount_kind_are_refused() {
    one_error(
        &format!("{BASE}[[mount]]\nkind = \"proc\"\ntarget = \"/proc\"\nsize = \"1M\"\n"),
        "9:8: mount[1].size: only applies to kind = \"tmpfs\" (remove it)",
    );
}

#[test]
fn address_without_private_mode_is_refused() {
    one_error(
        &format!("{BASE}[network]\naddress = \"10.0.0.2/24\"\n"),
        "7:11: network.address: is only used with mode = \"private\" (mode is \"none\") (set mode = \"private\" or remove it)",
    );
}

#[test]
fn gateway_must_be_on_the_subnet() {
    one_error(
        &format!("{BASE}[network]\nmode = \"private\"\naddress = \"10.0.0.2/24\"\ngateway = \"10.0.1.1\"\n"),
        "9:11: network.gateway: 10.0.1.1 is outside 10.0.0.0/24 (the gateway must be on the environment's subnet)",
    );
}

#[test]
fn syntax_errors_have_a_position() {
    let all = errors("name = \"web\"\n[root\n");
    assert_eq!(all.len(), 1);
    assert!(all[0].starts_with(&format!("{FILE}:2:")), "{}", all[0]);
    assert!(all[0].contains(": syntax: "), "{}", all[0]);
}

#[test]
fn missing_tables_are_named() {
    let all = errors("name = \"web\"\n");
    assert_eq!(
        all,
        vec![
            format!("{FILE}:1:1: process: missing (add [process] with command = [\"/bin/sh\"])"),
            format!("{FILE}:1:1: root: missing (add [root] with path = \"/srv/roots/NAME\", or host = true for a read-only view of the host)"),
        ]
    );
}

#[test]
fn all_errors_are_reported_in_file_order() {
    let text = "name = \"-bad\"\n[root]\nhost = true\n[process]\ncommand = [\"/bin/sh\"]\ncwd = \"tmp\"\n[limits]\ncpus = 0\n";
    let all = errors(text);
    assert_eq!(all.len(), 3, "{all:#?}");
    assert!(all[0].contains(":1:8: name: "), "{}", all[0]);
    assert!(all[1].contains(":6:7: process.cwd: "), "{}", all[1]);
    assert!(all[2].contains(":8:8: limits.cpus: "), "{}", all[2]);
}

#[test]
fn relative_sources_resolve_against_the_spec_folder() {
    let spec = ok(&format!(
        "{BASE}[[mount]]\nkind = \"bind\"\nsource = \"./site\"\ntarget = \"/var//www/\"\nreadonly = true\n"
    ));
    let m = &spec.mounts[0];
    assert_eq!(
        m.kind,
        MountKind::Bind {
            source: "/etc/stockade/site".into()
        }
    );
    assert_eq!(m.target, Path::new("/var/www"));
    assert!(m.readonly);
    let spec = ok(&BASE.replace("host = true", "path = \"roots/web\""));
    assert_eq!(
        spec.root.source,
        RootSource::Path("/etc/stockade/roots/web".into())
    );
}

#[test]
fn values_are_parsed_to_their_meaning() {
    let spec = ok(&format!(
        "{BASE}user = \"1000:100\"\n[limits]\nmemory = \"256M\"\nprocesses = 64\ncpus = 1.5\nopen_files = 1024\n\
         [network]\nmode = \"private\"\naddress = \"10.77.0.2/24\"\n[privileges]\nallow = [\"raw_sockets\", \"chown\", \"raw_sockets\"]\n"
    ));
    assert_eq!(
        spec.process.user,
        User::Id {
            uid: 1000,
            gid: 100
        }
    );
    assert_eq!(spec.limits.memory, Some(268_435_456));
    assert_eq!(spec.limits.processes, Some(64));
    assert_eq!(spec.limits.cpus, Some(1.5));
    assert_eq!(spec.limits.open_files, Some(1024));
    assert_eq!(spec.network.address.unwrap().to_string(), "10.77.0.2/24");
    assert_eq!(
        spec.network.gateway.unwrap().to_string(),
        "10.77.0.1",
        "the first free host address by default"
    );
    assert_eq!(
        spec.privileges.allow,
        vec![Privilege::RawSockets, Privilege::Chown]
    );
}

#[test]
fn user_names_are_kept_for_resolution_inside_the_root() {
    let spec = ok(&format!("{BASE}user = \"www:staff\"\n"));
    assert_eq!(
        spec.process.user,
        User::Name {
            user: "www".into(),
            group: Some("staff".into())
        }
    );
    one_error(
        &format!("{BASE}user = \"1000:\"\n"),
        "6:8: process.user: \"1000:\" is not a user (\"uid:gid\" such as \"1000:1000\", or a user name from the root's /etc/passwd)",
    );
}

#[test]
fn name_defaults_to_the_file_stem() {
    let spec = Spec::from_toml(
        &BASE.replace("name = \"web\"\n", ""),
        Some(Path::new("/x/hello.toml")),
    )
    .unwrap();
    assert_eq!(spec.name, "hello");
}

#[test]
fn name_override_replaces_and_supplies_the_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("-odd stem.toml");
    std::fs::write(&path, BASE.replace("name = \"web\"\n", "")).unwrap();
    assert!(
        Spec::load(&path).is_err(),
        "no name and no usable file stem"
    );
    let spec = Spec::load_as(&path, Some("my_env")).unwrap();
    assert_eq!(spec.name, "my_env");
    assert_eq!(spec.hostname, "my-env", "a host name cannot hold '_'");
}

#[test]
fn ipv6_default_gateway_is_a_host_address() {
    let spec = ok(&format!(
        "{BASE}[network]\nmode = \"private\"\naddress = \"fd00::2/64\"\n"
    ));
    assert_eq!(spec.network.gateway.unwrap().to_string(), "fd00::1");
}

#[test]
fn a_missing_file_is_a_read_error_naming_it() {
    let err = Spec::load(Path::new("/nonexistent/env.toml")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "/nonexistent/env.toml: cannot read: No such file or directory (os error 2)"
    );
}

/// `BASE` on a prepared root, with `root_keys` added to `[root]`.
fn overlay_spec(root_keys: &str) -> String {
    BASE.replace("host = true", &format!("path = \"/srv/base\"\n{root_keys}"))
}

#[test]
fn overlay_keys_are_parsed_with_layers_above_the_base() {
    let spec = ok(&overlay_spec(
        "overlay = true\nlayers = [\"roles/web\", \"/srv/common\"]\nchanges = \"/var/keep/web\"",
    ));
    let overlay = spec.root.overlay.as_ref().expect("overlay on");
    assert_eq!(
        overlay.layers,
        [
            Path::new("/etc/stockade/roles/web"),
            Path::new("/srv/common")
        ],
        "relative layers start at the spec file's folder"
    );
    assert_eq!(overlay.changes.as_deref(), Some(Path::new("/var/keep/web")));
    assert_eq!(
        spec.root.lowers(),
        [
            Path::new("/etc/stockade/roles/web"),
            Path::new("/srv/common"),
            Path::new("/srv/base")
        ],
        "layers on top, root.path at the bottom"
    );
    let plain = ok(&overlay_spec("overlay = false"));
    assert_eq!(plain.root.overlay, None);
    assert!(plain.root.lowers().is_empty());
    let host = ok(&BASE.replace("host = true", "host = true\noverlay = true"));
    assert_eq!(host.root.overlay.as_ref().map(|o| o.layers.len()), Some(0));
    assert!(host.root.lowers().is_empty());
}

#[test]
fn layers_without_overlay_are_refused() {
    one_error(
        &overlay_spec("layers = [\"/srv/web\"]"),
        "4:10: root.layers: needs overlay = true (layers are read-only folders under a writable layer: add overlay = true)",
    );
}

#[test]
fn changes_without_overlay_are_refused() {
    one_error(
        &overlay_spec("overlay = false\nchanges = \"/srv/keep\""),
        "5:11: root.changes: needs overlay = true (changes keeps the writable layer of a copy-on-write root: add overlay = true)",
    );
}

#[test]
fn readonly_and_overlay_together_are_refused() {
    one_error(
        &overlay_spec("readonly = true\noverlay = true"),
        "4:12: root.readonly: `readonly` and `overlay` are both set (overlay already keeps the base untouched: remove readonly for a writable copy-on-write root, or overlay for a read-only root)",
    );
}

#[test]
fn layers_with_a_host_view_are_refused() {
    one_error(
        &BASE.replace("host = true", "host = true\noverlay = true\nlayers = [\"/srv/web\"]"),
        "5:10: root.layers: only stacks above `path`, not `host = true` (use path = \"/srv/base\" with layers above it; with host = true each host folder is its own copy-on-write layer)",
    );
}

#[test]
fn empty_duplicate_and_base_layers_are_refused() {
    one_error(
        &overlay_spec("overlay = true\nlayers = []"),
        "5:10: root.layers: is empty (list at least one folder, or remove it)",
    );
    one_error(
        &overlay_spec("overlay = true\nlayers = [\"/srv/a\", \"/srv/a\"]"),
        "5:21: root.layers[2]: \"/srv/a\" is listed twice (each read-only folder appears once in the stack)",
    );
    one_error(
        &overlay_spec("overlay = true\nlayers = [\"/srv/base\"]"),
        "5:11: root.layers[1]: \"/srv/base\" is root.path itself (each read-only folder appears once in the stack)",
    );
    one_error(
        &overlay_spec("overlay = true\nlayers = [\"/srv/a\", 3]"),
        "5:21: root.layers[2]: expected a string, found an integer",
    );
}

#[test]
fn changes_overlapping_a_read_only_layer_are_refused() {
    one_error(
        &overlay_spec("overlay = true\nchanges = \"/srv/base/.changes\""),
        "5:11: root.changes: \"/srv/base/.changes\" is inside root.path \"/srv/base\" (keep the writable layer apart from every read-only one: overlayfs and unionfs refuse overlapping layers)",
    );
    one_error(
        &overlay_spec("overlay = true\nlayers = [\"/srv/keep/web\"]\nchanges = \"/srv/keep\""),
        "6:11: root.changes: \"/srv/keep\" contains root.layers \"/srv/keep/web\" (keep the writable layer apart from every read-only one: overlayfs and unionfs refuse overlapping layers)",
    );
}

#[test]
fn overlay_keys_at_the_top_level_name_their_table() {
    one_error(
        &BASE.replace("name = \"web\"", "name = \"web\"\noverlay = true"),
        "2:1: overlay: unknown key (did you mean `root.overlay`? it belongs in its table)",
    );
    one_error(
        &overlay_spec("overlay = true\nlayer = [\"/srv/a\"]"),
        "5:1: root.layer: unknown key (did you mean `root.layers`?)",
    );
}

#[test]
fn private_network_reach_keys_default_and_are_checked() {
    let spec = ok(&format!(
        "{BASE}[network]\nmode = \"private\"\naddress = \"10.77.0.2/24\"\n"
    ));
    assert!(spec.network.nat, "nat is on by default for private");
    assert!(spec.network.publish.is_empty());
    assert_eq!(spec.network.dns, None);
    let spec = ok(&format!(
        "{BASE}[network]\nmode = \"private\"\naddress = \"10.77.0.2/24\"\nnat = false\n\
         publish = [\"8080:80\", \"127.0.0.1:5353:53/udp\"]\ndns = [\"1.1.1.1\", \"2606:4700:4700::1111\"]\n\
         search = [\"example.org\"]\n"
    ));
    assert!(!spec.network.nat);
    let published: Vec<String> = spec.network.publish.iter().map(|p| p.to_string()).collect();
    assert_eq!(published, ["8080:80", "127.0.0.1:5353:53/udp"]);
    assert_eq!(spec.network.dns.as_ref().map(Vec::len), Some(2));
    assert_eq!(spec.network.search, ["example.org"]);
    let private = format!("{BASE}[network]\nmode = \"private\"\naddress = \"10.77.0.2/24\"\n");
    one_error(
        &format!("{private}publish = [\"8080:80\", \"8080:81\"]\n"),
        "9:23: network.publish[2]: host port 8080/tcp is already published by \"8080:80\" (give each entry its own host port)",
    );
    one_error(
        &format!("{private}publish = [\"80\"]\n"),
        "9:12: network.publish[1]: \"80\": expected [HOST_ADDRESS:]HOST_PORT:PORT[/udp] (a list like publish = [\"8080:80\", \"127.0.0.1:5353:53/udp\"])",
    );
    one_error(
        &format!("{private}publish = [\"[::1]:80:80\"]\n"),
        "9:12: network.publish[1]: ::1 is not in the address family of network.address (publish on an address of the same family as the environment's)",
    );
    one_error(
        &format!("{private}dns = [\"127.0.0.53\"]\n"),
        "9:8: network.dns[1]: 127.0.0.53 is a loopback address: inside it is the environment's own (name a server the environment can reach over its link)",
    );
    one_error(
        &format!("{private}search = [\"bad domain\"]\n"),
        "9:11: network.search[1]: \"bad domain\" is not a domain name (a list of domains, e.g. search = [\"example.org\"])",
    );
    one_error(
        &format!("{BASE}[network]\npublish = [\"8080:80\"]\n"),
        "7:11: network.publish: is only used with mode = \"private\" (mode is \"none\") (set mode = \"private\" or remove it)",
    );
}
