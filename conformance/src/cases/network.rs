//! Networking: `none` (loopback only), `host` (the host's stack), `private` (a link to
//! the host with addresses and a default route). The suite listens on a TCP port on
//! every host address (`{port}`) for the environments to connect to.

use serde_json::json;
use stockade_core::portability::Feature;

use crate::case::{attempt, attempt_error, probe, run, Case, Check, Env, Matcher};
use Matcher::{Contains, Eq, SameAsHost};

fn connect_ok(target: &str, ok: bool) -> Check {
    attempt("run", &format!("connect/{target}"), ok)
}

pub fn cases() -> Vec<Case> {
    let mut default_route = Case::new(
        "network.private_default_route",
        "network private: the default route via the gateway reaches the host's other addresses",
        Env::host(&[]).extra(
            "[network]\nmode = \"private\"\naddress = \"10.213.2.2/30\"\ngateway = \"10.213.2.1\"\nnat = false",
        ),
        run(&["--connect", "{host_ip}:{port}"]),
    )
    .features(&[Feature::NetworkPrivate])
    .checks(vec![connect_ok("{host_ip}:{port}", true)]);
    default_route.needs_host_ip = true;
    vec![
        Case::new(
            "network.none",
            "network none: loopback only, up; the host is unreachable, even on 127.0.0.1",
            Env::host(&[]),
            run(&["--loopback", "--connect", "127.0.0.1:{port}", "--connect", "{host_ip}:{port}"]),
        )
        .features(&[Feature::NetworkNone])
        .checks(vec![
            probe("run", "/net/non_loopback", Eq(json!([]))),
            attempt("run", "loopback", true),
            connect_ok("127.0.0.1:{port}", false),
            attempt_error("run", "connect/127.0.0.1:{port}", &["ECONNREFUSED"]),
            connect_ok("{host_ip}:{port}", false),
        ]),
        Case::new(
            "network.host",
            "network host: the host's interfaces and its loopback services",
            Env::host(&[]).extra("[network]\nmode = \"host\""),
            run(&["--connect", "127.0.0.1:{port}"]),
        )
        .features(&[Feature::NetworkHost])
        .checks(vec![
            probe("run", "/net/names", SameAsHost("/net/names")),
            connect_ok("127.0.0.1:{port}", true),
        ]),
        Case::new(
            "network.private",
            "network private: one link with the address, the gateway (the host's end) reachable, loopback up",
            Env::host(&[]).extra("[network]\nmode = \"private\"\naddress = \"10.213.1.2/30\"\ngateway = \"10.213.1.1\"\nnat = false"),
            run(&["--loopback", "--connect", "10.213.1.1:{port}", "--connect", "127.0.0.1:{port}"]),
        )
        .features(&[Feature::NetworkPrivate])
        .checks(vec![
            probe("run", "/net/addresses", Contains(json!("10.213.1.2/30"))),
            probe("run", "/net/non_loopback", Matcher::Len(1)),
            attempt("run", "loopback", true),
            connect_ok("10.213.1.1:{port}", true),
            connect_ok("127.0.0.1:{port}", false),
        ]),
        default_route,
    ]
}
