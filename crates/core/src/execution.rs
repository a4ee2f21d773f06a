//! Execution and step states, and the one table of transitions the platform allows.
//!
//! Every change of an execution's state goes through [`ExecutionState::transition`]; the store
//! applies a transition only if the row is still in the state the caller saw (compare and set),
//! so two workers can never both move one execution.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::id::{ExecutionId, OrgId, UserId, WorkflowId};
use crate::money::Usd;

/// The seed's six execution states.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExecutionState {
    /// Queued, waiting for a worker.
    Pending,
    /// A worker is executing steps.
    Running,
    /// Awaiting a person (an approval) or a timer (a delay).
    Waiting,
    /// Finished successfully. Terminal.
    Completed,
    /// Stopped by an error; keeps everything, so it can be retried from the failed step.
    Failed,
    /// Stopped by a person. Terminal.
    Cancelled,
}

/// A transition the table does not allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("an execution cannot go from {from} to {to}")]
pub struct TransitionError {
    pub from: ExecutionState,
    pub to: ExecutionState,
}

impl ExecutionState {
    pub const ALL: [ExecutionState; 6] = [
        Self::Pending,
        Self::Running,
        Self::Waiting,
        Self::Completed,
        Self::Failed,
        Self::Cancelled,
    ];

    /// The transition table. Staying in the same state is not a transition.
    pub const fn allows(self, to: ExecutionState) -> bool {
        use ExecutionState::*;
        matches!(
            (self, to),
            (Pending, Running | Cancelled)
                | (Running, Waiting | Completed | Failed | Cancelled)
                | (Waiting, Running | Failed | Cancelled)
                // A failed execution is retried from its failed step: it is queued again.
                | (Failed, Pending)
        )
    }

    pub fn transition(self, to: ExecutionState) -> Result<ExecutionState, TransitionError> {
        if self.allows(to) {
            Ok(to)
        } else {
            Err(TransitionError { from: self, to })
        }
    }

    /// No transition leaves a terminal state.
    pub const fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Cancelled)
    }

    /// Nothing more happens without someone acting: terminal, or FAILED (which only a retry
    /// leaves).
    pub const fn is_finished(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Running => "RUNNING",
            Self::Waiting => "WAITING",
            Self::Completed => "COMPLETED",
            Self::Failed => "FAILED",
            Self::Cancelled => "CANCELLED",
        }
    }
}

impl fmt::Display for ExecutionState {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// A state name that is not one of the six.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown state {0:?}")]
pub struct UnknownState(pub String);

impl FromStr for ExecutionState {
    type Err = UnknownState;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|state| state.as_str().eq_ignore_ascii_case(text))
            .ok_or_else(|| UnknownState(text.to_owned()))
    }
}

/// The state of one step run inside an execution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StepState {
    Pending,
    Running,
    Waiting,
    Completed,
    Failed,
    /// Not run because its branch was not taken.
    Skipped,
    Cancelled,
}

impl StepState {
    pub const ALL: [StepState; 7] = [
        Self::Pending,
        Self::Running,
        Self::Waiting,
        Self::Completed,
        Self::Failed,
        Self::Skipped,
        Self::Cancelled,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Running => "RUNNING",
            Self::Waiting => "WAITING",
            Self::Completed => "COMPLETED",
            Self::Failed => "FAILED",
            Self::Skipped => "SKIPPED",
            Self::Cancelled => "CANCELLED",
        }
    }
}

impl fmt::Display for StepState {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

impl FromStr for StepState {
    type Err = UnknownState;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|state| state.as_str().eq_ignore_ascii_case(text))
            .ok_or_else(|| UnknownState(text.to_owned()))
    }
}

/// How an execution was started.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerKind {
    Manual,
    Schedule,
    Webhook,
    /// Started by a `sub_workflow` step of another execution.
    Workflow,
    /// Started by something new that polling a service found (a new email).
    Poll,
    /// One step tried alone from the builder ("Test this step"), with the values it reads
    /// given; kept so that what it cost counts.
    StepTest,
}

impl TriggerKind {
    pub const ALL: [TriggerKind; 6] = [
        Self::Manual,
        Self::Schedule,
        Self::Webhook,
        Self::Workflow,
        Self::Poll,
        Self::StepTest,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Manual => "manual",
            Self::Schedule => "schedule",
            Self::Webhook => "webhook",
            Self::Workflow => "workflow",
            Self::Poll => "poll",
            Self::StepTest => "step_test",
        }
    }
}

impl FromStr for TriggerKind {
    type Err = UnknownState;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
            .ok_or_else(|| UnknownState(text.to_owned()))
    }
}

/// Tokens counted by a model provider.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenUsage {
    pub input_tokens: i64,
    pub output_tokens: i64,
}

impl std::ops::AddAssign for TokenUsage {
    fn add_assign(&mut self, other: TokenUsage) {
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
    }
}

/// One run of one workflow version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Execution {
    pub id: ExecutionId,
    pub org_id: OrgId,
    pub workflow_id: WorkflowId,
    /// The immutable version this execution runs.
    pub workflow_version: i32,
    pub state: ExecutionState,
    pub trigger: TriggerKind,
    /// The user the execution runs as (the one who started it, or the workflow's owner).
    pub run_as: Option<UserId>,
    pub input: serde_json::Value,
    pub output: Option<serde_json::Value>,
    pub error: Option<serde_json::Value>,
    pub usage: TokenUsage,
    pub cost: Usd,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// What a trigger supplies to create an execution.
#[derive(Clone, Debug, PartialEq)]
pub struct NewExecution {
    /// Chosen by the caller, so that a job can name the execution before it is stored.
    pub id: ExecutionId,
    pub org_id: OrgId,
    pub workflow_id: WorkflowId,
    pub workflow_version: i32,
    pub trigger: TriggerKind,
    pub run_as: Option<UserId>,
    pub input: serde_json::Value,
}

/// A compare-and-set change of an execution's state, with what the new state records.
#[derive(Clone, Debug, PartialEq)]
pub struct ExecutionUpdate {
    pub id: ExecutionId,
    /// The state the caller saw; the update applies only if the row is still in it.
    pub from: ExecutionState,
    pub to: ExecutionState,
    /// The execution's output afterwards (set as given: `None` clears it).
    pub output: Option<serde_json::Value>,
    /// The execution's error afterwards (set as given: `None` clears it).
    pub error: Option<serde_json::Value>,
    pub at: DateTime<Utc>,
    /// The lease the change is made under (a worker's run); `None` for a person's change.
    pub fence: Option<crate::job::Fence>,
}

impl ExecutionUpdate {
    /// A bare state change at `at`.
    pub fn new(
        id: ExecutionId,
        from: ExecutionState,
        to: ExecutionState,
        at: DateTime<Utc>,
    ) -> Self {
        Self {
            id,
            from,
            to,
            output: None,
            error: None,
            at,
            fence: None,
        }
    }
}

/// The checkpoint of one step: written before the next step starts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepRun {
    pub execution_id: ExecutionId,
    /// The step's path in the workflow: its id, or `loop_id[3].step_id` inside a loop.
    pub step_key: String,
    pub state: StepState,
    pub input: Option<serde_json::Value>,
    pub output: Option<serde_json::Value>,
    pub error: Option<serde_json::Value>,
    pub attempts: i32,
    /// Passed to connectors so that a step re-run after a crash does not act twice.
    pub idempotency_key: String,
    pub usage: TokenUsage,
    pub cost: Usd,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// How a workflow has been running: its runs since a time, and its latest run of all.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkflowActivity {
    pub workflow_id: WorkflowId,
    /// Runs created since the time asked about.
    pub runs: i64,
    /// Of those, how many completed and how many failed.
    pub completed: i64,
    pub failed: i64,
    pub last_run_at: DateTime<Utc>,
    pub last_state: ExecutionState,
}

/// Which executions to list.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ExecutionFilter {
    pub workflow_id: Option<WorkflowId>,
    pub state: Option<ExecutionState>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use ExecutionState::*;

    #[test]
    fn the_transition_table_is_exactly_the_documented_one() {
        let allowed: Vec<(ExecutionState, ExecutionState)> = ExecutionState::ALL
            .into_iter()
            .flat_map(|from| ExecutionState::ALL.into_iter().map(move |to| (from, to)))
            .filter(|(from, to)| from.allows(*to))
            .collect();
        assert_eq!(
            allowed,
            vec![
                (Pending, Running),
                (Pending, Cancelled),
                (Running, Waiting),
                (Running, Completed),
                (Running, Failed),
                (Running, Cancelled),
                (Waiting, Running),
                (Waiting, Failed),
                (Waiting, Cancelled),
                (Failed, Pending),
            ]
        );
    }

    #[test]
    fn terminal_states_allow_nothing() {
        for from in [Completed, Cancelled] {
            assert!(from.is_terminal());
            for to in ExecutionState::ALL {
                assert_eq!(from.transition(to), Err(TransitionError { from, to }));
            }
        }
    }

    #[test]
    fn states_round_trip_through_their_names() {
        for state in ExecutionState::ALL {
            assert_eq!(state.as_str().parse::<ExecutionState>(), Ok(state));
            assert_eq!(serde_json::to_value(state).unwrap(), state.as_str());
        }
        for state in StepState::ALL {
            assert_eq!(state.as_str().parse::<StepState>(), Ok(state));
        }
        assert!("DONE".parse::<ExecutionState>().is_err());
    }
}
