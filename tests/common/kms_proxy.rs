//! A proxy in front of moto that makes its answers look like an SSE-KMS bucket's: every ETag (response headers
//! and ListObjectsV2 bodies) becomes another 32-hex value that is not the content's MD5 (the digits reversed, so
//! the same object always shows the same ETag; ETags in `If-Match` are turned back), and uploads answer
//! `x-amz-server-side-encryption: aws:kms`.
//! moto cannot encrypt with KMS; the ETag is the part of SSE-KMS a deploy tool can get wrong.
#![allow(dead_code)]

use std::time::Duration;

use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use super::fault_proxy::{forward, read_body, read_head};

pub struct KmsProxy {
    pub url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl KmsProxy {
    pub fn start(upstream: &str) -> KmsProxy {
        let upstream = upstream.trim_start_matches("http://").trim_end_matches('/').to_string();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the KMS proxy");
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            runtime.block_on(async move {
                let listener = TcpListener::from_std(listener).unwrap();
                let accept = async {
                    loop {
                        let Ok((client, _)) = listener.accept().await else { continue };
                        tokio::spawn(serve(client, upstream.clone()));
                    }
                };
                tokio::select! {
                    _ = accept => {}
                    _ = stopped => {}
                }
            });
            runtime.shutdown_timeout(Duration::from_millis(100));
        });
        KmsProxy { url, stop: Some(stop), thread: Some(thread) }
    }
}

impl Drop for KmsProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The 32-hex runs of `text` reversed: an ETag that is no longer the MD5.
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

async fn serve(client: TcpStream, upstream: String) {
    let (read, mut write) = client.into_split();
    let mut reader = BufReader::new(read);
    loop {
        let Ok(Some(head)) = read_head(&mut reader).await else { return };
        if head.header("expect").is_some_and(|value| value.eq_ignore_ascii_case("100-continue"))
            && write.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await.is_err()
        {
            return;
        }
        let Ok(body) = read_body(&mut reader, &head, false).await else { return };
        // The ETags dagship sends back (conditional writes of the lock) are the ones it was shown: turned back
        // into the server's own, as a real KMS bucket would compare them (reversing is its own inverse).
        let mut head = head;
        for (key, value) in &mut head.headers {
            if key.eq_ignore_ascii_case("if-match") || key.eq_ignore_ascii_case("if-none-match") {
                *value = disguise(value);
            }
        }
        let Ok((mut response, mut response_body)) = forward(&upstream, &head, &body).await else { return };
        let method = head.first_line.split(' ').next().unwrap_or("").to_string();
        for (key, value) in &mut response.headers {
            if key.eq_ignore_ascii_case("etag") {
                *value = disguise(value);
            }
        }
        if method == "PUT" {
            response.headers.push(("x-amz-server-side-encryption".into(), "aws:kms".into()));
        }
        let text = String::from_utf8_lossy(&response_body).into_owned();
        if text.contains("<ETag>") {
            let mut rewritten = String::new();
            let mut rest = text.as_str();
            while let Some(start) = rest.find("<ETag>") {
                let end = rest[start..].find("</ETag>").map_or(rest.len(), |end| start + end);
                rewritten.push_str(&rest[..start]);
                rewritten.push_str(&disguise(&rest[start..end]));
                rest = &rest[end..];
            }
            rewritten.push_str(rest);
            response_body = rewritten.into_bytes();
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
