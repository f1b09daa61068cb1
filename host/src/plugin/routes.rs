//! A plugin's route table: the routes it registered, checked once at load,
//! and matching of request paths against them (literal segments win over
//! `{parameters}`).

use crate::Method;
use crate::bindings::exports::plinth::plugin::routes::Route;
use percent_encoding::percent_decode_str;
use serde::Serialize;

/// A route as the host lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouteInfo {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path relative to the plugin prefix, with `{parameters}`.
    pub path: String,
    /// The handler name the plugin gave.
    pub handler: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
}

struct CompiledRoute {
    method: Method,
    segments: Vec<Segment>,
    info: RouteInfo,
}

/// The outcome of matching a request.
pub(crate) enum RouteMatch<'a> {
    Found { handler: &'a str, params: Vec<(String, String)> },
    MethodNotAllowed { allowed: Vec<&'static str> },
    NotFound,
}

#[derive(Default)]
pub(crate) struct RouteTable {
    routes: Vec<CompiledRoute>,
}

fn segments_of(path: &str) -> impl Iterator<Item = &str> {
    path.trim_start_matches('/').trim_end_matches('/').split('/').filter(|s| !s.is_empty())
}

/// Most routes a plugin may register.
pub const MAX_ROUTES: usize = 1000;
/// Longest route path or handler name, in bytes.
pub const MAX_ROUTE_TEXT: usize = 1024;

/// A route's method and the shape of its path: literals, and `None` for each
/// parameter. Two routes of one shape clash.
type Shape = (&'static str, Vec<Option<String>>);

impl RouteTable {
    /// Checks and compiles registered routes in linear time; the error says
    /// which route is wrong.
    pub(crate) fn new(routes: Vec<Route>) -> Result<RouteTable, String> {
        if routes.len() > MAX_ROUTES {
            return Err(format!(
                "it registers {} routes; a plugin may register at most {MAX_ROUTES}",
                routes.len()
            ));
        }
        let mut table = RouteTable::default();
        let mut shapes: std::collections::HashMap<Shape, usize> = std::collections::HashMap::new();
        for route in routes {
            if route.path.len() > MAX_ROUTE_TEXT || route.handler.len() > MAX_ROUTE_TEXT {
                return Err(format!("a route's path or handler is over {MAX_ROUTE_TEXT} bytes"));
            }
            let info = RouteInfo {
                method: route.method.as_str().to_string(),
                path: route.path.clone(),
                handler: route.handler.clone(),
            };
            let describe = || format!("route {} {}", info.method, info.path);
            if !route.path.starts_with('/') {
                return Err(format!("{}: the path must start with `/`", describe()));
            }
            let mut segments = Vec::new();
            for segment in segments_of(&route.path) {
                segments.push(match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    Some(name) if !name.is_empty() && !name.contains(['{', '}']) => {
                        if segments.contains(&Segment::Param(name.to_string())) {
                            return Err(format!("{}: parameter `{name}` appears twice", describe()));
                        }
                        Segment::Param(name.to_string())
                    }
                    _ if segment.contains(['{', '}']) => {
                        return Err(format!(
                            "{}: `{segment}` must be a whole `{{parameter}}` segment or contain no braces",
                            describe()
                        ));
                    }
                    _ => Segment::Literal(segment.to_string()),
                });
            }
            let shape: Vec<Option<String>> = segments
                .iter()
                .map(|segment| match segment {
                    Segment::Literal(literal) => Some(literal.clone()),
                    Segment::Param(_) => None,
                })
                .collect();
            if let Some(&existing) = shapes.get(&(route.method.as_str(), shape.clone())) {
                let existing = &table.routes[existing].info;
                return Err(format!("{} clashes with {} {}", describe(), existing.method, existing.path));
            }
            shapes.insert((route.method.as_str(), shape), table.routes.len());
            table.routes.push(CompiledRoute { method: route.method, segments, info });
        }
        Ok(table)
    }

    pub(crate) fn infos(&self) -> Vec<RouteInfo> {
        self.routes.iter().map(|r| r.info.clone()).collect()
    }

    /// Finds the route for `method` and `path` (raw, percent-encoded).
    pub(crate) fn find(&self, method: Method, path: &str) -> RouteMatch<'_> {
        let requested: Vec<&str> = segments_of(path).collect();
        let mut best: Option<(&CompiledRoute, Vec<bool>)> = None;
        let mut allowed = Vec::new();
        for route in &self.routes {
            let Some(literals) = shape_match(&route.segments, &requested) else {
                continue;
            };
            if route.method != method {
                allowed.push(route.method.as_str());
                continue;
            }
            if best.as_ref().is_none_or(|(_, best_literals)| literals > *best_literals) {
                best = Some((route, literals));
            }
        }
        match best {
            Some((route, _)) => {
                let params = route
                    .segments
                    .iter()
                    .zip(&requested)
                    .filter_map(|(segment, value)| match segment {
                        Segment::Param(name) => Some((name.clone(), decode(value))),
                        Segment::Literal(_) => None,
                    })
                    .collect();
                RouteMatch::Found { handler: &route.info.handler, params }
            }
            None if !allowed.is_empty() => {
                allowed.sort_unstable();
                allowed.dedup();
                RouteMatch::MethodNotAllowed { allowed }
            }
            None => RouteMatch::NotFound,
        }
    }
}

/// Which segments matched literally, or `None` when the path does not fit.
fn shape_match(segments: &[Segment], requested: &[&str]) -> Option<Vec<bool>> {
    if segments.len() != requested.len() {
        return None;
    }
    segments
        .iter()
        .zip(requested)
        .map(|(segment, value)| match segment {
            Segment::Literal(literal) => (decode(value) == *literal).then_some(true),
            Segment::Param(_) => Some(false),
        })
        .collect()
}

fn decode(segment: &str) -> String {
    percent_decode_str(segment).decode_utf8_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(method: Method, path: &str) -> Route {
        Route { method, path: path.into(), handler: format!("{} {path}", method.as_str()) }
    }

    #[test]
    fn matches_params_literals_and_methods() {
        let table = RouteTable::new(vec![
            route(Method::Get, "/stats/{entity_type}"),
            route(Method::Get, "/stats/summary"),
            route(Method::Post, "/analyze"),
        ])
        .expect("valid routes");
        match table.find(Method::Get, "/stats/char%20acter") {
            RouteMatch::Found { handler, params } => {
                assert_eq!(handler, "GET /stats/{entity_type}");
                assert_eq!(params, [("entity_type".to_string(), "char acter".to_string())]);
            }
            _ => panic!("expected a match"),
        }
        assert!(matches!(
            table.find(Method::Get, "/stats/summary/"),
            RouteMatch::Found { handler: "GET /stats/summary", .. }
        ));
        assert!(
            matches!(table.find(Method::Get, "/analyze"), RouteMatch::MethodNotAllowed { allowed } if allowed == ["POST"])
        );
        assert!(matches!(table.find(Method::Get, "/nothing"), RouteMatch::NotFound));
    }

    #[test]
    fn refuses_bad_and_clashing_routes() {
        assert!(RouteTable::new(vec![route(Method::Get, "stats")]).is_err());
        assert!(RouteTable::new(vec![route(Method::Get, "/a{b}")]).is_err());
        assert!(RouteTable::new(vec![route(Method::Get, "/{a}/{a}")]).is_err());
        let clash = RouteTable::new(vec![route(Method::Get, "/x/{a}"), route(Method::Get, "/x/{b}")]);
        assert!(clash.err().is_some_and(|e| e.contains("clashes")));
    }
}
