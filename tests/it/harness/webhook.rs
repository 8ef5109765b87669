//! A real endpoint for the alert tests: an HTTP (or HTTPS, with a self-signed certificate
//! made by rcgen) listener that records every request and answers as told. It is here, not
//! in alerts.rs, because chaos_alerts.rs sends to it too.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// How the test server answers.
#[derive(Debug, Clone, Copy)]
pub enum Answer {
    Status(u16),
    /// Reads the request, then never answers (holds the connection until the test ends).
    Never,
    /// Answers 200 after this long.
    After(Duration),
}

#[derive(Debug, Clone)]
pub struct Received {
    pub at: Instant,
    pub path: String,
    pub headers: String,
    pub body: String,
}

/// Set once when the [`Hook`] is dropped; what waits for it blocks (no polling).
#[derive(Default)]
struct Stop {
    done: Mutex<bool>,
    cv: Condvar,
}

impl Stop {
    fn set(&self) {
        *self.done.lock().expect("stop lock") = true;
        self.cv.notify_all();
    }

    fn is_set(&self) -> bool {
        *self.done.lock().expect("stop lock")
    }

    fn wait(&self) {
        let done = self.done.lock().expect("stop lock");
        let _done = self.cv.wait_while(done, |d| !*d).expect("stop lock");
    }
}

/// A listener on 127.0.0.1 with its thread; stops accepting on drop.
pub struct Hook {
    pub port: u16,
    pub got: Arc<Mutex<Vec<Received>>>,
    stop: Arc<Stop>,
    /// PEM of the self-signed certificate when serving https.
    pub cert_pem: Option<String>,
}

impl Hook {
    pub fn http(answer: Answer) -> Hook {
        Hook::start(answer, None)
    }

    /// HTTPS with a fresh self-signed certificate for 127.0.0.1 and localhost.
    pub fn https(answer: Answer) -> Hook {
        let cert = rcgen::generate_simple_self_signed(vec![
            "127.0.0.1".to_string(),
            "localhost".to_string(),
        ])
        .expect("self-signed certificate");
        let cert_der = cert.cert.der().clone();
        let key_der = rustls::pki_types::PrivateKeyDer::try_from(cert.key_pair.serialize_der())
            .expect("key der");
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("tls versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert_der], key_der)
        .expect("server config");
        let mut hook = Hook::start(answer, Some(Arc::new(config)));
        hook.cert_pem = Some(cert.cert.pem());
        hook
    }

    fn start(answer: Answer, tls: Option<Arc<rustls::ServerConfig>>) -> Hook {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind test server");
        let port = listener.local_addr().expect("addr").port();
        let got = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(Stop::default());
        let (g, s) = (got.clone(), stop.clone());
        // Blocks in accept: the drop wakes it with a connection of its own.
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for conn in listener.incoming() {
                if s.is_set() {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
                let (g, tls, s) = (g.clone(), tls.clone(), s.clone());
                held.push(std::thread::spawn(move || serve(conn, tls, answer, &g, &s)));
            }
        });
        Hook {
            port,
            got,
            stop,
            cert_pem: None,
        }
    }

    pub fn url(&self, scheme: &str) -> String {
        format!("{scheme}://127.0.0.1:{}/hooks/T0/secret", self.port)
    }

    pub fn received(&self) -> Vec<Received> {
        self.got.lock().expect("lock").clone()
    }

    pub fn wait_for(&self, n: usize, within: Duration) -> Vec<Received> {
        super::wait_until(within, &format!("{n} requests at the test server"), || {
            self.received().len() >= n
        });
        self.received()
    }
}

impl Drop for Hook {
    fn drop(&mut self) {
        self.stop.set();
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve(
    conn: TcpStream,
    tls: Option<Arc<rustls::ServerConfig>>,
    answer: Answer,
    got: &Mutex<Vec<Received>>,
    stop: &Stop,
) {
    match tls {
        Some(cfg) => {
            let Ok(server) = rustls::ServerConnection::new(cfg) else {
                return;
            };
            let stream = rustls::StreamOwned::new(server, conn);
            exchange(stream, answer, got, stop);
        }
        None => exchange(conn, answer, got, stop),
    }
}

fn exchange<S: Read + Write>(stream: S, answer: Answer, got: &Mutex<Vec<Received>>, stop: &Stop) {
    let mut reader = BufReader::new(stream);
    let mut request = String::new();
    if reader.read_line(&mut request).unwrap_or(0) == 0 {
        return;
    }
    let mut headers = String::new();
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
        headers.push_str(&line);
    }
    let mut body = vec![0u8; length];
    let _ = reader.read_exact(&mut body);
    got.lock().expect("lock").push(Received {
        at: Instant::now(),
        path: request.split_whitespace().nth(1).unwrap_or("").to_string(),
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    let status = match answer {
        Answer::Status(s) => s,
        Answer::After(d) => {
            // A slow server is what the test asks for: the sleep is the behaviour under test.
            std::thread::sleep(d);
            200
        }
        Answer::Never => {
            stop.wait();
            return;
        }
    };
    let mut stream = reader.into_inner();
    let _ = write!(
        stream,
        "HTTP/1.1 {status} X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
    );
    let _ = stream.flush();
}
