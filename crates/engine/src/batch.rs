//! Calls to the same action gathered into one request, for services that take a batch (Gmail
//! reads up to 50 messages in one HTTP call). A loop that reads fifty messages at a concurrency
//! of ten makes five requests instead of fifty, and each item still has its own step run,
//! retries and outcome.
//!
//! The first call to arrive for an (organization, service, action, credential) waits a few
//! milliseconds for others, then sends everything that gathered, in chunks of the service's
//! batch size, and hands each caller its own result.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use baton_core::OrgId;
use serde_json::Value;
use tokio::sync::oneshot;

use crate::StepError;
use crate::connector::{ActionCall, Connectors};

/// How long the first call waits for others to join it.
const GATHER: Duration = Duration::from_millis(5);

type Key = (OrgId, String, String, Option<String>);
type Waiting = (ActionCall, oneshot::Sender<Result<Value, StepError>>);

#[derive(Default)]
pub struct Batcher {
    gathering: Mutex<HashMap<Key, Vec<Waiting>>>,
}

impl Batcher {
    /// `call`'s result, made in a batch of at most `size` with the calls that come meanwhile.
    pub async fn call(
        &self,
        connectors: &dyn Connectors,
        call: ActionCall,
        size: usize,
    ) -> Result<Value, StepError> {
        let key = (
            call.org_id,
            call.service.clone(),
            call.action.clone(),
            call.credential.clone(),
        );
        let (sender, receiver) = oneshot::channel();
        let leads = {
            let mut gathering = self
                .gathering
                .lock()
                .map_err(|_| StepError::system("the batcher's lock is poisoned"))?;
            let group = gathering.entry(key.clone()).or_default();
            group.push((call, sender));
            group.len() == 1
        };
        if leads {
            tokio::time::sleep(GATHER).await;
            let gathered = self
                .gathering
                .lock()
                .map_err(|_| StepError::system("the batcher's lock is poisoned"))?
                .remove(&key)
                .unwrap_or_default();
            let chunks: Vec<Vec<Waiting>> = {
                let mut chunks = Vec::new();
                let mut rest = gathered;
                while !rest.is_empty() {
                    let tail = rest.split_off(rest.len().min(size.max(1)));
                    chunks.push(std::mem::replace(&mut rest, tail));
                }
                chunks
            };
            futures::future::join_all(chunks.into_iter().map(|chunk| async move {
                let (calls, senders): (Vec<ActionCall>, Vec<_>) = chunk.into_iter().unzip();
                let count = calls.len();
                let mut results = connectors.batch(calls).await;
                results.resize_with(count, || {
                    Err(StepError::transient(
                        "the batch answered fewer results than calls",
                    ))
                });
                for (sender, result) in senders.into_iter().zip(results) {
                    let _ = sender.send(result);
                }
            }))
            .await;
        }
        receiver.await.unwrap_or_else(|_| {
            Err(StepError::transient(
                "the batch this call was in was interrupted",
            ))
        })
    }
}
