//! Per-event plugin cost: a fresh `Store` and instance plus one `transform`,
//! for each built-in plugin on its Dodo fixture (criterion, then a p50/p99
//! pass with fuel), and a plugin's cold compile against a cached load.
//!
//! `cargo bench -p hookwasm --bench transform`

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::Criterion;
use hookwasm::runtime::{
    Limits, OutputPolicy, Plugin, PluginSource, Runtime, RuntimeConfig, TransformInput,
    Transformed, builtin,
};

struct Case {
    plugin: &'static str,
    event: &'static str,
    url: Option<&'static str>,
}

const CASES: &[Case] = &[
    Case {
        plugin: "loops",
        event: "payment.succeeded",
        url: None,
    },
    Case {
        plugin: "customerio",
        event: "payment.succeeded",
        url: None,
    },
    Case {
        plugin: "windmill",
        event: "payment.succeeded",
        url: Some("https://app.windmill.dev/api/w/acme/jobs/run/f/f/billing/dodo_payment_events"),
    },
    Case {
        plugin: "inngest",
        event: "payment.succeeded",
        url: Some("https://inn.gs/e/EXAMPLE_EVENT_KEY"),
    },
];

fn fixture(event: &str) -> String {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../tests/fixtures/dodo/{event}.json"));
    std::fs::read_to_string(path).expect("fixture")
}

fn input(case: &Case) -> TransformInput {
    TransformInput {
        id: "msg_2qH7sL1xK9vN3bT6yR4pW8zE5cF".into(),
        delivery_key: "bench:msg_2qH7sL1xK9vN3bT6yR4pW8zE5cF".into(),
        event_type: case.event.into(),
        payload: fixture(case.event),
        endpoint_url: case.url.map(str::to_string),
        settings: vec![(
            "retry_link".into(),
            "https://shop.example.com/retry/{payment_id}".into(),
        )],
    }
}

fn policy(case: &Case, plugin: &Plugin) -> OutputPolicy {
    let base = case
        .url
        .map(str::to_string)
        .or(plugin.meta().default_url.clone());
    OutputPolicy::for_base(base.as_deref(), OutputPolicy::DEFAULT_MAX_BODY)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

/// `n` timings of `call`, sorted.
fn timings(n: usize, mut call: impl FnMut()) -> Vec<Duration> {
    let mut times: Vec<Duration> = (0..n)
        .map(|_| {
            let t = Instant::now();
            call();
            t.elapsed()
        })
        .collect();
    times.sort();
    times
}

/// One line of the per-event table.
fn print_row(plugin: &str, event: &str, payload: usize, times: &[Duration], fuel: u64, note: &str) {
    println!(
        "{plugin:<11} {event:<18} {payload:>5} B payload  p50 {:>6.1} µs  p99 {:>6.1} µs  fuel {fuel}{note}",
        percentile(times, 0.50).as_secs_f64() * 1e6,
        percentile(times, 0.99).as_secs_f64() * 1e6,
    );
}

fn main() {
    let cache = tempfile::tempdir().expect("temp dir");
    let runtime = Runtime::new(RuntimeConfig {
        cache_dir: Some(cache.path().to_path_buf()),
        ..RuntimeConfig::default()
    })
    .expect("runtime");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio");

    // Cold compile vs cached load (the first load fills the cache).
    println!("\n== load: cold compile vs cached artifact ==");
    for (name, bytes) in builtin::BUILTINS {
        let cold = Instant::now();
        let _ = runtime
            .load(name, PluginSource::BuiltIn, bytes)
            .expect("load");
        let cold = cold.elapsed();
        let mut cached = Vec::new();
        for _ in 0..5 {
            let t = Instant::now();
            let _ = runtime
                .load(name, PluginSource::BuiltIn, bytes)
                .expect("load");
            cached.push(t.elapsed());
        }
        cached.sort();
        println!(
            "{name:<11} {:>7} KB  cold compile {:>8.1} ms   cached load {:>6.2} ms",
            bytes.len() / 1000,
            cold.as_secs_f64() * 1e3,
            cached[2].as_secs_f64() * 1e3
        );
    }

    let plugins: Vec<(&Case, Arc<Plugin>)> = CASES
        .iter()
        .map(|case| {
            let bytes = builtin::get(case.plugin).expect("built-in");
            (
                case,
                Arc::new(
                    runtime
                        .load(case.plugin, PluginSource::BuiltIn, bytes)
                        .expect("load"),
                ),
            )
        })
        .collect();

    // Percentiles: fresh store + instantiate + transform, inline.
    println!("\n== per event: fresh Store + instance + transform (+ output validation) ==");
    const N: usize = 20_000;
    for (case, plugin) in &plugins {
        let input = input(case);
        let policy = policy(case, plugin);
        let limits = Limits::default();
        let mut fuel = 0;
        for _ in 0..1000 {
            let (result, stats) = rt.block_on(plugin.call(&input, &limits, &policy));
            assert!(
                matches!(result, Ok(Transformed::Deliver(_))),
                "{}: {result:?}",
                case.plugin
            );
            fuel = stats.fuel;
        }
        let times = timings(N, || {
            let _ = rt.block_on(plugin.call(&input, &limits, &policy));
        });
        print_row(
            case.plugin,
            case.event,
            input.payload.len(),
            &times,
            fuel,
            "",
        );
    }

    // The host's share: the test plugin `misbehave` skips at once on the
    // same 2 KB event, so this is store + instance + passing the event in
    // and the outcome out, with no guest work to speak of.
    {
        let bytes = std::fs::read(Path::new(env!("HOOKWASM_GUEST_DIR")).join("misbehave.wasm"))
            .expect("misbehave.wasm");
        let floor = runtime
            .load(
                "misbehave",
                PluginSource::File("misbehave.wasm".into()),
                &bytes,
            )
            .expect("load misbehave");
        let input = TransformInput {
            event_type: "skip".into(),
            ..input(&CASES[0])
        };
        let policy = OutputPolicy::for_base(None, OutputPolicy::DEFAULT_MAX_BODY);
        let limits = Limits::default();
        let (result, stats) = rt.block_on(floor.call(&input, &limits, &policy));
        assert!(matches!(result, Ok(Transformed::Skip(_))), "{result:?}");
        let times = timings(N, || {
            let _ = rt.block_on(floor.call(&input, &limits, &policy));
        });
        print_row(
            "misbehave",
            "skip",
            input.payload.len(),
            &times,
            stats.fuel,
            " (host floor)",
        );
    }

    // The same through the runtime's dedicated wasm threads, as delivery
    // calls it (adds a cross-runtime spawn and wake-up).
    let (case, plugin) = &plugins[0];
    let (first_input, first_policy) = (input(case), policy(case, plugin));
    let times = timings(N, || {
        let _ = rt.block_on(plugin.transform(
            first_input.clone(),
            Limits::default(),
            first_policy.clone(),
        ));
    });
    println!(
        "{:<11} via wasm threads           p50 {:>6.1} µs  p99 {:>6.1} µs",
        case.plugin,
        percentile(&times, 0.50).as_secs_f64() * 1e6,
        percentile(&times, 0.99).as_secs_f64() * 1e6,
    );

    // A seed JavaScript handler on the js plugin: a fresh sandbox (and Boa
    // context) per event. tests/fixtures/js/bench-node-vm.mjs runs the same
    // handler in a fresh node `vm` context per event for comparison.
    println!("\n== JavaScript seed handler (js plugin, fresh sandbox per event) ==");
    let engine = runtime
        .load("js", PluginSource::BuiltIn, builtin::get("js").expect("js"))
        .expect("load js");
    for seed in ["loops.payment_confirmation", "windmill.basic_workflow"] {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../docs/seed-examples/{seed}.js"));
        let source = std::fs::read_to_string(path).expect("seed");
        let plugin = engine.with_script(
            seed,
            PluginSource::BuiltIn,
            hookwasm::runtime::plugin::Script {
                name: format!("{seed}.js"),
                source: source.into(),
            },
        );
        // The Loops seed sets this URL itself; the Windmill one keeps it.
        let url = "https://api.loops.so/v1/events/send";
        let input = TransformInput {
            id: "msg_1".into(),
            delivery_key: "bench:msg_1".into(),
            event_type: "payment.succeeded".into(),
            payload: fixture("payment.succeeded"),
            endpoint_url: Some(url.into()),
            settings: vec![],
        };
        let policy = OutputPolicy::for_base(Some(url), OutputPolicy::DEFAULT_MAX_BODY);
        let limits = Limits::default();
        let measure = |label: &str, plugin: &Plugin| {
            let (result, stats) = rt.block_on(plugin.call(&input, &limits, &policy));
            assert!(
                matches!(result, Ok(Transformed::Deliver(_))),
                "{seed}: {result:?}"
            );
            let times = timings(2000, || {
                let _ = rt.block_on(plugin.call(&input, &limits, &policy));
            });
            println!(
                "{seed:<28} {label:<16} p50 {:>5.0} µs  p99 {:>5.0} µs  fuel {:>9}",
                percentile(&times, 0.50).as_secs_f64() * 1e6,
                percentile(&times, 0.99).as_secs_f64() * 1e6,
                stats.fuel,
            );
        };
        // First on the shared engine (the script parsed per event), then on
        // the script's own snapshot, which a script plugin switches to once
        // built.
        measure("script per event", &plugin);
        let t = Instant::now();
        plugin.specialize().expect("specialize");
        let built = t.elapsed();
        measure("script snapshot", &plugin);
        let again = engine.with_script(
            seed,
            PluginSource::BuiltIn,
            plugin.script().expect("script").clone(),
        );
        let t = Instant::now();
        again.specialize().expect("specialize");
        println!(
            "{seed:<28} snapshot + compile {:.0} ms; from the cache {:.1} ms",
            built.as_secs_f64() * 1e3,
            t.elapsed().as_secs_f64() * 1e3
        );
    }
    println!(
        "js component {} KB",
        builtin::get("js").map(|b| b.len() / 1000).unwrap_or(0)
    );
    println!();

    let mut criterion = Criterion::default()
        .configure_from_args()
        .warm_up_time(Duration::from_secs(1));
    let mut group = criterion.benchmark_group("transform");
    group.measurement_time(Duration::from_secs(3));
    for (case, plugin) in &plugins {
        let input = input(case);
        let policy = policy(case, plugin);
        let limits = Limits::default();
        group.bench_function(case.plugin, |b| {
            b.iter(|| rt.block_on(plugin.call(&input, &limits, &policy)))
        });
    }
    group.finish();
    criterion.final_summary();
}
