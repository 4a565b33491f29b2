//! A private network's reach on a real kernel: egress through NAT, published ports (on
//! 127.0.0.1 and on the host's address), ports already taken, and `nft list ruleset`
//! exactly as it was after delete, for one environment and for twenty. Needs root and
//! nft(8) (to read the ruleset back; stockade itself never runs it).
//!
//! All traffic stays on this machine: the environments' 10.213.1xx.0/30 links, the host's
//! own addresses, and a network namespace this test makes ("outside", 10.213.99.0/30)
//! standing in for the world beyond the host.
//!
//! (busybox 1.35's static wget crashes with `-T`, so a bounded wait uses `timeout`.)

#![cfg(target_os = "linux")]

mod common;

use std::fs;
use std::io::{ErrorKind, Read as _, Write as _};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::os::fd::AsFd as _;
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::World;
use stockade_core::backend::{CreateOptions, Runtime, Stdio};
use stockade_linux::plan::net::host_ifname;

/// The tests compare the whole ruleset, and every private environment adds to it: one
/// test at a time.
static RULESET: Mutex<()> = Mutex::new(());

fn running() -> CreateOptions {
    CreateOptions {
        stdio: Stdio::Detached,
        start: true,
    }
}

fn ruleset() -> String {
    let out = Command::new("nft")
        // -s: without counters, which other traffic moves.
        .args(["-s", "list", "ruleset"])
        .output()
        .expect("nft(8) reads the ruleset back");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

fn private(address: &str, extra: &str) -> String {
    format!("[network]\nmode = \"private\"\naddress = \"{address}\"\n{extra}")
}

/// The host's address on the interface of its IPv4 default route.
fn host_address() -> Ipv4Addr {
    let routes = fs::read_to_string("/proc/net/route").unwrap();
    let iface = routes
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.len() > 7 && f[1] == "00000000" && f[7] == "00000000")
        .map(|f| f[0].to_string())
        .expect("this host has an IPv4 default route");
    nix::ifaddrs::getifaddrs()
        .unwrap()
        .filter(|a| a.interface_name == iface)
        .find_map(|a| a.address?.as_sockaddr_in().map(|s| s.ip()))
        .unwrap_or_else(|| panic!("{iface} has no IPv4 address"))
}

/// Serves one HTTP request with `body` on `listener`, in a thread; returns the peer.
fn serve_once(listener: TcpListener, body: &'static str) -> std::thread::JoinHandle<SocketAddr> {
    std::thread::spawn(move || {
        listener.set_nonblocking(true).unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        let (mut s, peer) = loop {
            match listener.accept() {
                Ok(x) => break x,
                Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Err(e) => panic!("accept: {e}"),
            }
        };
        s.set_nonblocking(false).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 1024];
        let _ = s.read(&mut buf);
        let reply = format!(
            "HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        s.write_all(reply.as_bytes()).unwrap();
        peer
    })
}

/// `curl` of `url`, retried while the server inside is starting; the body.
fn curl(url: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "3", url])
            .output()
            .expect("curl");
        if out.status.success() {
            return String::from_utf8(out.stdout).unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "curl {url}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Port 80 inside needs the privilege.
const LOW_PORTS: &str = "[privileges]\nallow = [\"net_bind_service\"]\n";

/// A script serving `/out/www-NAME` on port 80 with busybox httpd, in the foreground.
fn web_server(name: &str) -> String {
    format!("mkdir -p /out/www-{name}; echo hello-from-{name} > /out/www-{name}/index.html; exec httpd -f -p 80 -h /out/www-{name}")
}

fn stop_and_delete(w: &World, name: &str) {
    w.backend.delete(&w.store, name, true).unwrap();
}

#[test]
#[ignore = "needs root"]
fn egress_reaches_a_server_on_the_hosts_address_and_delete_restores_the_ruleset() {
    let _one = RULESET.lock().unwrap_or_else(|e| e.into_inner());
    let before = ruleset();
    let w = World::new();
    let host = host_address();
    let listener = TcpListener::bind((host, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = serve_once(listener, "from-the-host");
    let script = format!("wget -q -O /out/got http://{host}:{port}/; echo $? > /out/rc");
    let spec = w.spec("nat-egress", &script, &private("10.213.101.2/30", ""));
    let exit = w.backend.run(&spec, &w.store).unwrap();
    assert_eq!(exit.code, 0, "{exit:?}");
    assert_eq!(w.read("rc"), "0");
    assert_eq!(w.read("got"), "from-the-host");
    assert_eq!(
        server.join().unwrap().ip(),
        IpAddr::V4(Ipv4Addr::new(10, 213, 101, 2))
    );
    assert_eq!(
        ruleset(),
        before,
        "run (create + delete) changed the ruleset"
    );
}

/// A network namespace reached over a veth pair that is not stockade's, with forwarding
/// on at its host end: a stand-in for a machine beyond the host's uplink.
struct Outside {
    host_end: String,
    netns: String,
}

impl Outside {
    fn new() -> Outside {
        let o = Outside {
            host_end: "skt-outside".into(),
            netns: format!("skt-outside-{}", std::process::id()),
        };
        let ip = |args: &[&str]| {
            let st = Command::new("ip").args(args).status().unwrap();
            assert!(st.success(), "ip {args:?}");
        };
        let _ = Command::new("ip")
            .args(["link", "del", &o.host_end])
            .status();
        ip(&["netns", "add", &o.netns]);
        ip(&[
            "link",
            "add",
            &o.host_end,
            "type",
            "veth",
            "peer",
            "name",
            "skt-world",
        ]);
        ip(&["link", "set", "skt-world", "netns", &o.netns]);
        ip(&["addr", "add", "10.213.99.1/30", "dev", &o.host_end]);
        ip(&["link", "set", &o.host_end, "up"]);
        let exec = |args: &[&str]| {
            let mut all = vec!["netns", "exec", &o.netns, "ip"];
            all.extend_from_slice(args);
            ip(&all);
        };
        exec(&["addr", "add", "10.213.99.2/30", "dev", "skt-world"]);
        exec(&["link", "set", "skt-world", "up"]);
        exec(&["link", "set", "lo", "up"]);
        // The world answers the host's address only: it has no route to 10.213.x.
        fs::write(
            format!("/proc/sys/net/ipv4/conf/{}/forwarding", o.host_end),
            "1",
        )
        .unwrap();
        o
    }

    /// A listener on 10.213.99.2:80 inside the outside namespace.
    fn listen(&self) -> TcpListener {
        let ns = fs::File::open(format!("/run/netns/{}", self.netns)).unwrap();
        std::thread::scope(|s| {
            s.spawn(|| {
                nix::sched::setns(ns.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
                TcpListener::bind("10.213.99.2:80").unwrap()
            })
            .join()
            .unwrap()
        })
    }
}

impl Drop for Outside {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_end])
            .status();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.netns])
            .status();
    }
}

#[test]
#[ignore = "needs root"]
fn egress_beyond_the_host_is_masqueraded_and_nat_false_is_not() {
    let _one = RULESET.lock().unwrap_or_else(|e| e.into_inner());
    let before = ruleset();
    let outside = Outside::new();
    let w = World::new();
    // With NAT the world sees the host's address, to which it can answer.
    let server = serve_once(outside.listen(), "from-the-world");
    let script = "wget -q -O /out/got http://10.213.99.2/; echo $? > /out/rc";
    let spec = w.spec("nat-world", script, &private("10.213.102.2/30", ""));
    let exit = w.backend.run(&spec, &w.store).unwrap();
    assert_eq!(exit.code, 0, "{exit:?}");
    assert_eq!(w.read("rc"), "0");
    assert_eq!(w.read("got"), "from-the-world");
    assert_eq!(
        server.join().unwrap().ip(),
        IpAddr::V4(Ipv4Addr::new(10, 213, 99, 1)),
        "the world saw the environment's own address: not masqueraded"
    );
    // Without NAT nothing goes out: no forwarding, no answer.
    let script = "timeout 3 wget -q -O /out/got2 http://10.213.99.2/; echo $? > /out/rc2";
    let spec = w.spec(
        "nat-off",
        script,
        &private("10.213.103.2/30", "nat = false\n"),
    );
    w.backend.run(&spec, &w.store).unwrap();
    assert_ne!(w.read("rc2"), "0", "reached the world without NAT");
    drop(outside);
    assert_eq!(ruleset(), before);
}

#[test]
#[ignore = "needs root"]
fn a_published_port_answers_on_localhost_and_the_hosts_address() {
    let _one = RULESET.lock().unwrap_or_else(|e| e.into_inner());
    let before = ruleset();
    let w = World::new();
    let name = "nat-publish";
    let spec = w.spec(
        name,
        &web_server(name),
        &format!(
            "{}{LOW_PORTS}",
            private("10.213.104.2/30", "publish = [\"18080:80\"]\n")
        ),
    );
    w.backend.create(&spec, &w.store, &running()).unwrap();
    let during = ruleset();
    let owner = host_ifname(name, &w.store.dir(name));
    assert!(during.contains(&format!("chain {owner}-pre")), "{during}");
    assert!(
        during.contains("dport 18080 dnat ip to 10.213.104.2:80"),
        "{during}"
    );
    assert_eq!(
        curl("http://127.0.0.1:18080/").trim(),
        "hello-from-nat-publish"
    );
    let host = host_address();
    assert_eq!(
        curl(&format!("http://{host}:18080/")).trim(),
        "hello-from-nat-publish"
    );
    stop_and_delete(&w, name);
    assert_eq!(ruleset(), before, "delete left rules behind");
}

#[test]
#[ignore = "needs root"]
fn a_port_a_host_process_listens_on_is_refused_before_anything_is_made() {
    let _one = RULESET.lock().unwrap_or_else(|e| e.into_inner());
    let before = ruleset();
    let w = World::new();
    let held = TcpListener::bind("0.0.0.0:0").unwrap();
    let port = held.local_addr().unwrap().port();
    let name = "nat-held";
    let spec = w.spec(
        name,
        "true",
        &private("10.213.105.2/30", &format!("publish = [\"{port}:80\"]\n")),
    );
    let err = w.backend.create(&spec, &w.store, &running()).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains(&format!("host port {port}/tcp is in use")),
        "{text}"
    );
    assert!(!w.store.dir(name).exists(), "state left behind");
    let owner = host_ifname(name, &w.store.dir(name));
    assert!(!std::path::Path::new("/sys/class/net").join(&owner).exists());
    assert_eq!(ruleset(), before);
}

#[test]
#[ignore = "needs root"]
fn twenty_environments_with_published_ports_then_deleted_leave_the_ruleset_as_it_was() {
    let _one = RULESET.lock().unwrap_or_else(|e| e.into_inner());
    let before = ruleset();
    let w = World::new();
    let names: Vec<String> = (0..20).map(|i| format!("nat-many-{i}")).collect();
    for (i, name) in names.iter().enumerate() {
        let spec = w.spec(
            name,
            &web_server(name),
            &format!(
                "{}{LOW_PORTS}",
                private(
                    &format!("10.213.{}.2/30", 110 + i),
                    &format!("publish = [\"{}:80\"]\n", 18100 + i),
                )
            ),
        );
        w.backend.create(&spec, &w.store, &running()).unwrap();
    }
    // Each answers on its own port.
    for i in [0, 7, 19] {
        assert_eq!(
            curl(&format!("http://127.0.0.1:{}/", 18100 + i)).trim(),
            format!("hello-from-nat-many-{i}")
        );
    }
    // A port another environment holds is refused, and nothing of the newcomer is made.
    let spec = w.spec(
        "nat-late",
        "true",
        &private("10.213.140.2/30", "publish = [\"18105:80\"]\n"),
    );
    let err = w.backend.create(&spec, &w.store, &running()).unwrap_err();
    assert!(
        err.to_string()
            .contains("host port 18105 is already published by another stockade environment"),
        "{err}"
    );
    assert!(!w.store.dir("nat-late").exists());
    // Deleting one leaves the others' rules in place.
    stop_and_delete(&w, &names[0]);
    let rules = ruleset();
    for name in &names[1..] {
        let owner = host_ifname(name, &w.store.dir(name));
        assert!(
            rules.contains(&format!("chain {owner}-pre")),
            "{name}: {rules}"
        );
    }
    assert_eq!(
        curl("http://127.0.0.1:18119/").trim(),
        "hello-from-nat-many-19"
    );
    for name in &names[1..] {
        stop_and_delete(&w, name);
    }
    assert_eq!(ruleset(), before, "20 environments left rules behind");
}

#[test]
#[ignore = "needs root"]
fn the_environment_gets_its_own_resolv_conf() {
    // Every private environment adds chains to the ruleset other tests compare.
    let _one = RULESET.lock().unwrap_or_else(|e| e.into_inner());
    let w = World::new();
    fs::create_dir_all(w.root.join("etc")).unwrap();
    fs::write(w.root.join("etc/resolv.conf"), "nameserver 127.0.0.53\n").unwrap();
    let script = "cat /etc/resolv.conf > /out/resolv; echo x 2> /out/err > /etc/resolv.conf; echo $? > /out/rc";
    let spec = w.spec(
        "nat-dns",
        script,
        &private(
            "10.213.106.2/30",
            "dns = [\"192.0.2.53\", \"2001:db8::53\"]\nsearch = [\"example.org\"]\n",
        ),
    );
    let exit = w.backend.run(&spec, &w.store).unwrap();
    assert_eq!(exit.code, 0, "{exit:?}");
    assert_eq!(
        w.read("resolv"),
        "# written by stockade (network.dns, network.search)\n\
         nameserver 192.0.2.53\nnameserver 2001:db8::53\nsearch example.org"
    );
    assert_ne!(w.read("rc"), "0", "the environment changed its resolv.conf");
    // The root's own file is untouched.
    assert_eq!(
        fs::read_to_string(w.root.join("etc/resolv.conf")).unwrap(),
        "nameserver 127.0.0.53\n"
    );

    // By default: the host's name servers, without a loopback stub.
    let host = fs::read_to_string("/etc/resolv.conf").unwrap();
    let expected: Vec<String> = host
        .lines()
        .filter_map(|l| l.strip_prefix("nameserver"))
        .map(|s| s.trim().to_string())
        .filter(|s| s.parse::<Ipv4Addr>().is_ok_and(|ip| !ip.is_loopback()))
        .take(3)
        .collect();
    let spec = w.spec(
        "nat-dns-default",
        "cat /etc/resolv.conf > /out/resolv2",
        &private("10.213.107.2/30", ""),
    );
    w.backend.run(&spec, &w.store).unwrap();
    let inside: Vec<String> = w
        .read("resolv2")
        .lines()
        .filter_map(|l| l.strip_prefix("nameserver "))
        .map(str::to_string)
        .collect();
    if !expected.is_empty() {
        assert_eq!(inside, expected, "host: {host}");
    }
    assert!(!inside.iter().any(|s| s.starts_with("127.")), "{inside:?}");
}

/// `/proc/sys/net/ipv6/conf/all/forwarding`, the host-wide IPv6 routing switch.
const IPV6_FORWARDING: &str = "/proc/sys/net/ipv6/conf/all/forwarding";

#[test]
#[ignore = "needs root"]
fn ipv6_nat_turns_on_host_wide_forwarding_and_the_last_delete_restores_it() {
    let _one = RULESET.lock().unwrap_or_else(|e| e.into_inner());
    // Not a silent pass: a host without IPv6 cannot run this test, and says so.
    let before_switch = fs::read_to_string(IPV6_FORWARDING)
        .expect("this test needs IPv6 on the host (and so in network namespaces)");
    // On a host that already forwards IPv6 (a Docker host, say) stockade has nothing to
    // turn on; the test then checks that delete leaves the admin's "1" alone.
    let was_off = before_switch.trim() == "0";
    let before = ruleset();
    // A world beyond the host on IPv6, which has no route back to the environment.
    let netns = format!("skt-out6-{}", std::process::id());
    let host_end = "skt-out6";
    let ip = |args: &[&str]| {
        let st = Command::new("ip").args(args).status().unwrap();
        assert!(st.success(), "ip {args:?}");
    };
    let _ = Command::new("ip").args(["link", "del", host_end]).status();
    ip(&["netns", "add", &netns]);
    struct Cleanup(String, &'static str);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = Command::new("ip").args(["link", "del", self.1]).status();
            let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
        }
    }
    let _cleanup = Cleanup(netns.clone(), host_end);
    ip(&[
        "link",
        "add",
        host_end,
        "type",
        "veth",
        "peer",
        "name",
        "skt-world6",
    ]);
    ip(&["link", "set", "skt-world6", "netns", &netns]);
    ip(&["addr", "add", "fd00:213:99::1/64", "dev", host_end, "nodad"]);
    ip(&["link", "set", host_end, "up"]);
    for args in [
        &[
            "addr",
            "add",
            "fd00:213:99::2/64",
            "dev",
            "skt-world6",
            "nodad",
        ][..],
        &["link", "set", "skt-world6", "up"],
        &["link", "set", "lo", "up"],
    ] {
        let mut all = vec!["netns", "exec", netns.as_str(), "ip"];
        all.extend_from_slice(args);
        ip(&all);
    }
    let ns = fs::File::open(format!("/run/netns/{netns}")).unwrap();
    let listener = std::thread::scope(|s| {
        s.spawn(|| {
            nix::sched::setns(ns.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            TcpListener::bind("[fd00:213:99::2]:80").unwrap()
        })
        .join()
        .unwrap()
    });
    let server = serve_once(listener, "from-the-v6-world");

    let w = World::new();
    // The environment's address is tentative until duplicate address detection ends.
    let script = "for i in 1 2 3 4 5 6 7 8 9 10; do \
                  timeout 3 wget -q -O /out/got 'http://[fd00:213:99::2]/' && break; sleep 1; \
                  done; echo $? > /out/rc; sleep 30";
    let spec = w.spec(
        "nat-six",
        script,
        &private("fd00:213:201::2/64", "gateway = \"fd00:213:201::1\"\n"),
    );
    w.backend.create(&spec, &w.store, &running()).unwrap();
    assert_eq!(
        fs::read_to_string(IPV6_FORWARDING).unwrap().trim(),
        "1",
        "an IPv6 environment with NAT did not turn IPv6 forwarding on (it was {})",
        if was_off { "off" } else { "on" }
    );
    let peer = server.join().unwrap();
    // The script writes rc once wget is done.
    let deadline = Instant::now() + Duration::from_secs(20);
    let done = || fs::read_to_string(w.out.join("rc")).is_ok_and(|s| !s.trim().is_empty());
    while !done() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(w.read("rc"), "0");
    assert_eq!(w.read("got"), "from-the-v6-world");
    assert_eq!(
        peer.ip(),
        "fd00:213:99::1".parse::<IpAddr>().unwrap(),
        "the world saw the environment's own address: not masqueraded"
    );
    stop_and_delete(&w, "nat-six");
    assert_eq!(
        fs::read_to_string(IPV6_FORWARDING).unwrap(),
        before_switch,
        "the last delete did not put IPv6 forwarding back as it was"
    );
    assert_eq!(ruleset(), before);
}

#[test]
#[ignore = "needs root"]
fn the_host_end_of_a_private_link_takes_no_router_advertisements() {
    let _one = RULESET.lock().unwrap_or_else(|e| e.into_inner());
    let w = World::new();
    let name = "nat-ra";
    let spec = w.spec(
        name,
        "sleep 30",
        &private("10.213.108.2/30", "nat = false\n"),
    );
    w.backend.create(&spec, &w.store, &running()).unwrap();
    let owner = host_ifname(name, &w.store.dir(name));
    let accept_ra = fs::read_to_string(format!("/proc/sys/net/ipv6/conf/{owner}/accept_ra"));
    stop_and_delete(&w, name);
    assert_eq!(accept_ra.expect("IPv6 on the host").trim(), "0");
}
