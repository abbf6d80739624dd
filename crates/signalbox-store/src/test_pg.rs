//! The crate's own PostgreSQL tests get their database from [`crate::testing`].

use crate::pg;
use crate::testing::TestDatabase;

/// A database of its own for one test, dropped when the test ends.
pub(crate) struct TestDb {
    database: TestDatabase,
    pub(crate) url: String,
}

impl TestDb {
    /// A new empty database, or `None` when no server is configured outside CI.
    pub(crate) fn new(_test: &str) -> Option<TestDb> {
        let database = TestDatabase::create().unwrap()?;
        let url = database.url.clone();
        Some(TestDb { database, url })
    }

    pub(crate) fn client(&self) -> postgres::Client {
        let _ = &self.database;
        pg::connect(&self.url).unwrap()
    }
}
