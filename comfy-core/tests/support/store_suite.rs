//! The behavioural suite every `Store` implementation passes (included by store_conformance.rs
//! and store_postgres.rs). Call [`conformance`] on an empty store.

#![allow(dead_code)]

use comfy_core::job::{
    FileRef, FolderType, JobFailure, JobId, JobOutput, JobStatus, MediaKind, OutputItem, Progress,
};
use comfy_core::store::{
    Asset, AssetContent, AssetId, AssetQuery, BatchItemRecord, BatchQuery, BatchRecord, DEFAULT_LIMIT,
    JobQuery, JobRecord, Provenance, Store,
};
use serde_json::json;

pub fn job(id: &str, backend: &str, owner: Option<&str>, created_at: i64, status: JobStatus) -> JobRecord {
    JobRecord {
        id: JobId::from(id),
        handle: None,
        backend: backend.to_owned(),
        request: json!({"prompt": {"1": {"class_type": "EmptyImage", "inputs": {"width": 64}}}, "seed": 1.5e-7}),
        workflow_hash: format!("hash-{id}"),
        provenance: Provenance {
            template: Some("generate_image".into()),
            params: Some(json!({"prompt": "a cat", "seed": 42, "cfg": 7.25, "nested": [1, {"x": null}]})),
            owner: owner.map(str::to_owned),
        },
        status,
        outputs: Vec::new(),
        created_at,
        updated_at: created_at,
    }
}

pub fn file_output(node: &str, index: u32, name: &str) -> JobOutput {
    JobOutput {
        node_id: node.to_owned(),
        key: "images".into(),
        index,
        item: OutputItem::File {
            file: FileRef { filename: name.to_owned(), subfolder: "sub".into(), folder: FolderType::Output },
            media: MediaKind::Image,
            animated: false,
        },
    }
}

/// An asset of `job`, with its own template, owner, time and expiry.
pub fn asset(
    job: &JobRecord,
    node: &str,
    index: u32,
    template: Option<&str>,
    owner: Option<&str>,
    created_at: i64,
    expires_at: Option<i64>,
) -> Asset {
    let mut a =
        Asset::from_output(job, &file_output(node, index, &format!("img_{node}_{index}.png")), created_at);
    a.provenance.template = template.map(str::to_owned);
    a.provenance.owner = owner.map(str::to_owned);
    a.expires_at = expires_at;
    a
}

fn ids_of_jobs(jobs: &[JobRecord]) -> Vec<&str> {
    jobs.iter().map(|j| j.id.as_str()).collect()
}

fn ids_of_assets(assets: &[Asset]) -> Vec<&str> {
    assets.iter().map(|a| a.id.as_str()).collect()
}

/// The suite. Every section uses its own backend/owner/job names, so sections do not see each
/// other's records through the filters they use.
pub async fn conformance(store: &dyn Store) {
    missing_ids_are_none(store).await;
    jobs_round_trip_and_filter(store).await;
    put_job_upserts(store).await;
    jobs_by_workflow_hash(store).await;
    a_finished_job_stays_finished(store).await;
    default_limit_is_100(store).await;
    assets_are_idempotent(store).await;
    assets_filter_and_order(store).await;
    asset_content_is_recorded(store).await;
    expired_assets_are_purged(store).await;
    unicode_and_huge_strings_survive(store).await;
    batches_round_trip_and_filter(store).await;
    // Last: its assets would show in the unfiltered listings above.
    job_with_assets_in_one_write(store).await;
}

pub fn batch(id: &str, backend: &str, created_at: i64, submitted: &[Option<&str>]) -> BatchRecord {
    BatchRecord {
        id: id.into(),
        backend: backend.into(),
        items: submitted
            .iter()
            .map(|job| BatchItemRecord {
                request: json!({"workflow": {"1": {"class_type": "X", "inputs": {"s": "ü🎨"}}}, "front": false}),
                provenance: Provenance { template: Some("t".into()), ..Default::default() },
                job_id: job.map(JobId::from),
                error: None,
            })
            .collect(),
        created_at,
        updated_at: created_at,
    }
}

async fn batches_round_trip_and_filter(store: &dyn Store) {
    assert_eq!(store.get_batch("b_missing").await.unwrap(), None);
    let waiting = batch("b_1", "local", 10, &[Some("j1"), None]);
    let done = batch("b_2", "local", 20, &[Some("j2"), Some("j3")]);
    let other = batch("b_3", "cloud", 30, &[None]);
    for b in [&waiting, &done, &other] {
        store.put_batch(b).await.unwrap();
    }
    assert_eq!(store.get_batch("b_1").await.unwrap().as_ref(), Some(&waiting));
    let ids = |v: Vec<BatchRecord>| v.into_iter().map(|b| b.id).collect::<Vec<_>>();
    assert_eq!(ids(store.list_batches(&BatchQuery::default()).await.unwrap()), ["b_3", "b_2", "b_1"]);
    let unsubmitted = BatchQuery { unsubmitted_only: true, ..Default::default() };
    assert_eq!(ids(store.list_batches(&unsubmitted).await.unwrap()), ["b_3", "b_1"]);
    let local = BatchQuery { unsubmitted_only: true, backend: Some("local".into()), limit: 5 };
    assert_eq!(ids(store.list_batches(&local).await.unwrap()), ["b_1"]);
    // An upsert: the last item submitted, so nothing waits any more.
    let mut submitted = waiting.clone();
    submitted.items[1].job_id = Some(JobId::from("j4"));
    submitted.updated_at = 11;
    store.put_batch(&submitted).await.unwrap();
    assert_eq!(store.get_batch("b_1").await.unwrap(), Some(submitted));
    assert_eq!(ids(store.list_batches(&local).await.unwrap()), Vec::<String>::new());
    assert_eq!(
        ids(store.list_batches(&BatchQuery { limit: 1, ..Default::default() }).await.unwrap()),
        ["b_3"]
    );
}

async fn missing_ids_are_none(store: &dyn Store) {
    assert_eq!(store.get_job(&JobId::from("no-such-job")).await.unwrap(), None);
    assert_eq!(store.get_asset(&AssetId("a_000000000000000000000000".into())).await.unwrap(), None);
    let none = JobQuery { backend: Some("no-such-backend".into()), ..Default::default() };
    assert!(store.list_jobs(&none).await.unwrap().is_empty());
    let none = AssetQuery { job_id: Some(JobId::from("no-such-job")), ..Default::default() };
    assert!(store.list_assets(&none).await.unwrap().is_empty());
}

async fn jobs_round_trip_and_filter(store: &dyn Store) {
    let running = JobStatus::Running(Progress {
        node_id: Some("3".into()),
        class_type: Some("KSampler".into()),
        step: Some(5),
        max_steps: Some(20),
        nodes_done: 2,
        nodes_total: 7,
        fraction: 0.3125,
    });
    let failed = JobStatus::Failed(JobFailure {
        node_id: Some("9".into()),
        message: "boom".into(),
        traceback: vec!["line 1".into(), "line 2".into()],
        ..Default::default()
    });
    let jobs = [
        job("j-a", "local", Some("alice"), 1_000, JobStatus::Pending),
        job("j-b", "local", Some("bob"), 2_000, JobStatus::Queued { position: Some(3) }),
        job("j-c", "local", Some("alice"), 3_000, running),
        job("j-d", "local", None, 3_000, JobStatus::Succeeded), // same time as j-c: id breaks the tie
        job("j-e", "local", Some("alice"), 4_000, failed),
        JobRecord {
            handle: Some(json!({"status_url": "https://h/requests/r-1/status", "deployment": "d-1"})),
            ..job("j-f", "cloud", Some("alice"), 5_000, JobStatus::Cancelled)
        },
    ];
    for j in &jobs {
        store.put_job(j).await.unwrap();
    }
    for j in &jobs {
        assert_eq!(store.get_job(&j.id).await.unwrap().as_ref(), Some(j), "round trip of {}", j.id);
    }

    let local = JobQuery { backend: Some("local".into()), ..Default::default() };
    assert_eq!(ids_of_jobs(&store.list_jobs(&local).await.unwrap()), ["j-e", "j-d", "j-c", "j-b", "j-a"]);

    let unfinished = JobQuery { unfinished_only: true, ..local.clone() };
    assert_eq!(ids_of_jobs(&store.list_jobs(&unfinished).await.unwrap()), ["j-c", "j-b", "j-a"]);

    let alice = JobQuery { owner: Some("alice".into()), ..Default::default() };
    let listed = store.list_jobs(&alice).await.unwrap();
    assert_eq!(ids_of_jobs(&listed), ["j-f", "j-e", "j-c", "j-a"]);
    assert_eq!(listed[0], jobs[5], "listing returns whole records");

    let alice_local_unfinished = JobQuery { owner: Some("alice".into()), ..unfinished.clone() };
    assert_eq!(ids_of_jobs(&store.list_jobs(&alice_local_unfinished).await.unwrap()), ["j-c", "j-a"]);

    let two = JobQuery { limit: 2, ..local.clone() };
    assert_eq!(ids_of_jobs(&store.list_jobs(&two).await.unwrap()), ["j-e", "j-d"]);
}

async fn jobs_by_workflow_hash(store: &dyn Store) {
    let same = |id: &str, owner: Option<&str>, at: i64, status: JobStatus| JobRecord {
        workflow_hash: "hash-shared ✓".into(),
        ..job(id, "hashes", owner, at, status)
    };
    let jobs = [
        same("h-1", Some("hana"), 1_000, JobStatus::Succeeded),
        same("h-2", Some("ivan"), 2_000, JobStatus::Succeeded),
        same("h-3", Some("hana"), 3_000, JobStatus::Queued { position: None }),
        job("h-4", "hashes", Some("hana"), 4_000, JobStatus::Succeeded), // another hash
    ];
    for j in &jobs {
        store.put_job(j).await.unwrap();
    }
    let shared = JobQuery { workflow_hash: Some("hash-shared ✓".into()), ..Default::default() };
    assert_eq!(ids_of_jobs(&store.list_jobs(&shared).await.unwrap()), ["h-3", "h-2", "h-1"]);
    let hana = JobQuery { owner: Some("hana".into()), ..shared.clone() };
    assert_eq!(ids_of_jobs(&store.list_jobs(&hana).await.unwrap()), ["h-3", "h-1"]);
    let hana_unfinished = JobQuery { unfinished_only: true, ..hana.clone() };
    assert_eq!(ids_of_jobs(&store.list_jobs(&hana_unfinished).await.unwrap()), ["h-3"]);
    let other = JobQuery { workflow_hash: Some("hash-h-4".into()), ..Default::default() };
    assert_eq!(ids_of_jobs(&store.list_jobs(&other).await.unwrap()), ["h-4"]);
    let none = JobQuery { workflow_hash: Some("hash-nothing".into()), ..Default::default() };
    assert!(store.list_jobs(&none).await.unwrap().is_empty());
}

async fn put_job_upserts(store: &dyn Store) {
    let mut j = job("j-up", "upsert", Some("carol"), 10_000, JobStatus::Queued { position: Some(0) });
    store.put_job(&j).await.unwrap();
    let unfinished = JobQuery { unfinished_only: true, backend: Some("upsert".into()), ..Default::default() };
    assert_eq!(ids_of_jobs(&store.list_jobs(&unfinished).await.unwrap()), ["j-up"]);

    j.status = JobStatus::Succeeded;
    j.outputs = vec![file_output("9", 0, "out_0.png"), file_output("9", 1, "out_1.png")];
    j.updated_at = 10_500;
    j.provenance.owner = Some("dave".into());
    store.put_job(&j).await.unwrap();

    assert_eq!(store.get_job(&j.id).await.unwrap(), Some(j.clone()));
    assert!(store.list_jobs(&unfinished).await.unwrap().is_empty(), "status_name follows the update");
    let all = JobQuery { backend: Some("upsert".into()), ..Default::default() };
    assert_eq!(store.list_jobs(&all).await.unwrap(), [j.clone()], "no duplicate row");
    let carol = JobQuery { owner: Some("carol".into()), ..Default::default() };
    assert!(store.list_jobs(&carol).await.unwrap().is_empty(), "owner column follows the update");
}

/// A late write of an earlier state (a "running" update racing the final one, or another
/// server still reconciling) never puts a finished job back; a finished job may still be
/// rewritten with another final state.
async fn a_finished_job_stays_finished(store: &dyn Store) {
    let running = job("j-keep", "keep", None, 12_000, JobStatus::Running(Progress::default()));
    store.put_job(&running).await.unwrap();
    let mut done = running.clone();
    done.status = JobStatus::Succeeded;
    done.outputs = vec![file_output("9", 0, "keep_0.png")];
    done.updated_at = 12_500;
    store.put_job(&done).await.unwrap();
    for late in
        [JobStatus::Running(Progress::default()), JobStatus::Queued { position: None }, JobStatus::Pending]
    {
        store.put_job(&JobRecord { status: late, updated_at: 12_600, ..running.clone() }).await.unwrap();
        assert_eq!(
            store.get_job(&done.id).await.unwrap(),
            Some(done.clone()),
            "a late write undid the result"
        );
    }
    let mut failed = done.clone();
    failed.status = JobStatus::Failed(JobFailure { message: "lost".into(), ..JobFailure::default() });
    failed.updated_at = 12_700;
    store.put_job(&failed).await.unwrap();
    assert_eq!(store.get_job(&done.id).await.unwrap(), Some(failed), "final to final is an update");
}

/// How a finished job is recorded: the job (upserted) and its assets (an id already stored is
/// left as it is) in one call.
async fn job_with_assets_in_one_write(store: &dyn Store) {
    let mut j = job("j-fin", "finish", Some("fay"), 11_000, JobStatus::Running(Default::default()));
    store.put_job(&j).await.unwrap();
    j.status = JobStatus::Succeeded;
    j.outputs = vec![file_output("9", 0, "fin_0.png"), file_output("9", 1, "fin_1.png")];
    j.updated_at = 11_500;
    let assets: Vec<Asset> = j.outputs.iter().map(|o| Asset::from_output(&j, o, 11_500)).collect();
    let mut known = assets[0].clone();
    known.mime_type = "already/stored".into();
    store.put_assets(std::slice::from_ref(&known)).await.unwrap();
    store.put_job_with_assets(&j, &assets).await.unwrap();
    assert_eq!(store.get_job(&j.id).await.unwrap(), Some(j.clone()));
    assert_eq!(store.get_asset(&assets[0].id).await.unwrap(), Some(known), "a stored asset is kept");
    assert_eq!(store.get_asset(&assets[1].id).await.unwrap().as_ref(), Some(&assets[1]));
    // No assets: just the job.
    j.updated_at = 11_600;
    store.put_job_with_assets(&j, &[]).await.unwrap();
    assert_eq!(store.get_job(&j.id).await.unwrap(), Some(j));
}

async fn default_limit_is_100(store: &dyn Store) {
    for i in 0..105 {
        store
            .put_job(&job(&format!("many-{i:03}"), "many", None, 20_000 + i, JobStatus::Pending))
            .await
            .unwrap();
    }
    let all = JobQuery { backend: Some("many".into()), ..Default::default() };
    let listed = store.list_jobs(&all).await.unwrap();
    assert_eq!(listed.len(), DEFAULT_LIMIT);
    assert_eq!(listed[0].id.as_str(), "many-104");
    assert_eq!(listed[99].id.as_str(), "many-005");
    let more = JobQuery { limit: 1_000, ..all };
    assert_eq!(store.list_jobs(&more).await.unwrap().len(), 105);
}

async fn assets_are_idempotent(store: &dyn Store) {
    let mut j = job("j-assets", "local", Some("erin"), 30_000, JobStatus::Succeeded);
    j.outputs = vec![
        file_output("9", 0, "x.png"),
        JobOutput {
            node_id: "12".into(),
            key: "videos".into(),
            index: 0,
            item: OutputItem::Url {
                url: "https://cdn.example/v.mp4?sig=1".into(),
                filename: None,
                media: MediaKind::Video,
                expires_at: None,
            },
        },
        JobOutput {
            node_id: "13".into(),
            key: "text".into(),
            index: 0,
            item: OutputItem::Text { text: "hi".into() },
        },
        JobOutput {
            node_id: "14".into(),
            key: "result".into(),
            index: 0,
            item: OutputItem::Value { value: json!([{"a": 1}, 2.5, null]) },
        },
    ];
    let assets: Vec<Asset> = j.outputs.iter().map(|o| Asset::from_output(&j, o, 30_100)).collect();
    store.put_assets(&assets).await.unwrap();
    for a in &assets {
        assert_eq!(store.get_asset(&a.id).await.unwrap().as_ref(), Some(a), "round trip of {}", a.id);
    }

    // Collecting again (with different details) leaves the stored assets as they were.
    let mut again = assets.clone();
    for a in &mut again {
        a.mime_type = "changed/type".into();
        a.created_at = 99_999;
    }
    store.put_assets(&again).await.unwrap();
    // A batch holding both known and new ids inserts only the new ones; within a batch the first wins.
    let new = asset(&j, "20", 0, None, Some("erin"), 30_200, None);
    let mut new_dup = new.clone();
    new_dup.mime_type = "second/copy".into();
    store.put_assets(&[again[0].clone(), new.clone(), new_dup]).await.unwrap();
    store.put_assets(&[]).await.unwrap();

    let q = AssetQuery { job_id: Some(j.id.clone()), ..Default::default() };
    let listed = store.list_assets(&q).await.unwrap();
    assert_eq!(listed.len(), assets.len() + 1);
    for a in &assets {
        assert_eq!(store.get_asset(&a.id).await.unwrap().as_ref(), Some(a), "{} untouched", a.id);
    }
    assert_eq!(store.get_asset(&new.id).await.unwrap(), Some(new));
}

async fn assets_filter_and_order(store: &dyn Store) {
    let j1 = job("j-list-1", "local", Some("fay"), 40_000, JobStatus::Succeeded);
    let j2 = job("j-list-2", "local", Some("fay"), 40_000, JobStatus::Succeeded);
    let assets = [
        asset(&j1, "1", 0, Some("portrait"), Some("fay"), 41_000, None),
        asset(&j1, "1", 1, Some("portrait"), Some("fay"), 42_000, None),
        asset(&j1, "2", 0, Some("landscape"), Some("gus"), 43_000, None),
        asset(&j2, "1", 0, Some("portrait"), Some("gus"), 44_000, None),
        asset(&j2, "1", 1, None, Some("fay"), 44_000, None),
        asset(&j2, "1", 2, Some("portrait"), None, 45_000, None),
    ];
    store.put_assets(&assets).await.unwrap();
    let id = |i: usize| assets[i].id.as_str();
    // The two assets created at 44_000 are ordered by id, descending.
    let (hi, lo) = if id(3) > id(4) { (id(3), id(4)) } else { (id(4), id(3)) };

    let by_job = |job: &JobRecord| AssetQuery { job_id: Some(job.id.clone()), ..Default::default() };
    assert_eq!(ids_of_assets(&store.list_assets(&by_job(&j1)).await.unwrap()), [id(2), id(1), id(0)]);
    assert_eq!(ids_of_assets(&store.list_assets(&by_job(&j2)).await.unwrap()), [id(5), hi, lo]);

    let portrait = AssetQuery { template: Some("portrait".into()), ..Default::default() };
    assert_eq!(ids_of_assets(&store.list_assets(&portrait).await.unwrap()), [id(5), id(3), id(1), id(0)]);

    let since = AssetQuery { since: Some(43_000), template: Some("portrait".into()), ..Default::default() };
    assert_eq!(ids_of_assets(&store.list_assets(&since).await.unwrap()), [id(5), id(3)]);
    let since_only = AssetQuery { since: Some(44_000), ..Default::default() };
    assert_eq!(ids_of_assets(&store.list_assets(&since_only).await.unwrap()), [id(5), hi, lo]);

    let fay = AssetQuery { owner: Some("fay".into()), ..Default::default() };
    assert_eq!(ids_of_assets(&store.list_assets(&fay).await.unwrap()), [id(4), id(1), id(0)]);

    let gus_j1 = AssetQuery { owner: Some("gus".into()), job_id: Some(j1.id.clone()), ..Default::default() };
    assert_eq!(ids_of_assets(&store.list_assets(&gus_j1).await.unwrap()), [id(2)]);

    let newest_two = AssetQuery { limit: 2, job_id: Some(j2.id.clone()), ..Default::default() };
    assert_eq!(ids_of_assets(&store.list_assets(&newest_two).await.unwrap()), [id(5), hi]);
}

async fn asset_content_is_recorded(store: &dyn Store) {
    let j = job("j-content", "local", None, 50_000, JobStatus::Succeeded);
    let a = asset(&j, "9", 0, None, None, 50_100, None);
    let b = asset(&j, "9", 1, None, None, 50_200, None);
    store.put_assets(&[a.clone(), b.clone()]).await.unwrap();

    let content = AssetContent {
        sha256: "ab".repeat(32),
        byte_size: 5_000_000_000, // more than u32
        width: Some(1024),
        height: Some(768),
        mime_type: Some("image/webp".into()),
    };
    store.set_asset_content(&a.id, &content).await.unwrap();
    let got = store.get_asset(&a.id).await.unwrap().unwrap();
    assert_eq!(got.sha256.as_deref(), Some(content.sha256.as_str()));
    assert_eq!(got.byte_size, Some(5_000_000_000));
    assert_eq!((got.width, got.height), (Some(1024), Some(768)));
    assert_eq!(got.mime_type, "image/webp");
    assert_eq!(
        Asset {
            sha256: None,
            byte_size: None,
            width: None,
            height: None,
            mime_type: a.mime_type.clone(),
            ..got
        },
        a
    );

    // Without a MIME type the stored one is kept.
    let plain =
        AssetContent { sha256: "cd".repeat(32), byte_size: 12, width: None, height: None, mime_type: None };
    store.set_asset_content(&b.id, &plain).await.unwrap();
    let got = store.get_asset(&b.id).await.unwrap().unwrap();
    assert_eq!((got.byte_size, got.width, got.mime_type.as_str()), (Some(12), None, "image/png"));

    // An unknown id (e.g. purged meanwhile) is not an error and creates nothing.
    let ghost = AssetId("a_ffffffffffffffffffffffff".into());
    store.set_asset_content(&ghost, &plain).await.unwrap();
    assert_eq!(store.get_asset(&ghost).await.unwrap(), None);
    // The other asset is unaffected.
    assert_eq!(store.get_asset(&b.id).await.unwrap().unwrap().sha256, Some("cd".repeat(32)));
}

async fn expired_assets_are_purged(store: &dyn Store) {
    let j = job("j-expiry", "local", Some("hal"), 60_000, JobStatus::Succeeded);
    let past = asset(&j, "1", 0, None, Some("hal"), 60_000, Some(60_500));
    let past2 = asset(&j, "1", 1, None, Some("hal"), 60_000, Some(i64::MIN));
    let at_now = asset(&j, "1", 2, None, Some("hal"), 60_000, Some(61_000));
    let future = asset(&j, "1", 3, None, Some("hal"), 60_000, Some(70_000));
    let forever = asset(&j, "1", 4, None, Some("hal"), 60_000, None);
    store
        .put_assets(&[past.clone(), past2.clone(), at_now.clone(), future.clone(), forever.clone()])
        .await
        .unwrap();

    // Assets of earlier sections have no expiry, so exactly these two go.
    assert_eq!(store.purge_expired(61_000).await.unwrap(), 2);
    assert_eq!(store.get_asset(&past.id).await.unwrap(), None);
    assert_eq!(store.get_asset(&past2.id).await.unwrap(), None);
    let q = AssetQuery { job_id: Some(j.id.clone()), ..Default::default() };
    let mut left = ids_of_assets(&store.list_assets(&q).await.unwrap())
        .into_iter()
        .map(str::to_owned)
        .collect::<Vec<_>>();
    left.sort();
    let mut expected = vec![at_now.id.0.clone(), future.id.0.clone(), forever.id.0.clone()];
    expected.sort();
    assert_eq!(left, expected);
    assert_eq!(store.purge_expired(61_000).await.unwrap(), 0, "nothing left to purge");
    assert_eq!(store.purge_expired(i64::MAX).await.unwrap(), 2);
    assert_eq!(store.get_asset(&forever.id).await.unwrap(), Some(forever));
    // Jobs are never purged.
    assert!(store.get_job(&j.id).await.unwrap().is_none(), "this job was never stored");
}

async fn unicode_and_huge_strings_survive(store: &dyn Store) {
    let huge: String = "日本語テキスト🎨 ".chars().cycle().take(400_000).collect();
    assert!(huge.len() > 1_000_000);
    let mut j = job(
        "ジョブ-🎨-\u{0}-'\"; DROP TABLE jobs;--",
        "バックエンド",
        Some("所有者 ✓"),
        80_000,
        JobStatus::Pending,
    );
    j.request = json!({"prompt": huge, "emoji": "👩‍👩‍👧‍👦", "escapes": "\u{0}\u{1f}\\\"\n"});
    j.workflow_hash = "ハッシュ".into();
    j.provenance.template = Some("テンプレート".into());
    store.put_job(&j).await.unwrap();
    assert_eq!(store.get_job(&j.id).await.unwrap().as_ref(), Some(&j));
    let q = JobQuery {
        owner: Some("所有者 ✓".into()),
        backend: Some("バックエンド".into()),
        ..Default::default()
    };
    assert_eq!(store.list_jobs(&q).await.unwrap(), [j.clone()]);

    let mut a = Asset::from_output(
        &j,
        &JobOutput {
            node_id: "ノード".into(),
            key: "text".into(),
            index: 7,
            item: OutputItem::Text { text: huge.clone() },
        },
        80_100,
    );
    a.url = Some("https://例え.jp/画像.png?q=ü".into());
    store.put_assets(std::slice::from_ref(&a)).await.unwrap();
    let got = store.get_asset(&a.id).await.unwrap().unwrap();
    assert_eq!(got.text.as_deref().map(str::len), Some(huge.len()));
    assert_eq!(got, a);
    let q = AssetQuery {
        template: Some("テンプレート".into()),
        owner: Some("所有者 ✓".into()),
        ..Default::default()
    };
    assert_eq!(store.list_assets(&q).await.unwrap(), [a]);
}
