//! A fresh JavaScript context for one event, set up to behave like node with
//! `TZ=UTC` and the en-US locale: local time is UTC, dates parse as node
//! parses them, `toLocale…String` prints node's en-US output, and `console`
//! writes to the sandbox's stdout and stderr, which the host shows in its log.
//!
//! Building the realm (Boa's ~1,000 builtin objects) is most of an event's
//! cost, so the plugin exports `wizer-initialize`: the host runs it once when
//! it loads the plugin and snapshots the result into the component
//! (`host/src/runtime/snapshot.rs`). Every event then starts from its own
//! fresh copy of that snapshot, realm already built: fresh, but not slow.

use std::cell::{Cell, RefCell};
use std::path::Path;
use std::rc::Rc;

use boa_engine::context::HostHooks;
use boa_engine::module::IdleModuleLoader;
use boa_engine::object::{FunctionObjectBuilder, ObjectInitializer};
use boa_engine::property::Attribute;
use boa_engine::{
    Context, JsNativeError, JsObject, JsResult, JsString, JsValue, NativeFunction, Source,
    js_string,
};

use crate::{body, dates, locale};

/// The engine's view of the host: local time is UTC, whatever the machine.
struct Utc;

impl HostHooks for Utc {
    fn local_timezone_offset_seconds(&self, _unix_time_seconds: i64) -> i32 {
        0
    }
}

thread_local! {
    /// The realm the initializers built, waiting for the instance's one event.
    static PREPARED: RefCell<Option<Realm>> = const { RefCell::new(None) };
    /// Set while an initializer runs (see [`preparing`]).
    static PREPARING: Cell<bool> = const { Cell::new(false) };
    /// `Math.random`'s state, seeded afresh for every event.
    static RANDOM: Cell<u64> = const { Cell::new(0x9e37_79b9_7f4a_7c15) };
}

/// While a snapshot is being prepared, `console` prints nothing: printing
/// would open the instance's stdout handle, which the snapshot would keep
/// but a fresh instance does not have.
fn preparing<T>(work: impl FnOnce() -> T) -> T {
    PREPARING.with(|p| p.set(true));
    let result = work();
    PREPARING.with(|p| p.set(false));
    result
}

/// Builds the realm ahead of the event (see the module docs).
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub fn prepare() {
    if let Ok(realm) = preparing(Realm::new) {
        PREPARED.with(|prepared| *prepared.borrow_mut() = Some(realm));
    }
}

/// Runs a handler file's top-level code in the prepared realm, so that a
/// snapshot taken now holds the compiled handler: parsing and compiling the
/// script is otherwise most of what is left of an event's cost. The host
/// still sends the script with each event; a realm prepared with a different
/// one is not used.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub fn prepare_script(name: &str, source: &str) -> Result<(), String> {
    let mut realm = match PREPARED.with(|prepared| prepared.borrow_mut().take()) {
        Some(realm) => realm,
        None => Realm::new().map_err(|e| e.to_string())?,
    };
    let ran = preparing(|| {
        realm
            .context
            .eval(Source::from_bytes(source).with_path(Path::new(name)))
    });
    if let Err(error) = ran {
        return Err(crate::failure::describe(error, source, &mut realm.context));
    }
    // The host also calls this to check a script before it replaces a
    // working one: a file that defines no handler would fail every event.
    let handler = realm
        .context
        .global_object()
        .get(boa_engine::js_string!("handler"), &mut realm.context)
        .map_err(|error| crate::failure::describe(error, source, &mut realm.context))?;
    if !handler.is_callable() {
        return Err("the script defines no `function handler(webhook)`".into());
    }
    realm.script = Some((name.to_owned(), source.to_owned()));
    PREPARED.with(|prepared| *prepared.borrow_mut() = Some(realm));
    Ok(())
}

/// The prepared realm if there is one (each instance runs one event, so
/// the realm is used once), else a new one; `Math.random` seeded for this
/// event (a snapshot would otherwise replay one sequence in every event).
pub fn take() -> JsResult<Realm> {
    let mut seed = [0u8; 8];
    if getrandom::fill(&mut seed).is_ok() {
        RANDOM.with(|state| state.set(u64::from_le_bytes(seed)));
    }
    match PREPARED.with(|prepared| prepared.borrow_mut().take()) {
        Some(realm) => Ok(realm),
        None => Realm::new(),
    }
}

/// `Math.random`: SplitMix64 over [`RANDOM`], 53 random bits in [0, 1).
fn math_random(_: &JsValue, _: &[JsValue], _: &mut Context) -> JsResult<JsValue> {
    let next = RANDOM.with(|state| {
        let z = state.get().wrapping_add(0x9e37_79b9_7f4a_7c15);
        state.set(z);
        let z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        let z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    });
    Ok(JsValue::new((next >> 11) as f64 / (1u64 << 53) as f64))
}

/// A context plus the builtins the plugin itself relies on.
pub struct Realm {
    pub context: Context,
    pub builtins: Builtins,
    /// The handler file (name, source) whose top-level code already ran here.
    pub script: Option<(String, String)>,
}

/// Builtins taken before the handler runs: a handler may overwrite the
/// globals, but the plugin keeps using the originals, as node's harness uses
/// its own realm's.
pub struct Builtins {
    /// `JSON.stringify`.
    pub stringify: JsObject,
    /// `Object.keys`.
    pub keys: JsObject,
}

impl Realm {
    /// A new context with the node-like patches installed.
    pub fn new() -> JsResult<Realm> {
        let mut context = Context::builder()
            .host_hooks(Rc::new(Utc))
            // No import(): there is nothing to load, and the default loader
            // would look at the (absent) filesystem.
            .module_loader(Rc::new(IdleModuleLoader))
            .build()?;
        let json = context.intrinsics().objects().json();
        let stringify = builtin(&json, "stringify", &mut context)?;
        let object = context.intrinsics().constructors().object().constructor();
        let keys = builtin(&object, "keys", &mut context)?;
        dates::install(&mut context)?;
        locale::install(&mut context)?;
        let math = context.intrinsics().objects().math();
        let random =
            FunctionObjectBuilder::new(context.realm(), NativeFunction::from_fn_ptr(math_random))
                .name(js_string!("random"))
                .length(0)
                .build();
        math.set(js_string!("random"), random, true, &mut context)?;
        install_console(&mut context, &stringify)?;
        Ok(Realm {
            context,
            builtins: Builtins { stringify, keys },
            script: None,
        })
    }
}

/// `object[name]`, a builtin function.
fn builtin(object: &JsObject, name: &str, context: &mut Context) -> JsResult<JsObject> {
    object
        .get(JsString::from(name), context)?
        .as_callable()
        .ok_or_else(|| {
            JsNativeError::typ()
                .with_message(format!("the builtin {name} is missing"))
                .into()
        })
}

/// `console.log`, `info` and `debug` print a line to stdout, `warn` and
/// `error` to stderr: the host logs what a plugin prints (bounded), which is
/// the handler author's way to debug.
fn install_console(context: &mut Context, stringify: &JsObject) -> JsResult<()> {
    let stdout = NativeFunction::from_copy_closure_with_captures(
        |_, args, stringify, context| {
            if !PREPARING.with(Cell::get) {
                println!("{}", console_line(args, stringify, context));
            }
            Ok(JsValue::undefined())
        },
        stringify.clone(),
    );
    let stderr = NativeFunction::from_copy_closure_with_captures(
        |_, args, stringify, context| {
            if !PREPARING.with(Cell::get) {
                eprintln!("{}", console_line(args, stringify, context));
            }
            Ok(JsValue::undefined())
        },
        stringify.clone(),
    );
    let mut console = ObjectInitializer::new(context);
    for (name, function) in [
        ("log", &stdout),
        ("info", &stdout),
        ("debug", &stdout),
        ("warn", &stderr),
        ("error", &stderr),
    ] {
        console.function(function.clone(), JsString::from(name), 0);
    }
    let console = console.build();
    context.register_global_property(
        js_string!("console"),
        console,
        Attribute::WRITABLE | Attribute::CONFIGURABLE,
    )
}

/// The arguments of a `console` call as one line: strings as they are,
/// objects as JSON where they have a JSON form, anything else as the engine
/// displays it.
fn console_line(args: &[JsValue], stringify: &JsObject, context: &mut Context) -> String {
    let parts: Vec<String> = args
        .iter()
        .map(|value| {
            if let Some(text) = value.as_string() {
                return text.to_std_string_escaped();
            }
            if value.is_object()
                && !value.is_callable()
                && let Ok(Some(json)) = body::stringify(value.clone(), stringify, context)
            {
                return json;
            }
            value.display().to_string()
        })
        .collect();
    parts.join(" ").replace(['\r', '\n'], " ")
}
