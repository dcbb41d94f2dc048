//! A throwaway schema per test on the PostgreSQL server of `COMFY_TEST_POSTGRES_URL` (started
//! by scripts/test.sh); the tests FAIL without it.
#![allow(dead_code)]

use tokio_postgres::NoTls;

const URL_ENV: &str = "COMFY_TEST_POSTGRES_URL";

pub fn base_url() -> String {
    match std::env::var(URL_ENV) {
        Ok(url) if !url.trim().is_empty() => url,
        _ => panic!(
            "{URL_ENV} is not set: these tests need a PostgreSQL server. Start one with \
             `scripts/postgres/start.sh DIR` (it prints the URL), or run scripts/test.sh"
        ),
    }
}

/// A raw connection to the test database (for setting up schemas and inspecting tables).
pub async fn raw(url: &str) -> tokio_postgres::Client {
    let (client, connection) =
        tokio_postgres::connect(url, NoTls).await.expect("connect to the test database");
    tokio::spawn(connection);
    client
}

/// A new, empty schema; returns the URL whose connections use it.
pub async fn fresh_schema(label: &str) -> String {
    let base = base_url();
    let schema = format!("t_{label}_{}", uuid::Uuid::new_v4().simple());
    raw(&base).await.batch_execute(&format!("CREATE SCHEMA {schema}")).await.unwrap();
    with_search_path(&base, &schema)
}

pub fn with_search_path(url: &str, schema: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}options=-csearch_path%3D{schema}")
}

pub async fn count(url: &str, sql: &str) -> i64 {
    raw(url).await.query_one(sql, &[]).await.unwrap().get(0)
}
