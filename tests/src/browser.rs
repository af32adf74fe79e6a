//! A real headless Chromium, driven over WebDriver (Debian's chromium and chromedriver), for
//! the UI tests. Each test gets its own chromedriver on a free port and a fresh profile.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder};
use serde_json::{Value, json};
use tokio::process::{Child, Command};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// Where `scripts/build-web` puts the UI; `HANGAR_TEST_WEB_ROOT` overrides it.
pub const WEB_ROOT_VAR: &str = "HANGAR_TEST_WEB_ROOT";

/// The built UI: static files with the wasm bundle.
pub fn web_root() -> PathBuf {
    let root = std::env::var(WEB_ROOT_VAR)
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../web/dist"));
    assert!(
        root.join("hangar_bg.wasm").exists(),
        "{} holds no built UI: run scripts/build-web (scripts/test does)",
        root.display()
    );
    root
}

pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free port")
}

impl Browser {
    pub async fn start() -> Browser {
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|err| panic!("{CHROMEDRIVER}: {err} (scripts/setup installs it)"));
        let profile = tempfile::tempdir().expect("profile dir");
        let capabilities = json!({
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--window-size=1400,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
                // The page's opt-in notifications are allowed, as a user who said yes.
                "prefs": {"profile.default_content_setting_values.notifications": 1},
            }
        });
        let capabilities = match capabilities {
            Value::Object(map) => map,
            _ => unreachable!(),
        };
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        let client = loop {
            match ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                .capabilities(capabilities.clone())
                .connect(&url)
                .await
            {
                Ok(client) => break client,
                // chromedriver takes a moment to listen.
                Err(_) if started.elapsed() < Duration::from_secs(20) => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(err) => panic!("chromedriver on {url} did not start a session: {err}"),
            }
        };
        Browser {
            client,
            driver,
            _profile: profile,
        }
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("navigate");
    }

    /// Runs `script` (a function body) in the page and returns its value.
    pub async fn js(&self, script: &str) -> Value {
        self.client
            .execute(script, Vec::new())
            .await
            .unwrap_or_else(|err| panic!("script failed: {err}\n{script}"))
    }

    /// Polls `script` until it returns a value `accept` takes; panics with the last value
    /// (and a screenshot path) after `limit`.
    pub async fn wait_until(
        &self,
        what: &str,
        limit: Duration,
        script: &str,
        accept: impl Fn(&Value) -> bool,
    ) -> Value {
        let started = Instant::now();
        loop {
            let value = self.js(script).await;
            if accept(&value) {
                return value;
            }
            if started.elapsed() > limit {
                let shot = self.screenshot(what).await;
                panic!("{what}: still {value} after {limit:?} (screenshot: {shot})");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn click(&self, testid: &str) {
        self.js(&format!(
            "const el = document.querySelector('[data-testid=\"{testid}\"]');
             if (!el) throw new Error('no element {testid}');
             el.click(); return true;"
        ))
        .await;
    }

    /// Sends keys to whatever has the focus, as a keyboard would.
    pub async fn press(&self, keys: &str) {
        let focused = self
            .client
            .active_element()
            .await
            .expect("a focused element");
        focused.send_keys(keys).await.expect("keys");
    }

    /// Resizes the window (headless: the viewport) to `width` x `height` CSS pixels.
    pub async fn resize(&self, width: u32, height: u32) {
        self.client
            .set_window_size(width, height)
            .await
            .expect("resize");
    }

    /// Types into the element with this test id, as a user would (key events, input events).
    pub async fn type_into(&self, testid: &str, text: &str) {
        let element = self
            .client
            .find(fantoccini::Locator::Css(&format!(
                "[data-testid=\"{testid}\"]"
            )))
            .await
            .unwrap_or_else(|err| panic!("no element {testid}: {err}"));
        element.send_keys(text).await.expect("type");
    }

    /// Saves a screenshot for a failing test; returns where.
    pub async fn screenshot(&self, name: &str) -> String {
        let path = std::env::temp_dir().join(format!(
            "hangar-{}.png",
            name.replace(|c: char| !c.is_ascii_alphanumeric(), "-")
        ));
        match self.client.screenshot().await {
            Ok(png) if std::fs::write(&path, &png).is_ok() => path.display().to_string(),
            _ => "none".into(),
        }
    }

    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill().await;
    }
}
