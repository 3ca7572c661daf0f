//! A fault-injecting HTTP/1.1 proxy on 127.0.0.1, put between dagship and a storage emulator. Each request is
//! read whole from the client, then (at a configurable rate, from a seeded xorshift sequence) answered with a
//! 503 or 429 (S3 XML or GCS JSON body), dropped with a TCP reset before or after the server saw it, delayed, or
//! forwarded with its response body cut short (Content-Length promises more than is sent). Everything else is
//! forwarded unchanged, one upstream connection per request. Counters say how many faults of each kind were
//! injected, so a test can assert that every kind really happened.
//!
//! Two more duties for the lock tests ([`FaultProxy::start_conditional`]):
//! - **Conditional requests are made atomic.** moto checks `If-Match`/`If-None-Match` and then writes in two steps
//!   on parallel threads, so two racing conditional writes could both pass (real S3 makes them atomic and answers
//!   the loser 409/412; in 6 direct runs of 8 racers moto never let two win, so for S3 this is a safeguard against
//!   a flaky test, not a fix); gcp-storage-emulator ignores `ifGenerationMatch` entirely (real GCS enforces it). The
//!   proxy runs every conditional request alone (one at a time), and for GCS checks the generation itself
//!   against the emulator's current metadata and answers 412 as GCS does. It enforces what dagship *sent*: a
//!   client that omitted the precondition would pass unchecked and the lock tests would catch the overlap.
//! - **A request log**: every request in the order the server answered, with its status, its body when small,
//!   and when it was forwarded and answered, so tests can split the log into lock-holding periods.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// The fault kinds, in the order the counters report them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fault {
    /// 503 with the server's "slow down" body, without forwarding.
    Unavailable,
    /// 429 Too Many Requests, without forwarding.
    TooMany,
    /// TCP reset before the request reaches the server.
    ResetBefore,
    /// TCP reset after the server applied the request: the write happened, its answer is lost.
    ResetAfter,
    /// Forwarded after a pause.
    Delay,
    /// Forwarded; the response's Content-Length promises more bytes than are sent before the close.
    Truncate,
}

pub const ALL_FAULTS: [Fault; 6] =
    [Fault::Unavailable, Fault::TooMany, Fault::ResetBefore, Fault::ResetAfter, Fault::Delay, Fault::Truncate];

/// Which error bodies to send: the emulator's API decides what a client can parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    S3,
    Gcs,
}

/// A tiny xorshift64* generator: reproducible from its seed, no crate needed.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A uniform number in [0, 1).
    fn fraction(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

struct Shared {
    upstream: String,
    flavor: Flavor,
    /// Faults per million requests; changed at run time with [`FaultProxy::set_rate`].
    rate_ppm: AtomicU64,
    /// From this request number on, every request gets a fault (a storm beyond any retry budget).
    storm_after: AtomicU64,
    kinds: Mutex<Vec<Fault>>,
    rng: Mutex<XorShift>,
    requests: AtomicU64,
    counts: [AtomicU64; 6],
    /// `METHOD target` of every request that can change the bucket (anything but GET and HEAD), in arrival order.
    writes: Mutex<Vec<String>>,
    rules: Mutex<Vec<Rule>>,
    /// Whether conditional requests are serialized (and, for GCS, enforced); see the module doc.
    conditional: bool,
    conditional_turn: tokio::sync::Mutex<()>,
    log: Mutex<Vec<Logged>>,
    started: Instant,
}

/// A fault aimed at one request: the `nth` (from 1) request with this method whose target contains `target`,
/// and every later one too when `nth_and_after` (a fault no retry can get past).
#[derive(Debug, Clone)]
pub struct Rule {
    pub method: &'static str,
    pub target: String,
    pub nth: u64,
    pub nth_and_after: bool,
    pub fault: Fault,
    seen: u64,
}

impl Rule {
    pub fn once(method: &'static str, target: &str, nth: u64, fault: Fault) -> Rule {
        Rule { method, target: target.into(), nth, nth_and_after: false, fault, seen: 0 }
    }

    pub fn from_then_on(method: &'static str, target: &str, nth: u64, fault: Fault) -> Rule {
        Rule { nth_and_after: true, ..Rule::once(method, target, nth, fault) }
    }
}

/// One request as the proxy forwarded it.
#[derive(Debug, Clone)]
pub struct Logged {
    pub method: String,
    /// The request target: path and query.
    pub target: String,
    /// The status the client got (0: no answer, the connection was reset).
    pub status: u16,
    /// The request body when at most 64 KiB.
    pub body: Vec<u8>,
    /// Since the proxy started: when the client had sent the request whole, when it went to the server (after
    /// any injected delay), and when the server's answer came back.
    pub received: Duration,
    pub forwarded: Duration,
    pub answered: Duration,
}

impl Logged {
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl Shared {
    /// The fault a rule aims at this request, if any.
    fn targeted(&self, method: &str, target: &str) -> Option<Fault> {
        let mut rules = self.rules.lock().unwrap();
        for rule in rules.iter_mut().filter(|rule| rule.method == method && target.contains(&rule.target)) {
            rule.seen += 1;
            if rule.seen == rule.nth || (rule.nth_and_after && rule.seen > rule.nth) {
                return Some(rule.fault);
            }
        }
        None
    }

    /// The fault for the next request, if any.
    fn decide(&self, method: &str, number: u64) -> Option<Fault> {
        let kinds = self.kinds.lock().unwrap().clone();
        let mut rng = self.rng.lock().unwrap();
        let roll = rng.fraction();
        let pick = rng.next();
        let storm = number >= self.storm_after.load(Ordering::SeqCst);
        if kinds.is_empty() || (!storm && roll * 1_000_000.0 >= self.rate_ppm.load(Ordering::SeqCst) as f64) {
            return None;
        }
        let fault = kinds[(pick % kinds.len() as u64) as usize];
        // A HEAD response has no body to cut short: a reset stands in for it.
        Some(if fault == Fault::Truncate && method == "HEAD" { Fault::ResetAfter } else { fault })
    }

    fn count(&self, fault: Fault) {
        let index = ALL_FAULTS.iter().position(|kind| *kind == fault).unwrap();
        self.counts[index].fetch_add(1, Ordering::SeqCst);
    }
}

/// A running proxy; it stops when dropped.
pub struct FaultProxy {
    pub url: String,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FaultProxy {
    /// Starts a proxy to `upstream` (`http://127.0.0.1:PORT`) injecting `kinds` into a `rate` share of requests.
    pub fn start(upstream: &str, flavor: Flavor, rate: f64, seed: u64, kinds: &[Fault]) -> FaultProxy {
        Self::start_with(upstream, flavor, rate, seed, kinds, false)
    }

    /// A proxy without faults that makes conditional requests atomic (and enforces GCS preconditions), with a
    /// request log: see the module doc.
    pub fn start_conditional(upstream: &str, flavor: Flavor) -> FaultProxy {
        Self::start_with(upstream, flavor, 0.0, 1, &[], true)
    }

    fn start_with(
        upstream: &str,
        flavor: Flavor,
        rate: f64,
        seed: u64,
        kinds: &[Fault],
        conditional: bool,
    ) -> FaultProxy {
        let upstream = upstream.trim_start_matches("http://").trim_end_matches('/').to_string();
        let shared = Arc::new(Shared {
            upstream,
            flavor,
            rate_ppm: AtomicU64::new((rate * 1_000_000.0) as u64),
            storm_after: AtomicU64::new(u64::MAX),
            kinds: Mutex::new(kinds.to_vec()),
            // xorshift must not start at zero.
            rng: Mutex::new(XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)),
            requests: AtomicU64::new(0),
            counts: Default::default(),
            writes: Mutex::new(Vec::new()),
            rules: Mutex::new(Vec::new()),
            conditional,
            conditional_turn: tokio::sync::Mutex::new(()),
            log: Mutex::new(Vec::new()),
            started: Instant::now(),
        });
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the fault proxy");
        std_listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", std_listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread_shared = shared.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            runtime.block_on(async move {
                let listener = TcpListener::from_std(std_listener).unwrap();
                let accept = async {
                    loop {
                        let Ok((client, _)) = listener.accept().await else { continue };
                        tokio::spawn(serve(client, thread_shared.clone()));
                    }
                };
                tokio::select! {
                    _ = accept => {}
                    _ = stopped => {}
                }
            });
            runtime.shutdown_timeout(Duration::from_millis(100));
        });
        FaultProxy { url, shared, stop: Some(stop), thread: Some(thread) }
    }

    pub fn set_rate(&self, rate: f64) {
        self.shared.rate_ppm.store((rate * 1_000_000.0) as u64, Ordering::SeqCst);
    }

    /// Every request from the `n`th (counted from the proxy's start) on gets a fault; `u64::MAX` ends the storm.
    pub fn set_storm_after(&self, n: u64) {
        self.shared.storm_after.store(n, Ordering::SeqCst);
    }

    pub fn set_kinds(&self, kinds: &[Fault]) {
        *self.shared.kinds.lock().unwrap() = kinds.to_vec();
    }

    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// Faults injected so far, by kind (every kind listed, zeros included).
    pub fn counts(&self) -> BTreeMap<Fault, u64> {
        ALL_FAULTS.iter().zip(&self.shared.counts).map(|(kind, count)| (*kind, count.load(Ordering::SeqCst))).collect()
    }

    /// Aims a fault at particular requests (the lock, the marker, a multipart part, a delete).
    pub fn add_rule(&self, rule: Rule) {
        self.shared.rules.lock().unwrap().push(rule);
    }

    /// Every request that reached the proxy and could change the bucket, as `METHOD target`: what "nothing was
    /// written" means, observed at the wire rather than inferred from a listing afterwards.
    pub fn writes(&self) -> Vec<String> {
        self.shared.writes.lock().unwrap().clone()
    }

    pub fn total_faults(&self) -> u64 {
        self.counts().values().sum()
    }

    /// Every request answered so far, in the order the answers came back.
    pub fn log(&self) -> Vec<Logged> {
        self.shared.log.lock().unwrap().clone()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One parsed HTTP/1.1 message head: the first line and the headers in order.
pub struct Head {
    pub first_line: String,
    pub headers: Vec<(String, String)>,
}

impl Head {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
    }

    fn is_chunked(&self) -> bool {
        self.header("transfer-encoding").is_some_and(|value| value.to_ascii_lowercase().contains("chunked"))
    }

    /// The head re-serialised without hop-by-hop and length headers, plus `extra` headers.
    pub fn render(&self, extra: &[(String, String)]) -> Vec<u8> {
        let mut text = format!("{}\r\n", self.first_line);
        for (key, value) in &self.headers {
            let hop = ["connection", "keep-alive", "transfer-encoding", "content-length", "expect", "proxy-connection"];
            if !hop.iter().any(|name| key.eq_ignore_ascii_case(name)) {
                text.push_str(&format!("{key}: {value}\r\n"));
            }
        }
        for (key, value) in extra {
            text.push_str(&format!("{key}: {value}\r\n"));
        }
        text.push_str("\r\n");
        text.into_bytes()
    }
}

pub async fn read_head<R: AsyncBufReadExt + Unpin>(reader: &mut R) -> std::io::Result<Option<Head>> {
    let mut first_line = String::new();
    if reader.read_line(&mut first_line).await? == 0 {
        return Ok(None);
    }
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await? == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "head cut short"));
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            break;
        }
        if let Some((key, value)) = line.split_once(':') {
            headers.push((key.trim().to_string(), value.trim().to_string()));
        }
    }
    Ok(Some(Head { first_line: first_line.trim_end_matches(['\r', '\n']).to_string(), headers }))
}

/// Reads a body framed by Content-Length or chunked encoding (or, with `to_eof`, by the connection's close).
pub async fn read_body<R: AsyncBufReadExt + Unpin>(
    reader: &mut R,
    head: &Head,
    to_eof: bool,
) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    if head.is_chunked() {
        loop {
            let mut size_line = String::new();
            reader.read_line(&mut size_line).await?;
            let size_text = size_line.trim().split(';').next().unwrap_or("0");
            let size = usize::from_str_radix(size_text, 16)
                .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "bad chunk size"))?;
            if size == 0 {
                // Trailers, up to the empty line.
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).await? == 0 || line.trim().is_empty() {
                        break;
                    }
                }
                return Ok(body);
            }
            let start = body.len();
            body.resize(start + size, 0);
            reader.read_exact(&mut body[start..]).await?;
            let mut crlf = String::new();
            reader.read_line(&mut crlf).await?;
        }
    }
    if let Some(length) = head.header("content-length") {
        let length: usize =
            length.parse().map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "bad length"))?;
        body.resize(length, 0);
        reader.read_exact(&mut body).await?;
    } else if to_eof {
        reader.read_to_end(&mut body).await?;
    }
    Ok(body)
}

/// Serves one client connection, request after request (keep-alive), until it closes or a fault drops it.
async fn serve(client: TcpStream, shared: Arc<Shared>) {
    let _ = client.set_nodelay(true);
    let mut client = BufReader::new(client);
    loop {
        let Ok(Some(head)) = read_head(&mut client).await else { return };
        if head.header("expect").is_some_and(|value| value.eq_ignore_ascii_case("100-continue"))
            && client.get_mut().write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await.is_err()
        {
            return;
        }
        let Ok(body) = read_body(&mut client, &head, false).await else { return };
        let received = shared.started.elapsed();
        let number = shared.requests.fetch_add(1, Ordering::SeqCst);
        let method = head.first_line.split(' ').next().unwrap_or("").to_string();
        let target = head.first_line.split(' ').nth(1).unwrap_or("").to_string();
        if method != "GET" && method != "HEAD" {
            shared.writes.lock().unwrap().push(format!("{method} {target}"));
        }
        let fault = shared.targeted(&method, &target).or_else(|| shared.decide(&method, number));
        if let Some(fault) = fault {
            shared.count(fault);
        }
        let stream = client.get_mut();
        match fault {
            Some(Fault::Unavailable) => {
                if stream.write_all(&error_response(shared.flavor, 503)).await.is_err() {
                    return;
                }
                continue;
            }
            Some(Fault::TooMany) => {
                if stream.write_all(&error_response(shared.flavor, 429)).await.is_err() {
                    return;
                }
                continue;
            }
            Some(Fault::ResetBefore) => {
                reset(client.into_inner());
                return;
            }
            Some(Fault::Delay) => {
                let pause = 50 + shared.rng.lock().unwrap().next() % 400;
                tokio::time::sleep(Duration::from_millis(pause)).await;
            }
            _ => {}
        }
        let forwarded = shared.started.elapsed();
        let turn =
            if shared.conditional && is_conditional(&head) { Some(shared.conditional_turn.lock().await) } else { None };
        let refused = match (&turn, shared.flavor) {
            (Some(_), Flavor::Gcs) => gcs_precondition_failed(&shared.upstream, &head, &body).await,
            _ => None,
        };
        let answer = match refused {
            Some(response) => Ok(response),
            None => forward(&shared.upstream, &head, &body).await,
        };
        drop(turn);
        let logged = Logged {
            method: method.clone(),
            target: head.first_line.split(' ').nth(1).unwrap_or("").to_string(),
            status: answer.as_ref().map_or(0, |(response, _)| {
                response.first_line.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or(0)
            }),
            body: if body.len() <= 64 * 1024 { body.clone() } else { Vec::new() },
            received,
            forwarded,
            answered: shared.started.elapsed(),
        };
        shared.log.lock().unwrap().push(logged);
        let Ok((response_head, response_body)) = answer else {
            // The emulator itself failed: the client sees a reset, as it would from a load balancer.
            reset(client.into_inner());
            return;
        };
        let stream = client.get_mut();
        let bodiless = method == "HEAD";
        match fault {
            Some(Fault::ResetAfter) => {
                reset(client.into_inner());
                return;
            }
            Some(Fault::Truncate) => {
                let promised = response_body.len() + 64;
                let mut bytes = response_head.render(&[("Content-Length".into(), promised.to_string())]);
                bytes.extend_from_slice(&response_body[..response_body.len() / 2]);
                let _ = stream.write_all(&bytes).await;
                let _ = stream.flush().await;
                // Closed after a short pause, so the client has read the partial body first.
                tokio::time::sleep(Duration::from_millis(20)).await;
                return;
            }
            _ => {
                let length = if bodiless {
                    response_head.header("content-length").unwrap_or("0").to_string()
                } else {
                    response_body.len().to_string()
                };
                let mut bytes = response_head.render(&[("Content-Length".into(), length)]);
                if !bodiless {
                    bytes.extend_from_slice(&response_body);
                }
                if stream.write_all(&bytes).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// A write with a precondition: S3 `If-Match`/`If-None-Match`, GCS `ifGenerationMatch`.
fn is_conditional(head: &Head) -> bool {
    let method = head.first_line.split(' ').next().unwrap_or("");
    matches!(method, "PUT" | "POST" | "DELETE")
        && (head.header("if-match").is_some()
            || head.header("if-none-match").is_some()
            || query_param(head, "ifGenerationMatch").is_some())
}

fn query_param(head: &Head, name: &str) -> Option<String> {
    let target = head.first_line.split(' ').nth(1)?;
    let query = target.split_once('?')?.1;
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key == name).then(|| percent_decode(value))
    })
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%'
            && index + 2 < bytes.len()
            && let Ok(byte) = u8::from_str_radix(&text[index + 1..index + 3], 16)
        {
            out.push(byte);
            index += 3;
        } else {
            out.push(if bytes[index] == b'+' { b' ' } else { bytes[index] });
            index += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// GCS's answer to a write whose `ifGenerationMatch` does not hold, checked against the emulator's metadata
/// (`0` = no live object); `None` when it holds (or names nothing this proxy understands).
async fn gcs_precondition_failed(upstream: &str, head: &Head, body: &[u8]) -> Option<(Head, Vec<u8>)> {
    let expected: i64 = query_param(head, "ifGenerationMatch")?.parse().ok()?;
    let target = head.first_line.split(' ').nth(1)?;
    let path = target.split('?').next()?;
    let after_bucket = path.split_once("/b/")?.1;
    let (bucket, rest) = after_bucket.split_once('/')?;
    let name = match rest.strip_prefix("o/") {
        Some(encoded) => percent_decode(encoded), // DELETE .../o/NAME
        None => query_param(head, "name").or_else(|| multipart_name(body))?, // uploads
    };
    let encoded: String = name
        .bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (byte as char).to_string(),
            _ => format!("%{byte:02X}"),
        })
        .collect();
    let lookup = Head {
        first_line: format!("GET /storage/v1/b/{bucket}/o/{encoded} HTTP/1.1"),
        headers: vec![("Host".into(), upstream.to_string())],
    };
    let (response, metadata) = forward(upstream, &lookup, &[]).await.ok()?;
    let current = if response.first_line.split(' ').nth(1) == Some("404") {
        0
    } else {
        let metadata: serde_json::Value = serde_json::from_slice(&metadata).ok()?;
        metadata["generation"].as_str()?.parse().ok()?
    };
    if current == expected {
        return None;
    }
    let body = format!(
        r#"{{"error":{{"code":412,"message":"At least one of the pre-conditions you specified did not hold. (generation {current}, expected {expected})","errors":[{{"reason":"conditionNotMet"}}]}}}}"#
    )
    .into_bytes();
    let head = Head {
        first_line: "HTTP/1.1 412 Precondition Failed".into(),
        headers: vec![("Content-Type".into(), "application/json".into())],
    };
    Some((head, body))
}

/// The object name in a multipart upload's JSON metadata part.
fn multipart_name(body: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(body);
    let start = text.find("\"name\":\"")? + "\"name\":\"".len();
    let value: String =
        serde_json::from_str(&format!("\"{}\"", &text[start..start + text[start..].find('"')?])).ok()?;
    Some(value)
}

/// Closes the socket with a TCP RST (linger 0) rather than a graceful FIN.
fn reset(stream: TcpStream) {
    let _ = stream.set_zero_linger();
    drop(stream);
}

/// Sends the request to the emulator on a fresh connection and reads the whole response.
pub async fn forward(upstream: &str, head: &Head, body: &[u8]) -> std::io::Result<(Head, Vec<u8>)> {
    let mut server = TcpStream::connect(upstream).await?;
    let mut request =
        head.render(&[("Content-Length".into(), body.len().to_string()), ("Connection".into(), "close".into())]);
    request.extend_from_slice(body);
    server.write_all(&request).await?;
    let mut reader = BufReader::new(server);
    let response_head = read_head(&mut reader)
        .await?
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "no response"))?;
    let method = head.first_line.split(' ').next().unwrap_or("");
    let status = response_head.first_line.split(' ').nth(1).unwrap_or("");
    let body = if method == "HEAD" || status == "204" || status == "304" {
        Vec::new()
    } else {
        read_body(&mut reader, &response_head, true).await?
    };
    Ok((response_head, body))
}

/// The error a throttled or overloaded server sends, in the API's own format.
fn error_response(flavor: Flavor, status: u16) -> Vec<u8> {
    let reason = if status == 503 { "Service Unavailable" } else { "Too Many Requests" };
    let (content_type, body) = match flavor {
        Flavor::S3 => (
            "application/xml",
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>Please reduce your \
                 request rate.</Message><RequestId>fault-proxy</RequestId></Error>",
                if status == 503 { "SlowDown" } else { "TooManyRequests" }
            ),
        ),
        Flavor::Gcs => (
            "application/json",
            format!(
                r#"{{"error":{{"code":{status},"message":"{reason} (injected)","errors":[{{"reason":"rateLimitExceeded","message":"{reason}"}}]}}}}"#
            ),
        ),
    };
    format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nx-amz-request-id: \
         fault-proxy\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}
