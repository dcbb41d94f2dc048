//! The MCP Tasks extension (`io.modelcontextprotocol/tasks`, SEP-2663).
//!
//! When a client declares the extension, calls of the tools that run jobs (`submit_workflow`,
//! `run_workflow`, `run_saved_workflow` and the workflow tools) become tasks: the call answers at once with a task,
//! the tool runs in the background without the wait budget (up to [`TASK_WAIT`]), and the client
//! polls `tasks/get` for the result or stops it with `tasks/cancel` (which cancels the job).
//! Tasks live in memory for [`TASK_TTL`]; the jobs themselves are in the durable store, and
//! every result carries the `job_id`.
//!
//! A task belongs to the caller that created it: another token's `tasks/get` and
//! `tasks/cancel` find no such task (an admin token and the single local user see all).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use comfy_core::Caller;
use comfy_core::store::{Millis, now_millis};
use futures::future::BoxFuture;
use rmcp::model::{CallToolResult, DetailedTask, JsonObject, Task, TaskPayload, TaskStatus};
use tokio_util::sync::CancellationToken;

/// Longest a task waits for its job.
pub const TASK_WAIT: Duration = Duration::from_secs(6 * 3600);
/// How long a task is kept after it was created.
pub const TASK_TTL: Duration = Duration::from_secs(24 * 3600);
/// The poll interval suggested to clients.
pub const POLL_INTERVAL_MS: u64 = 1000;
/// Most tasks kept at once (oldest finished ones are dropped first).
const MAX_TASKS: usize = 10_000;

/// Tools whose calls become tasks for clients that support them.
pub fn runs_as_task(tool: &str, is_template: bool) -> bool {
    is_template || matches!(tool, "submit_workflow" | "run_workflow" | "run_saved_workflow")
}

#[derive(Debug)]
struct Entry {
    tool: String,
    owner: Option<String>,
    created: Millis,
    updated: Millis,
    result: Option<CallToolResult>,
    cancelled: bool,
    cancel: CancellationToken,
}

/// The tasks of this process.
#[derive(Debug, Default)]
pub struct Tasks {
    entries: Mutex<HashMap<String, Entry>>,
}

impl Tasks {
    /// Starts `run` (a call of `tool` by `caller`) in the background as a new task; returns its
    /// description.
    pub fn spawn(
        self: &Arc<Self>,
        tool: &str,
        caller: &Caller,
        cancel: CancellationToken,
        run: BoxFuture<'static, CallToolResult>,
    ) -> Task {
        let id = format!("task-{}", uuid::Uuid::new_v4().simple());
        let now = now_millis();
        {
            let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
            let ttl = TASK_TTL.as_millis() as i64;
            entries.retain(|_, e| now - e.created < ttl);
            if entries.len() >= MAX_TASKS {
                let mut done: Vec<(String, Millis)> = entries
                    .iter()
                    .filter(|(_, e)| e.result.is_some())
                    .map(|(k, e)| (k.clone(), e.updated))
                    .collect();
                done.sort_by_key(|(_, t)| *t);
                for (k, _) in done.into_iter().take(entries.len() + 1 - MAX_TASKS) {
                    entries.remove(&k);
                }
            }
            entries.insert(
                id.clone(),
                Entry {
                    tool: tool.to_owned(),
                    owner: caller.owner().map(str::to_owned),
                    created: now,
                    updated: now,
                    result: None,
                    cancelled: false,
                    cancel: cancel.clone(),
                },
            );
        }
        let tasks = Arc::downgrade(self);
        let task_id = id.clone();
        tokio::spawn(async move {
            let result = run.await;
            if let Some(tasks) = tasks.upgrade() {
                let mut entries = tasks.entries.lock().unwrap_or_else(PoisonError::into_inner);
                if let Some(e) = entries.get_mut(&task_id) {
                    e.result = Some(result);
                    e.updated = now_millis();
                }
            }
        });
        self.describe(&id, caller)
            .map(|d| d.task)
            .unwrap_or_else(|| Task::new(id, TaskStatus::Working, iso(now), iso(now)))
    }

    /// The tool whose call a task runs (token scopes apply to the task through it), if `caller`
    /// may see the task.
    pub fn tool_of(&self, id: &str, caller: &Caller) -> Option<String> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.get(id).filter(|e| caller.may_see(e.owner.as_deref())).map(|e| e.tool.clone())
    }

    /// The task's current state and, once done, its result; `None` for an unknown task or one
    /// `caller` may not see.
    pub fn describe(&self, id: &str, caller: &Caller) -> Option<DetailedTask> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let e = entries.get(id).filter(|e| caller.may_see(e.owner.as_deref()))?;
        let payload = match (&e.result, e.cancelled) {
            (_, true) => TaskPayload::Cancelled,
            (Some(r), false) => match serde_json::to_value(r) {
                Ok(serde_json::Value::Object(result)) => TaskPayload::Completed { result },
                _ => TaskPayload::Failed { error: JsonObject::new() },
            },
            (None, false) => TaskPayload::Working,
        };
        let task = Task::new(id.to_owned(), payload.status(), iso(e.created), iso(e.updated))
            .with_ttl_ms(TASK_TTL.as_millis() as u64)
            .with_poll_interval_ms(POLL_INTERVAL_MS);
        Some(DetailedTask::new(task, payload))
    }

    /// Cancels a task (and so its job). Returns false for an unknown task or one `caller` may
    /// not see.
    pub fn cancel(&self, id: &str, caller: &Caller) -> bool {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        match entries.get_mut(id).filter(|e| caller.may_see(e.owner.as_deref())) {
            Some(e) => {
                if e.result.is_none() {
                    e.cancelled = true;
                    e.updated = now_millis();
                }
                e.cancel.cancel();
                true
            }
            None => false,
        }
    }
}

/// Milliseconds since the epoch as ISO 8601 (`2026-11-05T12:00:00.000Z`).
pub fn iso(ms: Millis) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Civil from days (Howard Hinnant).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z", sod / 3600, sod % 3600 / 60, sod % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_times() {
        assert_eq!(iso(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso(1_793_880_000_123), "2026-11-05T12:00:00.123Z");
        assert_eq!(iso(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }

    #[tokio::test]
    async fn tasks_complete_and_cancel() {
        let tasks = Arc::new(Tasks::default());
        let local = Caller::local();
        let t = tasks.spawn(
            "run_workflow",
            &local,
            CancellationToken::new(),
            Box::pin(async { CallToolResult::success(vec![]) }),
        );
        assert_eq!(t.status, TaskStatus::Working);
        assert!(t.task_id.starts_with("task-") && t.task_id.len() == 37);
        for _ in 0..100 {
            if tasks.describe(&t.task_id, &local).unwrap().status() == TaskStatus::Completed {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(tasks.describe(&t.task_id, &local).unwrap().status(), TaskStatus::Completed);
        let ct = CancellationToken::new();
        let waiting = ct.clone();
        assert_eq!(tasks.tool_of(&t.task_id, &local).as_deref(), Some("run_workflow"));
        let t2 = tasks.spawn(
            "submit_workflow",
            &Caller::user("a"),
            ct,
            Box::pin(async move {
                waiting.cancelled().await;
                CallToolResult::success(vec![])
            }),
        );
        // Another user finds no such task; its owner and the admin do.
        let b = Caller::user("b");
        assert!(tasks.describe(&t2.task_id, &b).is_none() && tasks.tool_of(&t2.task_id, &b).is_none());
        assert!(!tasks.cancel(&t2.task_id, &b));
        assert!(tasks.describe(&t.task_id, &b).is_none(), "an unowned task is not a user's");
        assert_eq!(tasks.describe(&t2.task_id, &Caller::user("a")).unwrap().status(), TaskStatus::Working);
        assert!(tasks.cancel(&t2.task_id, &Caller::admin("root")));
        assert_eq!(tasks.describe(&t2.task_id, &Caller::user("a")).unwrap().status(), TaskStatus::Cancelled);
        assert!(!tasks.cancel("task-nope", &local));
        assert!(tasks.describe("task-nope", &local).is_none());
    }
}
