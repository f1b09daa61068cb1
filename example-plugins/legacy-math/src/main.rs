//! `math.wasm`: a worker module of the stdin/stdout JSON protocol, with no
//! Plinth dependency. Build: `cargo build --release --target wasm32-wasip1 -p legacy-math`.
//!
//! `{"fn":"add","args":[3,5]}` → `{"ok":true,"value":8}`;
//! `{"fn":"div","args":[1,0]}` → `{"ok":false,"error":"division by zero"}`.
//! `{"fn":"note","args":["name","text"]}` writes `text` to the file `name` in the
//! job's sandbox folder, reads it back and answers what it read.

use serde_json::{Value, json};
use std::io::{Read, Write};

fn numbers(args: &[Value]) -> Result<(f64, f64), String> {
    match args {
        [a, b] => match (a.as_f64(), b.as_f64()) {
            (Some(a), Some(b)) => Ok((a, b)),
            _ => Err("args must be two numbers".into()),
        },
        _ => Err(format!("expected 2 args, got {}", args.len())),
    }
}

/// Whole results print as integers (`8`, not `8.0`).
fn number(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 9.0e15 { json!(x as i64) } else { json!(x) }
}

fn note(args: &[Value]) -> Result<Value, String> {
    let [Value::String(name), Value::String(text)] = args else {
        return Err("note needs a file name and a text".into());
    };
    std::fs::write(name, text).map_err(|e| format!("cannot write {name}: {e}"))?;
    let back = std::fs::read_to_string(name).map_err(|e| format!("cannot read {name}: {e}"))?;
    Ok(json!(back))
}

fn call(request: &Value) -> Result<Value, String> {
    let name = request["fn"].as_str().ok_or("the request needs a string `fn`")?;
    let args = request["args"].as_array().map(Vec::as_slice).unwrap_or_default();
    match name {
        "add" => numbers(args).map(|(a, b)| number(a + b)),
        "sub" => numbers(args).map(|(a, b)| number(a - b)),
        "mul" => numbers(args).map(|(a, b)| number(a * b)),
        "div" => match numbers(args)? {
            (_, 0.0) => Err("division by zero".into()),
            (a, b) => Ok(number(a / b)),
        },
        "note" => note(args),
        other => Err(format!("unknown function: {other}")),
    }
}

fn main() {
    let mut input = String::new();
    let reply = match std::io::stdin().read_to_string(&mut input) {
        Err(e) => json!({"ok": false, "error": format!("cannot read stdin: {e}")}),
        Ok(_) => match serde_json::from_str::<Value>(&input) {
            Err(e) => json!({"ok": false, "error": format!("invalid JSON: {e}")}),
            Ok(request) => match call(&request) {
                Ok(value) => json!({"ok": true, "value": value}),
                Err(error) => json!({"ok": false, "error": error}),
            },
        },
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{reply}");
}
