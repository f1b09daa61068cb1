//! The desktop app in a real window: the Tauri binary on Debian's WebKitGTK,
//! under Xvfb (`xvfb-run`), driven through WebDriver (`WebKitWebDriver`, the
//! driver `tauri-driver` wraps, run directly on a free port). Without them
//! the test skips with a reason, unless `PLINTH_REQUIRE_ALL_GUESTS=1` (set
//! by `.ci/run`), which makes that a failure. Screenshots land in
//! `target/screenshots/`.

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const DRIVER: &str = "/usr/bin/WebKitWebDriver";
const XVFB_RUN: &str = "/usr/bin/xvfb-run";

/// How long the window may take to reach what a test waits for (a bound
/// against hanging, not a speed expectation).
const PATIENCE: Duration = Duration::from_secs(120);

/// The app in a window, driven through WebDriver; everything stops when dropped.
struct Window {
    client: Client,
    runtime: tokio::runtime::Runtime,
    /// Dropped after the client: the session ends before the processes.
    _group: Group,
}

/// xvfb-run, Xvfb, the driver and the app: one process group, stopped when
/// dropped (even when starting the session panics), killed if it lingers.
struct Group(Child);

impl Drop for Group {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline && matches!(self.0.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.0.wait();
    }
}

impl Window {
    /// Starts the app with `args`, its data in `data` (as `XDG_DATA_HOME`)
    /// and its plugins from `plugins`; `None` (with the reason said) when
    /// this machine lacks the driver or Xvfb.
    fn open(data: &Path, plugins: &Path, args: &[&str]) -> Option<Window> {
        if !Path::new(DRIVER).exists() || !Path::new(XVFB_RUN).exists() {
            let reason = format!(
                "desktop test skipped: {DRIVER} or {XVFB_RUN} is missing (scripts/tools.sh --system installs webkit2gtk-driver and xvfb)"
            );
            assert!(std::env::var("PLINTH_REQUIRE_ALL_GUESTS").as_deref() != Ok("1"), "{reason}");
            eprintln!("{reason}");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let group = Group(
            Command::new(XVFB_RUN)
                .args(["-a", "-s", "-screen 0 1280x1024x24", DRIVER, &format!("--port={port}")])
                .env("TAURI_WEBVIEW_AUTOMATION", "true")
                .env("XDG_DATA_HOME", data)
                .env("PLINTH_DESKTOP_PLUGINS", plugins)
                .env("NO_AT_BRIDGE", "1")
                .process_group(0)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start xvfb-run WebKitWebDriver"),
        );
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        // A non-empty `args`: WebKitWebDriver's default would pass `--automation`.
        let mut app_args = vec!["--webdriver"];
        app_args.extend_from_slice(args);
        let capabilities = json!({
            "webkitgtk:browserOptions": { "binary": env!("CARGO_BIN_EXE_plinth-desktop"), "args": app_args },
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
                    Err(_) if started.elapsed() < PATIENCE => {
                        tokio::time::sleep(Duration::from_millis(200)).await
                    }
                    Err(error) => panic!("no WebDriver session from WebKitWebDriver: {error}"),
                }
            }
        });
        let window = Window { client, runtime, _group: group };
        window.wait_for("the app to start", "return document.body && document.body.dataset.ready === 'true'");
        Some(window)
    }

    fn eval(&self, script: &str) -> Value {
        self.runtime
            .block_on(self.client.execute(script, Vec::new()))
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Runs `script`, which ends by calling `done(answer)`, and returns the answer.
    fn eval_async(&self, script: &str) -> Value {
        let script = format!("const done = arguments[arguments.length - 1]; {script}");
        self.runtime
            .block_on(self.client.execute_async(&script, Vec::new()))
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Runs a Tauri command from the page and returns its answer (or `{error}`).
    fn invoke(&self, command: &str, args: Value) -> Value {
        self.eval_async(&format!(
            "window.__TAURI__.core.invoke('{command}', {args}).then(done, (e) => done({{ error: e }}));"
        ))
    }

    /// Waits until `script` returns something truthy, and returns it.
    fn wait_for(&self, what: &str, script: &str) -> Value {
        let started = Instant::now();
        loop {
            let value = self.runtime.block_on(self.client.execute(script, Vec::new())).unwrap_or(Value::Null);
            if !matches!(value, Value::Null | Value::Bool(false)) && value != json!("") {
                return value;
            }
            assert!(started.elapsed() < PATIENCE, "waited {PATIENCE:?} for {what}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn type_into(&self, css: &str, text: &str) {
        self.runtime
            .block_on(async {
                let element = self.client.find(Locator::Css(css)).await?;
                element.click().await?;
                element.send_keys(text).await
            })
            .unwrap_or_else(|e| panic!("type into {css}: {e}"));
    }

    fn click(&self, css: &str) {
        self.runtime
            .block_on(async { self.client.find(Locator::Css(css)).await?.click().await })
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// Runs `work` inside the frame `frame_css` (a plugin page), then returns
    /// to the app's page.
    fn in_frame<T>(&self, frame_css: &str, work: impl FnOnce(&Window) -> T) -> T {
        self.runtime
            .block_on(async { self.client.find(Locator::Css(frame_css)).await?.enter_frame().await })
            .unwrap_or_else(|e| panic!("enter {frame_css}: {e}"));
        let result = work(self);
        self.runtime.block_on(self.client.enter_parent_frame()).expect("back to the app's page");
        result
    }

    /// Reloads the page and waits until it is ready again.
    fn reload(&self) {
        self.eval("window.reloading = true; location.reload(); return 1");
        self.wait_for(
            "the page to load again",
            "return !window.reloading && document.body && document.body.dataset.ready === 'true'",
        );
    }

    fn screenshot(&self, name: &str) {
        let png = self.runtime.block_on(self.client.screenshot()).expect("screenshot");
        let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
        std::fs::create_dir_all(&folder).expect("screenshot folder");
        std::fs::write(folder.join(format!("{name}.png")), png).expect("write screenshot");
    }

    /// Closes the app as its window's close does, and waits until it is gone.
    fn quit(self) {
        // The app exits at once: the command's answer never comes.
        let _ = self.runtime.block_on(async {
            tokio::time::timeout(
                Duration::from_secs(5),
                self.client.execute("window.__TAURI__.core.invoke('quit'); return 1", Vec::new()),
            )
            .await
        });
    }
}

impl Drop for Window {
    fn drop(&mut self) {
        let _ = self.runtime.block_on(async {
            tokio::time::timeout(Duration::from_secs(10), self.client.clone().close()).await
        });
    }
}

/// The widget field's HTML page, in its sandboxed frame.
const PAGE: &str = "iframe[data-page-for=bio]";

/// Once the page shows the last write as `verb`, checks that at least
/// `least` hooks ran for it and every one succeeded (`plugin event: ok`).
fn assert_hooks_ok(window: &Window, verb: &str, least: usize) {
    let script = format!(
        "const w = document.querySelector('#written[data-verb={verb}]'); \
         return w && [...document.querySelectorAll('#hooks li')].map(l => l.textContent)"
    );
    let hooks = window.wait_for(&format!("the page to show the write as {verb}"), &script);
    let hooks: Vec<String> = serde_json::from_value(hooks).expect("hook lines");
    assert!(hooks.len() >= least && hooks.iter().all(|line| line.ends_with(": ok")), "{verb}: {hooks:?}");
}

/// The entity editor. The widget's HTML page edits the field in a sandboxed
/// frame (`sb-field-widget` over `plinth://`, with the settings it exposes),
/// its WASM renders and validates each value, the host refuses a bad value
/// on save and saves a good one with its hooks' outcomes; editing saves
/// through the same page. A second start on the same data directory finds
/// the entity and the compile cache, on the interpreter engine, and deletes
/// the entity.
#[test]
fn the_desktop_app_edits_entities_with_wasm_widgets() {
    let plugins = plinth_tests::rust_examples();
    let data = tempfile::tempdir().expect("temp dir");
    let Some(window) = Window::open(data.path(), plugins.path(), &[]) else { return };

    let status = window.eval("return document.getElementById('status').textContent");
    assert!(status.as_str().is_some_and(|s| s.starts_with("3 plugins · engine native")), "{status}");
    let health =
        window.eval("return [...document.querySelectorAll('#plugins .health')].map(h => h.textContent)");
    assert_eq!(health, json!(["healthy", "healthy", "healthy"]));
    let set =
        window.invoke("set_settings", json!({"plugin": "word-count-widget", "values": {"max_words": 5}}));
    assert_eq!(set["max_words"], 5, "{set}");
    // The page gets its exposed settings when it opens.
    window.reload();

    // The widget's page: its plugin's own, in a frame with no way out.
    let (page, blocked) = window.in_frame(PAGE, |page| {
        page.wait_for("the page's init", "return document.getElementById('count').textContent.includes('/ 5 words')");
        let page_facts = page.eval(
            "let parentTitle; try { parentTitle = parent.document.title } catch (e) { parentTitle = 'blocked' } \
             return [typeof window.__TAURI_INTERNALS__, typeof window.__TAURI__, window.origin, parentTitle, location.href]",
        );
        // Its plugin's policy came with it: no network, not even the app's own files.
        let blocked = page.eval_async(
            "document.addEventListener('securitypolicyviolation', (e) => done(e.effectiveDirective)); \
             fetch('tauri://localhost/index.html').then(() => done('fetched'), () => {});",
        );
        (page_facts, blocked)
    });
    assert_eq!(blocked, json!("connect-src"), "the page's policy stops its requests");
    assert_eq!(
        page,
        json!([
            "undefined",
            "undefined",
            "null",
            "blocked",
            "plinth://localhost/plugin-ui/word-count-widget/ui/widget.html"
        ]),
        "no commands, an opaque origin, no reach into the app"
    );

    // Over the limit: the page and the WASM validate say so as the user
    // types, the WASM render shows the count, and the host refuses the save.
    window.type_into("#field-name", "Ada");
    window.in_frame(PAGE, |page| page.type_into("#text", "one two three four five six"));
    let validity = window.wait_for(
        "the widget's WASM validation",
        "const v = document.querySelector('[data-validity-for=\"bio\"]').textContent; return v.includes('maximum') && v",
    );
    assert_eq!(validity, json!("6 words is more than the maximum of 5"));
    let from_page =
        window.eval("return document.querySelector('[data-page-validity-for=\"bio\"]').textContent");
    assert_eq!(from_page, json!("6 words is more than the maximum of 5"), "the page's own check");
    let render = window.eval("return document.querySelector('[data-field=\"bio\"] iframe.render').srcdoc");
    assert!(render.as_str().is_some_and(|r| r.contains("6 / 5 words")), "{render}");
    window.click("#save");
    let refused = window
        .wait_for("the refusal", "const r = document.getElementById('refused'); return r && r.textContent");
    assert!(refused.as_str().is_some_and(|r| r.contains("was not saved")), "{refused}");
    let listed = window.invoke("entities", json!({"entityType": "character"}));
    assert_eq!(listed, json!([]), "nothing was written");

    // Within the limit: saved, with every hook's outcome.
    window.in_frame(PAGE, |page| {
        page.eval("const t = document.getElementById('text'); t.value = ''; return 1");
        page.type_into("#text", "one two three");
    });
    window.wait_for(
        "the widget's WASM validation",
        "const v = document.querySelector('[data-field=\"bio\"]'); return v.dataset.valid === 'true'",
    );
    window.click("#save");
    assert_hooks_ok(&window, "Created", 2);
    let listed = window.invoke("entities", json!({"entityType": "character"}));
    assert_eq!(listed[0]["data"], json!({"name": "Ada", "bio": "one two three"}), "{listed}");
    let stats = window.invoke(
        "call_route",
        json!({"plugin": "character-stats", "method": "GET", "path": "/stats/character"}),
    );
    let stats: Value = serde_json::from_str(stats["body"].as_str().unwrap_or("null")).expect("JSON");
    assert_eq!(stats["count"], 1, "the hook stored its analysis: {stats}");

    // Editing: the page gets the saved value, and the change is saved.
    window.click("#entities li button.edit");
    window.in_frame(PAGE, |page| {
        page.wait_for("the saved value", "return document.getElementById('text').value === 'one two three'");
        page.type_into("#text", " four");
    });
    window.eval("const n = document.getElementById('field-name'); n.value = ''; return 1");
    window.type_into("#field-name", "Ada Lovelace");
    window.wait_for(
        "the widget's WASM render of the edit",
        "return document.querySelector('[data-field=\"bio\"] iframe.render').srcdoc.includes('4 / 5 words')",
    );
    window.click("#save");
    assert_hooks_ok(&window, "Saved", 1);
    let listed = window.invoke("entities", json!({"entityType": "character"}));
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(listed[0]["data"], json!({"name": "Ada Lovelace", "bio": "one two three four"}), "{listed}");
    window.screenshot("desktop");
    window.quit();

    // A second start on the same data: the entity is there, and the
    // components come from the cache in the app's data directory.
    let cache = data.path().join("dev.plinth.desktop/_compiled");
    assert!(
        std::fs::read_dir(&cache).is_ok_and(|mut entries| entries.next().is_some()),
        "no compile cache in {cache:?}"
    );
    let Some(window) = Window::open(data.path(), plugins.path(), &["--engine", "pulley"]) else { return };
    let status = window.eval("return document.getElementById('status').textContent");
    assert!(status.as_str().is_some_and(|s| s.contains("engine pulley")), "{status}");
    let listed = window.wait_for(
        "the kept entity",
        "const l = document.querySelector('#entities li .summary'); return l && l.textContent",
    );
    assert!(listed.as_str().is_some_and(|l| l.contains("one two three four")), "{listed}");
    let problems = window.invoke(
        "validate_widget",
        json!({"widget": "plugin:word-count-widget:word-count", "value": "a b c d e f"}),
    );
    assert_eq!(problems, json!(["6 words is more than the maximum of 5"]), "the interpreter validates alike");

    // Deleting, with the hooks' outcomes, on the interpreter.
    window.click("#entities li button.delete");
    assert_hooks_ok(&window, "Deleted", 1);
    assert_eq!(window.invoke("entities", json!({"entityType": "character"})), json!([]));
    window.wait_for("the emptied list", "return document.querySelectorAll('#entities li').length === 0");
}
