//! Support for tests that need a PostgreSQL server, in this crate and in the
//! server's: a database of its own per test, dropped when the test ends.
//!
//! `SIGNALBOX_TEST_DATABASE_URL` names a database whose role may create
//! databases (`.ci/pg.sh` starts PostgreSQL, makes one and prints its URL).
//! Without it, [`TestDatabase::create`] says so once on stderr and gives
//! `None`, so the test can skip; with `CI` set it is an error instead: CI
//! runs the PostgreSQL tests, never skips them.

use std::io::Write;

use crate::pg;

/// The environment variable naming the tests' PostgreSQL server.
pub const DATABASE_URL_VARIABLE: &str = "SIGNALBOX_TEST_DATABASE_URL";

/// A new, empty database on the tests' server, dropped on drop.
pub struct TestDatabase {
    admin: String,
    name: String,
    /// The database's URL.
    pub url: String,
}

impl TestDatabase {
    /// A new database; `Ok(None)` when no server is configured (outside CI).
    pub fn create() -> Result<Option<TestDatabase>, String> {
        let Ok(admin) = std::env::var(DATABASE_URL_VARIABLE) else {
            if std::env::var_os("CI").is_some() {
                return Err(format!("{DATABASE_URL_VARIABLE} is not set: CI must run the PostgreSQL tests"));
            }
            static SAID: std::sync::Once = std::sync::Once::new();
            // Straight to stderr, past the test harness's capture, once per test binary.
            SAID.call_once(|| {
                let _ = writeln!(
                    std::io::stderr(),
                    "skipping the PostgreSQL tests: {DATABASE_URL_VARIABLE} is not set (bash .ci/pg.sh prints a URL for it)"
                );
            });
            return Ok(None);
        };
        let name = format!("sbx_test_{}", ulid::Ulid::new().to_string().to_lowercase());
        crate::pg_store::off_runtime(|| {
            let mut client = pg::connect(&admin).map_err(|e| e.to_string())?;
            client.batch_execute(&format!("CREATE DATABASE {name}")).map_err(|e| e.to_string())
        })?;
        let base = admin.split_once('?').map_or(admin.as_str(), |(base, _)| base);
        let server = base.rsplit_once('/').map_or(base, |(server, _)| server);
        let url = format!("{server}/{name}");
        Ok(Some(TestDatabase { admin, name, url }))
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (admin, name) = (&self.admin, &self.name);
        crate::pg_store::off_runtime(|| {
            if let Ok(mut admin) = pg::connect(admin) {
                let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        });
    }
}
