//! Reads `tauri.conf.json` and embeds the front end (`ui/`).

fn main() {
    tauri_build::build();
}
