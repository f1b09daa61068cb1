//! The web console, widgets and panels in a real browser: Debian's Chromium,
//! headless, against a real `plinth serve` with plugins built from source.
//! Screenshots of the main pages land in `target/screenshots/`.

mod common;

use common::Server;
use common::browser::Browser;
use plinth_tests::guests;
use serde_json::{Value, json};

/// The value a field editor holds in the console's form (its `data-value`).
fn form_value(browser: &Browser, field: &str) -> Value {
    let text = browser
        .eval(&format!("return document.querySelector('[data-field=\"{field}\"]').dataset.value || 'null'"));
    serde_json::from_str(text.as_str().expect("text")).expect("JSON value")
}

/// The console: plugins with health, a settings form that a route sees, the
/// entity editor with the word-count widget (live count, the form's value,
/// the widget's message, the server refusing the save), the audit-trail
/// panel, live events and legacy modules.
#[test]
fn the_console_in_a_real_browser() {
    let Some(browser) = Browser::start() else { return };
    let plugins = plinth_tests::rust_examples();
    let server = Server::start(plugins.path(), &[]);
    let base = &server.base;

    // Plugins: every example with its health.
    browser.goto(&format!("{base}/#/plugins"));
    browser.wait_for(
        "three plugin cards",
        "return document.querySelectorAll('section.card[data-plugin]').length === 3",
    );
    for id in ["audit-trail", "character-stats", "word-count-widget"] {
        let health = browser
            .eval(&format!("return document.querySelector('[data-plugin=\"{id}\"] .health').textContent"));
        assert_eq!(health, json!("healthy"), "{id}'s health");
    }
    let grants =
        browser.eval("return document.querySelector('[data-plugin=\"audit-trail\"] .grants').textContent");
    assert!(grants.as_str().is_some_and(|g| g.contains("storage_set")), "{grants}");
    browser.screenshot("plugins");

    // A client-side problem shows beside its field, and nothing is sent.
    let depth = "form.settings[data-plugin=\"character-stats\"] input[name=\"analysis_depth\"]";
    browser
        .wait_for("the settings' current values", &format!("return document.querySelector('{depth}').value"));
    browser.type_into(depth, "2.5", true);
    browser.click("form.settings[data-plugin=\"character-stats\"] button[type=submit]");
    let problem = browser.wait_for(
        "the problem beside the field",
        "return document.querySelector('[data-plugin=\"character-stats\"] [data-setting=\"analysis_depth\"]').textContent",
    );
    assert!(problem.as_str().is_some_and(|p| p.contains("whole number")), "{problem}");
    // A valid value saves, and the plugin's route sees it.
    browser.type_into(depth, "7", true);
    browser.click("form.settings[data-plugin=\"character-stats\"] button[type=submit]");
    browser.wait_for(
        "the settings to save",
        "return document.querySelector('form.settings[data-plugin=\"character-stats\"] .result .ok')",
    );
    let (status, stats) = server.get("/api/plugins/character-stats/stats/character");
    assert_eq!((status, &stats["analysis_depth"]), (200, &json!(7)), "{stats}");
    let words = "form.settings[data-plugin=\"word-count-widget\"] input[name=\"max_words\"]";
    browser.type_into(words, "5", true);
    browser.click("form.settings[data-plugin=\"word-count-widget\"] button[type=submit]");
    browser.wait_for(
        "max_words to save",
        "return document.querySelector('form.settings[data-plugin=\"word-count-widget\"] .result .ok')",
    );

    // The Layout Designer: `name` (required) above `bio`, which the word-count
    // widget edits, configured through the form its config_schema makes.
    browser.goto(&format!("{base}/#/layout?type=character"));
    browser.wait_for("the Layout Designer", "return document.getElementById('layout')");
    let last = "#layout tbody tr:last-child";
    browser.click("#add-layout-field");
    browser.type_into(&format!("{last} input.name"), "bio", false);
    browser.type_into(&format!("{last} input.label"), "Biography", false);
    let options = browser.eval(&format!(
        "return [...document.querySelectorAll('{last} select.widget option')].map(o => o.value)"
    ));
    assert!(options.as_array().is_some_and(|o| o.contains(&json!("plugin:word-count-widget:word-count"))));
    browser.eval(&format!(
        "const s = document.querySelector('{last} select.widget'); s.value = 'plugin:word-count-widget:word-count';
         s.dispatchEvent(new Event('change')); return s.value"
    ));
    let placeholder = format!("{last} .config-form input[name=\"placeholder\"]");
    browser.wait_for(
        "the widget's configuration form",
        &format!("return document.querySelector('{placeholder}')"),
    );
    browser.type_into(&placeholder, "Tell their story", false);
    browser.type_into(&format!("{last} .config-form input[name=\"rows\"]"), "6", true);
    // A number field offers no text widget.
    browser.eval(&format!(
        "const t = document.querySelector('{last} select.type'); t.value = 'number'; t.dispatchEvent(new Event('change')); return 1"
    ));
    let for_numbers = browser.eval(&format!(
        "return [...document.querySelectorAll('{last} select.widget option')].filter(o => !o.textContent.includes('does not edit')).map(o => o.value)"
    ));
    assert_eq!(for_numbers, json!([""]), "only the built-in input edits numbers here");
    browser.eval(&format!(
        "const t = document.querySelector('{last} select.type'); t.value = 'text'; t.dispatchEvent(new Event('change'));
         const s = document.querySelector('{last} select.widget'); s.value = 'plugin:word-count-widget:word-count';
         s.dispatchEvent(new Event('change')); return 1"
    ));
    browser
        .wait_for("the configuration form again", &format!("return document.querySelector('{placeholder}')"));
    browser.type_into(&placeholder, "Tell their story", true);
    browser.type_into(&format!("{last} .config-form input[name=\"rows\"]"), "6", true);
    browser.click("#add-layout-field");
    browser.type_into(&format!("{last} input.name"), "name", false);
    browser.click(&format!("{last} input.required"));
    browser.click(&format!("{last} button.up"));
    browser.click("#save-layout");
    browser.wait_for("the saved layout", "return document.querySelector('#layout[data-version=\"1\"]')");
    let (_, template) = server.get("/api/field-configs/character");
    assert_eq!(template["version"], 1, "{template}");
    assert_eq!(template["order"], json!(["name", "bio"]), "{template}");
    assert_eq!(template["fields"]["name"]["required"], true, "{template}");
    assert_eq!(template["fields"]["bio"]["label"], "Biography", "{template}");
    assert_eq!(template["fields"]["bio"]["widget"], "plugin:word-count-widget:word-count", "{template}");
    assert_eq!(template["fields"]["bio"]["config"], json!({"placeholder": "Tell their story", "rows": 6}));
    browser.screenshot("layout-designer");

    // Another editor saves first: this save is refused, and theirs is shown.
    let mut theirs = template.clone();
    theirs["fields"]["bio"]["label"] = json!("Life story");
    assert_eq!(server.send("PUT", "/api/field-configs/character", Some(&theirs.to_string())).0, 200);
    browser.type_into("#layout tbody tr:first-child input.label", "Full name", true);
    browser.click("#save-layout");
    let conflict = browser.wait_for(
        "the conflict",
        "const c = document.querySelector('#layout[data-version=\"2\"] .conflict'); return c && c.textContent",
    );
    assert!(conflict.as_str().is_some_and(|c| c.contains("someone else saved")), "{conflict}");
    let shown =
        browser.eval("return document.querySelector('#layout tr[data-field=\"bio\"] input.label').value");
    assert_eq!(shown, json!("Life story"));
    let (_, stored) = server.get("/api/field-configs/character");
    assert_eq!(
        (stored["version"].clone(), stored["fields"]["name"].get("label")),
        (json!(2), None),
        "{stored}"
    );

    // A new character: fields in the template's order, with their labels;
    // the widget has its configuration, counts live and sets the form's value.
    browser.goto(&format!("{base}/#/entity/new?type=character"));
    browser.wait_for("the widget frame", "return document.querySelector('[data-field=\"bio\"] iframe')");
    let fields = browser.eval(
        "return [...document.querySelectorAll('#entity-form .field[data-field]')].map(f => f.dataset.field)",
    );
    assert_eq!(fields, json!(["name", "bio"]));
    let label = browser.eval("return document.querySelector('[data-field=\"bio\"] > label').textContent");
    assert!(label.as_str().is_some_and(|l| l.contains("Life story") && l.contains("Word count")), "{label}");
    browser.type_into("input[name=\"name\"]", "Ada", false);
    browser.enter_frame("[data-field=\"bio\"] iframe");
    browser.wait_for(
        "the widget to get its init",
        "return document.getElementById('count').textContent.includes('/ 5')",
    );
    let configured =
        browser.eval("const t = document.getElementById('text'); return [t.placeholder, t.rows]");
    assert_eq!(configured, json!(["Tell their story", 6]), "the field's configuration reached the widget");
    browser.type_into("#text", "one two three", false);
    let count = browser.wait_for(
        "the live count",
        "const t = document.getElementById('count').textContent; return t.startsWith('3 ') && t",
    );
    assert_eq!(count, json!("3 / 5 words"));
    browser.leave_frame();
    browser.wait_for(
        "the form's value",
        "return document.querySelector('[data-field=\"bio\"]').dataset.value.includes('three')",
    );
    assert_eq!(form_value(&browser, "bio"), json!("one two three"));
    browser.click("#save-entity");
    browser.wait_for("the save and its hooks", "return document.querySelector('#save-outcome .hooks')");
    let hooks = browser.eval("return [...document.querySelectorAll('#save-outcome .hooks tr[data-plugin]')].map(r => r.dataset.plugin)");
    assert_eq!(hooks, json!(["audit-trail", "character-stats"]));
    let (_, list) = server.get("/api/entities?entity_type=character");
    assert_eq!(list["entities"][0]["data"], json!({"name": "Ada", "bio": "one two three"}));
    let id = list["entities"][0]["id"].as_str().expect("id").to_string();

    // Over the limit: the widget says so, and the server refuses the save.
    // (The page moved to the new entity's editor: wait for its widget.)
    browser.wait_for(
        "the editor of the new entity",
        "return document.querySelector('[data-field=\"bio\"] iframe')",
    );
    browser.enter_frame("[data-field=\"bio\"] iframe");
    browser.wait_for("the widget's text", "return document.getElementById('text').value === 'one two three'");
    browser.type_into("#text", " four five six", false);
    browser.wait_for(
        "the widget's message",
        "return document.getElementById('count').textContent.includes('too many')",
    );
    browser.leave_frame();
    let validity = browser.wait_for(
        "the validity beside the field",
        "return document.querySelector('[data-field=\"bio\"] .validity').textContent",
    );
    assert!(validity.as_str().is_some_and(|v| v.contains("maximum of 5")), "{validity}");
    browser.click("#save-entity");
    let refused = browser.wait_for(
        "the server's refusal beside the field",
        "return document.querySelector('[data-problems-for=\"bio\"]').textContent",
    );
    assert!(
        refused.as_str().is_some_and(|r| r.contains("6 words is more than the maximum of 5")),
        "{refused}"
    );
    let (_, stored) = server.get(&format!("/api/entities/{id}"));
    assert_eq!(stored["data"]["bio"], "one two three", "the refused save changed nothing");
    browser.screenshot("entity-editor");

    // A change made elsewhere reaches the widget (value-changed).
    server.send(
        "PUT",
        &format!("/api/entities/{id}"),
        Some(r#"{"data":{"name":"Ada","bio":"from elsewhere"}}"#),
    );
    browser.click("#reload-entity");
    browser.enter_frame("[data-field=\"bio\"] iframe");
    browser.wait_for(
        "the new value in the widget",
        "return document.getElementById('text').value === 'from elsewhere'",
    );
    browser.leave_frame();

    // The audit-trail panel shows the log through invoke.
    browser.goto(&format!("{base}/#/panels"));
    browser.wait_for(
        "the panel frame",
        "return document.querySelector('[data-panel=\"audit-trail:log\"] iframe')",
    );
    browser.enter_frame("[data-panel=\"audit-trail:log\"] iframe");
    let rows = browser.wait_for(
        "the log's rows",
        "return document.querySelectorAll('#log tr').length >= 2 && document.getElementById('log').innerText",
    );
    assert!(
        rows.as_str().is_some_and(|r| r.contains("created") && r.contains("updated") && r.contains(&id)),
        "{rows}"
    );
    browser.leave_frame();
    browser.screenshot("panels");

    // Events: hook outcomes as they happen.
    browser.goto(&format!("{base}/#/events"));
    browser
        .wait_for("the live stream", "return document.getElementById('stream-state').textContent === 'live'");
    let (status, _, write) =
        server.send("POST", "/api/entities", Some(r#"{"entity_type":"place","data":{}}"#));
    assert_eq!(status, 201);
    let new_id = write["entity"]["id"].as_str().expect("id");
    let live = browser.wait_for(
        "the new events",
        &format!(
            "const t = document.getElementById('events').innerText; return t.includes('{}') && t",
            &new_id[new_id.len() - 12..]
        ),
    );
    assert!(live.as_str().is_some_and(|t| t.contains("audit-trail")), "{live}");
    browser.screenshot("events");

    // Legacy modules: upload, call, remove.
    browser.goto(&format!("{base}/#/legacy"));
    browser.wait_for("the legacy page", "return document.getElementById('legacy-file')");
    let module = std::fs::canonicalize(guests::LEGACY_MATH_WASM).expect("legacy-math built");
    browser.type_into("#legacy-file", module.to_str().expect("path"), false);
    browser.click("#legacy-file + button");
    browser.wait_for("the uploaded module", "return document.querySelector('tr[data-module=\"math.wasm\"]')");
    browser.type_into("#legacy-request", r#"{"fn":"add","args":[3,5]}"#, true);
    browser.click("#legacy-request + button");
    let result = browser
        .wait_for("the module's answer", "return document.getElementById('legacy-result').textContent");
    assert!(result.as_str().is_some_and(|r| r.starts_with("200") && r.contains("\"value\": 8")), "{result}");
    browser.screenshot("legacy");
    browser.click("tr[data-module=\"math.wasm\"] button");
    browser.wait_for("the module to go", "return !document.querySelector('tr[data-module=\"math.wasm\"]')");
    assert_eq!(server.get("/api/legacy/modules").1, json!({"modules": []}));
}

/// A hostile widget gets nothing: not the console's DOM, cookies or storage,
/// not the network, not another widget's field, not another plugin's routes;
/// and a plugin route's HTML cannot read the console's cookies.
#[test]
fn hostile_plugin_content_gets_nothing() {
    let Some(browser) = Browser::start() else { return };
    let plugins = tempfile::tempdir().expect("temp dir");
    plinth_tests::copy_example("word-count-widget", plugins.path());
    plinth_tests::copy_example("audit-trail", plugins.path());
    let manifest = json!({
        "id": "probe", "name": "Probe", "version": "0.1.0", "wasm": {"module": "plugin.wasm"},
        "field_widgets": [{"id": "shout", "html": "ui/hostile.html"}],
    });
    let probe = plinth_tests::write_plugin(
        plugins.path(),
        "probe",
        &manifest,
        &std::fs::read(guests::PROBE_PLUGIN_WASM).expect("probe built"),
    );
    std::fs::create_dir(probe.join("ui")).expect("ui folder");
    let hostile = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser/hostile.html");
    std::fs::copy(hostile, probe.join("ui/hostile.html")).expect("copy the hostile page");
    // A script a WASM render will try to load from this server.
    std::fs::write(probe.join("ui/attack.js"), "document.body.dataset.ran = 'yes';").expect("attack script");
    // The same component again, its widget without a page: shown through its WASM render.
    // It also opts its `/page` route into being a page that runs scripts.
    let render_only = json!({
        "id": "probe-render", "name": "Probe render", "version": "0.1.0", "wasm": {"module": "plugin.wasm"},
        "field_widgets": [{"id": "shout"}], "route_pages": ["/page"],
    });
    let component = std::fs::read(guests::PROBE_PLUGIN_WASM).expect("probe built");
    plinth_tests::write_plugin(plugins.path(), "probe-render", &render_only, &component);
    let server = Server::start(plugins.path(), &[]);
    let base = &server.base;
    // The probe renders `<b>{field name}={value}</b>` unescaped: this field's
    // name puts a script of this server into the render.
    let config = json!({"fields": {
        "bio": {"widget": "plugin:word-count-widget:word-count"},
        "hostile": {"widget": "plugin:probe:shout"},
        "<script src=\"/plugin-ui/probe/ui/attack.js\"></script>": {"widget": "plugin:probe-render:shout"},
    }});
    let (status, _, _) = server.send("PUT", "/api/field-configs/doc", Some(&config.to_string()));
    assert_eq!(status, 200);

    let audit_calls = || server.get("/api/plugins/audit-trail").1["health"]["calls"].clone();
    let calls_before = audit_calls();
    browser.goto(&format!("{base}/#/plugins"));
    browser.eval("document.cookie = 'console_session=secret; path=/'; sessionStorage.setItem('secret', 'token'); return 1");
    browser.goto(&format!("{base}/#/entity/new?type=doc"));
    let report = browser.wait_for(
        "the hostile widget's report",
        "const field = document.querySelector('[data-field=\"hostile\"]'); const v = field && field.dataset.value;
         return v && v.includes('invoke_own') && v",
    );
    let report: Value = serde_json::from_str(
        &serde_json::from_str::<String>(report.as_str().expect("text")).expect("a JSON string"),
    )
    .expect("the report");
    for attempt in
        ["parent_document", "parent_storage", "cookie", "local_storage", "top_navigation", "fetch_api"]
    {
        let outcome = report[attempt].as_str().unwrap_or_default();
        assert!(outcome.starts_with("blocked"), "{attempt}: {outcome}\n{report:#}");
    }
    for outcome in report["invoke_other"].as_array().expect("invoke attempts") {
        assert!(outcome.as_str().is_some_and(|o| o.starts_with("refused")), "{outcome}\n{report:#}");
    }
    // The control: its own route answers, so the refusals above are real.
    assert_eq!(report["invoke_own"], json!(201), "{report:#}");
    // Its image, frame and script image of another plugin's route never ran it.
    assert_eq!(audit_calls(), calls_before, "another plugin's route ran: {}", server.log());
    // Nothing reached the other widget, in the form or in its frame.
    assert_eq!(form_value(&browser, "bio"), Value::Null);
    browser.enter_frame("[data-field=\"bio\"] iframe");
    assert_eq!(browser.eval("return document.getElementById('text').value"), json!(""));
    browser.leave_frame();
    let hash = browser.eval("return location.hash");
    assert_eq!(hash, json!("#/entity/new?type=doc"), "the page was not navigated away");

    // The WASM render is shown in a frame where nothing runs.
    let sandbox = browser.wait_for(
        "the render's frame",
        "const f = document.querySelector('iframe[srcdoc]'); return f && [f.getAttribute('sandbox')]",
    );
    assert_eq!(sandbox, json!([""]));
    browser.enter_frame("iframe[srcdoc]");
    let shown = browser.wait_for(
        "the rendered HTML",
        "const b = document.querySelector('b'); return b && b.textContent.includes('=NULL') && b.textContent",
    );
    assert!(shown.as_str().is_some_and(|text| text.ends_with("=NULL")), "{shown}");
    assert_eq!(
        browser.eval("return document.body.dataset.ran || null"),
        Value::Null,
        "a script in a render ran"
    );
    browser.leave_frame();

    // A plugin route's HTML runs no script unless its manifest makes the
    // route a page...
    browser.goto(&format!("{base}/api/plugins/probe/page"));
    browser.wait_for("the page without scripts", "return document.getElementById('noscript')");
    assert_eq!(browser.eval("return document.title"), json!("page"), "the route's script ran");
    // ...and a page runs in an opaque origin: no cookies to read, no API, no
    // other host; only its own routes.
    browser.goto(&format!("{base}/api/plugins/probe-render/page"));
    let title = browser.wait_for("the page's script", "return document.title !== 'page' && document.title");
    assert!(title.as_str().is_some_and(|t| t.starts_with("blocked:")), "{title}");
    let reached =
        browser.wait_for("the page's requests", "return document.getElementById('report').textContent");
    let reached: Value = serde_json::from_str(reached.as_str().expect("text")).expect("the page's report");
    assert_eq!(reached, json!({"api": "blocked", "other_host": "blocked", "own_route": "sent"}));
    // The cookie either page tried to set was dropped.
    browser.goto(&format!("{base}/#/plugins"));
    let cookies = browser.eval("return document.cookie");
    assert_eq!(cookies, json!("console_session=secret"), "the plugin's Set-Cookie must be dropped");
    let kept = browser.eval("return sessionStorage.getItem('secret')");
    assert_eq!(kept, json!("token"), "Clear-Site-Data from a plugin must be dropped");
}

/// A frame that navigates itself away from its plugin's page is refused by
/// the server and no longer trusted by the console: the page it tried to
/// load (another plugin's) never gets the field's `init` or sets its value.
/// A render's meta refresh goes nowhere: nothing automatic runs in a render.
#[test]
fn a_frame_that_leaves_its_page_is_no_longer_trusted() {
    let Some(browser) = Browser::start() else { return };
    let plugins = tempfile::tempdir().expect("temp dir");
    let component = std::fs::read(guests::PROBE_PLUGIN_WASM).expect("probe built");
    let wanderer = json!({
        "id": "probe", "wasm": {"module": "plugin.wasm"}, "field_widgets": [{"id": "shout", "html": "ui/wander.html"}],
    });
    let probe = plinth_tests::write_plugin(plugins.path(), "probe", &wanderer, &component);
    std::fs::create_dir(probe.join("ui")).expect("ui folder");
    // Once loaded, it navigates its frame to another plugin's page.
    std::fs::write(
        probe.join("ui/wander.html"),
        "<p>wander</p><script>addEventListener('load', function () { setTimeout(function () {\
         location.href = '/plugin-ui/other/ui/grab.html'; }, 0); });</script>",
    )
    .expect("page");
    // A page-only widget that does so at once, before it has even loaded.
    let hasty = plugins.path().join("hasty");
    std::fs::create_dir_all(hasty.join("ui")).expect("folders");
    std::fs::write(
        hasty.join("ui/hasty.html"),
        "<script>location.href = '/plugin-ui/other/ui/grab.html';</script>",
    )
    .expect("page");
    let manifest = json!({"id": "hasty", "field_widgets": [{"id": "go", "html": "ui/hasty.html"}]});
    std::fs::write(hasty.join("plugin.json"), manifest.to_string()).expect("manifest");
    let render_only =
        json!({"id": "probe-render", "wasm": {"module": "plugin.wasm"}, "field_widgets": [{"id": "shout"}]});
    plinth_tests::write_plugin(plugins.path(), "probe-render", &render_only, &component);
    // Another plugin's page that takes over whatever field it is shown for.
    let other = plugins.path().join("other");
    std::fs::create_dir_all(other.join("ui")).expect("folders");
    std::fs::write(
        other.join("ui/grab.html"),
        "<script src=\"/plinth-widget.js\"></script><script>var w = PlinthWidget.connect({ onInit: function () {\
         w.setValue('HIJACKED'); w.setValidity(false, ['hijacked']); } });</script>",
    )
    .expect("grab page");
    let manifest = json!({"id": "other", "field_widgets": [{"id": "grab", "html": "ui/grab.html"}]});
    std::fs::write(other.join("plugin.json"), manifest.to_string()).expect("manifest");
    let server = Server::start(plugins.path(), &[]);
    // The probe renders the field name unescaped: this one is a meta refresh.
    let refresh = "<meta http-equiv=\"refresh\" content=\"0;url=/plugin-ui/other/ui/grab.html\">";
    let config = json!({"fields": {
        "wander": {"widget": "plugin:probe:shout"},
        "hasty": {"widget": "plugin:hasty:go"},
        refresh: {"widget": "plugin:probe-render:shout"},
    }});
    assert_eq!(server.send("PUT", "/api/field-configs/doc", Some(&config.to_string())).0, 200);

    browser.goto(&format!("{}/#/entity/new?type=doc", server.base));
    let notice = browser.wait_for(
        "the notice where the wandering frame was",
        "const n = document.querySelector('[data-field=\"wander\"] .frame-left'); return n && n.textContent",
    );
    assert!(notice.as_str().is_some_and(|n| n.contains("left its own page")), "{notice}");
    assert_eq!(form_value(&browser, "wander"), Value::Null, "the other plugin's page set the value");
    // The hasty frame navigated before the console could see its page: the
    // browser says who started that navigation, and the server refused it.
    browser.enter_frame("[data-field=\"hasty\"] iframe");
    let shown = browser
        .wait_for("the server's refusal in the frame", "return document.body && document.body.innerText");
    assert!(shown.as_str().is_some_and(|text| text.contains("frame_navigation")), "{shown}");
    browser.leave_frame();
    assert_eq!(form_value(&browser, "hasty"), Value::Null, "the other plugin's page set the value");
    // The render still shows what the plugin rendered: its refresh did not run.
    browser.enter_frame("iframe[srcdoc]");
    let shown =
        browser.wait_for("the render", "const b = document.querySelector('b'); return b && b.textContent");
    assert!(shown.as_str().is_some_and(|text| text.ends_with("=NULL")), "{shown}");
    browser.leave_frame();
    let validity =
        browser.eval("return [...document.querySelectorAll('.validity')].map(v => v.textContent).join('')");
    assert_eq!(validity, json!(""), "a page the console did not open set a validity");
    // The server refuses such a navigation on its own, whatever the console does.
    let (status, _, refused) = common::send_with(
        &server.url("/plugin-ui/other/ui/grab.html"),
        "GET",
        None,
        &[("sec-fetch-dest", "iframe"), ("sec-fetch-mode", "navigate"), ("sec-fetch-site", "cross-site")],
    );
    assert_eq!((status, refused["error"]["code"].as_str()), (403, Some("frame_navigation")));
}

/// Every console page, the example widget and panel pass axe-core (no
/// serious or critical violations, contrast included) at 1280 px in both
/// themes and at a phone's 390 px, where nothing is wider than the screen; the widget is reached and used with the
/// keyboard alone. Screenshots of both widths land in target/screenshots.
#[test]
fn the_console_is_accessible_on_a_desktop_and_a_phone() {
    let Some(browser) = Browser::start() else { return };
    let plugins = plinth_tests::rust_examples();
    let server = Server::start(plugins.path(), &[]);
    let base = &server.base;
    let template = json!({"order": ["name", "bio"], "fields": {
        "name": {"label": "Name", "required": true},
        "bio": {"label": "Biography", "widget": "plugin:word-count-widget:word-count"},
    }});
    assert_eq!(server.send("PUT", "/api/field-configs/character", Some(&template.to_string())).0, 200);
    let body =
        json!({"entity_type": "character", "data": {"name": "Ada", "bio": "A long biography ".repeat(40)}});
    let (_, _, created) = server.send("POST", "/api/entities", Some(&body.to_string()));
    let id = created["entity"]["id"].as_str().expect("id").to_string();
    let pages = [
        ("plugins", "plugins".to_string()),
        ("entities", "entities?type=character".to_string()),
        ("layout", "layout?type=character".to_string()),
        ("entity", format!("entity/{id}")),
        ("panels", "panels".to_string()),
        ("events", "events".to_string()),
        ("installs", "installs".to_string()),
        ("legacy", "legacy".to_string()),
    ];
    let mut problems = Vec::new();
    for (width, height, theme) in [(1280, 1000, "light"), (390, 844, "light"), (1280, 1000, "dark")] {
        browser.resize(width, height);
        for (page, path) in &pages {
            browser.goto(&format!("{base}/#/{path}"));
            browser.wait_for(
                &format!("the {page} page"),
                &format!("return document.body.dataset.page === '{page}'"),
            );
            browser.eval(&format!("setTheme('{theme}'); return 1"));
            let at = format!("{page} at {width} px, {theme}");
            problems.extend(browser.accessibility_problems().into_iter().map(|p| format!("{at}: {p}")));
            let overflow = browser.eval("return document.documentElement.scrollWidth - window.innerWidth");
            if overflow.as_i64().is_some_and(|extra| extra > 1) {
                problems.push(format!("{at} is {overflow} px wider than the window"));
            }
            browser.screenshot(&format!("{page}-{width}-{theme}"));
        }
    }
    // The example widget and panel, as the pages they are.
    browser.resize(1280, 1000);
    browser.eval("setTheme('light'); return 1");
    for page in ["word-count-widget/ui/widget.html", "audit-trail/ui/panel.html"] {
        browser.goto(&format!("{base}/plugin-ui/{page}"));
        problems.extend(browser.accessibility_problems().into_iter().map(|p| format!("{page}: {p}")));
    }
    assert!(problems.is_empty(), "accessibility problems:\n{}", problems.join("\n"));

    // The keyboard alone: from the name field, Tab reaches the widget's text.
    browser.goto(&format!("{base}/#/entity/new?type=character"));
    browser.wait_for("the widget frame", "return document.querySelector('[data-field=\"bio\"] iframe')");
    browser.enter_frame("[data-field=\"bio\"] iframe");
    browser
        .wait_for("the widget's init", "return document.getElementById('count').textContent.includes('/')");
    browser.leave_frame();
    browser.eval("document.querySelector('input[name=\"name\"]').focus(); return 1");
    browser.press("Grace\u{E004}");
    let focused = browser.eval("return document.activeElement && document.activeElement.tagName");
    assert_eq!(focused, json!("IFRAME"), "Tab from the name field goes to the widget");
    browser.enter_frame("[data-field=\"bio\"] iframe");
    browser.press("typed by keyboard");
    browser.leave_frame();
    browser.wait_for(
        "the form's value",
        "return document.querySelector('[data-field=\"bio\"]').dataset.value.includes('keyboard')",
    );
    assert_eq!(browser.eval("return document.querySelector('input[name=\"name\"]').value"), json!("Grace"));
}

/// The first fenced block after `heading` in `doc`.
fn block_after<'a>(doc: &'a str, heading: &str) -> &'a str {
    let at = doc.find(heading).unwrap_or_else(|| panic!("docs/widgets.md has no `{heading}`"));
    let rest = &doc[at..];
    let start = rest.find("```").expect("a code block") + 3;
    let body = &rest[start..];
    let body = &body[body.find('\n').expect("a fence line") + 1..];
    &body[..body.find("```").expect("the block's end")]
}

/// docs/widgets.md's complete widget, written as the guide says with its
/// files copied from the guide (only the SDK path filled in): it builds,
/// loads, the server refuses what its `validate` refuses, and its page sets
/// a value in the console with a click.
#[test]
fn a_widget_written_from_the_guide_works_the_first_time() {
    let Some(browser) = Browser::start() else { return };
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/widgets.md"))
        .expect("the guide");
    let plugins = tempfile::tempdir().expect("temp dir");
    let dir = plugins.path().join("star-rating");
    std::fs::create_dir_all(dir.join("src")).expect("folders");
    std::fs::create_dir_all(dir.join("ui")).expect("folders");
    let sdk = std::fs::canonicalize(concat!(env!("CARGO_MANIFEST_DIR"), "/../guest-sdk")).expect("the SDK");
    let cargo =
        block_after(&doc, "### Cargo.toml").replace("/path/to/plinth/guest-sdk", sdk.to_str().expect("path"));
    for (file, text) in [
        ("plugin.json", block_after(&doc, "### plugin.json").to_string()),
        ("Cargo.toml", cargo),
        ("src/lib.rs", block_after(&doc, "### src/lib.rs").to_string()),
        ("ui/stars.html", block_after(&doc, "### ui/stars.html").to_string()),
    ] {
        std::fs::write(dir.join(file), text).expect("write the guide's file");
    }
    let dir_arg = dir.to_str().expect("path");
    let built = common::plinth(&["build", dir_arg]);
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
    let checked = common::plinth(&["check", dir_arg]);
    assert!(checked.status.success(), "{}", String::from_utf8_lossy(&checked.stderr));

    let server = Server::start(plugins.path(), &[]);
    // The guide's field configuration, from its curl command.
    let curl = block_after(&doc, "or over HTTP:");
    let config = curl.split_once("-d '").and_then(|(_, rest)| rest.rsplit_once('\'')).expect("curl's body").0;
    assert_eq!(server.send("PUT", "/api/field-configs/movie", Some(config)).0, 200);
    let (status, _, refused) = server.send(
        "POST",
        "/api/entities",
        Some(r#"{"entity_type":"movie","data":{"title":"Heat","rating":9}}"#),
    );
    assert_eq!(status, 422, "{refused}");
    assert_eq!(
        refused["error"]["details"]["fields"]["rating"],
        json!(["a rating is a whole number from 1 to 5"])
    );

    browser.goto(&format!("{}/#/entity/new?type=movie", server.base));
    browser.wait_for("the widget frame", "return document.querySelector('[data-field=\"rating\"] iframe')");
    browser.type_into("input[name=\"title\"]", "Heat", false);
    browser.enter_frame("[data-field=\"rating\"] iframe");
    let size = browser.wait_for(
        "the stars",
        "const b = document.querySelector('#stars button'); return b && b.style.fontSize",
    );
    assert_eq!(size, json!("28px"), "the field's configuration reached the page");
    browser.click("#stars button:nth-child(4)");
    browser.leave_frame();
    browser.wait_for(
        "the form's value",
        "return document.querySelector('[data-field=\"rating\"]').dataset.value === '4'",
    );
    browser.click("#save-entity");
    browser.wait_for("the save", "return document.querySelector('#save-outcome .ok')");
    let (_, list) = server.get("/api/entities?entity_type=movie");
    assert_eq!(list["entities"][0]["data"], json!({"title": "Heat", "rating": 4}));
}

/// Operators switch a plugin off and on from its card: while off, its card
/// and its panel say so and its routes answer that it is off. The card also
/// says which settings reach the plugin's pages.
#[test]
fn operators_switch_a_plugin_off_and_on_in_the_console() {
    let Some(browser) = Browser::start() else { return };
    let plugins = plinth_tests::rust_examples();
    let server = Server::start(plugins.path(), &[]);
    let base = &server.base;
    browser.goto(&format!("{base}/#/plugins"));
    let exposed = browser.wait_for(
        "the settings shown to pages",
        "const l = document.querySelector('[data-plugin=\"word-count-widget\"] label[for$=\"max_words\"]'); return l && l.textContent",
    );
    assert!(exposed.as_str().is_some_and(|l| l.contains("shown to pages")), "{exposed}");
    let card = "section.card[data-plugin=\"audit-trail\"]";
    browser.click(&format!("{card} button.toggle"));
    browser.wait_for(
        "the card switched off",
        &format!("return document.querySelector('{card}[data-enabled=\"false\"] .switched-off')"),
    );
    assert_eq!(server.get("/api/plugins/audit-trail/log").0, 503);
    browser.goto(&format!("{base}/#/panels"));
    let notice = browser.wait_for(
        "the panel's notice",
        "const p = document.querySelector('[data-panel=\"audit-trail:log\"] .error'); return p && p.textContent",
    );
    assert!(notice.as_str().is_some_and(|n| n.contains("switched off")), "{notice}");
    browser.goto(&format!("{base}/#/plugins"));
    browser.wait_for("the card", &format!("return document.querySelector('{card} button.toggle')"));
    browser.click(&format!("{card} button.toggle"));
    browser.wait_for(
        "the card switched on",
        &format!("return document.querySelector('{card}[data-enabled=\"true\"]')"),
    );
    assert_eq!(server.get("/api/plugins/audit-trail/log").0, 200);
}

/// A widget's frame follows its content's height both ways: it grows with
/// the content and shrinks again when the content does.
#[test]
fn frames_grow_and_shrink_with_their_content() {
    let Some(browser) = Browser::start() else { return };
    let plugins = tempfile::tempdir().expect("temp dir");
    let dir = plugins.path().join("sizes");
    std::fs::create_dir_all(dir.join("ui")).expect("folders");
    std::fs::write(
        dir.join("ui/box.html"),
        "<!doctype html><html lang=\"en\"><title>box</title><script src=\"/plinth-widget.js\"></script>\
         <div id=\"box\" style=\"height: 20px\"></div><script>var box = document.getElementById('box');\
         PlinthWidget.connect({ onInit: function () { box.style.height = '500px';\
         setTimeout(function () { box.style.height = '40px'; }, 1500); } });</script>",
    )
    .expect("page");
    let manifest = json!({"id": "sizes", "field_widgets": [{"id": "box", "html": "ui/box.html"}]});
    std::fs::write(dir.join("plugin.json"), manifest.to_string()).expect("manifest");
    let server = Server::start(plugins.path(), &[]);
    let config = json!({"fields": {"size": {"widget": "plugin:sizes:box"}}});
    assert_eq!(server.send("PUT", "/api/field-configs/box", Some(&config.to_string())).0, 200);
    browser.goto(&format!("{}/#/entity/new?type=box", server.base));
    let height = "const f = document.querySelector('[data-field=\"size\"] iframe'); return f && f.getBoundingClientRect().height";
    browser.wait_for("the frame to grow", &format!("{height} > 500"));
    browser.wait_for(
        "the frame to shrink",
        &format!("const h = (() => {{ {height} }})(); return h > 0 && h < 100"),
    );
}

/// Installing in the console: "Install Local" uploads a package, its card
/// shows what the plugin asks for, nothing of it runs before Approve, and it
/// serves once approved.
#[test]
fn installing_a_plugin_with_consent_in_the_console() {
    let Some(browser) = Browser::start() else { return };
    let (plugins, work) = (tempfile::tempdir().expect("temp dir"), tempfile::tempdir().expect("temp dir"));
    let server = Server::start(plugins.path(), &[]);
    let dir = plinth_tests::copy_example("word-count-widget", work.path());
    let package = work.path().join("word-count.tgz");
    let packed =
        common::plinth(&["pack", dir.to_str().expect("path"), "-o", package.to_str().expect("path")]);
    assert!(packed.status.success(), "{}", String::from_utf8_lossy(&packed.stderr));

    browser.goto(&format!("{}/#/installs", server.base));
    browser.wait_for("the installs page", "return document.getElementById('install-file')");
    browser.type_into("#install-file", package.to_str().expect("path"), false);
    browser.click("#install-local button");
    let card = "section.install[data-plugin=\"word-count-widget\"]";
    browser.wait_for(
        "the pending install",
        &format!("return document.querySelector('{card}[data-state=\"pending\"]')"),
    );
    let grants = browser.eval(&format!("return document.querySelector('{card} .grants').textContent"));
    assert_eq!(grants, json!("setting_get"));
    let reasons = browser.eval(&format!("return document.querySelector('{card} .reasons').textContent"));
    assert!(reasons.as_str().is_some_and(|r| r.contains("a new plugin")), "{reasons}");
    assert_eq!(server.get("/api/plugins/word-count-widget").0, 404, "nothing runs before approval");
    browser.screenshot("install-pending");

    browser.click(&format!("{card} button.approve"));
    browser.wait_for(
        "the approved install",
        &format!("return document.querySelector('{card}[data-state=\"approved\"]')"),
    );
    let (status, plugin) = server.get("/api/plugins/word-count-widget");
    assert_eq!(status, 200, "{plugin}");
    assert_eq!(plugin["widgets"][0]["id"], "plugin:word-count-widget:word-count", "{plugin}");
}

/// Front-end code written for Bubbledesk's `Bubbledesk.worker` runs against
/// `plinth serve` with `/plinth-worker.js`: a module added by name without
/// `.wasm` from a picked file, listed, called with and without the suffix
/// (its own JSON line, errors included), an unknown module refused with the
/// server's message, and removed.
#[test]
fn bubbledesk_front_end_code_runs_against_plinth_serve() {
    use base64::Engine as _;
    let Some(browser) = Browser::start() else { return };
    let plugins = tempfile::tempdir().expect("temp dir");
    let server = Server::start(plugins.path(), &[]);
    browser.goto(&format!("{}/", server.base));
    browser.eval(
        "const s = document.createElement('script'); s.src = '/plinth-worker.js'; document.head.appendChild(s); return true",
    );
    browser.wait_for("the bridge", "return !!(window.Bubbledesk && window.Bubbledesk.worker)");
    let module = base64::engine::general_purpose::STANDARD
        .encode(std::fs::read(guests::LEGACY_MATH_WASM).expect("module"));
    browser.eval(&format!(
        r#"window.__bd = null;
        const bytes = Uint8Array.from(atob("{module}"), c => c.charCodeAt(0));
        const file = new File([bytes], "math.wasm", {{ type: "application/wasm" }});
        (async () => {{
            const w = Bubbledesk.worker;
            const added = await w.modules.add("math", file);
            const listed = await w.modules.list();
            const res = await w.call("math.wasm", {{ fn: "add", args: [3, 5] }});
            const bare = await w.call("math", {{ fn: "div", args: [1, 0] }});
            let unknown = null;
            try {{ await w.call("nope", {{ fn: "add", args: [1, 2] }}); }} catch (e) {{ unknown = [e.status, e.message]; }}
            await w.modules.remove("math");
            const after = await w.modules.list();
            return {{ added, listed, value: JSON.parse(res).value, res, bare, unknown, after }};
        }})().then(r => window.__bd = JSON.stringify(r), e => window.__bd = JSON.stringify({{ failed: String(e) }}));
        return true"#
    ));
    let result = browser.wait_for("the Bubbledesk calls", "return window.__bd");
    let result: Value = serde_json::from_str(result.as_str().expect("text")).expect("JSON");
    assert_eq!(result["added"]["name"], "math.wasm", "{result}");
    assert_eq!(result["listed"][0]["name"], "math.wasm", "{result}");
    assert_eq!(result["value"], 8, "{result}");
    assert_eq!(result["res"], r#"{"ok":true,"value":8}"#, "{result}");
    let bare: Value =
        serde_json::from_str(result["bare"].as_str().expect("the module's line")).expect("JSON");
    assert_eq!(bare, json!({"ok": false, "error": "division by zero"}), "{result}");
    assert_eq!(result["unknown"][0], 404, "{result}");
    assert!(result["unknown"][1].as_str().is_some_and(|m| m.contains("nope.wasm")), "{result}");
    assert_eq!(result["after"], json!([]), "{result}");
}

/// A front-end-only plugin (a panel and a page-only widget, no component)
/// shows in the console, which says its widget's values are not checked by
/// the server.
#[test]
fn the_console_says_a_page_only_widget_is_not_checked_by_the_server() {
    let Some(browser) = Browser::start() else { return };
    let plugins = tempfile::tempdir().expect("temp dir");
    let dir = plugins.path().join("pages");
    std::fs::create_dir_all(dir.join("ui")).expect("folders");
    std::fs::write(dir.join("ui/panel.html"), "<p>panel</p>").expect("panel");
    std::fs::write(dir.join("ui/stars.html"), "<p>stars</p>").expect("widget page");
    let manifest = json!({
        "id": "pages",
        "panels": [{ "id": "main", "title": "Main", "html": "ui/panel.html" }],
        "field_widgets": [{ "id": "stars", "label": "Stars", "field_types": ["number"], "html": "ui/stars.html" }],
    });
    std::fs::write(dir.join("plugin.json"), manifest.to_string()).expect("manifest");
    let server = Server::start(plugins.path(), &[]);
    browser.goto(&format!("{}/#/plugins", server.base));
    let text = browser.wait_for(
        "the plugin's card",
        "const card = document.querySelector('section.card[data-plugin=\"pages\"]'); return card && card.textContent",
    );
    assert!(text.as_str().is_some_and(|t| t.contains("page only: no server-side validation")), "{text}");
}

/// A plugin's scheduled jobs run in `plinth serve`'s background and show in
/// the API and on its card in the console: schedule, next run, runs and how
/// the last one went (a job that traps shows its failure).
#[test]
fn scheduled_jobs_run_in_the_server_and_show_in_the_api_and_the_console() {
    let plugins = tempfile::tempdir().expect("temp dir");
    let manifest = json!({
        "id": "janitor",
        "wasm": { "module": "plugin.wasm" },
        "capabilities": { "host_functions": ["storage_get", "storage_increment", "entity_create"] },
        "jobs": [{ "id": "tick", "every_seconds": 1 }, { "id": "trap", "every_seconds": 1 }],
    });
    let wasm = std::fs::read(plinth_tests::guests::V0_3_PLUGIN_WASM).expect("guest");
    plinth_tests::write_plugin(plugins.path(), "janitor", &manifest, &wasm);
    let server = Server::start(plugins.path(), &[]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let jobs = loop {
        let (status, listed) = server.get("/api/jobs?plugin=janitor");
        assert_eq!(status, 200, "{listed}");
        let jobs = listed["jobs"].as_array().expect("jobs").clone();
        if jobs.iter().all(|job| job["runs"].as_u64().is_some_and(|runs| runs >= 1)) {
            break jobs;
        }
        assert!(std::time::Instant::now() < deadline, "the jobs did not run: {listed}\n{}", server.log());
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert_eq!(jobs[0]["job_id"], "tick");
    assert_eq!(jobs[0]["schedule"], "every 1 s");
    assert!(jobs[0]["last_run"]["error"].is_null(), "{jobs:?}");
    assert!(jobs[0]["next_due"].as_u64() > jobs[0]["last_run"]["at"].as_u64(), "{jobs:?}");
    assert!(jobs[1]["last_run"]["error"].as_str().is_some_and(|e| e.contains("trapped")), "{jobs:?}");

    let Some(browser) = Browser::start() else { return };
    browser.goto(&format!("{}/#/plugins", server.base));
    let outcomes = browser.wait_for(
        "the jobs on the plugin's card",
        "const jobs = [...document.querySelectorAll('[data-plugin=\"janitor\"] .job')]; \
         return jobs.length === 2 && jobs.map((j) => j.dataset.job + ':' + j.dataset.outcome).join(' ')",
    );
    assert_eq!(outcomes, json!("tick:ok trap:failed"));
    let line = browser.eval(
        "return document.querySelector('[data-plugin=\"janitor\"] .job[data-job=\"tick\"]').textContent",
    );
    assert!(line.as_str().is_some_and(|l| l.contains("every 1 s") && l.contains("next")), "{line}");
}
