//! Power cuts: the data directory (and the compiled-plugin cache inside it)
//! on the power-cut file system of `power_fs.rs`; at random moments under
//! load the server is frozen (SIGSTOP), everything the disk was not made to
//! keep is dropped, and the server is killed and restarted on what is left.
//! Every acknowledged event must still be there and be delivered: the
//! promise that a `200` means fsync'd.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::crash::post_all_to;
use super::power_fs::{Mode, PowerCut, mount_or_skip};
use super::support::*;

/// What a run of cuts came to.
struct Figures {
    cuts: usize,
    acknowledged: usize,
    /// Acknowledged, then not found through the admin API.
    missing: Vec<String>,
    /// Acknowledged, found, but never delivered.
    undelivered: Vec<String>,
    duplicates: usize,
    posted: usize,
}

impl Figures {
    fn lost(&self) -> usize {
        self.missing.len() + self.undelivered.len()
    }
}

/// `cuts` power cuts at random moments while 10 clients post events with
/// distinct `webhook-id`s; then a drain and the count. With `settled`, what
/// the first start wrote (the data dir, the database's files, the compiled
/// plugins) is on disk before the first cut.
async fn cuts_under_load(fs: &PowerCut, cuts: usize, cache: PluginCache, settled: bool) -> Figures {
    const PER_CUT: usize = 3000;
    const CLIENTS: usize = 10;
    // Successful deliveries per delivery key.
    let successes: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let sink = {
        let successes = successes.clone();
        Sink::start(move |request, _| {
            if let Some(key) = request.json()["id"].as_str() {
                *successes
                    .lock()
                    .unwrap()
                    .entry(key.to_string())
                    .or_default() += 1;
            }
            (200, vec![], "{}".into())
        })
        .await
    };
    let config = sink_endpoint(
        &sink.url("/e/key"),
        "concurrency = 8
retry = { schedule_secs = [0.1, 0.2, 0.5, 1, 1, 1, 1, 1, 1, 1] }",
    );
    let mut server = Hookwasm::start_on(&fs.path().join("data"), cache, &config).await;
    // The first start compiled the built-in plugins (~12 s here) into the
    // cache; given time the OS writes them back. Without that, every cut
    // would lose them (as long as the cache does not fsync them: the last
    // test) and each restart compile them again.
    if settled {
        fs.writeback();
    }
    let mut acked = Vec::new();
    let mut posted = 0;
    for cut in 0..cuts {
        let ids: Vec<String> = (0..PER_CUT)
            .map(|n| format!("msg_{:06}", cut * PER_CUT + n))
            .collect();
        let posting = {
            let url = server.url("");
            tokio::spawn(async move { post_all_to(&url, ids, CLIENTS).await })
        };
        // The cut, at a random moment of the load.
        tokio::time::sleep(Duration::from_millis(fastrand::u64(300..1500))).await;
        server.sigstop();
        fs.power_cut(|| server.kill9());
        let got = posting.await.unwrap();
        posted += PER_CUT;
        acked.extend(got);
        server.spawn().await;
    }
    assert!(
        acked.len() >= cuts * 50,
        "too few posts got through to test anything: {}",
        acked.len()
    );

    // Drain: until every acknowledged event was delivered, or nothing is
    // left to deliver.
    let want: HashSet<String> = acked.iter().map(|id| format!("sink:{id}")).collect();
    let delivered = |successes: &Mutex<HashMap<String, usize>>| -> HashSet<String> {
        successes.lock().unwrap().keys().cloned().collect()
    };
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut idle = 0;
    while !delivered(&successes).is_superset(&want) && Instant::now() < deadline {
        let (_, endpoints) = admin_get(&server, "/v1/endpoints").await;
        let pending = endpoints["items"][0]["counts"]["pending"].as_u64();
        idle = if pending == Some(0) { idle + 1 } else { 0 };
        if idle >= 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let delivered = delivered(&successes);
    let mut missing = Vec::new();
    let mut undelivered = Vec::new();
    for id in &acked {
        let (status, _) = admin_get(&server, &format!("/v1/events/{id}")).await;
        if status != 200 {
            missing.push(id.clone());
        } else if !delivered.contains(&format!("sink:{id}")) {
            undelivered.push(id.clone());
        }
    }
    let duplicates = successes
        .lock()
        .unwrap()
        .iter()
        .filter(|(key, _)| want.contains(*key))
        .map(|(_, n)| n - 1)
        .sum();
    missing.sort();
    undelivered.sort();
    Figures {
        cuts: fs.cuts(),
        acknowledged: acked.len(),
        missing,
        undelivered,
        duplicates,
        posted,
    }
}

fn report(what: &str, figures: &Figures, fs: &PowerCut, started: Instant) {
    eprintln!(
        "{what}: {} power cuts under load: {} posted, {} acknowledged, lost {} ({} not found, {} \
         found but never delivered), {} delivered more than once; {:.0} s",
        figures.cuts,
        figures.posted,
        figures.acknowledged,
        figures.lost(),
        figures.missing.len(),
        figures.undelivered.len(),
        figures.duplicates,
        started.elapsed().as_secs_f64()
    );
    eprintln!(
        "what the server did with its files:\n{}",
        fs.activity_report()
    );
}

fn assert_none_lost(figures: &Figures) {
    assert!(
        figures.lost() == 0,
        "{} of {} acknowledged events lost to power cuts ({:.1} %); not found: {:?}…; \
         never delivered: {:?}…",
        figures.lost(),
        figures.acknowledged,
        100.0 * figures.lost() as f64 / figures.acknowledged as f64,
        &figures.missing[..figures.missing.len().min(5)],
        &figures.undelivered[..figures.undelivered.len().min(5)],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_power_cuts_under_load_lose_nothing_acknowledged() {
    let test = "ten_power_cuts_under_load_lose_nothing_acknowledged";
    let Some(fs) = mount_or_skip(test, Mode::Ordered) else {
        return;
    };
    let started = Instant::now();
    let figures = cuts_under_load(&fs, 10, PluginCache::InDataDir, true).await;
    report(
        "data written, names durable at once",
        &figures,
        &fs,
        started,
    );
    assert_none_lost(&figures);
}

/// The same with directory entries pending too until their directory is
/// fsynced, and from the very first start: the data directory, the
/// database's files must be made durable as well. (The compiled plugins
/// are in the tests' shared cache here, off the mount: a cache that is not
/// durable would have each restart compile them again, ~12 s, and the last
/// test is about that cache.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn power_cuts_with_directory_entries_pending_lose_nothing_acknowledged() {
    let test = "power_cuts_with_directory_entries_pending_lose_nothing_acknowledged";
    let Some(fs) = mount_or_skip(test, Mode::Strict) else {
        return;
    };
    let started = Instant::now();
    let figures = cuts_under_load(&fs, 3, PluginCache::Shared, false).await;
    report("names durable only after fsyncdir", &figures, &fs, started);
    assert_none_lost(&figures);
}

/// The compiled plugins the server caches in its data directory: after a
/// cut, each one on disk is whole (or absent), and the restart loads them
/// all instead of finding unusable ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_power_cut_leaves_no_truncated_compiled_plugin() {
    let test = "a_power_cut_leaves_no_truncated_compiled_plugin";
    let Some(fs) = mount_or_skip(test, Mode::Ordered) else {
        return;
    };
    let cache = fs.path().join("data").join("cache");
    let artifacts = || -> HashMap<String, u64> {
        std::fs::read_dir(&cache)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok())
                    .filter(|e| e.path().extension().is_some_and(|x| x == "cwasm"))
                    .map(|e| {
                        let len = e.metadata().map(|m| m.len()).unwrap_or(0);
                        (e.file_name().to_string_lossy().into_owned(), len)
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    // An endpoint, so that its plugin is compiled (only used ones are).
    let endpoint = sink_endpoint("http://127.0.0.1:9/unused", "");
    let mut server =
        Hookwasm::start_on(&fs.path().join("data"), PluginCache::InDataDir, &endpoint).await;
    eventually(
        "the endpoint's plugin to be compiled",
        Duration::from_secs(120),
        async || {
            let (_, ready) = admin_get(&server, "/readyz").await;
            (ready["compiling"] == serde_json::json!([])).then_some(())
        },
    )
    .await;
    server.sigstop();
    let before = artifacts();
    assert!(
        !before.is_empty(),
        "no compiled plugin was cached in {cache:?}"
    );
    fs.power_cut(|| server.kill9());
    let after = artifacts();
    let damaged: Vec<String> = after
        .iter()
        .filter(|(name, len)| before.get(*name) != Some(len))
        .map(|(name, len)| format!("{name}: {len} of {:?} bytes", before.get(name)))
        .collect();
    server.spawn().await;
    let unusable = server
        .logs()
        .matches("ignoring an unusable cached plugin")
        .count();
    eprintln!(
        "power cut after the plugins were cached: {} artifacts before, {} on disk after, {} \
         truncated, {unusable} found unusable at the restart",
        before.len(),
        after.len(),
        damaged.len()
    );
    eprintln!("{}", fs.activity_report());
    assert!(
        damaged.is_empty() && unusable == 0,
        "compiled plugins damaged by a power cut: {damaged:?}; {unusable} unusable at the restart"
    );
}

/// Events larger than a quarter of sled's segment (128 KiB) are stored in
/// files of their own (`db/blobs/`): those must survive a cut as well, and
/// so must the small events acknowledged after them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_acknowledged_events_survive_a_power_cut() {
    const EVENTS: usize = 4;
    let test = "large_acknowledged_events_survive_a_power_cut";
    let Some(fs) = mount_or_skip(test, Mode::Ordered) else {
        return;
    };
    let mut server = Hookwasm::start_on(&fs.path().join("data"), PluginCache::Shared, "").await;
    fs.writeback();
    let mut acked = Vec::new();
    for n in 0..EVENTS {
        for (size, padding) in [("small", 1000), ("large", 300_000)] {
            let id = format!("msg_{n}_{size}");
            let body = serde_json::to_vec(&serde_json::json!({
                "business_id": "bus_1",
                "type": "payment.succeeded",
                "timestamp": "2025-01-15T23:30:12.482913Z",
                "data": { "n": n, "padding": "x".repeat(padding) }
            }))
            .unwrap();
            let (status, answer) = server.post_signed("dodo", &id, &body).await;
            assert_eq!(status, 200, "{answer}");
            acked.push((id, padding));
        }
    }
    server.sigstop();
    fs.power_cut(|| server.kill9());
    server.spawn().await;
    let mut lost = Vec::new();
    for (id, want) in &acked {
        let (status, event) = admin_get(&server, &format!("/v1/events/{id}")).await;
        let padding = event["payload"]["data"]["padding"].as_str().map(str::len);
        if status != 200 || padding != Some(*want) {
            lost.push(format!("{id}: {status}, padding {padding:?}"));
        }
    }
    eprintln!(
        "power cut after {} acknowledged events, small and 300 KB in turn: {} lost\n{}",
        acked.len(),
        lost.len(),
        fs.activity_report()
    );
    assert!(
        lost.is_empty(),
        "acknowledged events lost to a cut after large ones: {lost:?}"
    );
}
