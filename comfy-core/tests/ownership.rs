//! The ownership rule of a shared client ([`Caller`]) against the fake ComfyUI: a user's jobs,
//! assets and batches are invisible to another user (reported like missing ids), an admin and
//! the local user see everything, and a user adopts no job from the backend.

use std::sync::Arc;
use std::time::Duration;

use comfy_core::backend::Backend;
use comfy_core::backend::local::LocalComfyUi;
use comfy_core::publish::PublishDir;
use comfy_core::store::{AssetQuery, JobQuery, MemoryStore};
use comfy_core::{
    BatchItems, BatchRequest, Caller, ClientOptions, Comfy, Error, PublishOptions, Source, Waited,
};
use comfy_fake::FakeComfyUi;
use serde_json::{Value, json};

const LONG: Duration = Duration::from_secs(30);

fn client(fake: &FakeComfyUi) -> Comfy {
    let backend: Arc<dyn Backend> = Arc::new(LocalComfyUi::builder(&fake.url()).build().unwrap());
    let options = ClientOptions { poll_interval: Duration::from_millis(50), ..Default::default() };
    Comfy::builder(backend).store(Arc::new(MemoryStore::default())).options(options).build().unwrap()
}

fn image(prefix: &str) -> Value {
    json!({
        "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": prefix}}
    })
}

async fn run(comfy: &Comfy, prefix: &str) -> (comfy_core::job::JobId, comfy_core::store::AssetId) {
    let Waited::Finished(done) = comfy.run(Source::Json(image(prefix)), Some(LONG)).await.unwrap() else {
        panic!("not finished")
    };
    (done.job_id, done.assets[0].clone())
}

#[tokio::test]
async fn users_see_their_own_records_admins_and_the_local_user_see_all() {
    let fake = FakeComfyUi::builder().start().await.unwrap();
    let local = client(&fake);
    let (a, b, admin) = (
        local.acting_for(Caller::user("a")),
        local.acting_for(Caller::user("b")),
        local.acting_for(Caller::admin("root")),
    );
    assert_eq!(local.caller(), &Caller::local());
    let (job, asset) = run(&a, "a").await;
    assert_eq!(a.job(&job).await.unwrap().record().provenance.owner.as_deref(), Some("a"));
    assert_eq!(a.asset(&asset).await.unwrap().provenance.owner.as_deref(), Some("a"));

    // b: not found, worded exactly as a missing id.
    let missing = comfy_core::job::JobId("00000000-0000-4000-8000-000000000000".into());
    let theirs = b.job(&job).await.unwrap_err();
    let gone = b.job(&missing).await.unwrap_err();
    assert!(matches!(theirs, Error::JobNotFound { .. }), "{theirs}");
    assert_eq!(theirs.to_string().replace(&job.0, "ID"), gone.to_string().replace(&missing.0, "ID"));
    assert!(matches!(b.asset(&asset).await, Err(Error::AssetNotFound { .. })));
    assert!(matches!(b.fetch_asset(&asset).await, Err(Error::AssetNotFound { .. })));
    assert!(matches!(b.origin_of(&asset).await, Err(Error::AssetNotFound { .. })));
    assert!(matches!(b.reuse_output(&asset, None, 1 << 20).await, Err(Error::AssetNotFound { .. })));
    let web = tempfile::tempdir().unwrap();
    let dir = PublishDir::open(web.path(), "gen", false).unwrap();
    assert!(matches!(
        b.publish_asset(&asset, &dir, PublishOptions::default()).await,
        Err(Error::AssetNotFound { .. })
    ));
    assert!(b.jobs(&JobQuery::default()).await.unwrap().is_empty());
    assert!(b.assets(&AssetQuery::default()).await.unwrap().is_empty());
    // Asking for a's records by name does not widen b's lists.
    let as_a = AssetQuery { owner: Some("a".into()), ..Default::default() };
    assert!(b.assets(&as_a).await.unwrap().is_empty());
    assert_eq!(a.assets(&AssetQuery::default()).await.unwrap().len(), 1);

    // b's own job is b's.
    let (b_job, b_asset) = run(&b, "b").await;
    assert!(matches!(a.job(&b_job).await, Err(Error::JobNotFound { .. })));
    assert_eq!(b.assets(&AssetQuery::default()).await.unwrap()[0].id, b_asset);

    // The admin and the local user see and act on everything.
    for all in [&admin, &local] {
        all.job(&job).await.unwrap();
        all.job(&b_job).await.unwrap();
        all.fetch_asset(&asset).await.unwrap();
        assert_eq!(all.assets(&AssetQuery::default()).await.unwrap().len(), 2);
        assert_eq!(all.jobs(&JobQuery::default()).await.unwrap().len(), 2);
        assert_eq!(all.assets(&as_a).await.unwrap().len(), 1, "an admin may still filter by owner");
    }
    admin.publish_asset(&asset, &dir, PublishOptions::default()).await.unwrap();
    // What the admin runs is the admin's; what the local user runs has no owner.
    let (root_job, _) = run(&admin, "root").await;
    assert_eq!(local.job(&root_job).await.unwrap().record().provenance.owner.as_deref(), Some("root"));
    let (local_job, _) = run(&local, "local").await;
    assert_eq!(local.job(&local_job).await.unwrap().record().provenance.owner, None);
    assert!(matches!(a.job(&local_job).await, Err(Error::JobNotFound { .. })));
    admin.job(&local_job).await.unwrap();
}

#[tokio::test]
async fn users_adopt_no_job_from_the_backend() {
    let fake = FakeComfyUi::builder().start().await.unwrap();
    // Submitted by another client (its own store): this one's store has no record of it.
    let elsewhere = client(&fake);
    let (job, _) = run(&elsewhere, "elsewhere").await;
    let here = client(&fake);
    assert!(matches!(here.acting_for(Caller::user("a")).job(&job).await, Err(Error::JobNotFound { .. })));
    here.acting_for(Caller::admin("root")).job(&job).await.expect("an admin adopts it");
    here.job(&job).await.expect("the local user adopts it");
}

#[tokio::test]
async fn batches_belong_to_their_user() {
    let fake = FakeComfyUi::builder().start().await.unwrap();
    let local = client(&fake);
    let (a, b, admin) = (
        local.acting_for(Caller::user("a")),
        local.acting_for(Caller::user("b")),
        local.acting_for(Caller::admin("root")),
    );
    // A raw workflow varied by node overrides.
    let request = BatchRequest {
        source: Source::Json(image("batch")),
        items: BatchItems::Overrides(vec![
            serde_json::Map::from_iter([("1.color".to_owned(), json!(1))]),
            serde_json::Map::from_iter([("1.color".to_owned(), json!(2))]),
        ]),
    };
    let status = a.submit_batch(request).await.unwrap();
    let id = status.batch_id.clone();
    let done = a.wait_batch(&id, LONG).await.unwrap();
    assert!(done.is_finished(), "{}", done.describe());
    assert!(matches!(b.batch_status(&id).await, Err(Error::BatchNotFound { .. })));
    assert!(matches!(b.batch_outputs(&id).await, Err(Error::BatchNotFound { .. })));
    assert!(matches!(b.wait_batch(&id, Duration::ZERO).await, Err(Error::BatchNotFound { .. })));
    assert!(b.batches(10).await.unwrap().is_empty());
    assert_eq!(a.batches(10).await.unwrap().len(), 1);
    assert_eq!(admin.batches(10).await.unwrap().len(), 1);
    admin.batch_outputs(&id).await.unwrap();
    for item in &done.items {
        let job = comfy_core::job::JobId(item.job_id.clone().unwrap());
        assert_eq!(local.job(&job).await.unwrap().record().provenance.owner.as_deref(), Some("a"));
        assert!(matches!(b.job(&job).await, Err(Error::JobNotFound { .. })));
    }
}
