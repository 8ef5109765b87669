//! The `webhook` sink: POSTs the JSON over http or https (ureq, rustls with the Mozilla roots,
//! or the roots of the alert's `ca` file), each attempt bounded by the alert's timeout,
//! retried 3 times with a growing pause when the failure may pass (no answer, 5xx, 408, 429).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};

/// After the first attempt.
pub const RETRIES: u32 = 3;
/// Pause before retry n (1-based): `BACKOFF * 2^(n-1)`.
const BACKOFF: Duration = Duration::from_millis(250);

/// A prepared client for one alert (built once: reading the roots is not free).
pub struct Webhook {
    url: String,
    agent: ureq::Agent,
    /// Pauses between attempts; shortened by the tests.
    backoff: Duration,
}

impl Webhook {
    pub fn new(url: &str, ca: Option<&Path>, timeout: Duration) -> Result<Webhook, String> {
        let mut tls = TlsConfig::builder();
        if let Some(ca) = ca {
            tls = tls.root_certs(RootCerts::Specific(Arc::new(read_roots(ca)?)));
        }
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(concat!("taskmaster/", env!("CARGO_PKG_VERSION")))
            .tls_config(tls.build())
            .build()
            .into();
        Ok(Webhook {
            url: url.to_string(),
            agent,
            backoff: BACKOFF,
        })
    }

    #[doc(hidden)]
    pub fn with_backoff(mut self, backoff: Duration) -> Webhook {
        self.backoff = backoff;
        self
    }

    /// POSTs `json`, retrying; the error names the host (never the path: chat hooks keep
    /// their secret there) and the last failure.
    pub fn post(&self, json: &str) -> Result<(), String> {
        let mut last = String::new();
        for attempt in 0..=RETRIES {
            if attempt > 0 {
                std::thread::sleep(self.backoff * 2u32.pow(attempt - 1));
            }
            match self.try_once(json) {
                Ok(()) => return Ok(()),
                Err((why, retry)) => {
                    last = why;
                    if !retry {
                        return Err(format!("webhook {}: {last}", self.site()));
                    }
                }
            }
        }
        Err(format!(
            "webhook {}: {last} ({} attempts)",
            self.site(),
            RETRIES + 1
        ))
    }

    /// One POST; on failure, why and whether another try may do better.
    fn try_once(&self, json: &str) -> Result<(), (String, bool)> {
        let resp = self
            .agent
            .post(&self.url)
            .header("content-type", "application/json")
            .send(json)
            .map_err(|e| (describe(&e), true))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        let retry = status.is_server_error() || matches!(status.as_u16(), 408 | 429);
        Err((format!("HTTP {status}"), retry))
    }

    /// `https://hooks.example.com`.
    fn site(&self) -> String {
        match self.url.parse::<ureq::http::Uri>() {
            Ok(u) => format!(
                "{}://{}",
                u.scheme_str().unwrap_or("http"),
                u.authority().map(|a| a.as_str()).unwrap_or("?")
            ),
            Err(_) => "(bad URL)".to_string(),
        }
    }
}

fn describe(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Timeout(_) => "no answer within the timeout".to_string(),
        ureq::Error::Io(io) => io.to_string(),
        other => other.to_string(),
    }
}

fn read_roots(ca: &Path) -> Result<Vec<Certificate<'static>>, String> {
    let pem = std::fs::read(ca).map_err(|e| format!("cannot read ca {}: {e}", ca.display()))?;
    let roots: Vec<Certificate<'static>> = ureq::tls::parse_pem(&pem)
        .filter_map(|item| match item {
            Ok(PemItem::Certificate(c)) => Some(c),
            _ => None,
        })
        .collect();
    if roots.is_empty() {
        return Err(format!("no certificate in ca {}", ca.display()));
    }
    Ok(roots)
}
