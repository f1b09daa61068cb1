//! Embedders' own host functions. An application that embeds the host (a
//! desktop app, say) offers plugins a WIT interface of its own, such as
//! `acme:desktop/notify@1.0.0`, under a grant name of its choosing. A plugin
//! lists that name in `plugin.json` (`capabilities.embedder_functions`), as
//! it lists Plinth's own grants in `host_functions`.
//!
//! The checks are Plinth's own: a plugin importing an interface nobody
//! registered is refused at load, as is one importing a registered interface
//! without its grant, and each call checks the grant again. An embedder
//! function's error or panic ends the call with
//! [`CallErrorKind::Embedder`](crate::CallErrorKind::Embedder), naming the
//! function; the host carries on.

use crate::capabilities::{HostFunction, in_place};
use crate::sandbox::InvocationState;
mod json;

use serde_json::Value;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use wasmtime::StoreContextMut;
use wasmtime::component::types::ComponentFunc;
use wasmtime::component::{ComponentNamedList, Lift, Linker, Lower, Val};

/// Defines one function in the interface's linker instance.
type Define = dyn Fn(&mut wasmtime::component::LinkerInstance<'_, InvocationState>, &Arc<Names>) -> wasmtime::Result<()>
    + Send
    + Sync;

/// A WIT interface the embedding application implements for plugins: its
/// name, the grant a manifest gives to use it, and its functions.
///
/// ```
/// use plinth_host::EmbedderInterface;
///
/// // interface notify { show: func(title: string, body: string) -> result<u32, string>; }
/// let notify = EmbedderInterface::new("acme:desktop/notify@1.0.0", "notify")
///     .func("show", |call, (title, body): (String, String)| {
///         println!("{} asks to show {title}: {body}", call.plugin());
///         Ok((Ok::<u32, String>(1),))
///     });
/// # let _ = notify;
/// ```
#[derive(Clone)]
pub struct EmbedderInterface {
    names: Arc<Names>,
    functions: Vec<(String, Arc<Define>)>,
}

/// An interface's name and grant, shared by its functions.
#[derive(Debug)]
struct Names {
    interface: String,
    grant: String,
}

impl std::fmt::Debug for EmbedderInterface {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let functions: Vec<&str> = self.functions.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("EmbedderInterface")
            .field("interface", &self.names.interface)
            .field("grant", &self.names.grant)
            .field("functions", &functions)
            .finish()
    }
}

/// The plugin calling an embedder function.
#[derive(Debug)]
pub struct PluginCall<'a> {
    plugin: &'a str,
}

impl PluginCall<'_> {
    /// The calling plugin's id.
    pub fn plugin(&self) -> &str {
        self.plugin
    }
}

/// An embedder function that failed or panicked: the call ends with
/// [`CallErrorKind::Embedder`](crate::CallErrorKind::Embedder).
#[derive(Debug, thiserror::Error)]
#[error("{function}: {problem}")]
pub(crate) struct EmbedderFault {
    pub function: String,
    pub problem: String,
}

impl EmbedderInterface {
    /// An interface named `namespace:package/interface@version` as the
    /// plugin's WIT imports it, which manifests grant as `grant`.
    pub fn new(interface: impl Into<String>, grant: impl Into<String>) -> EmbedderInterface {
        EmbedderInterface {
            names: Arc::new(Names { interface: interface.into(), grant: grant.into() }),
            functions: Vec::new(),
        }
    }

    /// The interface's name (`acme:desktop/notify@1.0.0`).
    pub fn name(&self) -> &str {
        &self.names.interface
    }

    /// The grant a manifest lists in `capabilities.embedder_functions`.
    pub fn grant(&self) -> &str {
        &self.names.grant
    }

    /// Adds the function `name`. Its parameters and results are the WIT
    /// function's, as tuples of wasmtime's component types (`(String,)`,
    /// `(Result<u32, String>,)`; records derive `ComponentType`, `Lift` and
    /// `Lower`). It runs on the calling thread, which blocking work may
    /// hold (it is moved off an async runtime's worker first). A WIT
    /// `result` is the plugin's to handle; an `Err` here, or a panic, ends the call.
    pub fn func<Params, Results>(
        mut self,
        name: &str,
        function: impl Fn(&PluginCall<'_>, Params) -> wasmtime::Result<Results> + Send + Sync + 'static,
    ) -> EmbedderInterface
    where
        Params: ComponentNamedList + Lift + 'static,
        Results: ComponentNamedList + Lower + 'static,
    {
        let function = Arc::new(function);
        let bare = name.to_string();
        let define = move |instance: &mut wasmtime::component::LinkerInstance<'_, InvocationState>,
                           names: &Arc<Names>| {
            let (function, names, bare) = (function.clone(), names.clone(), bare.clone());
            let linked = bare.clone();
            instance.func_wrap(&linked, move |store: StoreContextMut<'_, InvocationState>, params: Params| {
                run_granted(store.data(), &names, &bare, |call| function(call, params))
            })
        };
        self.functions.push((name.to_string(), Arc::new(define)));
        self
    }

    /// Adds the function `name`, taking its parameters and giving its
    /// result as JSON (the forms of `embedder::json`: a `result` is
    /// `{"ok": …}` or `{"err": …}`, a record an object), whatever its WIT
    /// types: a test's mock of the application's functions (`plinth test`
    /// cases' `application`), or a bridge to a scripting layer. A result
    /// that does not fit the function's type ends the call as
    /// [`func`](Self::func)'s errors do.
    pub fn func_json(
        mut self,
        name: &str,
        function: impl Fn(&PluginCall<'_>, Vec<Value>) -> wasmtime::Result<Value> + Send + Sync + 'static,
    ) -> EmbedderInterface {
        let function = Arc::new(function);
        let bare = name.to_string();
        let define = move |instance: &mut wasmtime::component::LinkerInstance<'_, InvocationState>,
                           names: &Arc<Names>| {
            let (function, names, bare) = (function.clone(), names.clone(), bare.clone());
            let linked = bare.clone();
            instance.func_new(
                &linked,
                move |store: StoreContextMut<'_, InvocationState>,
                      ty: ComponentFunc,
                      params: &[Val],
                      results: &mut [Val]| {
                    run_granted(store.data(), &names, &bare, |call| {
                        let answer = function(call, params.iter().map(json::json_of).collect())?;
                        json::fill_results(answer, &ty, results)
                    })
                },
            )
        };
        self.functions.push((name.to_string(), Arc::new(define)));
        self
    }

    /// Why the interface cannot be registered, if it cannot: a name that is
    /// not `namespace:package/interface@version`, one of Plinth's or WASI's
    /// namespaces, or a grant that is one of Plinth's own.
    fn problem(&self) -> Option<String> {
        let (interface, grant) = (&self.names.interface, &self.names.grant);
        let well_formed = interface
            .split_once(':')
            .filter(|(namespace, _)| !namespace.is_empty())
            .and_then(|(_, rest)| rest.split_once('/'))
            .is_some_and(|(package, rest)| {
                !package.is_empty()
                    && rest.split_once('@').is_some_and(|(i, v)| !i.is_empty() && !v.is_empty())
            });
        if !well_formed {
            return Some(format!("`{interface}` is not `namespace:package/interface@version`"));
        }
        if interface.starts_with("plinth:") || interface.starts_with("wasi:") {
            return Some(format!("`{interface}` is in a namespace Plinth provides itself"));
        }
        if grant.is_empty() || HostFunction::ALL.iter().any(|own| own.name() == grant) {
            return Some(format!("the grant `{grant}` of `{interface}` is empty or one of Plinth's own"));
        }
        None
    }
}

/// Runs an embedder function for the calling plugin, if it holds the
/// interface's grant (loading refuses a plugin without it; should one get
/// here, the fault is the plugin's, and it traps). The function's error or
/// panic is the embedder's fault, naming the function.
fn run_granted<R>(
    state: &InvocationState,
    names: &Names,
    bare: &str,
    function: impl FnOnce(&PluginCall<'_>) -> wasmtime::Result<R>,
) -> wasmtime::Result<R> {
    let plugin = &state.caller.plugin;
    let fault = |problem: String| EmbedderFault { function: format!("{}#{bare}", names.interface), problem };
    if !plugin.embedder_grants.contains(&names.grant) {
        plugin.health.denied();
        return Err(wasmtime::format_err!(
            "plugin `{}` called {}#{bare} without the grant: add \"{}\" to capabilities.embedder_functions in plugin.json",
            plugin.id,
            names.interface,
            names.grant
        ));
    }
    let call = PluginCall { plugin: &plugin.id };
    match catch_unwind(AssertUnwindSafe(|| in_place(|| function(&call)))) {
        Ok(Ok(results)) => Ok(results),
        Ok(Err(error)) => Err(fault(format!("{error:#}")).into()),
        Err(panic) => Err(fault(format!("panicked: {}", panic_message(&*panic))).into()),
    }
}

/// The embedder's interfaces, as the sandbox links them and vetting checks imports.
#[derive(Debug, Default)]
pub(crate) struct EmbedderInterfaces {
    /// Each interface's name and grant.
    grants: Vec<(String, String)>,
}

impl EmbedderInterfaces {
    /// Checks every interface and links its functions: a malformed name, a
    /// name or grant given twice, or a function the linker refuses is an error.
    pub(crate) fn link(
        linker: &mut Linker<InvocationState>,
        interfaces: &[EmbedderInterface],
    ) -> Result<EmbedderInterfaces, String> {
        let mut grants: Vec<(String, String)> = Vec::new();
        for interface in interfaces {
            if let Some(problem) = interface.problem() {
                return Err(problem);
            }
            let (name, grant) = (interface.name(), interface.grant());
            if grants.iter().any(|(other, other_grant)| other == name || other_grant == grant) {
                return Err(format!("`{name}` or its grant `{grant}` is registered twice"));
            }
            let mut instance = linker.instance(name).map_err(|e| format!("`{name}`: {e:#}"))?;
            for (function, define) in &interface.functions {
                define(&mut instance, &interface.names).map_err(|e| format!("`{name}#{function}`: {e:#}"))?;
            }
            grants.push((name.to_string(), grant.to_string()));
        }
        Ok(EmbedderInterfaces { grants })
    }

    /// The grant of the registered interface `import`, if it is one.
    pub(crate) fn grant_for(&self, import: &str) -> Option<&str> {
        self.grants.iter().find(|(name, _)| name == import).map(|(_, grant)| grant.as_str())
    }

    /// The registered interfaces' names.
    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.grants.iter().map(|(name, _)| name.as_str())
    }

    /// Whether any registered interface has this grant.
    pub(crate) fn has_grant(&self, grant: &str) -> bool {
        self.grants.iter().any(|(_, own)| own == grant)
    }
}

/// A panic's message, when it has one.
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "without a message".into())
}
