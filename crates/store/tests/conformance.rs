//! The store conformance suite: the same behaviour, checked on SQLite and PostgreSQL.

mod harness;

use std::collections::HashSet;

use baton_core::access::NewInvite;
use baton_core::api_key::NewApiKey;
use baton_core::audit::{AuditFilter, NewAuditEvent};
use baton_core::credential::{NewCredential, SealedSecret};
use baton_core::execution::{
    Execution, ExecutionFilter, ExecutionUpdate, NewExecution, StepRun, TokenUsage, TriggerKind,
};
use baton_core::job::{Claim, Fence, NewJob};
use baton_core::organization::NewUser;
use baton_core::session::NewSession;
use baton_core::workflow::{NewVersion, NewWorkflow, Workflow};
use baton_core::{
    Cursor, ExecutionId, ExecutionState, OrgId, Page, PageRequest, Role, StepState, Usd, User,
    WorkflowId,
};
use baton_store::{Store, StoreError};
use chrono::{Datelike, Duration, Utc};
use harness::TestStore;
use serde_json::json;

conformance!(
    users_are_unique_by_email_in_any_case,
    an_organization_is_created_with_its_owner,
    memberships_change_role_and_leave,
    members_page_by_cursor,
    deleting_an_organization_removes_what_it_owns,
    the_audit_log_goes_after_a_year_and_never_sooner,
    deleting_an_account_keeps_what_it_made_for_its_organization,
    every_save_is_a_new_immutable_version,
    concurrent_saves_number_versions_one_after_another,
    workflow_keys_are_unique_per_organization_until_deleted,
    workflows_of_another_organization_read_as_absent,
    workflow_lists_page_newest_first_without_repeats,
    an_execution_and_its_job_are_created_together,
    executions_move_only_along_allowed_transitions,
    a_stale_transition_is_refused,
    step_checkpoints_replace_and_total_up,
    the_ai_budget_is_kept_and_the_months_spend_is_summed,
    finished_executions_past_their_organizations_retention_are_deleted_in_batches,
    data_keys_are_made_once_and_rewrapped_only_from_their_master,
    sealed_secrets_open_only_in_their_organization_and_outlive_a_rotation,
    a_workflow_limit_holds_its_further_jobs_back,
    claimers_at_once_keep_to_a_workflow_limit,
    a_finished_execution_is_recorded_whole,
    executions_filter_by_workflow_and_state,
    workflow_activity_counts_recent_runs_and_names_the_latest,
    jobs_are_claimed_when_due_in_order,
    a_lapsed_lease_passes_the_job_to_another_worker,
    writes_under_a_lease_taken_over_are_refused,
    open_circuits_are_shared_until_their_time_or_closing,
    templates_count_their_uses_and_keep_one_rating_per_person,
    an_organizations_own_templates_are_its_alone,
    concurrent_claims_never_share_a_job,
    released_jobs_wait_until_their_new_time,
    credentials_keep_only_sealed_secrets,
    the_audit_log_lists_and_filters_newest_first,
    migrations_can_run_again,
    a_closed_store_fails_its_ping,
    sessions_rotate_once_and_revoke_by_family,
    names_change_and_a_new_password_ends_every_session,
    api_keys_are_found_by_hash_until_revoked,
    an_invite_is_accepted_once_before_it_expires,
    ownership_passes_from_an_owner_to_a_member,
    a_reset_token_sets_the_password_once_and_ends_sessions,
    two_factor_steps_and_recovery_codes_work_once,
    identities_find_their_user,
    a_delivery_creates_one_execution_however_often_it_comes,
    a_callers_key_with_another_request_is_refused_and_old_keys_are_pruned,
    deliveries_succeed_while_other_writes_go_on,
    hooks_are_found_by_token_and_keep_their_secret,
    a_new_job_wakes_listeners_in_other_processes,
    active_workflows_of_every_organization_are_listed,
    a_flooding_organization_does_not_starve_the_others,
);

async fn user(store: &dyn Store, email: &str) -> User {
    store
        .create_user(NewUser {
            email: email.into(),
            name: "Test User".into(),
            password_hash: None,
        })
        .await
        .expect("create user")
}

async fn org(store: &dyn Store, name: &str) -> (OrgId, User) {
    let owner = user(
        store,
        &format!("owner-{}@example.com", uuid::Uuid::now_v7().simple()),
    )
    .await;
    let org = store
        .create_organization(name, owner.id)
        .await
        .expect("create organization");
    (org.id, owner)
}

async fn workflow(store: &dyn Store, org: OrgId, key: &str) -> Workflow {
    let (workflow, _) = store
        .create_workflow(NewWorkflow {
            org_id: org,
            key: key.into(),
            name: format!("Workflow {key}"),
            definition: json!({"id": key, "steps": []}),
            created_by: None,
        })
        .await
        .expect("create workflow");
    workflow
}

fn new_execution(workflow: &Workflow) -> NewExecution {
    NewExecution {
        id: ExecutionId::new(),
        org_id: workflow.org_id,
        workflow_id: workflow.id,
        workflow_version: workflow.current_version,
        trigger: TriggerKind::Manual,
        run_as: None,
        input: json!({"email_id": "m-1"}),
    }
}

fn job_for(execution: &NewExecution, run_at: chrono::DateTime<Utc>) -> NewJob {
    NewJob {
        org_id: execution.org_id,
        execution_id: execution.id,
        kind: "run".into(),
        payload: json!({}),
        run_at,
        workflow_id: execution.workflow_id,
        workflow_limit: None,
    }
}

/// Queues the job that runs `execution`, due at `now`.
async fn run_job(
    store: &dyn Store,
    flow: &Workflow,
    execution: ExecutionId,
    now: chrono::DateTime<Utc>,
) -> baton_core::job::Job {
    store
        .enqueue(NewJob {
            org_id: flow.org_id,
            execution_id: execution,
            kind: "run".into(),
            payload: json!({}),
            run_at: now,
            workflow_id: flow.id,
            workflow_limit: None,
        })
        .await
        .unwrap()
}

fn claim(worker: &str, now: chrono::DateTime<Utc>) -> Claim {
    Claim {
        worker: worker.into(),
        now,
        lease: Duration::seconds(30),
        per_organization: baton_core::job::DEFAULT_PER_ORGANIZATION,
    }
}

/// Reads a whole list page by page, following cursors.
async fn read_all<T, F, Fut>(mut read: F) -> (Vec<T>, usize)
where
    F: FnMut(PageRequest) -> Fut,
    Fut: std::future::Future<Output = Result<Page<T>, StoreError>>,
{
    let mut items = Vec::new();
    let mut pages = 0;
    let mut request = PageRequest::first(2);
    loop {
        let page = read(request).await.expect("read page");
        pages += 1;
        items.extend(page.items);
        match page.next_cursor {
            Some(cursor) => request = PageRequest::after(2, cursor),
            None => return (items, pages),
        }
    }
}

async fn users_are_unique_by_email_in_any_case(test: &TestStore) {
    let store = &*test.store;
    let ada = user(store, "Ada@Example.com").await;
    assert_eq!(ada.email, "ada@example.com");
    let again = store
        .create_user(NewUser {
            email: "ADA@example.COM".into(),
            name: "Other".into(),
            password_hash: None,
        })
        .await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    assert_eq!(
        store
            .user_by_email("ada@EXAMPLE.com")
            .await
            .unwrap()
            .unwrap()
            .id,
        ada.id
    );
    assert_eq!(
        store.user(ada.id).await.unwrap().unwrap().email,
        "ada@example.com"
    );
    assert!(
        store
            .user_by_email("nobody@example.com")
            .await
            .unwrap()
            .is_none()
    );
}

async fn an_organization_is_created_with_its_owner(test: &TestStore) {
    let store = &*test.store;
    let (org_id, owner) = org(store, "Acme").await;
    assert_eq!(
        store.organization(org_id).await.unwrap().unwrap().name,
        "Acme"
    );
    let membership = store.membership(org_id, owner.id).await.unwrap().unwrap();
    assert_eq!(membership.role, Role::Owner);

    let missing = store
        .create_organization("Ghost", baton_core::UserId::new())
        .await;
    assert!(
        matches!(missing, Err(StoreError::NotFound(_))),
        "{missing:?}"
    );
}

async fn memberships_change_role_and_leave(test: &TestStore) {
    let store = &*test.store;
    let (first, _) = org(store, "First").await;
    let (second, _) = org(store, "Second").await;
    let bob = user(store, "bob@example.com").await;
    store.add_member(first, bob.id, Role::Member).await.unwrap();
    store
        .add_member(second, bob.id, Role::Viewer)
        .await
        .unwrap();
    let twice = store.add_member(first, bob.id, Role::Admin).await;
    assert!(matches!(twice, Err(StoreError::Conflict(_))), "{twice:?}");

    let orgs: Vec<(OrgId, Role)> = store
        .memberships_of(bob.id)
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.org_id, m.role))
        .collect();
    assert_eq!(orgs, vec![(first, Role::Member), (second, Role::Viewer)]);

    assert_eq!(
        store
            .set_role(first, bob.id, Role::Admin)
            .await
            .unwrap()
            .role,
        Role::Admin
    );
    store.remove_member(second, bob.id).await.unwrap();
    assert!(store.membership(second, bob.id).await.unwrap().is_none());
    assert!(matches!(
        store.remove_member(second, bob.id).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.set_role(second, bob.id, Role::Owner).await,
        Err(StoreError::NotFound(_))
    ));
}

async fn members_page_by_cursor(test: &TestStore) {
    let store = &*test.store;
    let (org_id, owner) = org(store, "Big").await;
    let mut expected = vec![owner.id];
    for index in 0..4 {
        let member = user(store, &format!("member{index}@example.com")).await;
        store
            .add_member(org_id, member.id, Role::Member)
            .await
            .unwrap();
        expected.push(member.id);
    }
    let (members, pages) = read_all(|page| store.members(org_id, page)).await;
    let mut seen: Vec<_> = members.iter().map(|m| m.user_id).collect();
    assert_eq!(pages, 3);
    seen.sort();
    expected.sort();
    assert_eq!(seen, expected);
    let bad = store
        .members(org_id, PageRequest::after(2, Cursor::new("garbage")))
        .await;
    assert!(matches!(bad, Err(StoreError::InvalidCursor(_))), "{bad:?}");
}

async fn deleting_an_organization_removes_what_it_owns(test: &TestStore) {
    let store = &*test.store;
    let (org_id, owner) = org(store, "Doomed").await;
    let flow = workflow(store, org_id, "wf_a").await;
    let execution = store.create_execution(new_execution(&flow)).await.unwrap();
    store
        .record(NewAuditEvent {
            org_id: Some(org_id),
            actor: Some(owner.id),
            action: "organization.deleted".into(),
            target: None,
            ip: None,
            user_agent: None,
            details: json!({}),
        })
        .await
        .unwrap();
    let its = [org_id.as_uuid(), flow.id.as_uuid(), execution.id.as_uuid()];
    let before = test.rows_holding(&its).await;
    for held in [
        "organizations.id",
        "workflows.id",
        "executions.id",
        "audit_events.org_id",
        "memberships.org_id",
    ] {
        assert!(
            before
                .iter()
                .any(|row| row.starts_with(&format!("{held}:"))),
            "{held} in {before:?}"
        );
    }
    store.delete_organization(org_id).await.unwrap();
    assert!(store.organization(org_id).await.unwrap().is_none());
    assert!(store.workflow(org_id, flow.id).await.unwrap().is_none());
    assert!(
        store
            .execution(org_id, execution.id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.membership(org_id, owner.id).await.unwrap().is_none());
    assert!(
        store.user(owner.id).await.unwrap().is_some(),
        "users outlive their organizations"
    );
    let audit = store
        .audit_events(org_id, &AuditFilter::default(), PageRequest::default())
        .await
        .unwrap();
    assert!(audit.items.is_empty(), "its audit log goes with it");
    assert!(
        test.rows_holding(&its).await.is_empty(),
        "no row of it remains: {:?}",
        test.rows_holding(&its).await
    );
    assert!(matches!(
        store.delete_organization(org_id).await,
        Err(StoreError::NotFound(_))
    ));
}

async fn the_audit_log_goes_after_a_year_and_never_sooner(test: &TestStore) {
    let store = &*test.store;
    let (org_id, owner) = org(store, "Keeper").await;
    let event = |action: &str| NewAuditEvent {
        org_id: Some(org_id),
        actor: Some(owner.id),
        action: action.into(),
        target: None,
        ip: None,
        user_agent: None,
        details: json!({}),
    };
    store.record(event("auth.login")).await.unwrap();
    // A row from two years ago, written below the store.
    let old = uuid::Uuid::now_v7();
    let org_hex = org_id.as_uuid().simple().to_string();
    test.raw_sql(
        &format!(
            "INSERT INTO audit_events (id, org_id, action, details, at) VALUES \
             (X'{}', X'{org_hex}', 'auth.login', '{{}}', '2024-11-01T09:00:00+00:00')",
            old.simple()
        ),
        &format!(
            "INSERT INTO audit_events (id, org_id, action, details, at) VALUES \
             ('{old}', '{}', 'auth.login', '{{}}', '2024-11-01T09:00:00Z')",
            org_id.as_uuid()
        ),
    )
    .await
    .unwrap();
    let now = now_micros();
    assert_eq!(
        store
            .prune_audit_events(now - Duration::days(366), 100)
            .await
            .unwrap(),
        1
    );
    let left = store
        .audit_events(org_id, &AuditFilter::default(), PageRequest::default())
        .await
        .unwrap();
    assert_eq!(left.items.len(), 1, "this year's event stays");
    // Asked to delete younger ones, the database itself refuses.
    let refused = store.prune_audit_events(now + Duration::days(1), 100).await;
    assert!(
        refused.unwrap_err().to_string().contains("append-only"),
        "a young event of a live organization is never deleted"
    );
}

async fn deleting_an_account_keeps_what_it_made_for_its_organization(test: &TestStore) {
    let store = &*test.store;
    let (org_id, owner) = org(store, "Stays").await;
    let leaver = user(store, "leaver@example.com").await;
    store
        .add_member(org_id, leaver.id, Role::Member)
        .await
        .unwrap();
    let (flow, _) = store
        .create_workflow(NewWorkflow {
            org_id,
            key: "wf_theirs".into(),
            name: "Theirs".into(),
            definition: json!({"id": "wf_theirs", "name": "Theirs", "steps": []}),
            created_by: Some(leaver.id),
        })
        .await
        .unwrap();
    store.delete_user(leaver.id).await.unwrap();
    assert!(store.user(leaver.id).await.unwrap().is_none());
    assert!(store.membership(org_id, leaver.id).await.unwrap().is_none());
    let kept = store.workflow(org_id, flow.id).await.unwrap().unwrap();
    assert_eq!(kept.created_by, None, "the workflow stays, naming nobody");
    assert!(store.membership(org_id, owner.id).await.unwrap().is_some());
    assert!(matches!(
        store.delete_user(leaver.id).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(
        test.rows_holding(&[leaver.id.as_uuid()]).await.is_empty(),
        "no row names them: {:?}",
        test.rows_holding(&[leaver.id.as_uuid()]).await
    );
}

async fn every_save_is_a_new_immutable_version(test: &TestStore) {
    let store = &*test.store;
    let (org_id, owner) = org(store, "Acme").await;
    let (flow, first) = store
        .create_workflow(NewWorkflow {
            org_id,
            key: "wf_email_draft".into(),
            name: "Draft".into(),
            definition: json!({"id": "wf_email_draft", "steps": [{"id": "step_1"}]}),
            created_by: Some(owner.id),
        })
        .await
        .unwrap();
    assert_eq!((flow.current_version, first.version), (1, 1));
    assert!(!flow.active);
    let (updated, second) = store
        .save_version(NewVersion {
            org_id,
            workflow_id: flow.id,
            name: "Draft v2".into(),
            definition: json!({"id": "wf_email_draft", "steps": [{"id": "step_1"}, {"id": "step_2"}]}),
            created_by: Some(owner.id),
            base_version: None,
            note: Some("Added a second step".into()),
        })
        .await
        .unwrap();
    assert_eq!(second.note.as_deref(), Some("Added a second step"));
    assert_eq!(first.note, None);
    assert_eq!(
        (
            updated.current_version,
            second.version,
            updated.name.as_str()
        ),
        (2, 2, "Draft v2")
    );
    let old = store
        .workflow_version(org_id, flow.id, 1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        old.definition,
        json!({"id": "wf_email_draft", "steps": [{"id": "step_1"}]})
    );
    assert_eq!(old.created_by, Some(owner.id));
    let versions: Vec<i32> = store
        .list_versions(org_id, flow.id, PageRequest::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(|v| v.version)
        .collect();
    assert_eq!(versions, vec![2, 1]);
    let (paged, pages) = read_all(|page| store.list_versions(org_id, flow.id, page)).await;
    assert_eq!((paged.len(), pages), (2, 1));
    assert!(
        store
            .workflow_version(org_id, flow.id, 3)
            .await
            .unwrap()
            .is_none()
    );
}

async fn concurrent_saves_number_versions_one_after_another(test: &TestStore) {
    let (org_id, _) = org(&*test.store, "Busy").await;
    let flow = workflow(&*test.store, org_id, "wf_busy").await;
    let saves = (0..8).map(|index| {
        let store = test.store.clone();
        tokio::spawn(async move {
            store
                .save_version(NewVersion {
                    org_id,
                    workflow_id: flow.id,
                    name: format!("save {index}"),
                    definition: json!({"save": index}),
                    created_by: None,
                    base_version: None,
                    note: None,
                })
                .await
                .map(|(_, version)| version.version)
        })
    });
    let mut numbers = Vec::new();
    for save in saves.collect::<Vec<_>>() {
        numbers.push(save.await.unwrap().expect("save"));
    }
    numbers.sort();
    assert_eq!(numbers, (2..=9).collect::<Vec<_>>());
    assert_eq!(
        test.store
            .workflow(org_id, flow.id)
            .await
            .unwrap()
            .unwrap()
            .current_version,
        9
    );
}

async fn workflow_keys_are_unique_per_organization_until_deleted(test: &TestStore) {
    let store = &*test.store;
    let (first, _) = org(store, "First").await;
    let (second, _) = org(store, "Second").await;
    let flow = workflow(store, first, "wf_shared").await;
    workflow(store, second, "wf_shared").await;
    let taken = store
        .create_workflow(NewWorkflow {
            org_id: first,
            key: "wf_shared".into(),
            name: "Again".into(),
            definition: json!({}),
            created_by: None,
        })
        .await;
    match taken {
        Err(StoreError::Conflict(message)) => assert!(message.contains("wf_shared"), "{message}"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(
        store
            .workflow_by_key(first, "wf_shared")
            .await
            .unwrap()
            .unwrap()
            .id,
        flow.id
    );
    store.delete_workflow(first, flow.id).await.unwrap();
    assert!(store.workflow(first, flow.id).await.unwrap().is_none());
    assert!(
        store
            .workflow_by_key(first, "wf_shared")
            .await
            .unwrap()
            .is_none()
    );
    let reborn = workflow(store, first, "wf_shared").await;
    assert_ne!(reborn.id, flow.id);
    assert!(matches!(
        store.delete_workflow(first, flow.id).await,
        Err(StoreError::NotFound(_))
    ));
}

async fn workflows_of_another_organization_read_as_absent(test: &TestStore) {
    let store = &*test.store;
    let (mine, _) = org(store, "Mine").await;
    let (theirs, _) = org(store, "Theirs").await;
    let flow = workflow(store, theirs, "wf_private").await;
    let execution = store.create_execution(new_execution(&flow)).await.unwrap();
    assert!(store.workflow(mine, flow.id).await.unwrap().is_none());
    assert!(
        store
            .workflow_version(mine, flow.id, 1)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .list_versions(mine, flow.id, PageRequest::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert!(store.execution(mine, execution.id).await.unwrap().is_none());
    assert!(matches!(
        store.set_active(mine, flow.id, true).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.delete_workflow(mine, flow.id).await,
        Err(StoreError::NotFound(_))
    ));
    let saved = store
        .save_version(NewVersion {
            org_id: mine,
            workflow_id: flow.id,
            name: "hijack".into(),
            definition: json!({}),
            created_by: None,
            base_version: None,
            note: None,
        })
        .await;
    assert!(matches!(saved, Err(StoreError::NotFound(_))), "{saved:?}");
    assert!(
        store
            .set_active(theirs, flow.id, true)
            .await
            .unwrap()
            .active
    );
}

async fn workflow_lists_page_newest_first_without_repeats(test: &TestStore) {
    let store = &*test.store;
    let (org_id, _) = org(store, "Lister").await;
    let (other, _) = org(store, "Other").await;
    workflow(store, other, "wf_foreign").await;
    let mut created = Vec::new();
    for index in 0..5 {
        created.push(workflow(store, org_id, &format!("wf_{index}")).await.id);
    }
    let (listed, pages) = read_all(|page| store.list_workflows(org_id, page)).await;
    created.reverse();
    assert_eq!(listed.iter().map(|w| w.id).collect::<Vec<_>>(), created);
    assert_eq!(pages, 3);
}

async fn an_execution_and_its_job_are_created_together(test: &TestStore) {
    let store = &*test.store;
    let (org_id, _) = org(store, "Acme").await;
    let flow = workflow(store, org_id, "wf_job").await;
    let execution = new_execution(&flow);
    let (created, job) = store
        .create_execution_with_job(execution.clone(), job_for(&execution, Utc::now()))
        .await
        .unwrap();
    assert_eq!(created.state, ExecutionState::Pending);
    assert_eq!(created.input, json!({"email_id": "m-1"}));
    assert_eq!(job.execution_id, created.id);
    assert_eq!(
        store.execution(org_id, created.id).await.unwrap().unwrap(),
        created
    );

    // A trigger for a version that does not exist stores neither the execution nor its job.
    let mut broken = new_execution(&flow);
    broken.workflow_version = 42;
    let result = store
        .create_execution_with_job(broken.clone(), job_for(&broken, Utc::now()))
        .await;
    assert!(matches!(result, Err(StoreError::NotFound(_))), "{result:?}");
    assert!(store.execution(org_id, broken.id).await.unwrap().is_none());
    // One job waits, due since it was queued; a job not yet due is not waiting.
    let (waiting, oldest) = store.queue_depth(Utc::now()).await.unwrap();
    assert_eq!(waiting, 1);
    assert!(
        oldest.is_some_and(|at| (at - job.run_at).num_milliseconds().abs() < 5),
        "{oldest:?}"
    );
    assert_eq!(
        store
            .queue_depth(job.run_at - Duration::seconds(60))
            .await
            .unwrap(),
        (0, None)
    );
    let first = store
        .claim(&claim("w1", Utc::now()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.id, job.id);
    assert_eq!(
        store.queue_depth(Utc::now()).await.unwrap(),
        (0, None),
        "a held job is not waiting"
    );
    assert!(
        store
            .claim(&claim("w1", Utc::now()))
            .await
            .unwrap()
            .is_none()
    );

    let mismatched = new_execution(&flow);
    let result = store
        .create_execution_with_job(mismatched.clone(), job_for(&execution, Utc::now()))
        .await;
    assert!(matches!(result, Err(StoreError::Conflict(_))), "{result:?}");
    assert!(
        store
            .execution(org_id, mismatched.id)
            .await
            .unwrap()
            .is_none()
    );
}

async fn executions_move_only_along_allowed_transitions(test: &TestStore) {
    let store = &*test.store;
    let (org_id, _) = org(store, "Acme").await;
    let flow = workflow(store, org_id, "wf_states").await;
    let execution = store.create_execution(new_execution(&flow)).await.unwrap();
    let started = Utc::now();
    let running = store
        .transition(ExecutionUpdate::new(
            execution.id,
            ExecutionState::Pending,
            ExecutionState::Running,
            started,
        ))
        .await
        .unwrap();
    assert_eq!(running.state, ExecutionState::Running);
    assert!(running.started_at.is_some() && running.finished_at.is_none());

    let refused = store
        .transition(ExecutionUpdate::new(
            execution.id,
            ExecutionState::Running,
            ExecutionState::Pending,
            started,
        ))
        .await;
    assert!(
        matches!(refused, Err(StoreError::Transition(_))),
        "{refused:?}"
    );

    let mut done = ExecutionUpdate::new(
        execution.id,
        ExecutionState::Running,
        ExecutionState::Completed,
        Utc::now(),
    );
    done.output = Some(json!({"draft": "Thanks!"}));
    let completed = store.transition(done).await.unwrap();
    assert_eq!(completed.state, ExecutionState::Completed);
    assert_eq!(completed.output, Some(json!({"draft": "Thanks!"})));
    assert_eq!(
        completed.started_at, running.started_at,
        "the start time is kept"
    );
    assert!(completed.finished_at.unwrap() >= completed.started_at.unwrap());
}

async fn a_stale_transition_is_refused(test: &TestStore) {
    let store = &*test.store;
    let (org_id, _) = org(store, "Acme").await;
    let flow = workflow(store, org_id, "wf_race").await;
    let execution = store.create_execution(new_execution(&flow)).await.unwrap();
    let start = ExecutionUpdate::new(
        execution.id,
        ExecutionState::Pending,
        ExecutionState::Running,
        Utc::now(),
    );
    store.transition(start.clone()).await.unwrap();
    let second = store.transition(start).await;
    assert!(matches!(second, Err(StoreError::Conflict(_))), "{second:?}");
    let cancel = ExecutionUpdate::new(
        execution.id,
        ExecutionState::Pending,
        ExecutionState::Cancelled,
        Utc::now(),
    );
    assert!(matches!(
        store.transition(cancel).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store
            .execution(org_id, execution.id)
            .await
            .unwrap()
            .unwrap()
            .state,
        ExecutionState::Running
    );
}

/// Now, to the microsecond: the precision both backends store.
fn now_micros() -> chrono::DateTime<Utc> {
    use chrono::SubsecRound;
    Utc::now().trunc_subsecs(6)
}

fn step(execution: ExecutionId, key: &str, state: StepState, tokens: i64, micros: i64) -> StepRun {
    StepRun {
        execution_id: execution,
        step_key: key.into(),
        state,
        input: Some(json!({"prompt": key})),
        output: None,
        error: None,
        attempts: 1,
        idempotency_key: format!("{execution}:{key}"),
        usage: TokenUsage {
            input_tokens: tokens,
            output_tokens: tokens / 2,
        },
        cost: Usd::from_micros(micros),
        started_at: Some(now_micros()),
        finished_at: None,
    }
}

async fn data_keys_are_made_once_and_rewrapped_only_from_their_master(test: &TestStore) {
    use baton_store::WrappedKey;
    let store = &*test.store;
    let (org_id, _) = org(store, "Acme").await;
    assert!(store.data_key(org_id).await.unwrap().is_none());
    let first = WrappedKey {
        id: "dk_1".into(),
        master_key_id: "mk_old".into(),
        wrapped: vec![1, 2, 3],
    };
    let second = WrappedKey {
        id: "dk_2".into(),
        ..first.clone()
    };
    assert_eq!(
        store.add_data_key(org_id, first.clone()).await.unwrap(),
        first
    );
    assert_eq!(
        store.add_data_key(org_id, second).await.unwrap(),
        first,
        "the first stored stays"
    );
    assert!(matches!(
        store.add_data_key(OrgId::new(), first.clone()).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(store.data_keys_not_wrapped_by("mk_old").await.unwrap(), []);
    assert_eq!(
        store.data_keys_not_wrapped_by("mk_new").await.unwrap(),
        [(org_id, first.clone())]
    );
    let rewrapped = WrappedKey {
        master_key_id: "mk_new".into(),
        wrapped: vec![9, 9],
        ..first.clone()
    };
    assert!(
        !store
            .rewrap_data_key(org_id, "mk_other", rewrapped.clone())
            .await
            .unwrap(),
        "only from the master that wraps it"
    );
    assert!(
        store
            .rewrap_data_key(org_id, "mk_old", rewrapped.clone())
            .await
            .unwrap()
    );
    assert_eq!(store.data_key(org_id).await.unwrap(), Some(rewrapped));
}

async fn sealed_secrets_open_only_in_their_organization_and_outlive_a_rotation(test: &TestStore) {
    use baton_store::vault::{MasterKey, MasterKeys, Vault, VaultError};
    let keys: std::sync::Arc<dyn baton_store::KeyStore> = test.store.clone();
    let (acme, _) = org(&*test.store, "Acme").await;
    let (other, _) = org(&*test.store, "Other").await;
    let old = MasterKey::generate();
    let vault = Vault::new(keys.clone(), MasterKeys::new(old.clone(), vec![]));
    let secret = br#"{"api_key": "sk-live-0123456789abcdef"}"#;
    let sealed = vault.seal(acme, secret).await.unwrap();
    assert!(
        !sealed
            .ciphertext
            .windows(8)
            .any(|window| window == b"sk-live-"),
        "sealed means not readable"
    );
    assert_eq!(vault.open(acme, &sealed).await.unwrap(), secret);
    assert!(matches!(
        vault.open(other, &sealed).await,
        Err(VaultError::Tampered)
    ));
    let mut changed = sealed.clone();
    let last = changed.ciphertext.len() - 1;
    changed.ciphertext[last] ^= 1;
    assert!(matches!(
        vault.open(acme, &changed).await,
        Err(VaultError::Tampered)
    ));

    // A new master key: the data keys are rewrapped, the sealed values stay as they are.
    let new = MasterKey::generate();
    let rotating = Vault::new(
        keys.clone(),
        MasterKeys::new(new.clone(), vec![old.clone()]),
    );
    assert_eq!(
        rotating.rewrap().await.unwrap(),
        2,
        "both organizations' data keys"
    );
    assert_eq!(rotating.rewrap().await.unwrap(), 0);
    let after = Vault::new(keys.clone(), MasterKeys::new(new, vec![]));
    assert_eq!(after.open(acme, &sealed).await.unwrap(), secret);
    let text = after.seal_text(acme, "whsec-4d2c").await.unwrap();
    assert!(text.starts_with("sealed:v1:") && !text.contains("whsec-4d2c"));
    assert_eq!(after.open_text(acme, &text).await.unwrap(), "whsec-4d2c");
    assert_eq!(
        after
            .open_text(acme, "stored-before-sealing")
            .await
            .unwrap(),
        "stored-before-sealing",
        "older plain values still read"
    );
    assert!(matches!(
        after.open_text(other, &text).await,
        Err(VaultError::Tampered)
    ));
    let forgotten = Vault::new(keys, MasterKeys::new(old, vec![]));
    assert!(matches!(
        forgotten.open(acme, &sealed).await,
        Err(VaultError::UnknownMasterKey(_))
    ));
}

async fn a_finished_execution_is_recorded_whole(test: &TestStore) {
    let store = &*test.store;
    let (org_id, _) = org(store, "Acme").await;
    let flow = workflow(store, org_id, "wf_inline").await;
    let new = new_execution(&flow);
    let started = now_micros();
    let mut first = step(new.id, "shape", StepState::Completed, 10, 500);
    first.output = Some(json!({"greeting": "hello"}));
    first.finished_at = Some(now_micros());
    let mut second = step(new.id, "label", StepState::Completed, 4, 250);
    second.output = Some(json!({"text": "done"}));
    second.finished_at = Some(now_micros());
    let execution = Execution {
        id: new.id,
        org_id,
        workflow_id: flow.id,
        workflow_version: flow.current_version,
        state: ExecutionState::Completed,
        trigger: TriggerKind::Webhook,
        run_as: None,
        input: new.input.clone(),
        output: Some(json!({"text": "done"})),
        error: None,
        usage: TokenUsage {
            input_tokens: 14,
            output_tokens: 7,
        },
        cost: Usd::from_micros(750),
        created_at: started,
        started_at: Some(started),
        finished_at: Some(now_micros()),
    };
    let mut running = execution.clone();
    running.id = ExecutionId::new();
    running.state = ExecutionState::Running;
    assert!(
        matches!(
            store.record_finished_execution(&running, &[]).await,
            Err(StoreError::Conflict(_))
        ),
        "only a finished execution is recorded whole"
    );
    assert!(
        matches!(
            store
                .record_finished_execution(
                    &execution,
                    &[step(running.id, "x", StepState::Completed, 0, 0)]
                )
                .await,
            Err(StoreError::Conflict(_))
        ),
        "another execution's step is refused"
    );
    store
        .record_finished_execution(&execution, &[first.clone(), second.clone()])
        .await
        .unwrap();
    assert_eq!(
        store.execution(org_id, execution.id).await.unwrap(),
        Some(execution.clone())
    );
    assert_eq!(
        store.step_runs(execution.id).await.unwrap(),
        [first.clone(), second],
        "the steps, in their order"
    );
    assert!(
        matches!(
            store.record_finished_execution(&execution, &[first]).await,
            Err(StoreError::Conflict(_))
        ),
        "recorded once"
    );
    let listed = store
        .list_executions(
            org_id,
            &ExecutionFilter {
                workflow_id: Some(flow.id),
                state: Some(ExecutionState::Completed),
            },
            PageRequest::first(10),
        )
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1);
}

async fn the_ai_budget_is_kept_and_the_months_spend_is_summed(test: &TestStore) {
    let store = &*test.store;
    let (org_id, _) = org(store, "Acme").await;
    let (other, _) = org(store, "Other").await;
    assert_eq!(
        store
            .organization(org_id)
            .await
            .unwrap()
            .unwrap()
            .ai_monthly_budget_usd,
        None
    );
    let set = store
        .set_ai_budget(org_id, Some(Usd::from_micros(25_000_000)))
        .await
        .unwrap();
    assert_eq!(
        set.ai_monthly_budget_usd,
        Some(Usd::from_micros(25_000_000))
    );
    assert_eq!(
        store
            .organization(org_id)
            .await
            .unwrap()
            .unwrap()
            .ai_monthly_budget_usd,
        Some(Usd::from_micros(25_000_000))
    );
    assert_eq!(
        store
            .set_ai_budget(org_id, None)
            .await
            .unwrap()
            .ai_monthly_budget_usd,
        None
    );
    for (owner, micros, days_ago) in [
        (org_id, 1_250, 0),
        (org_id, 750, 1),
        (org_id, 9_000, 40),
        (other, 5_000, 0),
    ] {
        let flow = workflow(store, owner, &format!("wf_spend_{micros}")).await;
        let execution = store.create_execution(new_execution(&flow)).await.unwrap();
        let mut run = step(execution.id, "ask", StepState::Completed, 10, micros);
        run.started_at = Some(now_micros() - Duration::days(days_ago));
        store.save_step_run(&run, None).await.unwrap();
    }
    let since = Utc::now() - Duration::days(30);
    assert_eq!(
        store.ai_spend_since(org_id, since).await.unwrap(),
        Usd::from_micros(2_000)
    );
    // Calls outside a run (a drafted workflow, the gateway's) count too, and by key.
    let key = store
        .create_api_key(NewApiKey {
            org_id,
            name: "Shop app".into(),
            role: Role::Member,
            key_hash: b"spend-key".to_vec(),
            prefix: "baton_sp".into(),
            created_by: None,
        })
        .await
        .unwrap();
    for (source, api_key_id, micros) in [
        ("draft", None, 300),
        ("gateway", Some(key.id), 400),
        ("gateway", Some(key.id), 100),
    ] {
        store
            .record_ai_call(&baton_core::price::AiCall {
                org_id,
                source: source.into(),
                api_key_id,
                provider: "openai".into(),
                model: "gpt-4o-mini".into(),
                usage: baton_core::execution::TokenUsage {
                    input_tokens: 10,
                    output_tokens: 5,
                },
                cost: Usd::from_micros(micros),
            })
            .await
            .unwrap();
    }
    assert_eq!(
        store.ai_spend_since(org_id, since).await.unwrap(),
        Usd::from_micros(2_800)
    );
    assert_eq!(
        store.ai_usage_by_key(org_id, since).await.unwrap(),
        vec![baton_core::price::KeyUsage {
            api_key_id: key.id,
            requests: 2,
            usage: baton_core::execution::TokenUsage {
                input_tokens: 20,
                output_tokens: 10
            },
            cost: Usd::from_micros(500),
        }]
    );
    assert!(
        store
            .ai_usage_by_key(other, since)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.ai_spend_since(other, since).await.unwrap(),
        Usd::from_micros(5_000)
    );
}

async fn finished_executions_past_their_organizations_retention_are_deleted_in_batches(
    test: &TestStore,
) {
    let store = &*test.store;
    let (default_org, _) = org(store, "Keeps 30 days").await;
    let (short_org, _) = org(store, "Keeps a week").await;
    let changed = store.set_retention(short_org, Some(7)).await.unwrap();
    assert_eq!(changed.retention_days, Some(7));
    assert_eq!(
        store
            .organization(default_org)
            .await
            .unwrap()
            .unwrap()
            .retention_days,
        None
    );
    // Swept five days into a month: a month's own runs are kept until it is over (the
    // month's AI spend is summed from them), so this sweep may reach back past its first day.
    let next_month = (now_micros() + Duration::days(32)).with_day(1).unwrap();
    let now = next_month
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc()
        + Duration::days(5);
    // (organization, days before the sweep it ended or None while it still runs, whether it stays)
    let cases = [
        (default_org, Some(40), false),
        (default_org, Some(10), true),
        (default_org, None, true),
        (short_org, Some(10), false),
        (short_org, Some(3), true),
    ];
    let mut made = Vec::new();
    for (index, (owner, ended, _)) in cases.iter().enumerate() {
        let flow = workflow(store, *owner, &format!("wf_kept_{index}")).await;
        let execution = store.create_execution(new_execution(&flow)).await.unwrap();
        let at = now - Duration::days(ended.unwrap_or(60));
        store
            .transition(ExecutionUpdate::new(
                execution.id,
                ExecutionState::Pending,
                ExecutionState::Running,
                at,
            ))
            .await
            .unwrap();
        store
            .save_step_run(
                &step(execution.id, "ask", StepState::Completed, 10, 5),
                None,
            )
            .await
            .unwrap();
        if ended.is_some() {
            store
                .transition(ExecutionUpdate::new(
                    execution.id,
                    ExecutionState::Running,
                    ExecutionState::Completed,
                    at,
                ))
                .await
                .unwrap();
        }
        made.push(execution.id);
    }
    // Model calls outside runs (drafts, the gateway) go by the same rule.
    let ever = now - Duration::days(400);
    let steps = store
        .ai_spend_since(default_org, ever)
        .await
        .unwrap()
        .micros();
    for (days, micros) in [(40, 1_000_000), (10, 2_000_000)] {
        let at = now - Duration::days(days);
        let id = uuid::Uuid::now_v7();
        let org = default_org.as_uuid();
        test.raw_sql(
            &format!(
                "INSERT INTO ai_calls (id, org_id, source, provider, model, input_tokens, output_tokens, cost_micros, created_at) \
                 VALUES (X'{}', X'{}', 'gateway', 'openai', 'gpt-4o-mini', 10, 5, {micros}, '{}')",
                id.simple(),
                org.simple(),
                at.format("%Y-%m-%dT%H:%M:%S%.6f+00:00")
            ),
            &format!(
                "INSERT INTO ai_calls (id, org_id, source, provider, model, input_tokens, output_tokens, cost_micros, created_at) \
                 VALUES ('{id}', '{org}', 'gateway', 'openai', 'gpt-4o-mini', 10, 5, {micros}, '{}')",
                at.to_rfc3339()
            ),
        )
        .await
        .unwrap();
    }
    assert_eq!(
        store
            .ai_spend_since(default_org, ever)
            .await
            .unwrap()
            .micros(),
        steps + 3_000_000
    );
    assert_eq!(store.prune_ai_calls(now, 100).await.unwrap(), 1);
    assert_eq!(
        store
            .ai_spend_since(default_org, ever)
            .await
            .unwrap()
            .micros(),
        steps + 2_000_000,
        "the call within the retention stays"
    );
    // One at a time: a batch never takes more than its limit.
    assert_eq!(store.prune_executions(now, 1).await.unwrap(), 1);
    assert_eq!(store.prune_executions(now, 100).await.unwrap(), 1);
    assert_eq!(store.prune_executions(now, 100).await.unwrap(), 0);
    for (id, (owner, _, stays)) in made.iter().zip(cases) {
        assert_eq!(
            store.execution(owner, *id).await.unwrap().is_some(),
            stays,
            "{id}"
        );
        assert_eq!(
            !store.step_runs(*id).await.unwrap().is_empty(),
            stays,
            "its steps go with it"
        );
    }
}

async fn step_checkpoints_replace_and_total_up(test: &TestStore) {
    let store = &*test.store;
    let (org_id, _) = org(store, "Acme").await;
    let flow = workflow(store, org_id, "wf_steps").await;
    let execution = store.create_execution(new_execution(&flow)).await.unwrap();
    store
        .transition(ExecutionUpdate::new(
            execution.id,
            ExecutionState::Pending,
            ExecutionState::Running,
            Utc::now(),
        ))
        .await
        .unwrap();
    for key in ["step_1", "step_2", "step_3"] {
        store
            .save_step_run(&step(execution.id, key, StepState::Running, 0, 0), None)
            .await
            .unwrap();
    }
    let mut finished = step(execution.id, "step_2", StepState::Completed, 100, 1_250);
    finished.output = Some(json!({"response": "Hello"}));
    finished.attempts = 3;
    finished.finished_at = Some(now_micros());
    store.save_step_run(&finished, None).await.unwrap();
    store
        .save_step_run(
            &step(execution.id, "step_3", StepState::Failed, 40, 250),
            None,
        )
        .await
        .unwrap();

    let runs = store.step_runs(execution.id).await.unwrap();
    let keys: Vec<&str> = runs.iter().map(|run| run.step_key.as_str()).collect();
    assert_eq!(
        keys,
        vec!["step_1", "step_2", "step_3"],
        "order of first checkpoint is kept"
    );
    assert_eq!(runs[1], finished);

    let mut failed = ExecutionUpdate::new(
        execution.id,
        ExecutionState::Running,
        ExecutionState::Failed,
        Utc::now(),
    );
    failed.error = Some(json!({"step": "step_3", "message": "boom"}));
    let failed = store.transition(failed).await.unwrap();
    assert_eq!(
        failed.usage,
        TokenUsage {
            input_tokens: 140,
            output_tokens: 70
        }
    );
    assert_eq!(failed.cost, Usd::from_micros(1_500));
    assert_eq!(
        failed.error,
        Some(json!({"step": "step_3", "message": "boom"}))
    );

    let orphan = store
        .save_step_run(
            &step(ExecutionId::new(), "step_1", StepState::Running, 0, 0),
            None,
        )
        .await;
    assert!(matches!(orphan, Err(StoreError::NotFound(_))), "{orphan:?}");
}

async fn executions_filter_by_workflow_and_state(test: &TestStore) {
    let store = &*test.store;
    let (org_id, _) = org(store, "Acme").await;
    let first = workflow(store, org_id, "wf_first").await;
    let second = workflow(store, org_id, "wf_second").await;
    let mut first_ids = Vec::new();
    for _ in 0..3 {
        first_ids.push(
            store
                .create_execution(new_execution(&first))
                .await
                .unwrap()
                .id,
        );
    }
    let other = store
        .create_execution(new_execution(&second))
        .await
        .unwrap();
    store
        .transition(ExecutionUpdate::new(
            other.id,
            ExecutionState::Pending,
            ExecutionState::Running,
            Utc::now(),
        ))
        .await
        .unwrap();

    let by_workflow = ExecutionFilter {
        workflow_id: Some(first.id),
        state: None,
    };
    let (listed, _) = read_all(|page| store.list_executions(org_id, &by_workflow, page)).await;
    first_ids.reverse();
    assert_eq!(listed.iter().map(|e| e.id).collect::<Vec<_>>(), first_ids);

    let running = ExecutionFilter {
        workflow_id: None,
        state: Some(ExecutionState::Running),
    };
    let page = store
        .list_executions(org_id, &running, PageRequest::default())
        .await
        .unwrap();
    assert_eq!(
        page.items.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![other.id]
    );
    let all = store
        .list_executions(org_id, &ExecutionFilter::default(), PageRequest::default())
        .await
        .unwrap();
    assert_eq!(all.items.len(), 4);
}

async fn workflow_activity_counts_recent_runs_and_names_the_latest(test: &TestStore) {
    let store = &*test.store;
    let (org_id, _) = org(store, "Acme").await;
    let (other_org, _) = org(store, "Elsewhere").await;
    let busy = workflow(store, org_id, "wf_busy").await;
    let idle = workflow(store, org_id, "wf_idle").await;
    let foreign = workflow(store, other_org, "wf_busy").await;
    let finish = |id: ExecutionId, end: ExecutionState| async move {
        for (from, to) in [
            (ExecutionState::Pending, ExecutionState::Running),
            (ExecutionState::Running, end),
        ] {
            store
                .transition(ExecutionUpdate::new(id, from, to, Utc::now()))
                .await
                .unwrap();
        }
    };
    let done = store.create_execution(new_execution(&busy)).await.unwrap();
    finish(done.id, ExecutionState::Completed).await;
    let failed = store.create_execution(new_execution(&busy)).await.unwrap();
    finish(failed.id, ExecutionState::Failed).await;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let latest = store.create_execution(new_execution(&busy)).await.unwrap();
    store
        .create_execution(new_execution(&foreign))
        .await
        .unwrap();

    let activity = store
        .workflow_activity(org_id, Utc::now() - Duration::days(7))
        .await
        .unwrap();
    assert_eq!(
        activity.len(),
        1,
        "only the workflow that ran: {activity:?}"
    );
    let busy_activity = &activity[0];
    assert_eq!(busy_activity.workflow_id, busy.id);
    assert_eq!(
        (
            busy_activity.runs,
            busy_activity.completed,
            busy_activity.failed
        ),
        (3, 1, 1)
    );
    assert_eq!(busy_activity.last_state, ExecutionState::Pending);
    assert_eq!(busy_activity.last_run_at, latest.created_at);
    assert!(activity.iter().all(|a| a.workflow_id != idle.id));

    let later = store
        .workflow_activity(org_id, Utc::now() + Duration::days(1))
        .await
        .unwrap();
    assert_eq!((later[0].runs, later[0].completed), (0, 0));
    assert_eq!(
        later[0].last_state,
        ExecutionState::Pending,
        "the latest run is named whatever the window"
    );
}

async fn jobs_are_claimed_when_due_in_order(test: &TestStore) {
    let store = &*test.store;
    let (org_id, _) = org(store, "Acme").await;
    let flow = workflow(store, org_id, "wf_jobs").await;
    let now = Utc::now();
    let mut jobs = Vec::new();
    for offset in [20, 10, 3600] {
        let execution = store.create_execution(new_execution(&flow)).await.unwrap();
        let mut job = NewJob {
            org_id,
            execution_id: execution.id,
            kind: "run".into(),
            payload: json!({"offset": offset}),
            run_at: now - Duration::seconds(3600) + Duration::seconds(offset),
            workflow_id: flow.id,
            workflow_limit: None,
        };
        if offset == 3600 {
            job.run_at = now + Duration::seconds(60);
        }
        jobs.push(store.enqueue(job).await.unwrap());
    }
    let first = store.claim(&claim("worker-a", now)).await.unwrap().unwrap();
    assert_eq!(first.id, jobs[1].id, "the earliest due job comes first");
    assert_eq!(first.attempts, 1);
    assert_eq!(first.lease_owner.as_deref(), Some("worker-a"));
    let second = store.claim(&claim("worker-a", now)).await.unwrap().unwrap();
    assert_eq!(second.id, jobs[0].id);
    assert!(
        store
            .claim(&claim("worker-a", now))
            .await
            .unwrap()
            .is_none(),
        "the last job is not due"
    );
    assert!(store.complete(first.id, "worker-a").await.unwrap());
    assert!(
        !store.complete(first.id, "worker-a").await.unwrap(),
        "a completed job is gone"
    );
    assert!(store.complete(second.id, "worker-a").await.unwrap());
    let later = store
        .claim(&claim("worker-b", now + Duration::seconds(61)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(later.id, jobs[2].id);
    assert_eq!(later.payload, json!({"offset": 3600}));
}

/// Queues an execution of `flow` whose job carries `limit`, due `seconds` ago.
async fn limited_job(
    store: &dyn Store,
    flow: &Workflow,
    limit: Option<u32>,
    seconds: i64,
) -> baton_core::job::Job {
    let execution = new_execution(flow);
    let mut job = job_for(&execution, Utc::now() - Duration::seconds(seconds));
    job.workflow_limit = limit;
    store
        .create_execution_with_job(execution, job)
        .await
        .unwrap()
        .1
}

async fn a_workflow_limit_holds_its_further_jobs_back(test: &TestStore) {
    let store = &*test.store;
    let (org_id, _) = org(store, "Acme").await;
    let serial = workflow(store, org_id, "wf_serial").await;
    let free = workflow(store, org_id, "wf_free").await;
    let first = limited_job(store, &serial, Some(1), 30).await;
    let second = limited_job(store, &serial, Some(1), 20).await;
    let other = limited_job(store, &free, None, 10).await;
    let now = Utc::now();
    let claimed = store.claim(&claim("w", now)).await.unwrap().unwrap();
    assert_eq!(claimed.id, first.id);
    assert_eq!(claimed.workflow_limit, Some(1));
    assert_eq!(claimed.workflow_id, Some(serial.id));
    let next = store.claim(&claim("w", now)).await.unwrap().unwrap();
    assert_eq!(
        next.id, other.id,
        "the limited workflow's next job waits; others go on"
    );
    assert!(
        store.claim(&claim("w", now)).await.unwrap().is_none(),
        "one at a time"
    );
    assert!(store.complete(first.id, "w").await.unwrap());
    let then = store.claim(&claim("w", now)).await.unwrap().unwrap();
    assert_eq!(then.id, second.id, "its turn once the first is done");
}

async fn claimers_at_once_keep_to_a_workflow_limit(test: &TestStore) {
    let store = &*test.store;
    let (org_id, _) = org(store, "Acme").await;
    let flow = workflow(store, org_id, "wf_two").await;
    for n in 0..10 {
        limited_job(store, &flow, Some(2), 100 - n).await;
    }
    let now = Utc::now();
    let claims = (0..8).map(|n| {
        let store = test.store.clone();
        tokio::spawn(async move { store.claim(&claim(&format!("w{n}"), now)).await.unwrap() })
    });
    let mut claimed = 0;
    for handle in claims {
        if handle.await.unwrap().is_some() {
            claimed += 1;
        }
    }
    assert_eq!(
        claimed, 2,
        "eight claimers at once take two jobs of a workflow limited to two"
    );
}

async fn a_lapsed_lease_passes_the_job_to_another_worker(test: &TestStore) {
    let store = &*test.store;
    let (org_id, _) = org(store, "Acme").await;
    let flow = workflow(store, org_id, "wf_lease").await;
    let execution = store.create_execution(new_execution(&flow)).await.unwrap();
    let now = Utc::now();
    let job = run_job(store, &flow, execution.id, now).await;
    let first = store.claim(&claim("worker-a", now)).await.unwrap().unwrap();
    assert!(!first.taken_over, "nobody held it before");
    assert!(
        store
            .claim(&claim("worker-b", now + Duration::seconds(10)))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .renew(job.id, "worker-a", now + Duration::seconds(60))
            .await
            .unwrap()
    );
    assert!(
        store
            .claim(&claim("worker-b", now + Duration::seconds(45)))
            .await
            .unwrap()
            .is_none()
    );
    let taken = store
        .claim(&claim("worker-b", now + Duration::seconds(61)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((taken.id, taken.attempts), (job.id, 2));
    assert!(taken.taken_over, "taken from a worker whose lease ran out");
    assert!(
        !store
            .renew(job.id, "worker-a", now + Duration::seconds(120))
            .await
            .unwrap()
    );
    assert!(
        !store.complete(job.id, "worker-a").await.unwrap(),
        "the old worker lost the job"
    );
    assert!(store.complete(job.id, "worker-b").await.unwrap());
}

/// A worker paused past its lease comes back after another worker claimed the job: its
/// checkpoints and state changes, fenced by its claim, are refused and leave the new holder's
/// writes as they are.
async fn writes_under_a_lease_taken_over_are_refused(test: &TestStore) {
    let store = &*test.store;
    let (org_id, _) = org(store, "Acme").await;
    let flow = workflow(store, org_id, "wf_fence").await;
    let execution = store.create_execution(new_execution(&flow)).await.unwrap();
    let now = Utc::now();
    run_job(store, &flow, execution.id, now).await;
    let first = store.claim(&claim("worker-a", now)).await.unwrap().unwrap();
    let old = Fence {
        job: first.id,
        generation: first.attempts,
    };
    let mut start = ExecutionUpdate::new(
        execution.id,
        ExecutionState::Pending,
        ExecutionState::Running,
        now,
    );
    start.fence = Some(old);
    store.transition(start).await.unwrap();
    store
        .save_step_run(
            &step(execution.id, "step_1", StepState::Running, 0, 0),
            Some(old),
        )
        .await
        .unwrap();

    let second = store
        .claim(&claim("worker-b", now + Duration::seconds(61)))
        .await
        .unwrap()
        .unwrap();
    let new = Fence {
        job: second.id,
        generation: second.attempts,
    };
    store
        .save_step_run(
            &step(execution.id, "step_1", StepState::Completed, 0, 0),
            Some(new),
        )
        .await
        .unwrap();

    let late = store
        .save_step_run(
            &step(execution.id, "step_1", StepState::Failed, 0, 0),
            Some(old),
        )
        .await;
    assert!(
        matches!(late, Err(StoreError::LeaseLost(job)) if job == first.id),
        "{late:?}"
    );
    let mut finish = ExecutionUpdate::new(
        execution.id,
        ExecutionState::Running,
        ExecutionState::Failed,
        Utc::now(),
    );
    finish.fence = Some(old);
    let late = store.transition(finish.clone()).await;
    assert!(matches!(late, Err(StoreError::LeaseLost(_))), "{late:?}");

    let runs = store.step_runs(execution.id).await.unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(
        runs[0].state,
        StepState::Completed,
        "the new holder's checkpoint stands"
    );
    let stored = store
        .execution(org_id, execution.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.state, ExecutionState::Running);

    finish.fence = Some(new);
    finish.to = ExecutionState::Completed;
    assert_eq!(
        store.transition(finish).await.unwrap().state,
        ExecutionState::Completed
    );
    assert!(store.complete(second.id, "worker-b").await.unwrap());
    let after = store
        .save_step_run(
            &step(execution.id, "step_1", StepState::Failed, 0, 0),
            Some(new),
        )
        .await;
    assert!(
        matches!(after, Err(StoreError::LeaseLost(_))),
        "a finished job fences every write: {after:?}"
    );
}

async fn open_circuits_are_shared_until_their_time_or_closing(test: &TestStore) {
    let store = &*test.store;
    let (org_id, _) = org(store, "Acme").await;
    let now = now_micros();
    store
        .open_circuit(org_id, "hubspot", now + Duration::seconds(30))
        .await
        .unwrap();
    store
        .open_circuit(org_id, "hubspot", now + Duration::seconds(10))
        .await
        .unwrap();
    store
        .open_circuit(org_id, "slack", now + Duration::seconds(5))
        .await
        .unwrap();
    let mut open = store.open_circuits(now).await.unwrap();
    open.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(
        open,
        vec![
            (org_id, "hubspot".to_owned(), now + Duration::seconds(30)),
            (org_id, "slack".to_owned(), now + Duration::seconds(5)),
        ],
        "the later time stands"
    );
    let later = store
        .open_circuits(now + Duration::seconds(6))
        .await
        .unwrap();
    assert_eq!(later.len(), 1, "slack's time has come: {later:?}");
    store.close_circuit(org_id, "hubspot").await.unwrap();
    assert!(
        store
            .open_circuits(now)
            .await
            .unwrap()
            .iter()
            .all(|(_, service, _)| service != "hubspot")
    );
}

async fn concurrent_claims_never_share_a_job(test: &TestStore) {
    let (org_id, _) = org(&*test.store, "Acme").await;
    let flow = workflow(&*test.store, org_id, "wf_race").await;
    let now = Utc::now();
    let mut expected = HashSet::new();
    for _ in 0..20 {
        let execution = new_execution(&flow);
        let (_, job) = test
            .store
            .create_execution_with_job(execution.clone(), job_for(&execution, now))
            .await
            .unwrap();
        expected.insert(job.id);
    }
    let workers = (0..4).map(|index| {
        let store = test.store.clone();
        tokio::spawn(async move {
            let worker = format!("worker-{index}");
            let mut claimed = Vec::new();
            while let Some(job) = store.claim(&claim(&worker, now)).await.expect("claim") {
                claimed.push(job.id);
            }
            claimed
        })
    });
    let mut all = Vec::new();
    for worker in workers.collect::<Vec<_>>() {
        all.extend(worker.await.unwrap());
    }
    assert_eq!(all.len(), 20, "every job claimed exactly once");
    assert_eq!(all.into_iter().collect::<HashSet<_>>(), expected);
}

async fn released_jobs_wait_until_their_new_time(test: &TestStore) {
    let store = &*test.store;
    let (org_id, _) = org(store, "Acme").await;
    let flow = workflow(store, org_id, "wf_release").await;
    let execution = new_execution(&flow);
    let now = Utc::now();
    let (_, job) = store
        .create_execution_with_job(execution.clone(), job_for(&execution, now))
        .await
        .unwrap();
    store.claim(&claim("worker-a", now)).await.unwrap().unwrap();
    assert!(
        !store.release(job.id, "worker-b", now).await.unwrap(),
        "only the holder may release"
    );
    assert!(
        store
            .release(job.id, "worker-a", now + Duration::seconds(8))
            .await
            .unwrap()
    );
    assert!(
        store
            .claim(&claim("worker-b", now + Duration::seconds(7)))
            .await
            .unwrap()
            .is_none()
    );
    let again = store
        .claim(&claim("worker-b", now + Duration::seconds(8)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((again.id, again.attempts), (job.id, 2));
    assert!(!again.taken_over, "a job given back is no takeover");
}

async fn credentials_keep_only_sealed_secrets(test: &TestStore) {
    let store = &*test.store;
    let (org_id, owner) = org(store, "Acme").await;
    let (other, _) = org(store, "Other").await;
    let sealed = SealedSecret {
        key_id: "org-key-1".into(),
        ciphertext: vec![0, 159, 146, 150, 255],
    };
    let credential = store
        .create_credential(NewCredential {
            org_id,
            service: "gmail".into(),
            name: "Support inbox".into(),
            secret: sealed.clone(),
            created_by: Some(owner.id),
        })
        .await
        .unwrap();
    assert_eq!(
        (credential.service.as_str(), credential.name.as_str()),
        ("gmail", "Support inbox")
    );
    assert_eq!(
        store.sealed_secret(org_id, credential.id).await.unwrap(),
        Some(sealed)
    );
    assert!(
        store
            .sealed_secret(other, credential.id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .credential(other, credential.id)
            .await
            .unwrap()
            .is_none()
    );

    let resealed = SealedSecret {
        key_id: "org-key-2".into(),
        ciphertext: vec![7; 64],
    };
    store
        .update_secret(org_id, credential.id, resealed.clone())
        .await
        .unwrap();
    assert_eq!(
        store.sealed_secret(org_id, credential.id).await.unwrap(),
        Some(resealed.clone())
    );
    assert!(matches!(
        store
            .update_secret(other, credential.id, resealed.clone())
            .await,
        Err(StoreError::NotFound(_))
    ));

    // A revoked grant marks the credential until its secret is replaced.
    store
        .needs_reconnect(
            org_id,
            credential.id,
            "invalid_grant: Token has been revoked",
        )
        .await
        .unwrap();
    let marked = store
        .credential(org_id, credential.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        marked.reconnect_reason.as_deref(),
        Some("invalid_grant: Token has been revoked")
    );
    assert!(matches!(
        store.needs_reconnect(other, credential.id, "x").await,
        Err(StoreError::NotFound(_))
    ));
    store
        .update_secret(org_id, credential.id, resealed)
        .await
        .unwrap();
    let reconnected = store
        .credential(org_id, credential.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reconnected.reconnect_reason, None);

    let listed = store
        .list_credentials(org_id, PageRequest::default())
        .await
        .unwrap();
    assert_eq!(
        listed.items.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![credential.id]
    );
    assert!(matches!(
        store.delete_credential(other, credential.id).await,
        Err(StoreError::NotFound(_))
    ));
    store
        .delete_credential(org_id, credential.id)
        .await
        .unwrap();
    assert!(
        store
            .credential(org_id, credential.id)
            .await
            .unwrap()
            .is_none()
    );
}

async fn the_audit_log_lists_and_filters_newest_first(test: &TestStore) {
    let store = &*test.store;
    let (org_id, owner) = org(store, "Acme").await;
    let (other, _) = org(store, "Other").await;
    for (org, action) in [
        (org_id, "auth.login"),
        (org_id, "workflow.created"),
        (other, "auth.login"),
        (org_id, "auth.login"),
    ] {
        store
            .record(NewAuditEvent {
                org_id: Some(org),
                actor: Some(owner.id),
                action: action.into(),
                target: Some("workflow:wf_1".into()),
                ip: Some("127.0.0.1".into()),
                user_agent: Some("curl/8".into()),
                details: json!({"via": "test"}),
            })
            .await
            .unwrap();
    }
    let everything = AuditFilter::default();
    let (all, _) = read_all(|page| store.audit_events(org_id, &everything, page)).await;
    let actions: Vec<&str> = all.iter().map(|event| event.action.as_str()).collect();
    assert_eq!(
        actions,
        vec!["auth.login", "workflow.created", "auth.login"]
    );
    assert_eq!(all[0].ip.as_deref(), Some("127.0.0.1"));
    let logins = AuditFilter {
        action: Some("auth.login".into()),
        actor: None,
    };
    assert_eq!(
        store
            .audit_events(org_id, &logins, PageRequest::default())
            .await
            .unwrap()
            .items
            .len(),
        2
    );
    let nobody = AuditFilter {
        action: None,
        actor: Some(baton_core::UserId::new()),
    };
    assert!(
        store
            .audit_events(org_id, &nobody, PageRequest::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );

    if let Some(path) = &test.sqlite_path {
        // Below the API too, the database itself refuses to change the log.
        use sqlx::Connection;
        let mut raw = sqlx::SqliteConnection::connect(&format!("sqlite:{}", path.display()))
            .await
            .unwrap();
        let edit = sqlx::query("UPDATE audit_events SET action = 'nothing'")
            .execute(&mut raw)
            .await;
        assert!(edit.unwrap_err().to_string().contains("append-only"));
        let erase = sqlx::query("DELETE FROM audit_events")
            .execute(&mut raw)
            .await;
        assert!(erase.unwrap_err().to_string().contains("append-only"));
    }
}

async fn migrations_can_run_again(test: &TestStore) {
    test.store
        .migrate()
        .await
        .expect("a second migration run changes nothing");
    test.store.ping().await.unwrap();
}

async fn a_closed_store_fails_its_ping(test: &TestStore) {
    test.store.ping().await.unwrap();
    test.store.close().await;
    assert!(test.store.ping().await.is_err());
}

async fn names_change_and_a_new_password_ends_every_session(test: &TestStore) {
    let store = &*test.store;
    let (org_id, owner) = org(store, "Acme").await;
    let renamed = store
        .rename_organization(org_id, "Acme Bakery")
        .await
        .unwrap();
    assert_eq!(renamed.name, "Acme Bakery");
    assert_eq!(
        store.organization(org_id).await.unwrap().unwrap().name,
        "Acme Bakery"
    );
    let person = store.rename_user(owner.id, "Ann B. Owner").await.unwrap();
    assert_eq!(person.name, "Ann B. Owner");
    assert_eq!(
        store.user(owner.id).await.unwrap().unwrap().name,
        "Ann B. Owner"
    );

    let session = store
        .create_session(NewSession {
            user_id: owner.id,
            org_id,
            family_id: None,
            token_hash: b"before".to_vec(),
            expires_at: Utc::now() + Duration::days(30),
        })
        .await
        .unwrap();
    assert!(session.is_live(Utc::now()));
    store
        .change_password(owner.id, "$argon2id$new")
        .await
        .unwrap();
    assert_eq!(
        store
            .user(owner.id)
            .await
            .unwrap()
            .unwrap()
            .password_hash
            .as_deref(),
        Some("$argon2id$new")
    );
    let after = store
        .session_by_token_hash(b"before")
        .await
        .unwrap()
        .unwrap();
    assert!(!after.is_live(Utc::now()), "the old session ended");
    assert!(matches!(
        store.rename_user(baton_core::UserId::new(), "Nobody").await,
        Err(StoreError::NotFound(_))
    ));
}

async fn sessions_rotate_once_and_revoke_by_family(test: &TestStore) {
    let store = &*test.store;
    let (org_id, owner) = org(store, "Acme").await;
    let expires = Utc::now() + Duration::days(30);
    let new = |hash: &[u8], family| NewSession {
        user_id: owner.id,
        org_id,
        family_id: family,
        token_hash: hash.to_vec(),
        expires_at: expires,
    };
    let first = store.create_session(new(b"hash-1", None)).await.unwrap();
    assert_eq!(
        first.family_id, first.id,
        "a new session starts its own family"
    );
    assert!(first.is_live(Utc::now()));
    let found = store
        .session_by_token_hash(b"hash-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, first.id);
    assert!(
        store
            .session_by_token_hash(b"nothing")
            .await
            .unwrap()
            .is_none()
    );

    let second = store
        .rotate_session(first.id, new(b"hash-2", Some(first.family_id)))
        .await
        .unwrap();
    assert_eq!(second.family_id, first.id);
    assert!(
        !store
            .session_by_token_hash(b"hash-1")
            .await
            .unwrap()
            .unwrap()
            .is_live(Utc::now()),
        "the old token is used"
    );
    let reuse = store
        .rotate_session(first.id, new(b"hash-3", Some(first.family_id)))
        .await;
    assert!(matches!(reuse, Err(StoreError::Conflict(_))), "{reuse:?}");
    assert!(
        store
            .session_by_token_hash(b"hash-3")
            .await
            .unwrap()
            .is_none(),
        "nothing was created"
    );

    store.revoke_family(first.family_id).await.unwrap();
    assert!(
        store
            .session_by_token_hash(b"hash-2")
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some()
    );
    let other = store.create_session(new(b"hash-4", None)).await.unwrap();
    store.revoke_user_sessions(owner.id).await.unwrap();
    assert!(
        !store
            .session_by_token_hash(b"hash-4")
            .await
            .unwrap()
            .unwrap()
            .is_live(Utc::now())
    );
    assert_ne!(other.family_id, first.family_id);
    let twice = store.create_session(new(b"hash-4", None)).await;
    assert!(matches!(twice, Err(StoreError::Conflict(_))), "{twice:?}");
}

async fn api_keys_are_found_by_hash_until_revoked(test: &TestStore) {
    let store = &*test.store;
    let (org_id, owner) = org(store, "Acme").await;
    let (other, _) = org(store, "Other").await;
    let key = store
        .create_api_key(NewApiKey {
            org_id,
            name: "CI".into(),
            role: Role::Member,
            key_hash: b"key-hash".to_vec(),
            prefix: "baton_ab".into(),
            created_by: Some(owner.id),
        })
        .await
        .unwrap();
    assert_eq!((key.role, key.last_used_at), (Role::Member, None));
    let used = store.use_api_key(b"key-hash").await.unwrap().unwrap();
    assert_eq!(used.id, key.id);
    assert!(used.last_used_at.is_some(), "a use is recorded");
    assert!(store.use_api_key(b"other-hash").await.unwrap().is_none());
    let listed = store
        .list_api_keys(org_id, PageRequest::default())
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1);
    assert!(
        store
            .list_api_keys(other, PageRequest::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert!(
        matches!(
            store.revoke_api_key(other, key.id).await,
            Err(StoreError::NotFound(_))
        ),
        "another organization's key reads as absent"
    );
    store.revoke_api_key(org_id, key.id).await.unwrap();
    assert!(
        store.use_api_key(b"key-hash").await.unwrap().is_none(),
        "a revoked key no longer works"
    );
}

async fn an_invite_is_accepted_once_before_it_expires(test: &TestStore) {
    let store = &*test.store;
    let (org_id, owner) = org(store, "Acme").await;
    let (other, _) = org(store, "Other").await;
    let invite = |hash: &[u8], expires_at| NewInvite {
        org_id,
        email: "New@Example.com".into(),
        role: Role::Member,
        invited_by: Some(owner.id),
        token_hash: hash.to_vec(),
        mail_token_hash: [b"mail-", hash].concat(),
        expires_at,
    };
    let open = store
        .create_invite(invite(b"open", Utc::now() + Duration::days(7)))
        .await
        .unwrap();
    assert_eq!(open.email, "new@example.com");
    let by_mail = store.invite_by_mail_token_hash(b"mail-open").await.unwrap();
    assert_eq!(by_mail.map(|found| found.id), Some(open.id));
    assert!(
        store
            .invite_by_mail_token_hash(b"open")
            .await
            .unwrap()
            .is_none(),
        "the two links are told apart"
    );
    let expired = store
        .create_invite(invite(b"expired", Utc::now() - Duration::seconds(1)))
        .await
        .unwrap();
    let listed = store
        .open_invites(org_id, PageRequest::default())
        .await
        .unwrap();
    assert_eq!(
        listed.items.iter().map(|i| i.id).collect::<Vec<_>>(),
        vec![open.id],
        "an expired invitation is not listed as open"
    );
    let found = store.invite_by_token_hash(b"open").await.unwrap().unwrap();
    assert_eq!(found.id, open.id);

    let newcomer = user(store, "new@example.com").await;
    let membership = store.accept_invite(open.id, newcomer.id).await.unwrap();
    assert_eq!((membership.org_id, membership.role), (org_id, Role::Member));
    let again = user(store, "again@example.com").await;
    assert!(
        matches!(
            store.accept_invite(open.id, again.id).await,
            Err(StoreError::Conflict(_))
        ),
        "an invitation works once"
    );
    assert!(matches!(
        store.accept_invite(expired.id, again.id).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(store.membership(org_id, again.id).await.unwrap().is_none());

    let withdrawn = store
        .create_invite(invite(b"withdrawn", Utc::now() + Duration::days(7)))
        .await
        .unwrap();
    assert!(matches!(
        store.revoke_invite(other, withdrawn.id).await,
        Err(StoreError::NotFound(_))
    ));
    store.revoke_invite(org_id, withdrawn.id).await.unwrap();
    assert!(matches!(
        store.accept_invite(withdrawn.id, again.id).await,
        Err(StoreError::Conflict(_))
    ));
}

async fn ownership_passes_from_an_owner_to_a_member(test: &TestStore) {
    let store = &*test.store;
    let (org_id, owner) = org(store, "Acme").await;
    let member = user(store, "member@example.com").await;
    let outsider = user(store, "outsider@example.com").await;
    store
        .add_member(org_id, member.id, Role::Member)
        .await
        .unwrap();
    assert!(matches!(
        store
            .transfer_ownership(org_id, owner.id, outsider.id)
            .await,
        Err(StoreError::NotFound(_))
    ));
    assert!(
        matches!(
            store.transfer_ownership(org_id, member.id, owner.id).await,
            Err(StoreError::Conflict(_))
        ),
        "a Member cannot hand over what they do not hold"
    );
    assert_eq!(
        store
            .membership(org_id, owner.id)
            .await
            .unwrap()
            .unwrap()
            .role,
        Role::Owner,
        "a refused transfer changes nothing"
    );
    store
        .transfer_ownership(org_id, owner.id, member.id)
        .await
        .unwrap();
    let role = |user| async move { store.membership(org_id, user).await.unwrap().unwrap().role };
    assert_eq!(role(member.id).await, Role::Owner);
    assert_eq!(role(owner.id).await, Role::Admin);

    let organization = store.set_require_mfa(org_id, true).await.unwrap();
    assert!(organization.require_mfa);
    assert!(
        store
            .organization(org_id)
            .await
            .unwrap()
            .unwrap()
            .require_mfa
    );
}

async fn a_reset_token_sets_the_password_once_and_ends_sessions(test: &TestStore) {
    let store = &*test.store;
    let (org_id, owner) = org(store, "Acme").await;
    let session = store
        .create_session(NewSession {
            user_id: owner.id,
            org_id,
            family_id: None,
            token_hash: b"refresh".to_vec(),
            expires_at: Utc::now() + Duration::days(1),
        })
        .await
        .unwrap();
    store
        .create_password_reset(owner.id, b"stale", Utc::now() - Duration::seconds(1))
        .await
        .unwrap();
    store
        .create_password_reset(owner.id, b"older", Utc::now() + Duration::minutes(30))
        .await
        .unwrap();
    store
        .create_password_reset(owner.id, b"reset", Utc::now() + Duration::minutes(30))
        .await
        .unwrap();
    assert!(
        store.password_reset_user(b"older").await.unwrap().is_none(),
        "a newer link replaces the older one"
    );
    assert_eq!(
        store
            .password_reset_user(b"reset")
            .await
            .unwrap()
            .map(|u| u.id),
        Some(owner.id)
    );
    assert!(store.password_reset_user(b"stale").await.unwrap().is_none());
    assert_eq!(store.reset_password(b"stale", "new").await.unwrap(), None);
    assert_eq!(store.reset_password(b"unknown", "new").await.unwrap(), None);
    assert_eq!(
        store
            .reset_password(b"reset", "$argon2id$new")
            .await
            .unwrap(),
        Some(owner.id)
    );
    let changed = store.user(owner.id).await.unwrap().unwrap();
    assert_eq!(changed.password_hash.as_deref(), Some("$argon2id$new"));
    assert!(
        !store.family_is_live(session.family_id).await.unwrap(),
        "a reset ends every session"
    );
    assert_eq!(
        store.reset_password(b"reset", "again").await.unwrap(),
        None,
        "a reset link works once"
    );
    assert!(store.password_reset_user(b"reset").await.unwrap().is_none());
    assert!(
        changed.email_verified_at.is_some(),
        "a reset link read from the mailbox proves the address"
    );
}

async fn two_factor_steps_and_recovery_codes_work_once(test: &TestStore) {
    let store = &*test.store;
    let (_, owner) = org(store, "Acme").await;
    assert!(store.totp(owner.id).await.unwrap().is_none());
    store.begin_totp(owner.id, "SECRETBASE32").await.unwrap();
    let pending = store.totp(owner.id).await.unwrap().unwrap();
    assert_eq!(
        (pending.secret.as_str(), pending.enabled_at),
        ("SECRETBASE32", None)
    );
    store
        .enable_totp(owner.id, &[b"code-1".to_vec(), b"code-2".to_vec()])
        .await
        .unwrap();
    assert!(
        store
            .totp(owner.id)
            .await
            .unwrap()
            .unwrap()
            .enabled_at
            .is_some()
    );
    assert!(store.use_totp_step(owner.id, 100).await.unwrap());
    assert!(
        !store.use_totp_step(owner.id, 100).await.unwrap(),
        "a code works once"
    );
    assert!(!store.use_totp_step(owner.id, 99).await.unwrap());
    assert!(store.use_totp_step(owner.id, 101).await.unwrap());
    assert!(store.use_recovery_code(owner.id, b"code-1").await.unwrap());
    assert!(!store.use_recovery_code(owner.id, b"code-1").await.unwrap());
    assert!(!store.use_recovery_code(owner.id, b"nope").await.unwrap());
    store.disable_totp(owner.id).await.unwrap();
    assert!(store.totp(owner.id).await.unwrap().is_none());
    assert!(
        !store.use_recovery_code(owner.id, b"code-2").await.unwrap(),
        "turning two-factor off drops the recovery codes"
    );
}

async fn identities_find_their_user(test: &TestStore) {
    let store = &*test.store;
    let someone = user(store, "someone@example.com").await;
    let other = user(store, "other@example.com").await;
    assert!(
        store
            .user_by_identity("google", "sub-1")
            .await
            .unwrap()
            .is_none()
    );
    store
        .link_identity("google", "sub-1", someone.id)
        .await
        .unwrap();
    assert_eq!(
        store
            .user_by_identity("google", "sub-1")
            .await
            .unwrap()
            .unwrap()
            .id,
        someone.id
    );
    assert!(matches!(
        store.link_identity("google", "sub-1", other.id).await,
        Err(StoreError::Conflict(_))
    ));
}

async fn a_callers_key_with_another_request_is_refused_and_old_keys_are_pruned(test: &TestStore) {
    use baton_store::Delivery;
    let store = test.store.clone();
    let (org_id, _) = org(&*store, "Acme").await;
    let flow = workflow(&*store, org_id, "wf_keys").await;
    let keyed = |fingerprint| Delivery {
        id: "order-77",
        fingerprint: Some(fingerprint),
    };
    let first = new_execution(&flow);
    let (created, fresh) = store
        .create_delivered_execution(first.clone(), job_for(&first, Utc::now()), keyed("sha-a"))
        .await
        .unwrap();
    assert!(fresh);
    let same = new_execution(&flow);
    let (found, fresh) = store
        .create_delivered_execution(same.clone(), job_for(&same, Utc::now()), keyed("sha-a"))
        .await
        .unwrap();
    assert_eq!((found.id, fresh), (created.id, false));
    let other = new_execution(&flow);
    let refused = store
        .create_delivered_execution(other.clone(), job_for(&other, Utc::now()), keyed("sha-b"))
        .await;
    assert!(
        matches!(refused, Err(StoreError::DeliveryMismatch(id)) if id == created.id),
        "{refused:?}"
    );
    // A schedule's own delivery is kept; a caller's key goes after the retention.
    let scheduled = new_execution(&flow);
    store
        .create_delivered_execution(
            scheduled.clone(),
            job_for(&scheduled, Utc::now()),
            "schedule:1".into(),
        )
        .await
        .unwrap();
    let pruned = store
        .prune_deliveries(Utc::now() + Duration::minutes(1))
        .await
        .unwrap();
    assert_eq!(pruned, 1);
    let later = new_execution(&flow);
    let (_, fresh) = store
        .create_delivered_execution(later.clone(), job_for(&later, Utc::now()), keyed("sha-b"))
        .await
        .unwrap();
    assert!(fresh, "a forgotten key starts a new execution");
    assert_eq!(
        store
            .latest_delivery(flow.id, "schedule:")
            .await
            .unwrap()
            .as_deref(),
        Some("schedule:1")
    );
}

async fn a_delivery_creates_one_execution_however_often_it_comes(test: &TestStore) {
    let store = test.store.clone();
    let (org_id, _) = org(&*store, "Acme").await;
    let flow = workflow(&*store, org_id, "wf_hook").await;
    let first = new_execution(&flow);
    let (created, fresh) = store
        .create_delivered_execution(
            first.clone(),
            job_for(&first, Utc::now()),
            "delivery-1".into(),
        )
        .await
        .unwrap();
    assert!(fresh);
    // The same delivery, several times at once.
    let mut attempts = Vec::new();
    for _ in 0..8 {
        let store = store.clone();
        let again = new_execution(&flow);
        attempts.push(tokio::spawn(async move {
            store
                .create_delivered_execution(
                    again.clone(),
                    job_for(&again, Utc::now()),
                    "delivery-1".into(),
                )
                .await
                .unwrap()
        }));
    }
    for attempt in attempts {
        let (found, fresh) = attempt.await.unwrap();
        assert!(!fresh);
        assert_eq!(
            found.id, created.id,
            "the first execution answers every repeat"
        );
    }
    let other = new_execution(&flow);
    let (second, fresh) = store
        .create_delivered_execution(
            other.clone(),
            job_for(&other, Utc::now()),
            "delivery-2".into(),
        )
        .await
        .unwrap();
    assert!(fresh && second.id != created.id);
    assert_eq!(
        store
            .latest_delivery(flow.id, "delivery-")
            .await
            .unwrap()
            .as_deref(),
        Some("delivery-2")
    );
    assert_eq!(
        store.latest_delivery(flow.id, "schedule:").await.unwrap(),
        None
    );
    assert_eq!(
        store.latest_delivery(flow.id, "delivery_").await.unwrap(),
        None,
        "an underscore in the prefix is not a wildcard"
    );

    // A poll trigger's turns: the first claim takes the look and moves the next one on; a
    // claim before then gets nothing; a look asked for now can be taken again.
    assert_eq!(store.poll_state(flow.id).await.unwrap(), None);
    let now = Utc::now();
    let first_look = store
        .claim_poll(flow.id, now, now + Duration::seconds(60))
        .await
        .unwrap()
        .expect("the first look is due");
    assert_eq!(first_look.cursor, None, "nothing looked before");
    assert_eq!(
        store
            .claim_poll(flow.id, now, now + Duration::seconds(60))
            .await
            .unwrap(),
        None,
        "another server's claim waits for the next time"
    );
    store
        .finish_poll(flow.id, Ok(&json!({"history_id": "9001"})))
        .await
        .unwrap();
    assert!(
        store
            .claim_poll(
                flow.id,
                now + Duration::seconds(30),
                now + Duration::seconds(90)
            )
            .await
            .unwrap()
            .is_none()
    );
    let due = store
        .claim_poll(
            flow.id,
            now + Duration::seconds(61),
            now + Duration::seconds(121),
        )
        .await
        .unwrap()
        .expect("due once its time has come");
    assert_eq!(due.cursor, Some(json!({"history_id": "9001"})));
    // A failed look keeps the cursor and says why; a good one clears the error.
    store
        .finish_poll(flow.id, Err("Gmail answered 503"))
        .await
        .unwrap();
    let failed = store.poll_state(flow.id).await.unwrap().unwrap();
    assert_eq!(failed.cursor, Some(json!({"history_id": "9001"})));
    assert_eq!(failed.error.as_deref(), Some("Gmail answered 503"));
    assert!(failed.looked_at.is_some());
    assert!(failed.next_look_at.unwrap() > now + Duration::seconds(120));
    store.poll_now(flow.id).await.unwrap();
    let asked = store
        .claim_poll(
            flow.id,
            now + Duration::seconds(62),
            now + Duration::seconds(122),
        )
        .await
        .unwrap()
        .expect("a look asked for now is due");
    assert_eq!(asked.error.as_deref(), Some("Gmail answered 503"));
    store
        .finish_poll(flow.id, Ok(&json!({"history_id": "9007"})))
        .await
        .unwrap();
    let good = store.poll_state(flow.id).await.unwrap().unwrap();
    assert_eq!(good.cursor, Some(json!({"history_id": "9007"})));
    assert_eq!(good.error, None);
    store.forget_poll(flow.id).await.unwrap();
    assert_eq!(store.poll_state(flow.id).await.unwrap(), None);
    assert!(matches!(
        store
            .claim_poll(WorkflowId::new(), now, now + Duration::seconds(60))
            .await,
        Err(StoreError::NotFound(_))
    ));

    let mut jobs = 0;
    while store
        .claim(&claim("w", Utc::now()))
        .await
        .unwrap()
        .is_some()
    {
        jobs += 1;
    }
    assert_eq!(jobs, 2, "one job per distinct delivery");
}

/// A delivery reads before it writes; on SQLite, another connection's commit between the two
/// must not fail it (a deferred transaction would answer SQLITE_BUSY_SNAPSHOT at once).
async fn deliveries_succeed_while_other_writes_go_on(test: &TestStore) {
    let store = test.store.clone();
    let (org_id, _) = org(&*store, "Acme").await;
    let flow = workflow(&*store, org_id, "wf_busy").await;
    let other = workflow(&*store, org_id, "wf_other").await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let store = store.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut writes = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                store
                    .finish_poll(other.id, Ok(&json!({"n": writes})))
                    .await
                    .unwrap();
                writes += 1;
            }
            writes
        })
    };
    const DELIVERIES: usize = 300;
    let mut failures = Vec::new();
    for n in 0..DELIVERIES {
        let execution = new_execution(&flow);
        let job = job_for(&execution, Utc::now());
        match store
            .create_delivered_execution(execution, job, (&format!("busy-{n}")).into())
            .await
        {
            Ok((_, fresh)) => assert!(fresh, "delivery busy-{n} is new"),
            Err(error) => failures.push(format!("busy-{n}: {error}")),
        }
        tokio::task::yield_now().await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let writes = writer.await.unwrap();
    assert!(writes > 0, "the other connection wrote meanwhile");
    assert!(failures.is_empty(), "failed deliveries: {failures:?}");
    let by_workflow = ExecutionFilter {
        workflow_id: Some(flow.id),
        state: None,
    };
    let (listed, _) = read_all(|page| store.list_executions(org_id, &by_workflow, page)).await;
    assert_eq!(listed.len(), DELIVERIES, "one execution per delivery");
}

async fn active_workflows_of_every_organization_are_listed(test: &TestStore) {
    let store = &*test.store;
    let (first, _) = org(store, "Acme").await;
    let (second, _) = org(store, "Other").await;
    let a = workflow(store, first, "wf_a").await;
    let b = workflow(store, second, "wf_b").await;
    workflow(store, second, "wf_idle").await;
    store.set_active(first, a.id, true).await.unwrap();
    store.set_active(second, b.id, true).await.unwrap();
    let active: Vec<_> = store
        .active_workflows()
        .await
        .unwrap()
        .into_iter()
        .map(|workflow| workflow.key)
        .collect();
    assert_eq!(active, ["wf_a", "wf_b"]);
    store.delete_workflow(first, a.id).await.unwrap();
    assert_eq!(store.active_workflows().await.unwrap().len(), 1);
}

async fn hooks_are_found_by_token_and_keep_their_secret(test: &TestStore) {
    let store = &*test.store;
    let (org_id, _) = org(store, "Acme").await;
    let (other, _) = org(store, "Other").await;
    let flow = workflow(store, org_id, "wf_hook").await;
    let hook = store.ensure_hook(org_id, flow.id, "token-1").await.unwrap();
    assert_eq!(
        (hook.token.as_str(), hook.secret.as_deref()),
        ("token-1", None)
    );
    let same = store.ensure_hook(org_id, flow.id, "token-2").await.unwrap();
    assert_eq!(same.token, "token-1", "a workflow keeps its hook");
    assert!(matches!(
        store.ensure_hook(other, flow.id, "token-3").await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(
        store.hook_by_token("token-1").await.unwrap().unwrap(),
        (same.clone(), flow.clone()),
        "the hook comes with its workflow"
    );
    assert!(store.hook_by_token("token-2").await.unwrap().is_none());
    let signed = store
        .set_hook_secret(org_id, flow.id, Some("s3cret"))
        .await
        .unwrap();
    assert_eq!(signed.secret.as_deref(), Some("s3cret"));
    assert_eq!(
        store.hook_by_token("token-1").await.unwrap().unwrap().0,
        signed,
        "the secret comes with the hook"
    );
    assert!(store.hook(other, flow.id).await.unwrap().is_none());
    store.delete_workflow(org_id, flow.id).await.unwrap();
    assert!(
        store.hook_by_token("token-1").await.unwrap().is_none(),
        "a deleted workflow's hook leads nowhere"
    );
}

async fn a_new_job_wakes_listeners_in_other_processes(test: &TestStore) {
    let store = &*test.store;
    let Some(mut signal) = store.job_signal().await.unwrap() else {
        assert_eq!(
            store.backend(),
            "sqlite",
            "only SQLite, one process, has no signal"
        );
        return;
    };
    let (org_id, _) = org(store, "Acme").await;
    let flow = workflow(store, org_id, "wf_signal").await;
    let execution = new_execution(&flow);
    store
        .create_execution_with_job(execution.clone(), job_for(&execution, Utc::now()))
        .await
        .unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(5), signal.wait())
        .await
        .expect("the listener hears of the job")
        .unwrap();
}

async fn a_flooding_organization_does_not_starve_the_others(test: &TestStore) {
    let store = &*test.store;
    let (flood_org, _) = org(store, "Flood").await;
    let (quiet_org, _) = org(store, "Quiet").await;
    let flood = workflow(store, flood_org, "wf_flood").await;
    let quiet = workflow(store, quiet_org, "wf_quiet").await;
    let earlier = Utc::now() - Duration::seconds(60);
    for _ in 0..10 {
        let execution = new_execution(&flood);
        store
            .create_execution_with_job(execution.clone(), job_for(&execution, earlier))
            .await
            .unwrap();
    }
    let late = new_execution(&quiet);
    store
        .create_execution_with_job(late.clone(), job_for(&late, Utc::now()))
        .await
        .unwrap();
    let mut limited = claim("w", Utc::now());
    limited.per_organization = 3;
    let first = store.claim(&limited).await.unwrap().unwrap();
    assert_eq!(first.org_id, flood_org, "the earliest job goes first");
    let second = store.claim(&limited).await.unwrap().unwrap();
    assert_eq!(
        second.org_id, quiet_org,
        "then the organization with nothing running, though its job is newer"
    );
    let mut orgs = Vec::new();
    while let Some(job) = store.claim(&limited).await.unwrap() {
        orgs.push(job.org_id);
    }
    assert_eq!(
        orgs,
        vec![flood_org, flood_org],
        "the flood gets at most three at once; the rest wait"
    );
}

async fn templates_count_their_uses_and_keep_one_rating_per_person(test: &TestStore) {
    let store = &*test.store;
    let (acme, ann) = org(store, "Acme").await;
    let (globex, bob) = org(store, "Globex").await;
    let now = now_micros();
    for org_id in [acme, acme, globex] {
        store
            .record_template_use(org_id, "support_email_drafts", now)
            .await
            .unwrap();
    }
    store
        .rate_template(ann.id, "support_email_drafts", 2, now)
        .await
        .unwrap();
    // A second rating by the same person replaces the first.
    store
        .rate_template(ann.id, "support_email_drafts", 5, now)
        .await
        .unwrap();
    store
        .rate_template(bob.id, "support_email_drafts", 4, now)
        .await
        .unwrap();
    store
        .rate_template(bob.id, "weekly_sales_report", 3, now)
        .await
        .unwrap();
    let stats = store.template_stats().await.unwrap();
    let drafts = stats
        .iter()
        .find(|stats| stats.template_id == "support_email_drafts")
        .unwrap();
    assert_eq!((drafts.uses, drafts.ratings, drafts.stars), (3, 2, 9));
    let report = stats
        .iter()
        .find(|stats| stats.template_id == "weekly_sales_report")
        .unwrap();
    assert_eq!((report.uses, report.ratings, report.stars), (0, 1, 3));
    assert_eq!(
        store
            .template_rating(ann.id, "support_email_drafts")
            .await
            .unwrap(),
        Some(5)
    );
    assert_eq!(
        store
            .template_rating(ann.id, "weekly_sales_report")
            .await
            .unwrap(),
        None
    );
}

async fn an_organizations_own_templates_are_its_alone(test: &TestStore) {
    let store = &*test.store;
    let (acme, _) = org(store, "Acme").await;
    let (globex, _) = org(store, "Globex").await;
    let now = now_micros();
    let document = json!({"id": "acme_quotes", "name": "Quotes the Acme way"});
    store
        .add_org_template(acme, "acme_quotes", &document, now)
        .await
        .unwrap();
    assert!(matches!(
        store
            .add_org_template(acme, "acme_quotes", &document, now)
            .await,
        Err(StoreError::Conflict(_))
    ));
    // Another organization may use the same id for its own.
    store
        .add_org_template(
            globex,
            "acme_quotes",
            &json!({"id": "acme_quotes", "name": "Globex's"}),
            now,
        )
        .await
        .unwrap();
    assert_eq!(store.org_templates(acme).await.unwrap(), vec![document]);
    store
        .delete_org_template(acme, "acme_quotes")
        .await
        .unwrap();
    assert!(store.org_templates(acme).await.unwrap().is_empty());
    assert!(matches!(
        store.delete_org_template(acme, "acme_quotes").await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(store.org_templates(globex).await.unwrap().len(), 1);
}
