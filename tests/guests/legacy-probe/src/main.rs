//! Test guest for the legacy adapter: each `fn` breaks one rule of the
//! protocol or probes the sandbox, so the tests can check the host's answer.

use serde_json::{Value, json};
use std::io::{Read, Write};

fn reply(value: Value) {
    println!("{value}");
}

/// Creates a symlink in the job folder (the first preopen, fd 3).
#[cfg(target_os = "wasi")]
fn symlink(target: &str, link: &str) -> Result<(), String> {
    #[expect(unsafe_code, reason = "the raw WASI call is the only way to make a symlink")]
    let result = unsafe { wasi::path_symlink(target, 3, link) };
    result.map_err(|e| e.to_string())
}

#[cfg(not(target_os = "wasi"))]
fn symlink(_target: &str, _link: &str) -> Result<(), String> {
    Err("only on WASI".into())
}

/// Tries to reach outside the job folder; answers what each attempt gave.
fn escape() -> Value {
    let attempt = |path: &str| match std::fs::read_to_string(path) {
        Ok(text) => format!("read {} bytes", text.len()),
        Err(e) => format!("refused: {e}"),
    };
    let symlink_out = match symlink("/etc/passwd", "link-out") {
        Ok(()) => attempt("link-out"),
        Err(e) => format!("refused: {e}"),
    };
    let dotdot_link = match symlink("../..", "up") {
        Ok(()) => attempt("up/plinth.sqlite3"),
        Err(e) => format!("refused: {e}"),
    };
    let write_up = match std::fs::write("../escaped.txt", "x") {
        Ok(()) => "wrote".to_string(),
        Err(e) => format!("refused: {e}"),
    };
    json!({
        "dotdot": attempt("../../plinth.sqlite3"),
        "absolute": attempt("/etc/passwd"),
        "symlink": symlink_out,
        "dotdot_symlink": dotdot_link,
        "write_up": write_up,
        "listing": std::fs::read_dir("/").map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect::<Vec<_>>()).unwrap_or_default(),
    })
}

fn main() {
    let mut input = String::new();
    let _ = std::io::stdin().read_to_string(&mut input);
    let request: Value = serde_json::from_str(&input).unwrap_or(Value::Null);
    let args = request["args"].as_array().cloned().unwrap_or_default();
    let text = |i: usize| args.get(i).and_then(Value::as_str).unwrap_or("").to_string();
    match request["fn"].as_str().unwrap_or("") {
        "echo" => reply(json!({"ok": true, "value": request["args"]})),
        "loop" => {
            let mut n: u64 = 0;
            loop {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
        "sleep" => {
            // Sleeps (WASI poll on a clock) for args[0] milliseconds, then answers.
            let ms = args.first().and_then(Value::as_u64).unwrap_or(0);
            std::thread::sleep(std::time::Duration::from_millis(ms));
            reply(json!({"ok": true, "value": "woke"}))
        }
        "two_lines" => {
            reply(json!({"ok": true, "value": 1}));
            reply(json!({"ok": true, "value": 2}));
        }
        "nothing" => {}
        "not_json" => println!("hello"),
        "binary" => {
            let _ = std::io::stdout().write_all(&[0xff, 0xfe, 0x00, 0x01, b'\n']);
        }
        "no_ok" => reply(json!({"value": 1})),
        "flood" => {
            let line = "x".repeat(1024);
            for _ in 0..16 * 1024 {
                if writeln!(std::io::stdout(), "{line}").is_err() {
                    break;
                }
            }
        }
        "exit" => {
            eprintln!("something went wrong: {}", text(0));
            std::process::exit(3);
        }
        "stderr" => {
            eprintln!("a note for the log");
            reply(json!({"ok": true, "value": "quiet"}));
        }
        "write" => {
            let outcome = std::fs::write(text(0), text(1)).map_err(|e| e.to_string());
            reply(json!({"ok": outcome.is_ok(), "value": text(0), "error": outcome.err()}));
        }
        "list" => match std::fs::read_dir(".") {
            Ok(entries) => {
                let names: Vec<String> = entries
                    .filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect();
                reply(json!({"ok": true, "value": names}))
            }
            Err(e) => reply(json!({"ok": false, "error": e.to_string()})),
        },
        "read" => match std::fs::read_to_string(text(0)) {
            Ok(content) => reply(json!({"ok": true, "value": content})),
            Err(e) => reply(json!({"ok": false, "error": e.to_string()})),
        },
        "escape" => reply(json!({"ok": true, "value": escape()})),
        "env" => reply(json!({"ok": true, "value": {
            "vars": std::env::vars().count(),
            "args": std::env::args().collect::<Vec<_>>(),
        }})),
        other => reply(json!({"ok": false, "error": format!("unknown function: {other}")})),
    }
}
