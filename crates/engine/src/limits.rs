//! Guards that keep one execution from exhausting the machine, each with a clear error.

use std::time::Duration;

use crate::jq::JqLimits;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Steps one execution may run, counting every loop iteration's steps.
    pub max_steps: u32,
    /// Items a loop accepts when the step sets no `max_items`, and the most it may set.
    pub max_loop_items: u32,
    /// Bytes of JSON one step's output may take.
    pub max_output_bytes: usize,
    /// How deep loops, conditionals, parallels and sub-workflows may nest.
    pub max_depth: u32,
    /// The longest an execution may run when its workflow sets no `timeout`.
    pub max_run_time: Duration,
    /// Time and memory one jq program may use.
    pub jq: JqLimits,
    /// Calls to services and models one run (with its sub-workflows) has in flight at once,
    /// however many parallel branches and loop items ask (a batch a service takes as one
    /// request counts as none: its requests go one batch at a time).
    pub max_concurrent_calls: u32,
    /// Loop items or parallel branches one step runs at once; the most a loop's
    /// `concurrency` may be.
    pub max_concurrency: u32,
    /// Sub-workflow executions one run may start, over all its levels.
    pub max_descendants: u32,
    /// The shortest time a schedule may leave between two runs.
    pub min_schedule_interval: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_steps: 10_000,
            max_loop_items: 1_000,
            max_output_bytes: 1 << 20,
            max_depth: 8,
            max_run_time: Duration::from_secs(3600),
            jq: JqLimits::default(),
            max_concurrent_calls: 10,
            max_concurrency: 50,
            max_descendants: 100,
            min_schedule_interval: Duration::from_secs(60),
        }
    }
}

/// What a run and the sub-workflows it starts share: the calls they have in flight and how
/// many sub-workflow executions they have started.
#[derive(Debug)]
pub struct Family {
    pub(crate) calls: tokio::sync::Semaphore,
    pub(crate) descendants: std::sync::atomic::AtomicU32,
}

impl Family {
    pub fn new(limits: &Limits) -> Self {
        Self {
            calls: tokio::sync::Semaphore::new(limits.max_concurrent_calls.max(1) as usize),
            descendants: std::sync::atomic::AtomicU32::new(0),
        }
    }
}
