//! jq programs, run within limits. A workflow's jq program is code its author wrote: it may loop
//! for ever (`reduce range(1e12) ...`), recurse without end, or build a list of millions. It runs
//! on a thread of its own, never on the threads that serve requests, with a budget checked at
//! every filter it evaluates: a wall-clock limit, a memory ceiling, a stack ceiling, and the
//! caller's cancellation. A program past any of them stops with a "limit reached" error, which
//! fails the step for good: the same program on the same data would reach it again.
//!
//! How the budget is checked: jaq asks its context for the program's look-up table before it
//! evaluates any term, so a context whose look-up spends from the budget sees every step; the one
//! native generator that yields without evaluating terms (`range`) is wrapped to spend too. A
//! spent budget unwinds the evaluation (`resume_unwind`, so no panic message is printed), the
//! thread catches it and answers the error.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use jaq_core::load::{Arena, File, Loader};
use jaq_core::{Compiler, Ctx, DataT, Exn, Lut, Native, ValX, Vars, data::HasLut};
use jaq_json::Val;
use serde_json::{Value, json};

use crate::error::StepError;

/// jq functions that would reach outside the step: the environment, stdin, stderr. (`halt`
/// stays: it only ends the program, which is turned into an error.)
const DENIED: [&str; 6] = [
    "env",
    "input",
    "inputs",
    "debug",
    "stderr",
    "input_filename",
];

/// Results one program may produce before it is stopped.
const MAX_RESULTS: usize = 10_000;

/// The stack of a jq thread: reserved, not committed, so it costs only what is used.
const THREAD_STACK: usize = 64 << 20;

/// How deep a program may recurse, in bytes of that stack; the rest is a margin for the frames
/// between two checks.
const STACK_BUDGET: usize = 48 << 20;

/// What one jq program may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JqLimits {
    /// Wall-clock time from start to the last result.
    pub time: Duration,
    /// Bytes the program's thread may hold at once (checked when the process counts its
    /// allocations with [`CountingAllocator`]; otherwise time and stack still bound it).
    pub memory: usize,
}

impl Default for JqLimits {
    fn default() -> Self {
        Self {
            time: Duration::from_millis(100),
            memory: 64 << 20,
        }
    }
}

/// Runs a jq program over `data` on a thread of its own; one result is the output, several
/// become `{results}`. Dropping the future (a cancelled execution, a step timeout) stops the
/// program at its next step.
pub async fn run(program: &str, data: Value, limits: JqLimits) -> Result<Value, StepError> {
    let stop = Arc::new(AtomicBool::new(false));
    let held = Arc::new(AtomicBool::new(false));
    let (answer, answered) = tokio::sync::oneshot::channel();
    let program = program.to_owned();
    let thread_stop = stop.clone();
    let thread_held = held.clone();
    std::thread::Builder::new()
        .name("baton-jq".into())
        .stack_size(THREAD_STACK)
        .spawn(move || {
            let _guard = OneAllocationCeiling::set(limits.memory, &thread_held);
            let _ = answer.send(run_here(&program, data, limits, &thread_stop));
        })
        .map_err(|error| StepError::system(format!("no thread for the jq program: {error}")))?;
    let _stop_on_drop = StopOnDrop(stop);
    // A program stops itself at its limits; one held at an allocation larger than its whole
    // memory limit never answers, so the wait is bounded too.
    let patience = limits.time * 2 + Duration::from_millis(500);
    match tokio::time::timeout(patience, answered).await {
        Ok(answer) => answer
            .map_err(|_| StepError::system("the jq program's thread ended without an answer"))?,
        Err(_) if held.load(Ordering::SeqCst) => Err(StepError::permanent(format!(
            "limit reached: the jq program asked for more than {} MiB of memory at once",
            limits.memory >> 20
        ))),
        Err(_) => Err(Reached::Time.error(limits)),
    }
}

thread_local! {
    /// On a jq thread: the most one allocation may ask for, and the flag to raise when one asks
    /// for more.
    static ONE_ALLOCATION_CEILING: Cell<Option<(usize, *const AtomicBool)>> = const { Cell::new(None) };
}

/// Marks the current thread as a jq thread for [`CountingAllocator`] until dropped.
struct OneAllocationCeiling;

impl OneAllocationCeiling {
    fn set(ceiling: usize, held: &Arc<AtomicBool>) -> Self {
        let _ =
            ONE_ALLOCATION_CEILING.try_with(|cell| cell.set(Some((ceiling, Arc::as_ptr(held)))));
        Self
    }
}

impl Drop for OneAllocationCeiling {
    fn drop(&mut self) {
        let _ = ONE_ALLOCATION_CEILING.try_with(|cell| cell.set(None));
    }
}

/// A jq thread asking for more memory in one allocation than its whole limit (a string
/// repeated ten billion times) is held here for good instead of being given it: an allocator
/// may not unwind, and a refused allocation would abort the whole process. The thread's waiter
/// answers "limit reached"; the thread costs its reserved stack and nothing else.
fn hold_if_too_large(size: usize) {
    let Ok(Some((ceiling, held))) = ONE_ALLOCATION_CEILING.try_with(Cell::get) else {
        return;
    };
    if size <= ceiling {
        return;
    }
    // SAFETY: `held` points into an `Arc` the jq thread's closure owns, which lives as long
    // as this thread, which never returns from here.
    unsafe { (*held).store(true, Ordering::SeqCst) };
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// Sets the stop flag when the waiting side goes away.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Runs a jq program on the calling thread within the limits (used by [`run`]; callers on an
/// async runtime use [`run`]).
pub fn run_here(
    program: &str,
    data: Value,
    limits: JqLimits,
    stop: &AtomicBool,
) -> Result<Value, StepError> {
    let filter = compile(program)?;
    let input: Val =
        serde_json::from_value(data).map_err(|error| StepError::permanent(error.to_string()))?;
    let stack_marker = 0u8;
    let budget = Budget {
        started: Instant::now(),
        limits,
        stop,
        steps: Cell::new(0),
        memory_base: thread_allocated(),
        stack_base: std::ptr::addr_of!(stack_marker) as usize,
    };
    let evaluated = std::panic::catch_unwind(AssertUnwindSafe(|| {
        let context = Ctx::<Limited>::new(
            Budgeted {
                lut: &filter.lut,
                budget: &budget,
            },
            Vars::new([]),
        );
        let mut results = Vec::new();
        for result in filter.id.run((context, input)) {
            if results.len() >= MAX_RESULTS {
                return Err(StepError::permanent(format!(
                    "the jq program produced more than {MAX_RESULTS} results"
                )));
            }
            let value = result.map_err(|exception| match exception.get_err() {
                Ok(error) => StepError::permanent(format!("jq: {error}")),
                Err(_) => StepError::permanent("jq: the program stopped without a value"),
            })?;
            budget.check();
            let json: Value = serde_json::from_str(&value.to_string()).map_err(|error| {
                StepError::permanent(format!("jq produced a value that is not JSON: {error}"))
            })?;
            results.push(json);
        }
        Ok(results)
    }));
    let mut results = match evaluated {
        Ok(results) => results?,
        Err(payload) => {
            return Err(match payload.downcast::<Reached>() {
                Ok(reached) => reached.error(limits),
                Err(_) => StepError::system("the jq program stopped unexpectedly"),
            });
        }
    };
    Ok(match results.len() {
        1 => results.pop().unwrap_or(Value::Null),
        _ => json!({"results": results}),
    })
}

/// Checks a jq program's syntax when the workflow is loaded.
pub fn check(program: &str) -> Result<(), String> {
    let arena = Arena::default();
    Loader::new(definitions())
        .load(
            &arena,
            File {
                code: program,
                path: (),
            },
        )
        .map(|_| ())
        .map_err(|errors| describe(&errors))
}

fn definitions() -> impl Iterator<Item = jaq_core::load::parse::Def<&'static str>> {
    jaq_core::defs()
        .chain(jaq_std::defs())
        .chain(jaq_json::defs())
}

fn compile(program: &str) -> Result<jaq_core::Filter<Limited>, StepError> {
    let funs = jaq_core::funs::<Limited>()
        .chain(jaq_std::funs())
        .chain(jaq_json::funs())
        .filter(|(name, _, _)| !DENIED.contains(name))
        .map(|(name, arguments, native)| match name {
            "range" => (name, arguments, Native::<Limited>::new(limited_range)),
            _ => (name, arguments, native),
        });
    let arena = Arena::default();
    let modules = Loader::new(definitions())
        .load(
            &arena,
            File {
                code: program,
                path: (),
            },
        )
        .map_err(|errors| {
            StepError::permanent(format!(
                "the jq program does not parse: {}",
                describe(&errors)
            ))
        })?;
    Compiler::default()
        .with_funs(funs)
        .compile(modules)
        .map_err(|errors| {
            StepError::permanent(format!(
                "the jq program does not compile: {}",
                describe(&errors)
            ))
        })
}

fn describe<T: std::fmt::Debug>(errors: &T) -> String {
    let text = format!("{errors:?}");
    text.chars().take(300).collect()
}

/// `range/3` as jaq's own, spending from the budget for every number it yields.
fn limited_range<'a>(mut cv: jaq_core::Cv<'a, Limited>) -> jaq_core::ValXs<'a, Val> {
    use std::cmp::Ordering::{Equal, Greater, Less};
    let budget = cv.0.data().budget;
    let by = cv.0.pop_var();
    let to = cv.0.pop_var();
    let mut from: ValX<'a, Val> = Ok(cv.0.pop_var());
    let direction = by.partial_cmp(&Val::from(0usize)).unwrap_or(Equal);
    Box::new(std::iter::from_fn(move || {
        budget.spend();
        match from.clone() {
            Ok(current) => match direction {
                Greater => current < to,
                Less => current > to,
                Equal => current != to,
            }
            .then(|| std::mem::replace(&mut from, (current + by.clone()).map_err(Exn::from))),
            error @ Err(_) => {
                from = Ok(to.clone());
                Some(error)
            }
        }
    }))
}

/// The data kind of a limited run: jaq's JSON values, and a context that carries the budget.
struct Limited;

impl DataT for Limited {
    type V<'a> = Val;
    type Data<'a> = Budgeted<'a>;
}

#[derive(Clone, Copy)]
struct Budgeted<'a> {
    lut: &'a Lut<Limited>,
    budget: &'a Budget<'a>,
}

impl<'a> HasLut<'a, Limited> for Budgeted<'a> {
    fn lut(&self) -> &'a Lut<Limited> {
        self.budget.spend();
        self.lut
    }
}

/// Which limit a program reached.
#[derive(Debug, Clone, Copy)]
enum Reached {
    Time,
    Memory,
    Depth,
    Stopped,
}

impl Reached {
    fn error(self, limits: JqLimits) -> StepError {
        StepError::permanent(match self {
            Reached::Time => format!(
                "limit reached: the jq program ran longer than {} ms",
                limits.time.as_millis()
            ),
            Reached::Memory => format!(
                "limit reached: the jq program used more than {} MiB of memory",
                limits.memory >> 20
            ),
            Reached::Depth => "limit reached: the jq program recursed too deep".to_owned(),
            Reached::Stopped => "the jq program was stopped (cancelled or timed out)".to_owned(),
        })
    }
}

struct Budget<'a> {
    started: Instant,
    limits: JqLimits,
    stop: &'a AtomicBool,
    steps: Cell<u64>,
    memory_base: isize,
    stack_base: usize,
}

impl Budget<'_> {
    /// One step of the program; every 256 steps, the clock, the memory and the stop flag are
    /// looked at (the stack every time: deep recursion can outrun a sparse check).
    fn spend(&self) {
        let steps = self.steps.get().wrapping_add(1);
        self.steps.set(steps);
        let marker = 0u8;
        let here = std::ptr::addr_of!(marker) as usize;
        if self.stack_base.abs_diff(here) > STACK_BUDGET {
            std::panic::resume_unwind(Box::new(Reached::Depth));
        }
        if steps.is_multiple_of(256) {
            self.check();
        }
    }

    fn check(&self) {
        let reached = if self.stop.load(Ordering::Relaxed) {
            Some(Reached::Stopped)
        } else if self.started.elapsed() > self.limits.time {
            Some(Reached::Time)
        } else if thread_allocated() - self.memory_base > self.limits.memory as isize {
            Some(Reached::Memory)
        } else {
            None
        };
        if let Some(reached) = reached {
            std::panic::resume_unwind(Box::new(reached));
        }
    }
}

thread_local! {
    static ALLOCATED: Cell<isize> = const { Cell::new(0) };
}

/// Bytes the current thread holds (allocated minus freed), as counted by [`CountingAllocator`].
fn thread_allocated() -> isize {
    ALLOCATED.try_with(Cell::get).unwrap_or(0)
}

/// A global allocator that counts, per thread, the bytes it holds, so a jq program's memory
/// ceiling can be enforced. The `baton` binary installs it around its allocator.
pub struct CountingAllocator<A>(pub A);

fn count(delta: isize) {
    let _ = ALLOCATED.try_with(|allocated| allocated.set(allocated.get().wrapping_add(delta)));
}

// SAFETY: every call is passed to the wrapped allocator unchanged; the counting only touches a
// thread-local integer and never allocates.
unsafe impl<A: GlobalAlloc> GlobalAlloc for CountingAllocator<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        hold_if_too_large(layout.size());
        count(layout.size() as isize);
        // SAFETY: the caller's contract is passed on.
        unsafe { self.0.alloc(layout) }
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        count(-(layout.size() as isize));
        // SAFETY: the caller's contract is passed on.
        unsafe { self.0.dealloc(pointer, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        hold_if_too_large(layout.size());
        count(layout.size() as isize);
        // SAFETY: the caller's contract is passed on.
        unsafe { self.0.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        hold_if_too_large(new_size);
        count(new_size as isize - layout.size() as isize);
        // SAFETY: the caller's contract is passed on.
        unsafe { self.0.realloc(pointer, layout, new_size) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quick() -> JqLimits {
        JqLimits {
            time: Duration::from_millis(100),
            memory: 64 << 20,
        }
    }

    #[tokio::test]
    async fn a_program_runs_over_its_data() {
        let result = run(
            "[.rows[] | select(.score > 50) | .name]",
            json!({"rows": [{"name": "a", "score": 60}, {"name": "b", "score": 10}]}),
            quick(),
        )
        .await;
        assert_eq!(result.unwrap(), json!(["a"]));
        assert_eq!(
            run("range(3)", Value::Null, quick()).await.unwrap(),
            json!({"results": [0, 1, 2]})
        );
    }

    #[tokio::test]
    async fn an_endless_loop_stops_at_the_time_limit() {
        for program in [
            "reduce range(1000000000000) as $i (0; .+1)",
            "last(range(1e12))",
            "def f: f; f",
            "[limit(1e12; repeat(1))] | length",
            "until(false; .)",
        ] {
            let started = Instant::now();
            let error = run(program, Value::Null, quick()).await.unwrap_err();
            assert!(
                error.message.contains("limit reached")
                    && error.message.contains("longer than 100 ms"),
                "{program}: {}",
                error.message
            );
            assert_eq!(error.class, baton_core::ErrorClass::Permanent);
            assert!(started.elapsed() < Duration::from_secs(2), "{program}");
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_runtime_keeps_answering_while_a_program_runs() {
        let slow = JqLimits {
            time: Duration::from_secs(1),
            ..quick()
        };
        let runaway = tokio::spawn(run("last(range(1e15))", Value::Null, slow));
        let mut worst = Duration::ZERO;
        for _ in 0..20 {
            let asked = Instant::now();
            tokio::time::sleep(Duration::from_millis(10)).await;
            worst = worst.max(asked.elapsed());
        }
        // A program run on this thread would hold every tick for its whole second; a busy
        // machine delays ticks too, but not by half of it.
        assert!(worst < Duration::from_millis(500), "a tick took {worst:?}");
        let error = runaway.await.unwrap().unwrap_err();
        assert!(error.message.contains("limit reached"), "{}", error.message);
    }

    #[tokio::test]
    async fn endless_recursion_stops_before_the_stack_runs_out() {
        let error = run("def f: 1 + f; f", Value::Null, quick())
            .await
            .unwrap_err();
        assert!(error.message.contains("limit reached"), "{}", error.message);
    }

    #[tokio::test]
    async fn dropping_the_wait_stops_the_program() {
        let slow = JqLimits {
            time: Duration::from_secs(600),
            ..quick()
        };
        let started = Instant::now();
        let waited = tokio::time::timeout(
            Duration::from_millis(50),
            run("last(range(1e15))", Value::Null, slow),
        )
        .await;
        assert!(waited.is_err());
        let stop = AtomicBool::new(true);
        let error = run_here("last(range(1e15))", Value::Null, slow, &stop).unwrap_err();
        assert!(error.message.contains("stopped"), "{}", error.message);
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn the_environment_is_out_of_reach() {
        assert!(run("env.HOME", Value::Null, quick()).await.is_err());
        assert!(run("$ENV", Value::Null, quick()).await.is_err());
        assert!(
            run(".[[", Value::Null, quick())
                .await
                .unwrap_err()
                .message
                .contains("does not parse")
        );
    }
}
