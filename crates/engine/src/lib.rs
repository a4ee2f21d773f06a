//! Baton's workflow engine: it compiles a workflow document once (templates parsed, references
//! checked), then runs it step by step, checkpointing every step through the store so that an
//! execution interrupted at any point resumes where it stopped.
//!
//! Decisions that need no I/O live in pure modules ([`retry`], [`breaker`], [`transform`],
//! [`compile`]); [`run`] is the edge that performs calls, sleeps and checkpoints.

pub mod batch;
pub mod breaker;
pub mod compile;
pub mod connector;
pub mod error;
pub mod jq;
pub mod limits;
pub mod memory;
pub mod model;
pub mod provider;
pub mod redact;
pub mod retry;
pub mod run;
pub mod schedule;
mod scope;
pub mod structured;
pub mod template;
pub mod throttle;
pub mod transform;

pub use compile::{CompileOptions, CompiledWorkflow, compile_workflow, validate_document};
pub use error::{EngineError, StepError};
pub use limits::Limits;
pub use run::{Cancel, Canceller, Engine, LeaseCheck, Observer, Outcome, RunOptions, StepTest};
