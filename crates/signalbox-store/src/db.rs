//! One way to run the store's SQL on either database: the embedded SQLite
//! (`rusqlite`) or PostgreSQL (`postgres`).
//!
//! Statements are written once, in the dialect both accept, with SQLite's
//! numbered parameters (`?1`); on PostgreSQL they become `$1`, and SQLite's
//! index hints (`INDEXED BY name`) are dropped (PostgreSQL's planner chooses).
//! Each connection keeps its statements prepared, keyed by their text.

use std::cell::RefCell;
use std::collections::HashMap;

use crate::error::StoreError;

/// A value bound to a statement on either database.
pub(crate) trait Param: rusqlite::ToSql + postgres::types::ToSql + Sync {}
impl<T: rusqlite::ToSql + postgres::types::ToSql + Sync> Param for T {}

/// A column type read from either database.
pub(crate) trait Column: rusqlite::types::FromSql + for<'a> postgres::types::FromSql<'a> {}
impl<T: rusqlite::types::FromSql + for<'a> postgres::types::FromSql<'a>> Column for T {}

/// A column that could not be read as the type asked for.
#[derive(Debug)]
pub(crate) struct ColumnError(pub(crate) String);

impl From<rusqlite::Error> for ColumnError {
    fn from(e: rusqlite::Error) -> ColumnError {
        ColumnError(e.to_string())
    }
}

impl From<postgres::Error> for ColumnError {
    fn from(e: postgres::Error) -> ColumnError {
        ColumnError(e.to_string())
    }
}

/// A row of a result, from either database.
pub(crate) enum DbRow<'r, 's> {
    Sqlite(&'r rusqlite::Row<'s>),
    Pg(&'r postgres::Row),
}

impl DbRow<'_, '_> {
    pub(crate) fn get<T: Column>(&self, index: usize) -> Result<T, ColumnError> {
        match self {
            DbRow::Sqlite(row) => Ok(row.get(index)?),
            DbRow::Pg(row) => Ok(row.try_get(index)?),
        }
    }
}

/// A PostgreSQL connection with its prepared statements, used by one thread
/// at a time inside one transaction.
pub(crate) struct PgConn {
    pub(crate) client: RefCell<postgres::Client>,
    statements: RefCell<HashMap<String, postgres::Statement>>,
}

impl PgConn {
    pub(crate) fn new(client: postgres::Client) -> PgConn {
        PgConn { client: RefCell::new(client), statements: RefCell::default() }
    }

    /// The statement for `sql`, prepared on this connection once.
    fn statement(&self, sql: &str) -> Result<postgres::Statement, postgres::Error> {
        if let Some(statement) = self.statements.borrow().get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.client.borrow_mut().prepare(&to_postgres(sql))?;
        self.statements.borrow_mut().insert(sql.to_string(), statement.clone());
        Ok(statement)
    }

    pub(crate) fn query(&self, sql: &str, params: &[&dyn Param]) -> Result<Vec<postgres::Row>, postgres::Error> {
        let statement = self.statement(sql)?;
        let params: Vec<&(dyn postgres::types::ToSql + Sync)> = params.iter().map(|p| *p as _).collect();
        self.client.borrow_mut().query(&statement, &params)
    }

    pub(crate) fn execute(&self, sql: &str, params: &[&dyn Param]) -> Result<u64, postgres::Error> {
        let statement = self.statement(sql)?;
        let params: Vec<&(dyn postgres::types::ToSql + Sync)> = params.iter().map(|p| *p as _).collect();
        self.client.borrow_mut().execute(&statement, &params)
    }

    /// Runs statements without parameters (`BEGIN`, `COMMIT`…).
    pub(crate) fn batch(&self, sql: &str) -> Result<(), postgres::Error> {
        self.client.borrow_mut().batch_execute(sql)
    }

    /// Runs several statements in one round trip (the simple protocol) and
    /// reads the first column of the last row any of them returned as an integer.
    pub(crate) fn batch_i64(&self, sql: &str) -> Result<Option<i64>, postgres::Error> {
        let messages = self.client.borrow_mut().simple_query(sql)?;
        Ok(messages
            .iter()
            .rev()
            .find_map(|m| match m {
                postgres::SimpleQueryMessage::Row(row) => Some(row.get(0).and_then(|v| v.parse().ok())),
                _ => None,
            })
            .flatten())
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.client.borrow().is_closed()
    }
}

/// The connection a [`Tx`](crate::Tx) runs on.
#[derive(Clone, Copy)]
pub(crate) enum Conn<'a> {
    Sqlite(&'a rusqlite::Connection),
    Pg(&'a PgConn),
}

/// SQLite's statement text as PostgreSQL takes it: `?N` → `$N`, no `INDEXED BY`.
pub(crate) fn to_postgres(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '?' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('$');
        } else {
            out.push(c);
        }
    }
    while let Some(start) = out.find("INDEXED BY ") {
        let rest = &out[start + "INDEXED BY ".len()..];
        let name_len = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
        out.replace_range(start..start + "INDEXED BY ".len() + name_len, "");
    }
    out
}

/// What a PostgreSQL error means for the store: the database out of reach
/// (the connection lost, the server shutting down or refusing connections)
/// is "unavailable, retry"; anything else is the operation's failure.
pub(crate) fn pg_error(op: &'static str, e: &postgres::Error) -> StoreError {
    let unreachable = match e.code() {
        None => true,
        Some(code) => {
            let code = code.code();
            // 08: connection exception; 57P0x: shutdown, crash, cannot connect now; 53300: too many connections.
            code.starts_with("08") || code.starts_with("57P") || code == "53300"
        }
    };
    if unreachable || e.is_closed() {
        StoreError::Unreachable { message: format!("`{op}`: {e}") }
    } else {
        StoreError::Query { op, message: e.as_db_error().map_or_else(|| e.to_string(), |d| d.message().to_string()) }
    }
}

#[cfg(test)]
mod tests {
    use super::to_postgres;

    #[test]
    fn statements_become_postgres_ones() {
        assert_eq!(to_postgres("SELECT a FROM t WHERE b = ?1 AND c = ?12"), "SELECT a FROM t WHERE b = $1 AND c = $12");
        assert_eq!(
            to_postgres("SELECT x FROM stage_deployments INDEXED BY stage_by_version\n WHERE a = ?1"),
            "SELECT x FROM stage_deployments \n WHERE a = $1"
        );
        assert_eq!(to_postgres("SELECT '?' FROM t"), "SELECT '?' FROM t");
    }
}
