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
        }
    }
}
