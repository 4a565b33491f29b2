//! One test per grammar element, and one per malformed input with its exact `LINE:COL`.

use super::*;

const FILE: &str = "/etc/jail.conf";

fn doc(text: &str) -> Document {
    Document::parse(text, Path::new(FILE)).unwrap_or_else(|e| panic!("{e}"))
}

fn jail(text: &str, name: &str) -> Jail {
    doc(text).jail(name).unwrap_or_else(|e| panic!("{e}"))
}

/// The parameters of `name` as `name=v1,v2` strings, `name` itself left out.
fn params(text: &str, name: &str) -> Vec<String> {
    jail(text, name)
        .params
        .iter()
        .filter(|p| p.name != "name")
        .map(|p| {
            let values: Vec<&str> = p.values.iter().map(|v| v.text.as_str()).collect();
            if values.is_empty() {
                p.name.clone()
            } else {
                format!("{}={}", p.name, values.join(","))
            }
        })
        .collect()
}

/// The error of parsing (or evaluating jail `web` of) `text`, as printed.
fn error(text: &str) -> String {
    match Document::parse(text, Path::new(FILE)) {
        Err(e) => e.to_string(),
        Ok(d) => match d.jail("web") {
            Err(e) => e.to_string(),
            Ok(j) => panic!("expected an error, got {j:#?}"),
        },
    }
}

fn assert_error(text: &str, expected: &str) {
    assert_eq!(error(text), format!("{FILE}:{expected}"), "for:\n{text}");
}

#[test]
fn a_named_block_with_quoted_and_bare_values() {
    let j = jail(
        "web {\n    host.hostname = \"web.example.org\";\n    path = /usr/jails/web;\n}\n",
        "web",
    );
    assert_eq!(j.name, "web");
    assert_eq!(j.at.to_string(), "/etc/jail.conf:1:1");
    assert_eq!(j.params[0].name, "name");
    assert_eq!(j.params[0].values[0].text, "web");
    let host = j.param("host.hostname").unwrap();
    assert_eq!(host.values[0].text, "web.example.org");
    assert_eq!(host.at.to_string(), "/etc/jail.conf:2:5");
    assert_eq!(host.values[0].at.to_string(), "/etc/jail.conf:2:21");
    assert_eq!(j.param("path").unwrap().values[0].text, "/usr/jails/web");
}

#[test]
fn global_parameters_apply_to_every_jail() {
    let text = "exec.clean;\nmount.devfs;\na { persist; }\nb { }\n";
    assert_eq!(params(text, "a"), ["exec.clean", "mount.devfs", "persist"]);
    assert_eq!(params(text, "b"), ["exec.clean", "mount.devfs"]);
}

#[test]
fn later_definitions_win_globals_before_and_after() {
    // A wildcard before the jail gives defaults; one after overrides the jail.
    let text = "securelevel = 1;\n\
                web { securelevel = 2; enforce_statfs = 1; }\n\
                enforce_statfs = 2;\n";
    assert_eq!(params(text, "web"), ["securelevel=2", "enforce_statfs=2"]);
}

#[test]
fn wildcard_blocks_and_partial_wildcards() {
    let text = "* { exec.clean; }\n\
                foo.* { persist; }\n\
                foo.bar { }\n\
                baz { }\n";
    assert_eq!(params(text, "foo.bar"), ["exec.clean", "persist"]);
    assert_eq!(params(text, "baz"), ["exec.clean"]);
    assert_eq!(doc(text).jail_names(), ["foo.bar", "baz"]);
}

#[test]
fn variables_and_parameter_substitution() {
    let text = "$base = \"/usr/jails\";\n\
                path = \"$base/$name\";\n\
                host.hostname = \"${name}.example.org\";\n\
                exec.consolelog = \"/var/log/jail_${host.hostname}.log\";\n\
                web { }\n";
    assert_eq!(
        params(text, "web"),
        [
            "path=/usr/jails/web",
            "host.hostname=web.example.org",
            "exec.consolelog=/var/log/jail_web.example.org.log"
        ]
    );
}

#[test]
fn substitution_uses_the_final_value_in_each_jail() {
    // Per jail, after all overrides: the wildcard's `$name` is each jail's own.
    let text = "$root = /jails;\npath = \"$root/$name\";\na { $root = /other; }\nb { }\n";
    assert_eq!(params(text, "a"), ["path=/other/a"]);
    assert_eq!(params(text, "b"), ["path=/jails/b"]);
}

#[test]
fn no_substitution_inside_single_quotes() {
    let text = "web { exec.start = 'echo $name ${x}'; }";
    assert_eq!(params(text, "web"), ["exec.start=echo $name ${x}"]);
}

#[test]
fn a_whole_value_reference_expands_a_list() {
    let text = "$addrs = 10.0.0.1, 10.0.0.2;\nweb { ip4.addr = $addrs, 10.0.0.3; }";
    assert_eq!(params(text, "web"), ["ip4.addr=10.0.0.1,10.0.0.2,10.0.0.3"]);
}

#[test]
fn plus_equals_appends_and_equals_replaces() {
    let text = "ip4.addr = 10.0.0.1;\n\
                web { ip4.addr += 10.0.0.2; ip4.addr += \"10.0.0.3\"; }\n\
                db { ip4.addr += 10.0.0.9; ip4.addr = 10.0.0.8; }\n";
    assert_eq!(params(text, "web"), ["ip4.addr=10.0.0.1,10.0.0.2,10.0.0.3"]);
    assert_eq!(params(text, "db"), ["ip4.addr=10.0.0.8"]);
}

#[test]
fn comma_lists_and_the_value_without_equals() {
    let text = "web { ip4.addr 10.1.1.1, 10.1.1.2 ,10.1.1.3; }";
    assert_eq!(params(text, "web"), ["ip4.addr=10.1.1.1,10.1.1.2,10.1.1.3"]);
}

#[test]
fn double_quoted_escapes() {
    let text = r#"web { exec.start = "a\tb\nc \"q\" back\\slash \$name \101\x42 \z"; }"#;
    assert_eq!(
        jail(text, "web").param("exec.start").unwrap().values[0].text,
        "a\tb\nc \"q\" back\\slash $name AB z"
    );
}

#[test]
fn single_quoted_strings_keep_dollars_but_take_escapes() {
    let text = r"web { exec.start = 'it\'s $HOME'; }";
    assert_eq!(params(text, "web"), ["exec.start=it's $HOME"]);
}

#[test]
fn pieces_glue_into_one_word() {
    let text = "web { path = /jails/\"my jail\"'s'$name; }";
    assert_eq!(params(text, "web"), ["path=/jails/my jailsweb"]);
}

#[test]
fn backslash_newline_continues_a_line() {
    let text = "web {\n  exec.start = \"/bin/sh \\\n/etc/rc\";\n  path = /usr/\\\njails;\n  ip4.addr = 10.0.0.1, \\\n    10.0.0.2;\n}";
    assert_eq!(
        params(text, "web"),
        [
            "exec.start=/bin/sh /etc/rc",
            "path=/usr/jails",
            "ip4.addr=10.0.0.1,10.0.0.2"
        ]
    );
    // Positions after a continuation count the real lines.
    let j = jail(text, "web");
    assert_eq!(
        j.param("path").unwrap().at.to_string(),
        "/etc/jail.conf:4:3"
    );
}

#[test]
fn all_three_comment_styles() {
    let text = "# shell\n// c++\n/* c,\n * multi-line { ; */\nweb { persist; # trailing\n  mount.devfs; // trailing\n  /* inline */ exec.clean;\n}";
    assert_eq!(
        params(text, "web"),
        ["persist", "mount.devfs", "exec.clean"]
    );
}

#[test]
fn a_double_slash_starts_a_comment_even_inside_a_bare_word() {
    // jail(8)'s lexer does this too: quote paths with '//' in them.
    let text = "web { path = /usr//local\n; }";
    assert_eq!(params(text, "web"), ["path=/usr"]);
}

#[test]
fn boolean_forms() {
    let text = "web {\n persist;\n allow.nomount;\n allow.raw_sockets = \"true\";\n allow.chflags = 0;\n mount.devfs = 1;\n allow.mlock = FALSE;\n}";
    let j = jail(text, "web");
    let b = |n: &str| j.param(n).unwrap().bool();
    assert_eq!(b("persist"), Some(true));
    assert_eq!(b("allow.mount"), Some(false));
    assert_eq!(j.param("allow.mount").unwrap().name, "allow.nomount");
    assert_eq!(j.param("allow.mount").unwrap().base_name(), "allow.mount");
    assert_eq!(b("allow.raw_sockets"), Some(true));
    assert_eq!(b("allow.chflags"), Some(false));
    assert_eq!(b("mount.devfs"), Some(true));
    assert_eq!(b("allow.mlock"), Some(false));
}

#[test]
fn the_no_prefix_replaces_the_positive_spelling() {
    let text = "mount.devfs;\nweb { mount.nodevfs; }\n";
    let j = jail(text, "web");
    let p = j.param("mount.devfs").unwrap();
    assert_eq!(p.name, "mount.nodevfs");
    assert_eq!(p.bool(), Some(false));
    assert_eq!(j.params.len(), 2);
}

#[test]
fn the_extended_ip4_form_is_kept_verbatim() {
    let text = "web { ip4.addr = \"em0|192.0.2.10/24\", 'lo1|127.0.1.1'; }";
    assert_eq!(
        params(text, "web"),
        ["ip4.addr=em0|192.0.2.10/24,lo1|127.0.1.1"]
    );
}

#[test]
fn empty_statements_and_empty_strings() {
    let text = ";;\nweb { ; exec.start = ''; ; }\n;";
    assert_eq!(params(text, "web"), ["exec.start="]);
}

#[test]
fn numeric_names_set_jid() {
    let j = jail("7 { persist; }", "7");
    assert_eq!(j.params[0].name, "jid");
}

#[test]
fn a_literal_dollar_stays() {
    let text = "web { exec.start = \"echo $ 5\"; }";
    assert_eq!(params(text, "web"), ["exec.start=echo $ 5"]);
}

#[test]
fn to_conf_quotes_what_needs_it() {
    let text = "web { exec.start = \"/bin/sh /etc/rc\"; path = /j/web; persist; }";
    let j = jail(text, "web");
    assert_eq!(
        j.param("exec.start").unwrap().to_conf(),
        "exec.start = \"/bin/sh /etc/rc\";"
    );
    assert_eq!(j.param("path").unwrap().to_conf(), "path = /j/web;");
    assert_eq!(j.param("persist").unwrap().to_conf(), "persist;");
    assert_eq!(quote("a$b\"c"), "\"a\\$b\\\"c\"");
}

// ---- includes ----

fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let p = dir.path().join(path.trim_start_matches('/'));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    dir
}

fn parse_in(dir: &tempfile::TempDir, text: &str) -> Result<Document, JailConfError> {
    let options = Options {
        root: dir.path().to_path_buf(),
        ..Options::default()
    };
    Document::parse_with(text, Path::new(FILE), &options)
}

#[test]
fn include_globs_are_sorted_and_relative_to_the_including_file() {
    let dir = tree(&[
        ("/etc/jail.conf.d/b.conf", "b { persist; }\n"),
        (
            "/etc/jail.conf.d/a.conf",
            ".include \"shared/common.inc\";\na { }\n",
        ),
        ("/etc/jail.conf.d/shared/common.inc", "exec.clean;\n"),
        ("/etc/jail.conf.d/skip.txt", "broken {"),
    ]);
    let d = parse_in(
        &dir,
        "mount.devfs;\n.include \"/etc/jail.conf.d/*.conf\";\n.include \"/usr/local/etc/jail[.]conf\";\n",
    )
    .unwrap();
    assert_eq!(d.jail_names(), ["a", "b"]);
    assert_eq!(
        d.files(),
        [
            PathBuf::from("/etc/jail.conf"),
            PathBuf::from("/etc/jail.conf.d/a.conf"),
            PathBuf::from("/etc/jail.conf.d/shared/common.inc"),
            PathBuf::from("/etc/jail.conf.d/b.conf"),
        ]
    );
    let a = d.jail("a").unwrap();
    assert!(a.param("mount.devfs").is_some());
    // common.inc's global is read before a's block, so a gets it, with its position.
    assert_eq!(
        a.param("exec.clean").unwrap().at.to_string(),
        "/etc/jail.conf.d/shared/common.inc:1:1"
    );
    assert!(d.jail("b").unwrap().param("persist").is_some());
}

#[test]
fn a_missing_plain_include_is_an_error() {
    let dir = tree(&[]);
    let e = parse_in(&dir, "\n  .include \"/etc/jail.d/web.conf\";\n").unwrap_err();
    assert!(
        e.to_string()
            .starts_with("/etc/jail.conf:2:3: cannot read included file /etc/jail.d/web.conf: "),
        "{e}"
    );
}

#[test]
fn an_include_loop_is_an_error() {
    let dir = tree(&[
        ("/etc/a.conf", ".include \"b.conf\";\n"),
        ("/etc/b.conf", "\n.include \"a.conf\";\n"),
    ]);
    let e = parse_in(&dir, ".include \"/etc/a.conf\";").unwrap_err();
    assert_eq!(
        e.to_string(),
        "/etc/b.conf:2:1: include loop: /etc/a.conf is already being read"
    );
}

#[test]
fn include_depth_is_bounded() {
    let files: Vec<(String, String)> = (0..5)
        .map(|i| {
            (
                format!("/etc/{i}.conf"),
                format!(".include \"{}.conf\";\n", i + 1),
            )
        })
        .chain([("/etc/5.conf".to_string(), "web { }\n".to_string())])
        .collect();
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let dir = tree(&refs);
    let options = Options {
        root: dir.path().to_path_buf(),
        max_include_depth: 3,
    };
    let e =
        Document::parse_with(".include \"/etc/0.conf\";", Path::new(FILE), &options).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("/etc/2.conf:1:1: includes nest more than 3 deep"),
        "{e}"
    );
    let options = Options {
        root: dir.path().to_path_buf(),
        max_include_depth: 16,
    };
    let d = Document::parse_with(".include \"/etc/0.conf\";", Path::new(FILE), &options).unwrap();
    assert_eq!(d.jail_names(), ["web"]);
}

#[test]
fn a_syntax_error_in_an_include_names_that_file() {
    let dir = tree(&[("/etc/jail.conf.d/web.conf", "web {\n  path = ;\n}\n")]);
    let e = parse_in(&dir, ".include \"/etc/jail.conf.d/*.conf\";").unwrap_err();
    assert_eq!(
        e.to_string(),
        "/etc/jail.conf.d/web.conf:2:10: expected a value for path, found ';'"
    );
}

// ---- malformed input: each error at its exact LINE:COL ----

#[test]
fn error_missing_semicolon() {
    assert_error(
        "web {\n  persist\n  path = /x;\n}",
        "3:8: expected ';' after persist, found '='",
    );
    assert_error(
        "web {\n  path = /x\n}",
        "3:1: expected ';' after path, found '}'",
    );
    assert_error(
        "web { ip4.addr = 10.0.0.1 10.0.0.2; }",
        "1:27: expected ';' after ip4.addr, found \"10.0.0.2\"; separate list values with ','",
    );
}

#[test]
fn error_unclosed_block() {
    assert_error(
        "web {\n  persist;\n",
        "1:5: the '{' of jail \"web\" is never closed: add '}' at the end of the block",
    );
}

#[test]
fn error_stray_close_brace() {
    assert_error(
        "web { }\n}\n",
        "2:1: unexpected '}'; expected a parameter, a jail block or '.include'",
    );
}

#[test]
fn error_nested_block() {
    assert_error(
        "web {\n  db {\n",
        "2:6: jail blocks cannot nest: missing '}' before \"db\"?",
    );
}

#[test]
fn error_unterminated_strings_and_comments() {
    assert_error(
        "web {\n  exec.start = \"/bin/sh;\n}\n",
        "2:16: unterminated string: '\"' has no closing '\"'",
    );
    assert_error(
        "web { exec.start = 'x; }",
        "1:20: unterminated string: \"'\" has no closing \"'\"",
    );
    assert_error(
        "web { }\n/* never closed\n",
        "2:1: unterminated comment: '/*' has no '*/'",
    );
    assert_error(
        "web { path = \"${name\"; }",
        "1:15: unterminated variable: '${' has no '}' before the closing quote",
    );
    assert_error(
        "web { path = ${name\n; }",
        "1:14: unterminated variable: '${' has no '}' on its line",
    );
}

#[test]
fn error_unexpected_character() {
    assert_error(
        "web { path = /j/wéb; }",
        "1:18: unexpected character 'é'; quote values that contain it",
    );
}

#[test]
fn error_missing_value() {
    assert_error(
        "web { path = ; }",
        "1:14: expected a value for path, found ';'",
    );
    assert_error(
        "web { ip4.addr = 10.0.0.1, ; }",
        "1:28: expected a value after ',', found ';'",
    );
    assert_error("$x = ;", "1:6: expected a value for $x, found ';'");
}

#[test]
fn error_bad_names() {
    assert_error("web { \"\" = 1; }", "1:7: empty parameter name");
    assert_error(
        "web { allow.$x = 1; }",
        "1:7: a parameter name must be one plain word (no variables, no quoted parts glued to it)",
    );
    assert_error("$j { }", "1:1: a jail name cannot contain variables");
}

#[test]
fn error_bad_includes() {
    assert_error(
        ".include $x;",
        "1:10: '.include' takes a literal file name; variables are not expanded there",
    );
    assert_error(
        ".include \"a.conf\"",
        "1:18: expected ';' after the '.include' file name, found the end of the file",
    );
    assert_error(
        ".include ;",
        "1:10: '.include' needs a file name in quotes, found ';'",
    );
    assert_error(
        "web {\n  .include \"x\";\n}",
        "2:3: '.include' is allowed only outside jail blocks",
    );
}

#[test]
fn error_undefined_variable() {
    assert_error(
        "web {\n  path = \"/jails/$nope\";\n}",
        "2:18: path: variable \"nope\" is not defined for this jail (define it with $nope = \"...\"; or set the parameter nope)",
    );
}

#[test]
fn error_variable_loop() {
    assert_error(
        "$a = \"$b\";\n$b = \"x$a\";\nweb { }",
        "2:8: $b: variable loop: \"a\" refers back to itself",
    );
}

#[test]
fn error_list_inside_text() {
    assert_error(
        "$ips = 10.0.0.1, 10.0.0.2;\nweb { exec.start = \"echo $ips\"; }",
        "2:26: exec.start: ${ips} is a list of 2 values and cannot be substituted inside other text",
    );
}

#[test]
fn error_redefining_name() {
    assert_error(
        "web {\n  name = other;\n}",
        "2:3: cannot redefine parameter \"name\": it comes from the jail block's name",
    );
}

#[test]
fn error_variable_named_like_a_parameter() {
    assert_error(
        "path = /j;\nweb { $path = /x; }",
        "2:7: variable \"$path\" cannot have the same name as a parameter; rename the variable",
    );
}

#[test]
fn error_jail_defined_twice() {
    assert_error(
        "web { }\n\nweb { persist; }",
        "3:1: jail \"web\" is defined twice (first at /etc/jail.conf:1:1)",
    );
}

#[test]
fn error_unknown_jail() {
    let e = doc("a { }\nb { }\n").jail("c").unwrap_err();
    assert_eq!(
        e.to_string(),
        "/etc/jail.conf: no jail named \"c\" (the file defines: a, b)"
    );
    assert!(e.position().is_none());
}

#[test]
fn errors_in_other_jails_do_not_block_one_jail() {
    let d = doc("bad { path = $nope; }\ngood { persist; }\n");
    assert!(d.jail("good").is_ok());
    assert!(d.jail("bad").is_err());
    assert!(d.jails().is_err());
}
