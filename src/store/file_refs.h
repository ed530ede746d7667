#pragma once
// Which stored files the records still name. The server's file store is content-addressed and
// shared (one file may back images of several samples, a thumbnail, an avatar), so a file can go
// only when no row names it: the file sweep marks every hash these columns hold and removes the
// rest. Writers that store files before the rows naming them coordinate with the sweep through
// lock_file_references.
#include <string>
#include <unordered_set>
#include <vector>

#include "store/database.h"

namespace ms::store {

// Every table.column that holds the SHA-256 of a file in the file store. A new column that names
// stored files must be listed here, or the sweep deletes its files.
const std::vector<std::pair<std::string, std::string>>& file_reference_columns();

// Every hash named by a file_reference_columns() column.
Result<std::unordered_set<std::string>> referenced_files(Tx& tx);
// Those of `hashes` that some row names.
Result<std::unordered_set<std::string>> referenced_among(Tx& tx,
                                                         const std::vector<std::string>& hashes);

// Serialises the sweep with writers that reference stored files, until the transaction ends.
// The sweep takes it exclusively and removes files only while holding it; a writer takes it
// shared, then makes sure its files exist (storing them again if a sweep removed them after the
// writer stored them), then inserts its rows: either the sweep ran before (the files are back) or
// it runs after the commit (the rows protect them). PostgreSQL: a transaction-scoped advisory
// lock. SQLite: nothing to do (write transactions already exclude each other and the sweep runs
// in one).
Status lock_file_references(Tx& tx, bool exclusive);

}  // namespace ms::store
