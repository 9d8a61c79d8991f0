//! A webhook receiver on a real loopback socket. It speaks just enough HTTP/1.1 by
//! hand to be able to misbehave in ways a framework would not let it: hang without
//! answering, or reset the connection mid-request.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How to answer one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// This status with an empty JSON body.
    Status(u16),
    /// This status with extra headers (e.g. `Retry-After`).
    StatusWith(u16, Vec<(String, String)>),
    /// Say nothing for this long, then 200.
    Hang(Duration),
    /// Say nothing for this long, then answer this status.
    Slow(Duration, u16),
    /// Close the connection with a TCP reset before answering.
    Reset,
    /// This status with exactly this body (bytes no JSON or text would allow).
    Body(u16, Vec<u8>),
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
    /// Which configured secrets verify its signature (indexes into `set_secrets`).
    pub verified_by: Vec<usize>,
    pub at: Instant,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

#[derive(Default)]
struct State {
    script: VecDeque<Reply>,
    default: Option<Reply>,
    secrets: Vec<String>,
    received: Vec<Received>,
}

/// A running receiver. Dropping it stops accepting connections.
pub struct Receiver {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock(m: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Receiver {
    /// Starts on an ephemeral loopback port, answering 200 by default.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind receiver");
        let addr = listener.local_addr().expect("receiver address");
        let state = Arc::new(Mutex::new(State::default()));
        let st = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let st = st.clone();
                tokio::spawn(async move {
                    let _ = serve(stream, st).await;
                });
            }
        });
        Self { addr, state, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Secrets (`whsec_…`) to verify signatures with.
    pub fn set_secrets(&self, secrets: Vec<String>) {
        lock(&self.state).secrets = secrets;
    }

    /// Replies for the next requests, in order; then the default.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        lock(&self.state).script.extend(replies);
    }

    pub fn set_default(&self, reply: Reply) {
        lock(&self.state).default = Some(reply);
    }

    pub fn received(&self) -> Vec<Received> {
        lock(&self.state).received.clone()
    }

    pub fn count(&self) -> usize {
        lock(&self.state).received.len()
    }

    /// Waits until at least `n` requests arrived; false on timeout.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> bool {
        crate::eventually(timeout, || async { self.count() >= n }).await
    }
}

async fn serve(mut stream: TcpStream, state: Arc<Mutex<State>>) -> std::io::Result<()> {
    let _ = stream.set_nodelay(true);
    let mut buf = Vec::with_capacity(8192);
    loop {
        // Read one request head.
        let head_end = loop {
            if let Some(pos) = find(&buf, b"\r\n\r\n") {
                break pos;
            }
            let mut chunk = [0u8; 8192];
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let request_line = lines.next().unwrap_or_default();
        let path = request_line.split(' ').nth(1).unwrap_or("/").to_owned();
        let mut headers = HashMap::new();
        for line in lines {
            if let Some((k, v)) = line.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
            }
        }
        let len: usize = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
        let body_start = head_end + 4;
        while buf.len() < body_start + len {
            let mut chunk = [0u8; 8192];
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let body = buf[body_start..body_start + len].to_vec();
        buf.drain(..body_start + len);

        let reply = {
            let mut st = lock(&state);
            let verified_by = verify(&st.secrets, &headers, &body);
            st.received.push(Received { path, headers, body, verified_by, at: Instant::now() });
            st.script.pop_front().or_else(|| st.default.clone()).unwrap_or(Reply::Status(200))
        };
        match reply {
            Reply::Status(code) => respond(&mut stream, code, &[]).await?,
            Reply::StatusWith(code, extra) => respond(&mut stream, code, &extra).await?,
            Reply::Body(code, body) => {
                let head = format!("HTTP/1.1 {code} X\r\ncontent-length: {}\r\n\r\n", body.len());
                stream.write_all(head.as_bytes()).await?;
                stream.write_all(&body).await?;
            }
            Reply::Hang(d) => {
                tokio::time::sleep(d).await;
                respond(&mut stream, 200, &[]).await?;
            }
            Reply::Slow(d, code) => {
                tokio::time::sleep(d).await;
                respond(&mut stream, code, &[]).await?;
            }
            Reply::Reset => {
                // SO_LINGER 0 turns close into a RST.
                #[allow(deprecated)]
                let _ = stream.set_linger(Some(Duration::ZERO));
                drop(stream);
                return Ok(());
            }
        }
    }
}

async fn respond(stream: &mut TcpStream, code: u16, extra: &[(String, String)]) -> std::io::Result<()> {
    let body = format!("{{\"received\":true,\"status\":{code}}}");
    let mut out = format!("HTTP/1.1 {code} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n", body.len());
    for (k, v) in extra {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(&body);
    stream.write_all(out.as_bytes()).await
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Verifies with the official `standardwebhooks` crate: an implementation independent
/// of Sluice's own signing code.
fn verify(secrets: &[String], headers: &HashMap<String, String>, body: &[u8]) -> Vec<usize> {
    let mut map = http::HeaderMap::new();
    for name in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
        if let Some(v) = headers.get(name).and_then(|v| http::HeaderValue::from_str(v).ok()) {
            map.insert(name, v);
        }
    }
    secrets
        .iter()
        .enumerate()
        .filter(|(_, s)| standardwebhooks::Webhook::new(s).and_then(|w| w.verify(body, &map)).is_ok())
        .map(|(i, _)| i)
        .collect()
}
