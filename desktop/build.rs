//! Reads `tauri.conf.json` and embeds the front end (`ui/`, and the plugin
//! frame script it shares with the web console).

fn main() {
    println!("cargo:rerun-if-changed=../cli/console/plugin-frame.js");
    tauri_build::build();
}
