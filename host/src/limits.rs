//! The limit model. The host has defaults and ceilings; a plugin may ask for
//! other values in `plugin.json` under `limits`, never above a ceiling. The
//! result is the plugin's effective [`Limits`], which every call of it runs under.

use serde::Deserialize;
use std::time::Duration;

/// Limits of one plugin's calls (or the host's defaults and ceilings).
/// Serialized with times in milliseconds (`hook_timeout_ms`).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, Deserialize)]
pub struct Limits {
    /// Linear memory one instance may grow to.
    pub memory_bytes: usize,
    /// Time an entity hook may run.
    #[serde(rename = "hook_timeout_ms", with = "millis")]
    pub hook_timeout: Duration,
    /// Time a route call may run.
    #[serde(rename = "route_timeout_ms", with = "millis")]
    pub route_timeout: Duration,
    /// Time loading may run the plugin (`init`: its exports checked, its
    /// routes and widgets listed). Records written before it existed (an
    /// install's request) read as the default.
    #[serde(rename = "init_timeout_ms", with = "millis", default = "default_init_timeout")]
    pub init_timeout: Duration,
    /// Time a widget render or validate may run.
    #[serde(rename = "widget_timeout_ms", with = "millis")]
    pub widget_timeout: Duration,
    /// Wasm instructions' fuel per call; `None` when fuel metering is off.
    pub fuel: Option<u64>,
    /// Bytes of stdout and of stderr kept per call; writes beyond fail.
    pub output_bytes: usize,
    /// Log records a call may write; more are dropped (and counted).
    pub log_records: usize,
    /// Largest value a plugin may store under one key.
    pub storage_value_bytes: usize,
    /// Bytes (keys plus values) a plugin may keep in its storage.
    pub storage_bytes: u64,
    /// Keys a plugin may keep in its storage.
    pub storage_keys: u64,
    /// Largest route request body.
    pub request_bytes: usize,
    /// Largest route response body.
    pub response_bytes: usize,
    /// Calls of one plugin running at once; more are refused as busy.
    pub max_concurrent: usize,
    /// Instances kept ready ahead of calls (each used by one call only).
    /// Records written before it existed read as the default.
    #[serde(default = "default_reserve_instances")]
    pub reserve_instances: usize,
}

fn default_reserve_instances() -> usize {
    Limits::default().reserve_instances
}

fn default_init_timeout() -> Duration {
    Limits::default().init_timeout
}

/// Durations as whole milliseconds.
mod millis {
    use serde::Deserialize;
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        u64::deserialize(deserializer).map(Duration::from_millis)
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 64 << 20,
            hook_timeout: Duration::from_secs(2),
            route_timeout: Duration::from_secs(5),
            init_timeout: Duration::from_secs(5),
            widget_timeout: Duration::from_secs(2),
            fuel: None,
            output_bytes: 64 << 10,
            log_records: 200,
            storage_value_bytes: 1 << 20,
            storage_bytes: 64 << 20,
            storage_keys: 100_000,
            request_bytes: 1 << 20,
            response_bytes: 8 << 20,
            max_concurrent: 32,
            reserve_instances: 2,
        }
    }
}

impl Limits {
    /// The highest values a plugin may ask for by default.
    pub fn default_ceilings() -> Limits {
        Limits {
            memory_bytes: 1 << 30,
            hook_timeout: Duration::from_secs(30),
            route_timeout: Duration::from_secs(120),
            init_timeout: Duration::from_secs(120),
            widget_timeout: Duration::from_secs(30),
            fuel: Some(u64::MAX),
            output_bytes: 16 << 20,
            log_records: 100_000,
            storage_value_bytes: 64 << 20,
            storage_bytes: 4 << 30,
            storage_keys: 10_000_000,
            request_bytes: 64 << 20,
            response_bytes: 64 << 20,
            max_concurrent: 1024,
            reserve_instances: 8,
        }
    }
}

/// The `limits` section of `plugin.json`: every field optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitRequest {
    /// Linear memory, in MiB.
    pub memory_mb: Option<u64>,
    /// Per entity hook, in milliseconds.
    pub hook_timeout_ms: Option<u64>,
    /// Per route call, in milliseconds.
    pub route_timeout_ms: Option<u64>,
    /// Loading (`init`), in milliseconds.
    pub init_timeout_ms: Option<u64>,
    /// Per widget call, in milliseconds.
    pub widget_timeout_ms: Option<u64>,
    /// Fuel per call (needs fuel metering on the host).
    pub fuel: Option<u64>,
    /// Captured stdout and stderr, in KiB.
    pub output_kb: Option<u64>,
    /// Log records per call.
    pub log_records: Option<u64>,
    /// Largest stored value, in KiB.
    pub storage_value_kb: Option<u64>,
    /// Storage quota, in MiB.
    pub storage_mb: Option<u64>,
    /// Storage quota, in keys.
    pub storage_keys: Option<u64>,
    /// Route request body, in KiB.
    pub request_kb: Option<u64>,
    /// Route response body, in KiB.
    pub response_kb: Option<u64>,
    /// Calls running at once.
    pub max_concurrent: Option<u64>,
    /// Instances kept ready ahead of calls; 0 makes each on its call.
    pub reserve_instances: Option<u64>,
}

impl LimitRequest {
    /// The effective limits: each requested value, checked against its
    /// ceiling; the default where nothing is requested.
    pub fn resolve(&self, defaults: &Limits, ceilings: &Limits) -> Result<Limits, String> {
        fn pick<T: Copy + PartialOrd + std::fmt::Debug>(
            name: &str,
            requested: Option<T>,
            default: T,
            ceiling: T,
        ) -> Result<T, String> {
            match requested {
                None => Ok(if default > ceiling { ceiling } else { default }),
                Some(value) if value > ceiling => {
                    Err(format!("limits.{name} asks for {value:?}, above this host's ceiling of {ceiling:?}"))
                }
                Some(value) => Ok(value),
            }
        }
        let mib =
            |v: Option<u64>| v.map(|v| usize::try_from(v.saturating_mul(1 << 20)).unwrap_or(usize::MAX));
        let kib =
            |v: Option<u64>| v.map(|v| usize::try_from(v.saturating_mul(1 << 10)).unwrap_or(usize::MAX));
        let ms = |v: Option<u64>| v.map(Duration::from_millis);
        let fuel = match (self.fuel, defaults.fuel, ceilings.fuel) {
            (Some(_), None, _) | (Some(_), _, None) => {
                return Err("limits.fuel needs fuel metering, which this host has turned off".into());
            }
            (requested, Some(default), Some(ceiling)) => Some(pick("fuel", requested, default, ceiling)?),
            (None, _, _) => None,
        };
        Ok(Limits {
            memory_bytes: pick(
                "memory_mb",
                mib(self.memory_mb),
                defaults.memory_bytes,
                ceilings.memory_bytes,
            )?,
            hook_timeout: pick(
                "hook_timeout_ms",
                ms(self.hook_timeout_ms),
                defaults.hook_timeout,
                ceilings.hook_timeout,
            )?,
            route_timeout: pick(
                "route_timeout_ms",
                ms(self.route_timeout_ms),
                defaults.route_timeout,
                ceilings.route_timeout,
            )?,
            init_timeout: pick(
                "init_timeout_ms",
                ms(self.init_timeout_ms),
                defaults.init_timeout,
                ceilings.init_timeout,
            )?,
            widget_timeout: pick(
                "widget_timeout_ms",
                ms(self.widget_timeout_ms),
                defaults.widget_timeout,
                ceilings.widget_timeout,
            )?,
            fuel,
            output_bytes: pick(
                "output_kb",
                kib(self.output_kb),
                defaults.output_bytes,
                ceilings.output_bytes,
            )?,
            log_records: pick(
                "log_records",
                self.log_records.map(|v| usize::try_from(v).unwrap_or(usize::MAX)),
                defaults.log_records,
                ceilings.log_records,
            )?,
            storage_value_bytes: pick(
                "storage_value_kb",
                kib(self.storage_value_kb),
                defaults.storage_value_bytes,
                ceilings.storage_value_bytes,
            )?,
            storage_bytes: pick(
                "storage_mb",
                self.storage_mb.map(|v| v.saturating_mul(1 << 20)),
                defaults.storage_bytes,
                ceilings.storage_bytes,
            )?,
            storage_keys: pick(
                "storage_keys",
                self.storage_keys,
                defaults.storage_keys,
                ceilings.storage_keys,
            )?,
            request_bytes: pick(
                "request_kb",
                kib(self.request_kb),
                defaults.request_bytes,
                ceilings.request_bytes,
            )?,
            response_bytes: pick(
                "response_kb",
                kib(self.response_kb),
                defaults.response_bytes,
                ceilings.response_bytes,
            )?,
            max_concurrent: pick(
                "max_concurrent",
                self.max_concurrent.map(|v| usize::try_from(v).unwrap_or(usize::MAX)),
                defaults.max_concurrent,
                ceilings.max_concurrent,
            )?
            .max(1),
            reserve_instances: pick(
                "reserve_instances",
                self.reserve_instances.map(|v| usize::try_from(v).unwrap_or(usize::MAX)),
                defaults.reserve_instances,
                ceilings.reserve_instances,
            )?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_apply_up_to_the_ceiling() {
        let defaults = Limits::default();
        let ceilings = Limits::default_ceilings();
        let none = LimitRequest::default().resolve(&defaults, &ceilings).expect("defaults");
        assert_eq!(none, defaults);
        let asked = LimitRequest { memory_mb: Some(16), route_timeout_ms: Some(250), ..Default::default() };
        let limits = asked.resolve(&defaults, &ceilings).expect("within ceilings");
        assert_eq!(limits.memory_bytes, 16 << 20);
        assert_eq!(limits.route_timeout, Duration::from_millis(250));
        let greedy = LimitRequest { memory_mb: Some(1 << 20), ..Default::default() };
        let error = greedy.resolve(&defaults, &ceilings).expect_err("above the ceiling");
        assert!(error.contains("limits.memory_mb") && error.contains("ceiling"), "{error}");
        let fuel = LimitRequest { fuel: Some(10), ..Default::default() };
        assert!(fuel.resolve(&defaults, &ceilings).expect_err("fuel off").contains("fuel metering"));
    }

    /// An install's record keeps the limits its plugin asked for; one written
    /// before `init_timeout_ms` existed still reads.
    #[test]
    fn limits_recorded_before_the_init_limit_still_read() {
        let mut recorded = serde_json::to_value(Limits::default()).expect("JSON");
        recorded.as_object_mut().expect("object").remove("init_timeout_ms");
        let read: Limits = serde_json::from_value(recorded).expect("an older record reads");
        assert_eq!(read, Limits::default());
    }
}
