//! Sends one delivery over HTTP: builds the signed Standard Webhooks request, enforces
//! the outbound-safety rule, and turns whatever happened into an attempt record.

use std::error::Error as StdError;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use sluice_core::model::ErrorClass;
use sluice_core::signing;

use super::egress::{is_blocked, refusal, AllowedPorts};
use crate::store::{AttemptRecord, Claimed};

/// Bytes of a response body kept on the attempt.
pub const MAX_RESPONSE_BODY: usize = 8 * 1024;

/// What an attempt produced, before the engine decides what comes next.
#[derive(Debug, Clone)]
pub struct SendResult {
    pub record: AttemptRecord,
}

/// A pooled HTTP client that refuses private targets unless allowed.
#[derive(Clone)]
pub struct Sender {
    client: reqwest::Client,
    allow_private: bool,
    ports: AllowedPorts,
    user_agent: String,
}

/// Connecting to this address is refused by policy (`SLUICE_ALLOW_PRIVATE_TARGETS`).
#[derive(Debug)]
struct BlockedTarget(String);
impl std::fmt::Display for BlockedTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} resolves only to private, loopback or link-local addresses, which are not allowed", self.0)
    }
}
impl StdError for BlockedTarget {}

#[derive(Debug)]
struct DnsFailure(String);
impl std::fmt::Display for DnsFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DNS lookup failed: {}", self.0)
    }
}
impl StdError for DnsFailure {}

/// Resolves names and drops addresses we must not connect to. Checking here, at
/// connect time, rather than when the endpoint is saved, defeats DNS rebinding.
struct SafeResolver {
    allow_private: bool,
}

impl Resolve for SafeResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|e| Box::new(DnsFailure(format!("{host}: {e}"))) as Box<dyn StdError + Send + Sync>)?
                .collect();
            let allowed: Vec<SocketAddr> = addrs.into_iter().filter(|a| allow_private || !is_blocked(a.ip())).collect();
            if allowed.is_empty() {
                return Err(Box::new(BlockedTarget(host)) as Box<dyn StdError + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

impl Sender {
    pub fn new(
        timeout: Duration,
        allow_private: bool,
        ports: AllowedPorts,
        max_idle_per_host: usize,
    ) -> anyhow::Result<Self> {
        let user_agent = format!("Sluice/{}", env!("CARGO_PKG_VERSION"));
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(max_idle_per_host)
            .pool_idle_timeout(Duration::from_secs(60))
            .tcp_nodelay(true)
            .dns_resolver(Arc::new(SafeResolver { allow_private }))
            // reqwest honours HTTP_PROXY, HTTPS_PROXY and ALL_PROXY by default; through
            // a proxy the target's name is resolved by the proxy, never by SafeResolver,
            // so a stray variable in the service's environment would switch the address
            // rules off. Deliveries go direct, always.
            .no_proxy()
            .build()?;
        Ok(Self { client, allow_private, ports, user_agent })
    }

    /// Makes one attempt. Never fails: every failure becomes an attempt record.
    pub async fn send(&self, url: &str, keys: &[Vec<u8>], claimed: &Claimed) -> SendResult {
        let started_at_ms = crate::ids::now_ms();
        let started = Instant::now();
        let timestamp = started_at_ms / 1000;
        let sent_at =
            crate::store::ms_to_dt(claimed.message_created_at_ms).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let body = signing::envelope(&claimed.event_type, &sent_at, &claimed.payload);
        let signature = signing::signature_header(
            keys.iter().map(Vec::as_slice),
            claimed.message_id.as_str(),
            timestamp,
            body.as_bytes(),
        );

        let mut request_headers = serde_json::Map::new();
        for (k, v) in [
            ("content-type", "application/json".to_owned()),
            ("user-agent", self.user_agent.clone()),
            ("webhook-id", claimed.message_id.to_string()),
            ("webhook-timestamp", timestamp.to_string()),
            ("webhook-signature", signature.clone()),
        ] {
            request_headers.insert(k.into(), serde_json::Value::String(v));
        }

        let mut record = AttemptRecord {
            id: crate::ids::new_id(),
            delivery_id: claimed.delivery_id.clone(),
            message_id: claimed.message_id.clone(),
            endpoint_id: claimed.endpoint_id.clone(),
            tenant_id: claimed.tenant_id.clone(),
            number: claimed.attempts + 1,
            trigger: claimed.trigger,
            url: url.to_owned(),
            started_at_ms,
            duration_ms: 0,
            request_headers: serde_json::Value::Object(request_headers).to_string(),
            response_status: None,
            response_headers: None,
            response_body: None,
            error_class: None,
            error_message: None,
            retry_after_seconds: None,
        };

        // IP literals never reach the resolver, so they are checked here, with the port.
        if let Some(blocked) = refusal(url, self.allow_private, &self.ports) {
            record.error_class = Some(ErrorClass::BlockedTarget);
            record.error_message = Some(blocked);
            return SendResult { record };
        }

        let response = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("user-agent", &self.user_agent)
            .header("webhook-id", claimed.message_id.as_str())
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await;

        match response {
            Ok(mut resp) => {
                let status = resp.status().as_u16();
                record.response_status = Some(i64::from(status));
                record.error_class = ErrorClass::of_status(status);
                let mut headers = serde_json::Map::new();
                for (name, value) in resp.headers() {
                    let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                    match headers.get_mut(name.as_str()) {
                        Some(serde_json::Value::String(existing)) => {
                            existing.push_str(", ");
                            existing.push_str(&value);
                        }
                        _ => {
                            headers.insert(name.as_str().to_owned(), serde_json::Value::String(value));
                        }
                    }
                }
                if status == 429 || status == 503 {
                    record.retry_after_seconds = resp
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(parse_retry_after)
                        .and_then(|s| i64::try_from(s).ok());
                }
                record.response_headers = Some(serde_json::Value::Object(headers).to_string());
                // Keep the start of the body; stop reading after the limit so a huge or
                // endless response cannot hold a worker.
                let mut body = Vec::new();
                loop {
                    match resp.chunk().await {
                        Ok(Some(chunk)) => {
                            let room = MAX_RESPONSE_BODY - body.len();
                            body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                            if body.len() >= MAX_RESPONSE_BODY {
                                break;
                            }
                        }
                        Ok(None) => break,
                        Err(e) => {
                            // The status already arrived: a body that breaks off after a 2xx
                            // still counts as delivered. Note it for the partner.
                            record.error_message = Some(format!("reading the response body failed: {}", chain(&e)));
                            break;
                        }
                    }
                }
                record.response_body = Some(storable_text(&body));
                if let Some(class) = record.error_class {
                    if record.error_message.is_none() {
                        record.error_message = Some(format!("endpoint answered {status} ({})", class.as_str()));
                    }
                }
            }
            Err(e) => {
                record.error_class = Some(classify(&e));
                record.error_message = Some(chain(&e));
            }
        }
        record.error_message = record.error_message.map(|m| m.replace('\0', "\u{FFFD}"));
        record.duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        SendResult { record }
    }
}

/// A receiver's bytes as text the database can keep: invalid UTF-8 and U+0000 (which
/// PostgreSQL refuses in text, failing the whole batch of outcomes) become U+FFFD.
fn storable_text(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    // Almost every reply has no NUL: no second copy for those.
    if text.contains('\0') {
        text.replace('\0', "\u{FFFD}")
    } else {
        text.into_owned()
    }
}

/// `Retry-After` as seconds or an HTTP date, clamped to what we honour.
pub fn parse_retry_after(value: &str) -> Option<u64> {
    let value = value.trim();
    let seconds = match value.parse::<u64>() {
        Ok(s) => s,
        Err(_) => {
            let at = httpdate::parse_http_date(value).ok()?;
            at.duration_since(std::time::SystemTime::now()).map(|d| d.as_secs()).unwrap_or(0)
        }
    };
    Some(sluice_core::retry::clamp_retry_after(seconds))
}

fn classify(e: &reqwest::Error) -> ErrorClass {
    if e.is_timeout() {
        return ErrorClass::Timeout;
    }
    let mut source: Option<&(dyn StdError + 'static)> = e.source();
    while let Some(s) = source {
        if s.is::<BlockedTarget>() {
            return ErrorClass::BlockedTarget;
        }
        if s.is::<DnsFailure>() {
            return ErrorClass::Dns;
        }
        if s.is::<rustls::Error>() {
            return ErrorClass::Tls;
        }
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::TimedOut {
                return ErrorClass::Timeout;
            }
            if io.get_ref().is_some_and(|inner| inner.is::<rustls::Error>()) {
                return ErrorClass::Tls;
            }
        }
        source = s.source();
    }
    if e.is_connect() || e.is_request() || e.is_body() {
        ErrorClass::Connect
    } else {
        ErrorClass::Other
    }
}

/// The whole cause chain in one line: reqwest's top-level message alone ("error
/// sending request") tells a partner nothing.
fn chain(e: &dyn StdError) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("5"), Some(5));
        assert_eq!(parse_retry_after("0"), Some(1));
        assert_eq!(parse_retry_after("999999"), Some(3600));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), Some(1), "a past date means now");
        assert_eq!(parse_retry_after("soon"), None);
    }
}
