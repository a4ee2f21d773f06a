//! A jq program that builds more than its memory ceiling is stopped. This test binary counts
//! allocations per thread, as the `baton` binary does.

use std::time::Duration;

use baton_engine::jq::{CountingAllocator, JqLimits, run};
use serde_json::Value;

#[global_allocator]
static ALLOCATOR: CountingAllocator<std::alloc::System> = CountingAllocator(std::alloc::System);

#[tokio::test]
async fn a_program_past_its_memory_ceiling_is_stopped() {
    let limits = JqLimits {
        time: Duration::from_secs(30),
        memory: 16 << 20,
    };
    let error = run("[range(3e6)] | length", Value::Null, limits)
        .await
        .unwrap_err();
    assert!(
        error.message.contains("limit reached") && error.message.contains("16 MiB"),
        "{}",
        error.message
    );
    let small = run("[range(1000)] | length", Value::Null, limits).await;
    assert_eq!(small.unwrap(), serde_json::json!(1000));
}

#[tokio::test]
async fn one_huge_allocation_is_refused_without_taking_the_process_down() {
    let limits = JqLimits {
        time: Duration::from_millis(100),
        memory: 16 << 20,
    };
    // Ten billion bytes in one go: given, it would take the machine's memory; refused by the
    // system, it would abort the process.
    let error = run(r#""x" * 10000000000 | length"#, Value::Null, limits)
        .await
        .unwrap_err();
    assert!(
        error.message.contains("limit reached") && error.message.contains("at once"),
        "{}",
        error.message
    );
    let fine = run(r#""ab" * 3"#, Value::Null, limits).await;
    assert_eq!(fine.unwrap(), serde_json::json!("ababab"));
}
