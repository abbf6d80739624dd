//! A PostgreSQL database of its own for each test: `SIGNALBOX_TEST_DATABASE_URL`
//! names a database whose role may create databases (`.ci/pg.sh` makes one);
//! each test works in a new database, dropped at the end. Without the
//! variable the tests skip with one line, except under CI, where they fail.

use std::io::Write;

use crate::pg;

const VARIABLE: &str = "SIGNALBOX_TEST_DATABASE_URL";

/// A database of its own for one test, dropped when the test ends.
pub(crate) struct TestDb {
    admin: String,
    name: String,
    pub(crate) url: String,
}

impl TestDb {
    /// A new empty database, or `None` (with one line saying why) when no
    /// server is configured outside CI.
    pub(crate) fn new(test: &str) -> Option<TestDb> {
        let Ok(admin) = std::env::var(VARIABLE) else {
            assert!(std::env::var_os("CI").is_none(), "{VARIABLE} is not set: CI must run the PostgreSQL tests");
            // Straight to stderr, past the test harness's capture, once per run.
            static SAID: std::sync::Once = std::sync::Once::new();
            SAID.call_once(|| {
                let _ = writeln!(
                    std::io::stderr(),
                    "skipping the PostgreSQL tests ({test} and the rest): {VARIABLE} is not set (bash .ci/pg.sh prints a URL for it)"
                );
            });
            return None;
        };
        let name = format!("sbx_test_{}", ulid::Ulid::new().to_string().to_lowercase());
        pg::connect(&admin).unwrap().batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        let (base, _) = admin.split_once('?').unwrap_or((&admin, ""));
        let (server, _) = base.rsplit_once('/').unwrap();
        let url = format!("{server}/{name}");
        Some(TestDb { admin, name, url })
    }

    pub(crate) fn client(&self) -> postgres::Client {
        pg::connect(&self.url).unwrap()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Ok(mut admin) = pg::connect(&self.admin) {
            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
        }
    }
}
