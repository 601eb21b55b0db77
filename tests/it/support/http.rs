//! A tiny blocking HTTP/1.1 server for stand-ins that real clients (skopeo, git) talk to: a
//! thread per connection, one request each, answered with `Connection: close`. A connection
//! that does not speak HTTP (skopeo's TLS hello before it falls back to http) is dropped.
//! Also HTTP Basic credentials, which both stand-ins check.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::Duration,
};

use base64::Engine;

/// One request.
#[derive(Debug, Clone)]
pub struct Request {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The query, without `?` (empty when none).
    pub query: String,
    /// Headers, names lowercased.
    pub headers: Vec<(String, String)>,
    /// The body (chunked bodies decoded).
    pub body: Vec<u8>,
}

impl Request {
    /// The first header named `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The `Authorization: Basic` user and password, if sent.
    pub fn basic_auth(&self) -> Option<(String, String)> {
        let encoded = self.header("authorization")?.strip_prefix("Basic ")?;
        let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (user, password) = text.split_once(':')?;
        Some((user.to_owned(), password.to_owned()))
    }
}

/// One answer.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers to send (Content-Length and Connection are added).
    pub headers: Vec<(String, String)>,
    /// The body (not sent for HEAD, though its length is).
    pub body: Vec<u8>,
}

impl Response {
    /// `status` with `body` and one Content-Type.
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Self { status, headers: vec![("Content-Type".into(), content_type.into())], body: body.into() }
    }

    /// 401 with a Basic challenge for `realm`.
    pub fn challenge(realm: &str) -> Self {
        Self::new(401, "text/plain", "authentication required\n")
            .with_header("WWW-Authenticate", &format!("Basic realm=\"{realm}\""))
    }

    /// This answer with one more header.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

/// What answers requests.
pub type Handler = dyn Fn(&Request) -> Response + Send + Sync;

/// A running server; dropping it stops accepting.
pub struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Serves `handler` on 127.0.0.1 at a free port.
    pub fn start(handler: impl Fn(&Request) -> Response + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the stand-in");
        let addr = listener.local_addr().expect("addr");
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let handler: Arc<Handler> = Arc::new(handler);
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let handler = Arc::clone(&handler);
                std::thread::spawn(move || serve(stream, &*handler));
            }
        });
        Self { addr, stop, thread: Some(thread) }
    }

    /// Serves `handler` to requests whose Basic user and password `accept` takes, and
    /// `challenge()` to the rest; records every password presented, in order.
    pub fn behind_basic_auth(
        accept: impl Fn(&str, &str) -> bool + Send + Sync + 'static,
        challenge: impl Fn() -> Response + Send + Sync + 'static,
        handler: impl Fn(&Request) -> Response + Send + Sync + 'static,
    ) -> (Self, Passwords) {
        let passwords = Passwords::default();
        let seen = Arc::clone(&passwords);
        let server = Self::start(move |request| {
            let credentials = request.basic_auth();
            if let Some((_, password)) = &credentials {
                seen.lock().expect("lock").push(password.clone());
            }
            match credentials {
                Some((user, password)) if accept(&user, &password) => handler(request),
                _ => challenge(),
            }
        });
        (server, passwords)
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }
}

/// The Basic passwords a [`Server::behind_basic_auth`] was shown.
pub type Passwords = Arc<std::sync::Mutex<Vec<String>>>;

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(stream: TcpStream, handler: &Handler) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let Ok(writer) = stream.try_clone() else { return };
    let mut reader = BufReader::new(stream);
    let Some(request) = read_request(&mut reader, writer.try_clone().ok()) else { return };
    let response = handler(&request);
    let _ = write_response(writer, &request, &response);
}

fn read_request(reader: &mut BufReader<TcpStream>, mut continue_to: Option<TcpStream>) -> Option<Request> {
    // A TLS hello starts with 0x16 and may hold no newline: drop it at once rather than wait.
    if !reader.fill_buf().ok()?.first()?.is_ascii_uppercase() {
        return None;
    }
    let line = read_line(reader)?;
    let mut parts = line.split(' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    if !version.starts_with("HTTP/1.") || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return None;
    }
    let mut headers = Vec::new();
    loop {
        let line = read_line(reader)?;
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut request = Request {
        method: method.to_owned(),
        path: path.to_owned(),
        query: query.to_owned(),
        headers,
        body: Vec::new(),
    };
    if request.header("expect").is_some_and(|e| e.eq_ignore_ascii_case("100-continue")) {
        continue_to.as_mut()?.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").ok()?;
    }
    request.body = read_body(reader, &request)?;
    Some(request)
}

fn read_body(reader: &mut BufReader<TcpStream>, request: &Request) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    if request.header("transfer-encoding").is_some_and(|t| t.eq_ignore_ascii_case("chunked")) {
        loop {
            let size = usize::from_str_radix(read_line(reader)?.split(';').next()?.trim(), 16).ok()?;
            if size == 0 {
                read_line(reader)?;
                return Some(body);
            }
            let start = body.len();
            body.resize(start + size, 0);
            reader.read_exact(&mut body[start..]).ok()?;
            read_line(reader)?;
        }
    }
    let length: usize = request.header("content-length").map_or(Some(0), |l| l.parse().ok())?;
    body.resize(length, 0);
    reader.read_exact(&mut body).ok()?;
    Some(body)
}

/// One CRLF- or LF-terminated line of at most 64 KiB, as text.
fn read_line(reader: &mut BufReader<TcpStream>) -> Option<String> {
    let mut line = Vec::new();
    reader.by_ref().take(64 * 1024).read_until(b'\n', &mut line).ok()?;
    if line.pop() != Some(b'\n') {
        return None;
    }
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    String::from_utf8(line).ok()
}

fn write_response(mut writer: TcpStream, request: &Request, response: &Response) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {} {}\r\n", response.status, reason(response.status));
    for (name, value) in &response.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\nConnection: close\r\n\r\n", response.body.len()));
    writer.write_all(head.as_bytes())?;
    if request.method != "HEAD" {
        writer.write_all(&response.body)?;
    }
    writer.flush()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        _ => "Status",
    }
}
