//! Misbehaving plugins end in their typed error, within bounds, and the next
//! call on the same runtime works normally.

use std::time::{Duration, Instant};

use hookwasm::runtime::{Limits, OutputPolicy, TransformError, Transformed};

use super::{input, load, runtime};

fn policy() -> OutputPolicy {
    OutputPolicy::for_base(None, OutputPolicy::DEFAULT_MAX_BODY)
}

/// Default limits with a wall-time limit too generous to be hit on a busy
/// CI machine, for tests about other limits.
fn patient() -> Limits {
    Limits {
        timeout: Duration::from_secs(20),
        ..Limits::default()
    }
}

/// Calls the misbehaving plugin with `event_type`, then checks a normal call
/// still succeeds.
async fn misbehave(
    event_type: &str,
    limits: Limits,
) -> (Result<Transformed, TransformError>, Duration) {
    let runtime = runtime();
    let plugin = load(&runtime, "misbehave");
    let started = Instant::now();
    let (result, _) = plugin
        .transform(input(event_type, "{}"), limits, policy())
        .await;
    let took = started.elapsed();
    let (next, _) = plugin
        .transform(input("echo", "{\"ok\":true}"), patient(), policy())
        .await;
    assert!(
        matches!(next, Ok(Transformed::Deliver(_))),
        "after {event_type}: {next:?}"
    );
    (result, took)
}

#[tokio::test]
async fn an_endless_loop_runs_out_of_fuel() {
    let limits = Limits {
        fuel: 5_000_000,
        ..patient()
    };
    let (result, _) = misbehave("loop", limits).await;
    assert_eq!(result, Err(TransformError::OutOfFuel { limit: 5_000_000 }));
}

#[tokio::test]
async fn an_endless_loop_with_plenty_of_fuel_times_out() {
    let limits = Limits {
        fuel: u64::MAX / 2,
        timeout: Duration::from_millis(100),
        ..Limits::default()
    };
    let (result, took) = misbehave("loop", limits).await;
    assert_eq!(
        result,
        Err(TransformError::TimedOut {
            limit: Duration::from_millis(100)
        })
    );
    // Bounded: generous slack for a loaded CI machine, but not unbounded.
    assert!(took < Duration::from_secs(10), "{took:?}");
}

#[tokio::test]
async fn a_sleeping_plugin_times_out_even_inside_a_host_call() {
    let limits = Limits {
        timeout: Duration::from_millis(100),
        ..Limits::default()
    };
    let (result, took) = misbehave("sleep", limits).await;
    assert_eq!(
        result,
        Err(TransformError::TimedOut {
            limit: Duration::from_millis(100)
        })
    );
    assert!(took < Duration::from_secs(10), "{took:?}");
}

#[tokio::test]
async fn unbounded_growth_hits_the_memory_limit() {
    let limits = Limits {
        memory_bytes: 16 << 20,
        ..patient()
    };
    let (result, _) = misbehave("grow", limits).await;
    match result {
        Err(TransformError::MemoryLimit { limit, requested }) => {
            assert_eq!(limit, 16 << 20);
            assert!(requested > limit);
        }
        other => panic!("expected MemoryLimit, got {other:?}"),
    }
}

#[tokio::test]
async fn a_panic_is_a_trap_with_the_guest_message() {
    let (result, _) = misbehave("panic", patient()).await;
    match result {
        Err(TransformError::Trap { message }) => {
            assert!(message.contains("misbehave: asked to panic"), "{message}");
        }
        other => panic!("expected Trap, got {other:?}"),
    }
}

#[tokio::test]
async fn header_injection_is_invalid_output() {
    let (result, _) = misbehave("crlf", patient()).await;
    match result {
        Err(TransformError::InvalidOutput(why)) => assert!(why.contains("x-evil"), "{why}"),
        other => panic!("expected InvalidOutput, got {other:?}"),
    }
}

#[tokio::test]
async fn a_huge_body_is_invalid_output() {
    let (result, _) = misbehave(
        "huge-body",
        Limits {
            memory_bytes: 64 << 20,
            ..patient()
        },
    )
    .await;
    match result {
        Err(TransformError::InvalidOutput(why)) => {
            assert!(why.contains("body is 20971520 bytes"), "{why}")
        }
        other => panic!("expected InvalidOutput, got {other:?}"),
    }
}

#[tokio::test]
async fn chatty_output_is_captured_and_bounded_and_the_call_succeeds() {
    let (result, _) = misbehave("chatty", patient()).await;
    assert!(matches!(result, Ok(Transformed::Deliver(_))), "{result:?}");
}

#[tokio::test]
async fn plugin_errors_and_skips_come_through() {
    let (result, _) = misbehave("err", patient()).await;
    assert_eq!(
        result,
        Err(TransformError::Plugin(
            "misbehave: err: asked to fail".into()
        ))
    );
    let (result, _) = misbehave("skip", patient()).await;
    assert_eq!(result, Ok(Transformed::Skip("asked to skip".into())));
}

#[tokio::test]
async fn requests_must_keep_the_endpoint_origin() {
    let runtime = runtime();
    let plugin = load(&runtime, "misbehave");
    let mut event = input("echo", "{}");
    event.endpoint_url = Some("https://evil.example/steal".into());
    let policy =
        OutputPolicy::for_base(Some("https://inn.gs/e/KEY"), OutputPolicy::DEFAULT_MAX_BODY);
    let (result, _) = plugin.transform(event, patient(), policy).await;
    match result {
        Err(TransformError::InvalidOutput(why)) => {
            assert!(why.contains("leaves the endpoint's origin"), "{why}")
        }
        other => panic!("expected InvalidOutput, got {other:?}"),
    }
}

#[tokio::test]
async fn many_calls_run_at_once_each_with_its_own_input() {
    let runtime = runtime();
    let plugin = load(&runtime, "misbehave");
    let mut calls = Vec::new();
    for i in 0..64 {
        let plugin = plugin.clone();
        calls.push(tokio::spawn(async move {
            let payload = format!("{{\"n\":{i}}}");
            let (result, stats) = plugin
                .transform(input("echo", &payload), patient(), policy())
                .await;
            (i, result, stats)
        }));
    }
    for call in calls {
        let (i, result, stats) = call.await.unwrap();
        let Ok(Transformed::Deliver(request)) = result else {
            panic!("{result:?}")
        };
        let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(body["payload"]["n"], i);
        assert!(stats.fuel > 0);
    }
}
