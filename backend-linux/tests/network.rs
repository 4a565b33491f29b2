//! Networking on a real kernel: `private` (a veth pair: TCP both ways, eth0's address,
//! default route and lo inside, isolation between environments, nothing left on the host
//! after delete or after a creator killed at the network steps) and `none` (loopback
//! only). Needs root.
//!
//! All traffic stays on this machine: the only addresses used are 10.213.2x.0/30 subnets
//! on the veth pairs these tests make, and the host's 127.0.0.1.

#![cfg(target_os = "linux")]

mod common;

use std::fs;
use std::io::{BufRead as _, BufReader, ErrorKind, Read as _, Write as _};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use common::World;
use stockade_core::backend::{CreateOptions, Runtime, Stdio};
use stockade_core::state::Status;
use stockade_linux::plan::net;

fn running() -> CreateOptions {
    CreateOptions {
        stdio: Stdio::Detached,
        start: true,
    }
}

fn private(address: &str, gateway: &str) -> String {
    format!("[network]\nmode = \"private\"\naddress = \"{address}\"\ngateway = \"{gateway}\"\n")
}

/// The host end of `name`'s pair, as /sys/class/net shows it.
fn host_end(w: &World, name: &str) -> std::path::PathBuf {
    Path::new("/sys/class/net").join(host_ifname(w, name))
}

/// The host end's name: it depends on the state folder, so on the test's state root.
fn host_ifname(w: &World, name: &str) -> String {
    net::host_ifname(name, &w.store.dir(name))
}

fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn wait_file(w: &World, file: &str) {
    wait_for(file, || w.out.join(file).exists());
}

/// Connects, retrying while nothing listens yet (the process may still be starting).
fn connect(addr: SocketAddr) -> TcpStream {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
            Ok(s) => return s,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("connect {addr}: {e}"),
        }
    }
}

/// Reads one line (with its newline) within a deadline.
fn read_line(stream: &TcpStream) -> String {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).unwrap();
    line
}

/// Sends `line` and returns the answering line. Nothing is closed before the answer is
/// in: busybox nc quits on the network's EOF, possibly before it has sent its own line.
fn ask(stream: &mut TcpStream, line: &str) -> String {
    stream.write_all(line.as_bytes()).unwrap();
    read_line(stream)
}

/// Reads the peer's line, then answers with `line`.
fn answer(stream: &mut TcpStream, line: &str) -> String {
    let got = read_line(stream);
    stream.write_all(line.as_bytes()).unwrap();
    got
}

/// Sends `line` to a listener that answers nothing, and closes: the listener then exits.
fn tell(stream: &mut TcpStream, line: &str) {
    stream.write_all(line.as_bytes()).unwrap();
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    let mut rest = String::new();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.read_to_string(&mut rest).unwrap();
}

/// Accepts one connection within a deadline.
fn accept(listener: &TcpListener) -> (TcpStream, SocketAddr) {
    listener.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match listener.accept() {
            Ok((s, peer)) => {
                s.set_nonblocking(false).unwrap();
                return (s, peer);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}

/// Interface names of a /proc/net/dev listing.
fn dev_names(text: &str) -> Vec<String> {
    text.lines()
        .skip(2)
        .filter_map(|l| Some(l.split(':').next()?.trim().to_string()))
        .collect()
}

/// The addresses the host holds on `ifname`.
fn host_addresses(ifname: &str) -> Vec<IpAddr> {
    nix::ifaddrs::getifaddrs()
        .unwrap()
        .filter(|a| a.interface_name == ifname)
        .filter_map(|a| {
            let addr = a.address?;
            if let Some(v4) = addr.as_sockaddr_in() {
                Some(IpAddr::V4(v4.ip()))
            } else {
                addr.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip()))
            }
        })
        .collect()
}

#[test]
#[ignore = "needs root"]
fn private_tcp_both_ways_with_eth0_default_route_and_lo() {
    let w = World::new();
    let name = "net-tcp";
    let listener = TcpListener::bind("0.0.0.0:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let script = format!(
        "cat /proc/net/route > /out/route; cat /proc/net/dev > /out/dev; \
         ip addr > /out/addr; ip link > /out/link; \
         echo pong | nc -l -p 7777 > /out/heard; \
         echo from-inside | nc -w 5 10.213.21.1 {port} > /out/reply; \
         echo done > /out/done"
    );
    let spec = w.spec(name, &script, &private("10.213.21.2/30", "10.213.21.1"));
    w.backend.create(&spec, &w.store, &running()).unwrap();
    let host_if = host_end(&w, name);

    // The host end: up, holding the gateway address.
    assert!(host_if.exists(), "{} missing", host_if.display());
    let operstate = fs::read_to_string(host_if.join("operstate")).unwrap();
    assert_eq!(operstate.trim(), "up");
    let ifname = host_if.file_name().unwrap().to_str().unwrap();
    assert_eq!(
        host_addresses(ifname)
            .into_iter()
            .filter(IpAddr::is_ipv4)
            .collect::<Vec<_>>(),
        [IpAddr::V4(Ipv4Addr::new(10, 213, 21, 1))]
    );

    // Host -> environment.
    let mut stream = connect("10.213.21.2:7777".parse().unwrap());
    assert_eq!(ask(&mut stream, "ping\n"), "pong\n");
    // Closing lets the listener inside exit and the script go on.
    drop(stream);
    // Environment -> host, from its own address.
    let (mut back, peer) = accept(&listener);
    assert_eq!(peer.ip(), IpAddr::V4(Ipv4Addr::new(10, 213, 21, 2)));
    assert_eq!(answer(&mut back, "back-from-host\n"), "from-inside\n");
    drop(back);
    wait_file(&w, "done");
    assert_eq!(w.read("heard"), "ping");
    assert_eq!(w.read("reply"), "back-from-host");

    // Inside: lo and eth0 only; eth0 holds the address; lo is up; the default route goes
    // via the gateway on eth0.
    assert_eq!(
        dev_names(&w.read("dev")),
        ["lo", "eth0"],
        "{}",
        w.read("dev")
    );
    let addr = w.read("addr");
    assert!(addr.contains("inet 10.213.21.2/30"), "{addr}");
    let link = w.read("link");
    let lo = link.lines().find(|l| l.contains(": lo:")).unwrap();
    assert!(lo.contains(",UP"), "{link}");
    let eth0 = link.lines().find(|l| l.contains(": eth0")).unwrap();
    assert!(eth0.contains(",UP"), "{link}");
    let gateway = format!("{:08X}", u32::from_le_bytes([10, 213, 21, 1]));
    let route = w.read("route");
    assert!(
        route.lines().any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() > 3 && f[0] == "eth0" && f[1] == "00000000" && f[2] == gateway
        }),
        "no default route via 10.213.21.1 on eth0:\n{route}"
    );

    wait_for("stopped", || {
        w.backend.state(&w.store, name).unwrap().status == Status::Stopped
    });
    w.backend.delete(&w.store, name, false).unwrap();
    assert!(!host_if.exists(), "{} left after delete", host_if.display());
    assert!(!w.store.dir(name).exists());
}

#[test]
#[ignore = "needs root"]
fn none_has_only_lo_and_cannot_reach_a_host_loopback_listener() {
    let w = World::new();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let script = format!(
        "cat /proc/net/dev > /out/dev; ip link > /out/link; \
         echo hi | nc -w 2 127.0.0.1 {port}; echo $? > /out/rc"
    );
    let exit = w
        .backend
        .run(&w.spec("net-none", &script, ""), &w.store)
        .unwrap();
    assert_eq!(exit.code, 0, "{exit:?}");
    assert_ne!(w.read("rc"), "0", "reached the host's 127.0.0.1:{port}");
    assert_eq!(dev_names(&w.read("dev")), ["lo"], "{}", w.read("dev"));
    assert!(
        w.read("link").contains(",UP"),
        "lo is down: {}",
        w.read("link")
    );
    listener.set_nonblocking(true).unwrap();
    assert_eq!(
        listener.accept().map(|_| ()).unwrap_err().kind(),
        ErrorKind::WouldBlock,
        "something connected"
    );
    // The listener itself works: the host reaches it.
    let _ = connect(listener.local_addr().unwrap());
    let _ = accept(&listener);
}

#[test]
#[ignore = "needs root"]
fn two_private_environments_reach_the_host_but_not_each_other() {
    // With NAT (the default) their links forward, and each environment's forward chain
    // drops what it sends to another environment's link, whatever the host's
    // net.ipv4.ip_forward.
    let w = World::new();
    let listener = TcpListener::bind("0.0.0.0:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let envs = [
        (
            "net-a",
            "10.213.22.2",
            "10.213.22.1",
            "net-b",
            "10.213.23.2",
        ),
        (
            "net-b",
            "10.213.23.2",
            "10.213.23.1",
            "net-a",
            "10.213.22.2",
        ),
    ];
    for (me, address, gateway, other, other_address) in envs {
        let script = format!(
            "nc -l -p 7777 < /dev/null > /out/{me}-heard & \
             sleep 0.2; touch /out/{me}-listening; \
             while [ ! -e /out/{other}-listening ]; do sleep 0.05; done; \
             echo from-{me} | nc -w 2 {other_address} 7777; echo $? > /out/{me}-to-other; \
             echo from-{me} | nc -w 5 {gateway} {port}; echo $? > /out/{me}-to-host; \
             touch /out/{me}-done; wait"
        );
        let spec = w.spec(me, &script, &private(&format!("{address}/30"), gateway));
        w.backend.create(&spec, &w.store, &running()).unwrap();
    }
    let mut peers: Vec<IpAddr> = (0..2).map(|_| accept(&listener).1.ip()).collect();
    peers.sort();
    assert_eq!(
        peers,
        [
            IpAddr::V4(Ipv4Addr::new(10, 213, 22, 2)),
            IpAddr::V4(Ipv4Addr::new(10, 213, 23, 2))
        ]
    );
    for (me, address, ..) in envs {
        wait_file(&w, &format!("{me}-done"));
        assert_eq!(w.read(&format!("{me}-to-host")), "0", "{me} -> host");
        assert_ne!(
            w.read(&format!("{me}-to-other")),
            "0",
            "{me} reached the other"
        );
        // Its listener was up all along: the host reaches it, and it heard nobody else.
        let mut s = connect(format!("{address}:7777").parse().unwrap());
        tell(&mut s, "from-host\n");
        wait_for(&format!("{me} stopped"), || {
            w.backend.state(&w.store, me).unwrap().status == Status::Stopped
        });
        assert_eq!(w.read(&format!("{me}-heard")), "from-host");
    }
    for (me, ..) in envs {
        w.backend.delete(&w.store, me, false).unwrap();
        assert!(!host_end(&w, me).exists(), "{me}: host end left");
    }
}

#[test]
#[ignore = "needs root"]
fn ipv6_private_link_carries_tcp() {
    let w = World::new();
    let name = "net-v6";
    let script = "cat /proc/net/ipv6_route > /out/route6; \
                  echo pong6 | nc -l -p 7777 > /out/heard; echo done > /out/done";
    let spec = w.spec(
        name,
        script,
        &private("fd00:213:31::2/64", "fd00:213:31::1"),
    );
    w.backend.create(&spec, &w.store, &running()).unwrap();
    let mut s = connect("[fd00:213:31::2]:7777".parse().unwrap());
    assert_eq!(ask(&mut s, "ping6\n"), "pong6\n");
    drop(s);
    wait_file(&w, "done");
    // The default route (::/0) via the gateway on eth0.
    let route6 = w.read("route6");
    assert!(
        route6.lines().any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() == 10
                && f[0] == "00000000000000000000000000000000"
                && f[1] == "00"
                && f[4] == "fd000213003100000000000000000001"
                && f[9] == "eth0"
        }),
        "{route6}"
    );
    w.backend.delete(&w.store, name, true).unwrap();
    assert!(!host_end(&w, name).exists());
}

/// Runs `ip` (iproute2, installed by .ci/run) to make an interface stockade did not.
fn ip(args: &[&str]) {
    let status = std::process::Command::new("ip")
        .args(args)
        .status()
        .expect("ip(8) from iproute2 is needed to make a foreign interface");
    assert!(status.success(), "ip {args:?}: {status}");
}

#[test]
#[ignore = "needs root"]
fn an_existing_host_interface_of_that_name_fails_create_and_is_left_alone() {
    // An interface stockade did not make holds the host end's name (say a leftover, or an
    // environment of the same name under another state root): create must fail, say what
    // to do, and its undo must not delete the interface.
    let w = World::new();
    let name = "net-clash";
    let host_if = host_ifname(&w, name);
    // A veth pair: this kernel may lack the dummy driver, and veth is what stockade needs.
    ip(&[
        "link",
        "add",
        &host_if,
        "type",
        "veth",
        "peer",
        "name",
        "clash-peer",
    ]);
    let spec = w.spec(name, "sleep 100", &private("10.213.24.2/30", "10.213.24.1"));
    let err = w
        .backend
        .create(&spec, &w.store, &running())
        .map(|_| ())
        .unwrap_err()
        .to_string();
    let left = host_end(&w, name).exists();
    if left {
        ip(&["link", "delete", &host_if]);
    }
    assert!(err.contains("File exists"), "{err}");
    assert!(err.contains(&format!("ip link delete {host_if}")), "{err}");
    assert!(
        left,
        "the failed create deleted an interface it did not make"
    );
    assert!(!w.store.dir(name).exists(), "the failed create left state");
    assert!(common::cgroups_named(name).is_empty(), "cgroups left");
}

#[test]
#[ignore = "needs root"]
fn delete_force_after_a_creator_killed_at_the_network_steps_leaves_nothing() {
    for step in ["interface", "network", "released", "ready"] {
        let w = World::new();
        let name = format!("net-crash-{step}");
        let spec = w.spec(
            &name,
            "sleep 100",
            &private("10.213.26.2/30", "10.213.26.1"),
        );
        let opts = CreateOptions {
            stdio: Stdio::Detached,
            start: false,
        };
        let var = std::ffi::CString::new(step).unwrap();
        // The creator runs in a child process that SIGKILLs itself at `step`.
        // SAFETY: the child only sets a variable, calls the library and exits.
        match unsafe { nix::unistd::fork() }.unwrap() {
            nix::unistd::ForkResult::Child => {
                // Not std::env::set_var: it takes std's environment write lock, which a
                // thread of the parent (another test reading a variable) may have held
                // at fork time, and the child would wait on it forever.
                // SAFETY: both strings are NUL-terminated and live across the call; this
                // child has one thread, and glibc's setenv lock is never taken by the
                // parent's threads, which only read the environment.
                unsafe { libc::setenv(c"STOCKADE_TEST_CRASH_AT".as_ptr(), var.as_ptr(), 1) };
                let _ = w.backend.create(&spec, &w.store, &opts);
                // Reached only if the hook did not fire.
                // SAFETY: _exit ends the forked child without running the parent's destructors.
                unsafe { libc::_exit(0) };
            }
            nix::unistd::ForkResult::Parent { child } => {
                let status = nix::sys::wait::waitpid(child, None).unwrap();
                assert!(
                    matches!(
                        status,
                        nix::sys::wait::WaitStatus::Signaled(
                            _,
                            nix::sys::signal::Signal::SIGKILL,
                            _
                        )
                    ),
                    "{step}: creator was not killed: {status:?}"
                );
            }
        }
        let state = w.store.peek(&name).unwrap();
        assert!(
            state.resources.iter().any(|r| matches!(
                r,
                stockade_core::state::Resource::Interface { name: n } if *n == host_ifname(&w, &name)
            )),
            "{step}: interface not recorded: {state:?}"
        );
        // At "network" the pair was made: its host end lasts until the environment's
        // namespace is torn down (asynchronously, once the waiting first process has
        // gone), so delete must remove it whether or not it is still there.
        w.backend
            .delete(&w.store, &name, true)
            .unwrap_or_else(|e| panic!("{step}: {e}"));
        assert!(!host_end(&w, &name).exists(), "{step}: host end left");
        assert!(!w.store.dir(&name).exists(), "{step}: state left");
        assert!(
            common::cgroups_named(&name).is_empty(),
            "{step}: cgroups left"
        );
    }
}
