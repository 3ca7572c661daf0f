//! A proxy on 127.0.0.1 that rewrites what passes between dagship and an emulator, to make the emulator behave
//! like the real service where it does not:
//! - [`Kms`]: moto as an SSE-KMS bucket. Every ETag (response headers and ListObjectsV2 bodies) becomes another
//!   32-hex value that is not the content's MD5 (the digits reversed, so the same object always shows the same
//!   ETag; ETags sent back in `If-Match` are turned back), and uploads answer `x-amz-server-side-encryption:
//!   aws:kms`. moto cannot encrypt with KMS; the ETag is the part of SSE-KMS a deploy tool can get wrong.
//! - [`GcsPages`]: the GCS emulator ignores `maxResults` and answers every listing in one page; real GCS pages.
//!   The proxy cuts each listing into pages of a few objects with `nextPageToken`s, so a client that does not
//!   follow them sees only the first page.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use super::fault_proxy::{Head, forward, read_body, read_head};

/// What a proxy changes in each exchange.
pub trait Rewrite: Send + Sync + 'static {
    /// Changes the request before it is forwarded; returns a note for `response`.
    fn request(&self, _head: &mut Head) -> String {
        String::new()
    }
    /// Changes the server's answer before dagship gets it.
    fn response(&self, note: &str, method: &str, head: &mut Head, body: &mut Vec<u8>);
}

pub struct RewritingProxy {
    pub url: String,
    /// Exchanges whose answer was rewritten in a way that matters (a page cut, an ETag replaced).
    rewritten: Arc<AtomicU64>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RewritingProxy {
    pub fn kms(upstream: &str) -> RewritingProxy {
        RewritingProxy::start(upstream, Arc::new(Kms))
    }

    /// Listings cut into pages of `page` objects.
    pub fn gcs_pages(upstream: &str, page: usize) -> RewritingProxy {
        RewritingProxy::start(upstream, Arc::new(GcsPages { page }))
    }

    pub fn start(upstream: &str, rewrite: Arc<dyn Rewrite>) -> RewritingProxy {
        let upstream = upstream.trim_start_matches("http://").trim_end_matches('/').to_string();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the rewriting proxy");
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let rewritten = Arc::new(AtomicU64::new(0));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let counter = rewritten.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            runtime.block_on(async move {
                let listener = TcpListener::from_std(listener).unwrap();
                let accept = async {
                    loop {
                        let Ok((client, _)) = listener.accept().await else { continue };
                        tokio::spawn(serve(client, upstream.clone(), rewrite.clone(), counter.clone()));
                    }
                };
                tokio::select! {
                    _ = accept => {}
                    _ = stopped => {}
                }
            });
            runtime.shutdown_timeout(Duration::from_millis(100));
        });
        RewritingProxy { url, rewritten, stop: Some(stop), thread: Some(thread) }
    }

    /// How many answers were rewritten so far.
    pub fn rewritten(&self) -> u64 {
        self.rewritten.load(Ordering::SeqCst)
    }
}

impl Drop for RewritingProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn serve(client: TcpStream, upstream: String, rewrite: Arc<dyn Rewrite>, rewritten: Arc<AtomicU64>) {
    let (read, mut write) = client.into_split();
    let mut reader = BufReader::new(read);
    loop {
        let Ok(Some(mut head)) = read_head(&mut reader).await else { return };
        if head.header("expect").is_some_and(|value| value.eq_ignore_ascii_case("100-continue"))
            && write.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await.is_err()
        {
            return;
        }
        let Ok(body) = read_body(&mut reader, &head, false).await else { return };
        let note = rewrite.request(&mut head);
        let Ok((mut response, mut response_body)) = forward(&upstream, &head, &body).await else { return };
        let method = head.first_line.split(' ').next().unwrap_or("").to_string();
        let before = (response.headers.clone(), response_body.clone());
        rewrite.response(&note, &method, &mut response, &mut response_body);
        if before != (response.headers.clone(), response_body.clone()) {
            rewritten.fetch_add(1, Ordering::SeqCst);
        }
        let length = if method == "HEAD" {
            response.header("content-length").unwrap_or("0").to_string()
        } else {
            response_body.len().to_string()
        };
        let mut bytes = response.render(&[("Content-Length".into(), length)]);
        if method != "HEAD" {
            bytes.extend_from_slice(&response_body);
        }
        if write.write_all(&bytes).await.is_err() {
            return;
        }
    }
}

/// moto's answers as an SSE-KMS bucket's.
pub struct Kms;

/// The 32-hex runs of `text` reversed: an ETag that is no longer the MD5 (and back: reversing is an involution).
pub fn disguise(text: &str) -> String {
    let mut out = String::new();
    let mut run = String::new();
    for c in text.chars() {
        if c.is_ascii_hexdigit() {
            run.push(c);
            continue;
        }
        out.push_str(&flip(&run));
        run.clear();
        out.push(c);
    }
    out.push_str(&flip(&run));
    out
}

fn flip(run: &str) -> String {
    if run.len() == 32 { run.chars().rev().collect() } else { run.to_string() }
}

impl Rewrite for Kms {
    fn request(&self, head: &mut Head) -> String {
        for (key, value) in &mut head.headers {
            if key.eq_ignore_ascii_case("if-match") || key.eq_ignore_ascii_case("if-none-match") {
                *value = disguise(value);
            }
        }
        String::new()
    }

    fn response(&self, _: &str, method: &str, head: &mut Head, body: &mut Vec<u8>) {
        for (key, value) in &mut head.headers {
            if key.eq_ignore_ascii_case("etag") {
                *value = disguise(value);
            }
        }
        if method == "PUT" {
            head.headers.push(("x-amz-server-side-encryption".into(), "aws:kms".into()));
        }
        let text = String::from_utf8_lossy(body).into_owned();
        if !text.contains("<ETag>") {
            return;
        }
        let mut rewritten = String::new();
        let mut rest = text.as_str();
        while let Some(start) = rest.find("<ETag>") {
            let end = rest[start..].find("</ETag>").map_or(rest.len(), |end| start + end);
            rewritten.push_str(&rest[..start]);
            rewritten.push_str(&disguise(&rest[start..end]));
            rest = &rest[end..];
        }
        rewritten.push_str(rest);
        *body = rewritten.into_bytes();
    }
}

/// GCS object listings in pages of `page` objects.
pub struct GcsPages {
    page: usize,
}

impl Rewrite for GcsPages {
    /// A listing's `pageToken` is this proxy's own (an offset): taken off before the emulator sees it.
    fn request(&self, head: &mut Head) -> String {
        let mut parts = head.first_line.splitn(3, ' ');
        let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next()) else {
            return String::new();
        };
        let Some((path, query)) = target.split_once('?') else { return String::new() };
        if method != "GET" || !path.ends_with("/o") {
            return String::new();
        }
        let mut offset = "0".to_string();
        let kept: Vec<&str> = query
            .split('&')
            .filter(|pair| match pair.strip_prefix("pageToken=") {
                Some(token) => {
                    offset = token.to_string();
                    false
                }
                None => true,
            })
            .collect();
        head.first_line = format!("{method} {path}?{} {version}", kept.join("&"));
        offset
    }

    fn response(&self, offset: &str, _: &str, _: &mut Head, body: &mut Vec<u8>) {
        let Ok(offset) = offset.parse::<usize>() else { return };
        let Ok(mut listing) = serde_json::from_slice::<serde_json::Value>(body) else { return };
        let Some(items) = listing.get("items").and_then(|items| items.as_array()).cloned() else { return };
        let end = (offset + self.page).min(items.len());
        listing["items"] = serde_json::Value::Array(items[offset.min(end)..end].to_vec());
        if end < items.len() {
            listing["nextPageToken"] = serde_json::Value::String(end.to_string());
        } else if let Some(object) = listing.as_object_mut() {
            object.remove("nextPageToken");
        }
        *body = serde_json::to_vec(&listing).unwrap();
    }
}
