#pragma once
// Versioned schema migrations, the same SQL for SQLite and PostgreSQL apart from two tokens:
// {id} (auto-increment primary key) and {ts} (timestamp column type; both store Unix ms as
// BIGINT). Applied versions are recorded in schema_version; migrate() is idempotent and safe
// when several servers start at once (PostgreSQL: an advisory lock; SQLite: BEGIN IMMEDIATE).
#include <string>
#include <vector>

#include "store/database.h"

namespace ms::store {

struct Migration {
  int version = 0;
  std::string name;
  std::string sql;  // several statements, with {id} tokens
  // Where the dialects differ (constraints): each runs its own text instead of `sql`.
  std::string sqlite_sql, postgres_sql;
  // The SQLite text edits sqlite_schema (writable_schema): the schema cookie is then bumped so
  // every pooled connection reloads the schema before its next statement.
  bool rewrites_sqlite_schema = false;
};

const std::vector<Migration>& migrations();
// The highest version this build knows (migrations need not be listed in order).
int newest_schema_version();
// The SQL of one migration for one dialect.
std::string migration_sql(const Migration& m, Dialect d);
// Applies every migration newer than the recorded version, all in one transaction.
Status migrate(Database& db);
// 0 for an empty database.
Result<int> schema_version(Database& db);

}  // namespace ms::store
