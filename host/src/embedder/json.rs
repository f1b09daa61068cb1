//! Component values as JSON, for embedder functions defined on JSON
//! ([`EmbedderInterface::func_json`](super::EmbedderInterface::func_json)):
//! a test's mock of the application's functions, a scripting bridge. One
//! form per WIT type, read guided by the function's own types:
//!
//! | WIT | JSON |
//! |---|---|
//! | `bool`, integers, floats | `true`, `7`, `1.5` |
//! | `char`, `string` | `"x"`, `"text"` |
//! | `list<T>`, `tuple<…>` | an array |
//! | `record` | an object, by field name |
//! | `variant` | `{"case": payload}`, or `"case"` without one |
//! | `enum` | `"case"` |
//! | `option<T>` | `null` or the value |
//! | `result<T, E>` | `{"ok": value}` or `{"err": value}` (`null` without one) |
//! | `flags` | an array of the names set |
//!
//! Resources, futures, streams and maps have no JSON form here.

use serde_json::{Map, Value, json};
use wasmtime::component::types::ComponentFunc;
use wasmtime::component::{Type, Val};

/// `json` as a value of `ty`, or why it does not fit.
pub(crate) fn value_of(json: &Value, ty: &Type) -> Result<Val, String> {
    let mismatch = || format!("{json} is not a {}", type_name(ty));
    let int = || json.as_i64().ok_or_else(mismatch);
    let uint = || json.as_u64().ok_or_else(mismatch);
    let fit = |_| mismatch();
    Ok(match ty {
        Type::Bool => Val::Bool(json.as_bool().ok_or_else(mismatch)?),
        Type::S8 => Val::S8(i8::try_from(int()?).map_err(fit)?),
        Type::S16 => Val::S16(i16::try_from(int()?).map_err(fit)?),
        Type::S32 => Val::S32(i32::try_from(int()?).map_err(fit)?),
        Type::S64 => Val::S64(int()?),
        Type::U8 => Val::U8(u8::try_from(uint()?).map_err(fit)?),
        Type::U16 => Val::U16(u16::try_from(uint()?).map_err(fit)?),
        Type::U32 => Val::U32(u32::try_from(uint()?).map_err(fit)?),
        Type::U64 => Val::U64(uint()?),
        // The nearest float: JSON numbers carry no width.
        #[expect(clippy::cast_possible_truncation, reason = "a JSON number as the nearest f32")]
        Type::Float32 => Val::Float32(json.as_f64().ok_or_else(mismatch)? as f32),
        Type::Float64 => Val::Float64(json.as_f64().ok_or_else(mismatch)?),
        Type::Char => {
            let mut chars = json.as_str().ok_or_else(mismatch)?.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => Val::Char(c),
                _ => return Err(mismatch()),
            }
        }
        Type::String => Val::String(json.as_str().ok_or_else(mismatch)?.to_string()),
        Type::List(list) => {
            let items = json.as_array().ok_or_else(mismatch)?;
            Val::List(items.iter().map(|item| value_of(item, &list.ty())).collect::<Result<_, _>>()?)
        }
        Type::Tuple(tuple) => {
            let items =
                json.as_array().filter(|items| items.len() == tuple.types().len()).ok_or_else(mismatch)?;
            Val::Tuple(
                items
                    .iter()
                    .zip(tuple.types())
                    .map(|(item, ty)| value_of(item, &ty))
                    .collect::<Result<_, _>>()?,
            )
        }
        Type::Record(record) => {
            let fields = json.as_object().ok_or_else(mismatch)?;
            let values = record.fields().map(|field| {
                let value = fields.get(field.name).unwrap_or(&Value::Null);
                value_of(value, &field.ty).map(|value| (field.name.to_string(), value))
            });
            Val::Record(values.collect::<Result<_, _>>()?)
        }
        Type::Variant(variant) => {
            let (name, payload) = case_of(json).ok_or_else(mismatch)?;
            let case = variant.cases().find(|case| case.name == name).ok_or_else(mismatch)?;
            let payload = match (&case.ty, payload) {
                (Some(ty), payload) => Some(Box::new(value_of(payload.unwrap_or(&Value::Null), ty)?)),
                (None, None | Some(Value::Null)) => None,
                (None, Some(_)) => return Err(mismatch()),
            };
            Val::Variant(name.to_string(), payload)
        }
        Type::Enum(cases) => {
            let name =
                json.as_str().filter(|name| cases.names().any(|case| case == *name)).ok_or_else(mismatch)?;
            Val::Enum(name.to_string())
        }
        Type::Option(option) => match json {
            Value::Null => Val::Option(None),
            value => Val::Option(Some(Box::new(value_of(value, &option.ty())?))),
        },
        Type::Result(result) => {
            let (name, payload) = case_of(json).ok_or_else(mismatch)?;
            let side = |ty: Option<Type>| -> Result<Option<Box<Val>>, String> {
                match (ty, payload) {
                    (Some(ty), payload) => {
                        Ok(Some(Box::new(value_of(payload.unwrap_or(&Value::Null), &ty)?)))
                    }
                    (None, None | Some(Value::Null)) => Ok(None),
                    (None, Some(_)) => Err(mismatch()),
                }
            };
            match name {
                "ok" => Val::Result(Ok(side(result.ok())?)),
                "err" => Val::Result(Err(side(result.err())?)),
                _ => return Err(mismatch()),
            }
        }
        Type::Flags(flags) => {
            let set = json.as_array().ok_or_else(mismatch)?;
            let names = set.iter().map(|name| {
                name.as_str().filter(|name| flags.names().any(|flag| flag == *name)).map(str::to_string)
            });
            Val::Flags(names.collect::<Option<_>>().ok_or_else(mismatch)?)
        }
        _ => return Err(format!("a {} has no JSON form", type_name(ty))),
    })
}

/// Puts a function's JSON `answer` in its `results`: the value itself for
/// one result, an array of them for several, nothing for none.
pub(crate) fn fill_results(answer: Value, ty: &ComponentFunc, results: &mut [Val]) -> wasmtime::Result<()> {
    let types: Vec<Type> = ty.results().collect();
    let answers = match types.len() {
        0 => Vec::new(),
        1 => vec![answer],
        n => match answer {
            Value::Array(items) if items.len() == n => items,
            other => wasmtime::bail!("answered {other}, not an array of its {n} results"),
        },
    };
    for ((slot, ty), answer) in results.iter_mut().zip(&types).zip(&answers) {
        *slot = value_of(answer, ty)
            .map_err(|problem| wasmtime::format_err!("its answer does not fit: {problem}"))?;
    }
    Ok(())
}

/// A variant's or result's case name and payload: `{"case": payload}`, or `"case"`.
fn case_of(json: &Value) -> Option<(&str, Option<&Value>)> {
    match json {
        Value::String(name) => Some((name, None)),
        Value::Object(one) if one.len() == 1 => {
            one.iter().next().map(|(name, payload)| (name.as_str(), Some(payload)))
        }
        _ => None,
    }
}

/// `value` as JSON, in the same forms.
pub(crate) fn json_of(value: &Val) -> Value {
    let boxed = |value: &Option<Box<Val>>| value.as_deref().map_or(Value::Null, json_of);
    match value {
        Val::Bool(b) => json!(b),
        Val::S8(n) => json!(n),
        Val::U8(n) => json!(n),
        Val::S16(n) => json!(n),
        Val::U16(n) => json!(n),
        Val::S32(n) => json!(n),
        Val::U32(n) => json!(n),
        Val::S64(n) => json!(n),
        Val::U64(n) => json!(n),
        Val::Float32(n) => json!(n),
        Val::Float64(n) => json!(n),
        Val::Char(c) => json!(c.to_string()),
        Val::String(text) => json!(text),
        Val::List(items) | Val::Tuple(items) | Val::FixedLengthList(items) => {
            Value::Array(items.iter().map(json_of).collect())
        }
        Val::Record(fields) => Value::Object(
            fields.iter().map(|(name, value)| (name.clone(), json_of(value))).collect::<Map<_, _>>(),
        ),
        Val::Variant(name, None) | Val::Enum(name) => json!(name),
        Val::Variant(name, payload) => json!({ name: boxed(payload) }),
        Val::Option(value) => boxed(value),
        Val::Result(Ok(value)) => json!({ "ok": boxed(value) }),
        Val::Result(Err(value)) => json!({ "err": boxed(value) }),
        Val::Flags(names) => json!(names),
        _ => json!("(no JSON form)"),
    }
}

/// A type as errors name it (`string`, `record`).
fn type_name(ty: &Type) -> &'static str {
    match ty {
        Type::Bool => "bool",
        Type::S8 | Type::S16 | Type::S32 | Type::S64 => "signed integer in range",
        Type::U8 | Type::U16 | Type::U32 | Type::U64 => "unsigned integer in range",
        Type::Float32 | Type::Float64 => "number",
        Type::Char => "char (a one-character string)",
        Type::String => "string",
        Type::List(_) | Type::FixedLengthList(_) => "list (an array)",
        Type::Tuple(_) => "tuple (an array of its length)",
        Type::Record(_) => "record (an object)",
        Type::Variant(_) => "variant case ({\"case\": payload} or \"case\")",
        Type::Enum(_) => "enum case",
        Type::Option(_) => "option",
        Type::Result(_) => "result ({\"ok\": …} or {\"err\": …})",
        Type::Flags(_) => "flags (an array of names)",
        _ => "resource, future, stream or map",
    }
}
