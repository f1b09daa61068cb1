//! Debian's Chromium, headless, driven through WebDriver (`chromedriver` and
//! the fantoccini client). `scripts/test.sh` installs both; without them the
//! browser tests skip with a reason, unless `PLINTH_REQUIRE_ALL_GUESTS=1`
//! (set by `.ci/run`), which makes a missing browser a failure.

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// How long a page may take to reach the state a test waits for before the
/// test fails (a bound against hanging, not a speed expectation).
const PATIENCE: Duration = Duration::from_secs(60);

/// A headless Chromium session; the driver stops when dropped.
pub struct Browser {
    pub client: Client,
    runtime: tokio::runtime::Runtime,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a browser session, or says why not and
    /// returns `None` (a failure when every test group is required).
    pub fn start() -> Option<Browser> {
        if !Path::new(CHROMIUM).exists() || !Path::new(CHROMEDRIVER).exists() {
            let reason = format!(
                "browser test skipped: {CHROMIUM} or {CHROMEDRIVER} is missing (scripts/test.sh installs Debian's chromium and chromium-driver)"
            );
            assert!(std::env::var("PLINTH_REQUIRE_ALL_GUESTS").as_deref() != Ok("1"), "{reason}");
            eprintln!("{reason}");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let profile = tempfile::tempdir().expect("profile folder");
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let capabilities = json!({
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--disable-quic", "--no-first-run", "--window-size=1280,1000",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }
        });
        let url = format!("http://127.0.0.1:{port}");
        let client = runtime.block_on(async {
            let started = Instant::now();
            loop {
                let connector = hyper_util::client::legacy::connect::HttpConnector::new();
                let mut builder = ClientBuilder::new(connector);
                builder.capabilities(capabilities.as_object().expect("object").clone());
                match builder.connect(&url).await {
                    Ok(client) => break client,
                    Err(error) if started.elapsed() < PATIENCE => {
                        let _ = error;
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    Err(error) => panic!("no WebDriver session from chromedriver: {error}"),
                }
            }
        });
        Some(Browser { client, runtime, driver, _profile: profile })
    }

    /// Runs browser steps to their end.
    pub fn run<T>(&self, steps: impl std::future::Future<Output = T>) -> T {
        self.runtime.block_on(steps)
    }

    /// Opens `url` (the hash part included).
    pub fn goto(&self, url: &str) {
        self.run(self.client.goto(url)).unwrap_or_else(|e| panic!("open {url}: {e}"));
    }

    /// Evaluates `script` (a function body: `return …`) in the current frame.
    pub fn eval(&self, script: &str) -> Value {
        self.run(self.client.execute(script, Vec::new()))
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Waits until `script` returns something truthy, and returns it. A
    /// script that throws (the page not rendered yet) counts as not yet.
    pub fn wait_for(&self, what: &str, script: &str) -> Value {
        let started = Instant::now();
        loop {
            let (value, error) = match self.run(self.client.execute(script, Vec::new())) {
                Ok(value) => (value, None),
                Err(error) => (Value::Null, Some(error.to_string())),
            };
            let truthy =
                !matches!(value, Value::Null | Value::Bool(false)) && value != json!("") && value != json!(0);
            if truthy {
                return value;
            }
            assert!(
                started.elapsed() < PATIENCE,
                "waited {PATIENCE:?} for {what} (last script error: {error:?}); the page's text:\n{}",
                self.page_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The current frame's text, for failure messages.
    pub fn page_text(&self) -> String {
        let text = self.eval("return document.body ? document.body.innerText : ''");
        text.as_str().unwrap_or_default().to_string()
    }

    /// Types into the element `css` (after clearing it, when `clear`).
    pub fn type_into(&self, css: &str, text: &str, clear: bool) {
        self.run(async {
            let element = self.client.find(Locator::Css(css)).await?;
            if clear {
                element.clear().await?;
            }
            element.send_keys(text).await
        })
        .unwrap_or_else(|e| panic!("type into {css}: {e}"));
    }

    /// Clicks the element `css`.
    pub fn click(&self, css: &str) {
        self.run(async { self.client.find(Locator::Css(css)).await?.click().await })
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// Switches into the frame `css` of the current page.
    pub fn enter_frame(&self, css: &str) {
        self.run(async { self.client.find(Locator::Css(css)).await?.enter_frame().await })
            .unwrap_or_else(|e| panic!("enter frame {css}: {e}"));
    }

    /// Back to the page that holds the current frame.
    pub fn leave_frame(&self) {
        self.run(self.client.enter_parent_frame()).expect("back to the parent frame");
    }

    /// Resizes the window (a phone is 390 px wide).
    pub fn resize(&self, width: u32, height: u32) {
        self.run(self.client.set_window_size(width, height)).expect("resize the window");
    }

    /// Presses keys on the element that has the focus (`\u{E004}` is Tab).
    pub fn press(&self, keys: &str) {
        self.run(async { self.client.active_element().await?.send_keys(keys).await })
            .unwrap_or_else(|e| panic!("press {keys:?}: {e}"));
    }

    /// axe-core's serious and critical violations on the current page (its
    /// own frames aside: plugin frames are checked as pages of their own).
    /// `scripts/tools.sh` installs axe-core, pinned; without it this is a
    /// failure when every test group is required, else a skip with a reason.
    pub fn accessibility_problems(&self) -> Vec<String> {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/js-tools/node_modules/axe-core/axe.min.js");
        let Ok(source) = std::fs::read_to_string(&path) else {
            let reason = format!(
                "accessibility check skipped: {} is missing (scripts/tools.sh installs it)",
                path.display()
            );
            assert!(std::env::var("PLINTH_REQUIRE_ALL_GUESTS").as_deref() != Ok("1"), "{reason}");
            eprintln!("{reason}");
            return Vec::new();
        };
        self.eval(&format!("{source}\n;return typeof window.axe"));
        let check = "const done = arguments[arguments.length - 1];
            axe.run(document, { iframes: false, resultTypes: ['violations'] }).then(
              (r) => done(r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
                .map((v) => `${v.id} (${v.impact}): ${v.help}: ${v.nodes.slice(0, 4).map((n) => n.target.join(' ')).join(', ')}`)),
              (e) => done([`axe failed: ${e}`]))";
        let found = self.run(self.client.execute_async(check, Vec::new())).expect("run axe-core");
        serde_json::from_value(found).expect("a list of problems")
    }

    /// Saves a screenshot as `target/screenshots/NAME.png` for people to look at.
    pub fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.run(self.client.screenshot()).expect("screenshot");
        let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
        std::fs::create_dir_all(&folder).expect("screenshot folder");
        let path = folder.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write screenshot");
        path
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.runtime.block_on(self.client.clone().close());
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
