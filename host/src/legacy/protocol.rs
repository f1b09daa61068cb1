//! The worker protocol: one JSON object in on stdin, exactly one line of JSON
//! out on stdout, `{"ok":true,"value":…}` or `{"ok":false,"error":"…"}`.

use serde::Serialize;
use serde_json::Value;

/// What a module answered, once its line passed every rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LegacyReply {
    /// The module's `ok`.
    pub ok: bool,
    /// `value` when `ok` is true.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    /// `error` when `ok` is false.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The line exactly as the module wrote it (without its newline).
    #[serde(skip)]
    pub line: String,
}

/// Why a module's output broke the protocol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// Nothing on stdout.
    #[error("it wrote nothing to stdout; a module must print exactly one line of JSON")]
    Empty,
    /// Not UTF-8.
    #[error("its output is binary, not text; a module must print exactly one line of JSON")]
    Binary,
    /// More than one line.
    #[error("it wrote {0} lines; a module must print exactly one line of JSON (send logs to stderr)")]
    MultipleLines(usize),
    /// The line is not JSON.
    #[error("its output is not JSON ({0}); a module must print exactly one line of JSON")]
    NotJson(String),
    /// JSON of the wrong shape.
    #[error("its output {0}; expected {{\"ok\":true,\"value\":…}} or {{\"ok\":false,\"error\":\"…\"}}")]
    Shape(&'static str),
    /// More output than the cap.
    #[error("it wrote more than the {0}-byte output limit")]
    TooLarge(usize),
}

/// Checks a request is one JSON object (its size is checked before).
pub fn check_request(input: &[u8]) -> Result<(), String> {
    match serde_json::from_slice::<Value>(input) {
        Ok(Value::Object(_)) => Ok(()),
        Ok(_) => Err("the request must be a JSON object, like {\"fn\":\"add\",\"args\":[3,5]}".into()),
        Err(e) => Err(format!("the request is not JSON: {e}")),
    }
}

/// Applies every output rule to what the module wrote.
pub fn parse_reply(stdout: &[u8]) -> Result<LegacyReply, ProtocolError> {
    let text = std::str::from_utf8(stdout).map_err(|_| ProtocolError::Binary)?;
    let line = text.strip_suffix('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).unwrap_or(text);
    if line.trim().is_empty() {
        return Err(ProtocolError::Empty);
    }
    if line.contains('\n') {
        return Err(ProtocolError::MultipleLines(line.lines().count()));
    }
    if line.chars().any(|c| c.is_control() && c != '\t' && c != '\r') {
        return Err(ProtocolError::Binary);
    }
    let value: Value = serde_json::from_str(line).map_err(|e| ProtocolError::NotJson(e.to_string()))?;
    let object = value.as_object().ok_or(ProtocolError::Shape("is not a JSON object"))?;
    let ok = object.get("ok").and_then(Value::as_bool).ok_or(ProtocolError::Shape("has no boolean `ok`"))?;
    let reply = if ok {
        let value = object.get("value").ok_or(ProtocolError::Shape("has `ok: true` but no `value`"))?;
        LegacyReply { ok, value: Some(value.clone()), error: None, line: line.to_string() }
    } else {
        let error = object
            .get("error")
            .and_then(Value::as_str)
            .ok_or(ProtocolError::Shape("has `ok: false` but no string `error`"))?;
        LegacyReply { ok, value: None, error: Some(error.to_string()), line: line.to_string() }
    };
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn accepts_the_two_shapes() {
        let ok = parse_reply(b"{\"ok\":true,\"value\":8}\n").expect("ok");
        assert_eq!((ok.ok, ok.value), (true, Some(json!(8))));
        assert_eq!(ok.line, "{\"ok\":true,\"value\":8}");
        let err = parse_reply(b"{\"ok\":false,\"error\":\"division by zero\"}").expect("error reply");
        assert_eq!(err.error.as_deref(), Some("division by zero"));
    }

    #[test]
    fn refuses_everything_else() {
        assert_eq!(parse_reply(b""), Err(ProtocolError::Empty));
        assert_eq!(parse_reply(b"\n"), Err(ProtocolError::Empty));
        assert_eq!(
            parse_reply(b"{\"ok\":true,\"value\":1}\n{\"ok\":true,\"value\":2}\n"),
            Err(ProtocolError::MultipleLines(2))
        );
        assert_eq!(parse_reply(&[0xff, 0xfe, b'\n']), Err(ProtocolError::Binary));
        assert_eq!(parse_reply(b"\x00\x01\n"), Err(ProtocolError::Binary));
        assert!(matches!(parse_reply(b"hello\n"), Err(ProtocolError::NotJson(_))));
        assert!(matches!(parse_reply(b"[1]\n"), Err(ProtocolError::Shape(_))));
        assert!(matches!(parse_reply(b"{\"value\":1}\n"), Err(ProtocolError::Shape(_))));
        assert!(matches!(parse_reply(b"{\"ok\":true}\n"), Err(ProtocolError::Shape(_))));
        assert!(matches!(parse_reply(b"{\"ok\":false,\"error\":3}\n"), Err(ProtocolError::Shape(_))));
    }

    #[test]
    fn requests_must_be_json_objects() {
        assert!(check_request(br#"{"fn":"add","args":[3,5]}"#).is_ok());
        assert!(check_request(b"[1,2]").is_err());
        assert!(check_request(b"{").is_err());
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    /// JSON values a module might answer with.
    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            "\\PC*".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map("[a-z]{0,6}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn every_well_formed_reply_round_trips(ok: bool, value in json_value(), error in "\\PC*") {
            let reply = if ok {
                serde_json::json!({"ok": true, "value": value})
            } else {
                serde_json::json!({"ok": false, "error": error})
            };
            let line = format!("{reply}\n");
            let parsed = parse_reply(line.as_bytes()).expect("a well-formed reply");
            prop_assert_eq!(parsed.ok, ok);
            prop_assert_eq!(parsed.line, reply.to_string());
            if ok {
                prop_assert_eq!(parsed.value, Some(value));
            } else {
                prop_assert_eq!(parsed.error, Some(error));
            }
        }

        #[test]
        fn two_replies_are_never_one(first in json_value(), second in json_value()) {
            let text = format!("{}\n{}\n", serde_json::json!({"ok": true, "value": first}), serde_json::json!({"ok": true, "value": second}));
            prop_assert_eq!(parse_reply(text.as_bytes()), Err(ProtocolError::MultipleLines(2)));
        }

        #[test]
        fn any_bytes_get_an_answer_not_a_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            if let Ok(reply) = parse_reply(&bytes) {
                prop_assert!(!reply.line.contains('\n'));
            }
        }
    }
}
