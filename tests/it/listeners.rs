//! Every listener's limits against hostile clients: oversized request heads are refused, slow
//! clients and clients that pipeline without reading are cut off, and the probes keep
//! answering meanwhile.

use crate::support;

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpStream},
    time::Duration,
};

use support::{
    agent::Sandbox,
    emulator::Emulator,
    running::{RunningAgent, get},
};

const EMAIL: &str = "listeners@emulator-project.iam.gserviceaccount.com";

/// A ready agent with both listeners, on a fresh emulator; the emulator and sandbox live as
/// long as the agent.
fn agent() -> (RunningAgent, Emulator, Sandbox) {
    let emulator = Emulator::start();
    let sandbox = Sandbox::new();
    let key = emulator.add_service_account(EMAIL);
    let path = sandbox.path("key.json");
    key.write_to(&path).expect("write key");
    let agent = RunningAgent::start(&sandbox, &["--credentials", path.to_str().expect("utf8")]);
    agent.wait_ready();
    (agent, emulator, sandbox)
}

/// Sends a request head carrying one `size`-byte header to `addr`; the answer's status, or
/// `None` when the server reset the connection before one could be read (it closes with the
/// rest of the head unread).
pub(crate) fn oversized_head(addr: SocketAddr, path: &str, size: usize) -> Option<u16> {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(40))).expect("timeout");
    let head = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nMetadata-Flavor: Google\r\nX-Pad: {}\r\nConnection: close\r\n\r\n",
        "a".repeat(size)
    );
    // The server may stop reading (and close) part-way: the write then fails, which is fine.
    let _ = stream.write_all(head.as_bytes());
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer);
    text.split_whitespace().nth(1).and_then(|status| status.parse().ok())
}

#[test]
fn a_request_head_of_300_kib_is_refused_on_both_listeners_and_probes_still_answer() {
    let (agent, _emulator, _sandbox) = agent();
    let admin = agent.admin.expect("admin");
    let metadata = agent.metadata.expect("metadata");
    let token = "/computeMetadata/v1/instance/service-accounts/default/token";
    for (addr, path) in [(admin, "/healthz"), (metadata, token)] {
        for _ in 0..20 {
            let status = oversized_head(addr, path, 300 << 10);
            // Under the old limits (a ~400 KiB buffer) this was served: 200.
            assert!(matches!(status, Some(431) | None), "{path}: {status:?}");
        }
    }
    assert_eq!(get(admin, "/healthz", &[]).status, 200);
    assert_eq!(agent.metadata_get(token).status, 200);
}

#[test]
fn probes_answer_while_a_hundred_slow_clients_hold_connections() {
    let (agent, _emulator, _sandbox) = agent();
    let admin = agent.admin.expect("admin");
    // Each sends part of a head and stalls: a slowloris.
    let mut slow: Vec<TcpStream> = (0..100)
        .map(|_| {
            let mut stream = TcpStream::connect(admin).expect("connect");
            stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ").expect("write");
            stream
        })
        .collect();
    assert_eq!(get(admin, "/healthz", &[]).status, 200);
    assert_eq!(get(admin, "/readyz", &[]).status, 200);
    assert_eq!(get(admin, "/metrics", &[]).status, 200);
    // The server gives up on each of them (the header deadline): EOF, or a 408, then EOF.
    for stream in &mut slow {
        stream.set_read_timeout(Some(Duration::from_secs(40))).expect("timeout");
        let mut rest = Vec::new();
        let _ = stream.read_to_end(&mut rest);
        let text = String::from_utf8_lossy(&rest);
        assert!(text.is_empty() || text.starts_with("HTTP/1.1 408"), "{text}");
    }
}

/// Whether the agent's side of the connection from `client` to `server` (both on 127.0.0.1)
/// is still established, from /proc/net/tcp.
fn established(server: SocketAddr, client: SocketAddr) -> bool {
    let table = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp");
    let local = format!("0100007F:{:04X}", server.port());
    let remote = format!("0100007F:{:04X}", client.port());
    table.lines().any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        fields.len() > 3 && fields[1] == local && fields[2] == remote && fields[3] == "01"
    })
}

#[test]
fn a_client_that_pipelines_requests_and_never_reads_is_cut_off() {
    let (agent, _emulator, _sandbox) = agent();
    let admin = agent.admin.expect("admin");
    let stream = TcpStream::connect(admin).expect("connect");
    let client = stream.local_addr().expect("local address");
    let mut writer = stream.try_clone().expect("clone");
    // Far more answers than the socket buffers hold; written from a thread, since the agent
    // stops reading once its answers back up.
    std::thread::spawn(move || {
        let request = format!("GET /metrics HTTP/1.1\r\nHost: {admin}\r\n\r\n");
        for _ in 0..20_000 {
            if writer.write_all(request.as_bytes()).is_err() {
                return;
            }
        }
    });
    agent.wait_until(Duration::from_secs(5), "the connection to be served", || established(admin, client));
    // Probes answer meanwhile, on connections of their own.
    assert_eq!(get(admin, "/healthz", &[]).status, 200);
    // The write deadline closes the stuck connection (it never did before: the slot was held
    // for as long as the client stayed).
    agent.wait_until(Duration::from_secs(60), "the agent to drop the connection", || {
        !established(admin, client)
    });
    assert_eq!(get(admin, "/healthz", &[]).status, 200);
    drop(stream);
}
