#include "store/schema.h"

#include <algorithm>
#include <set>

#include <fmt/format.h>

namespace ms::store {
namespace {

// Timestamps are Unix milliseconds (BIGINT) everywhere: portable, sortable, one unit.
// Booleans are INTEGER 0/1 (SQLite has no BOOLEAN; PostgreSQL's would need casts in shared SQL).
// Cells hold what review and reports need later: the model's suggestion with its top-k JSON, the
// reviewer's class, who confirmed it and when. UNIQUE (job_id, cell_index) makes writing a job's
// cells twice impossible even if two workers raced past the job-status check.
const char* kSchemaV1 = R"SQL(
CREATE TABLE users (
  id {id},
  username TEXT NOT NULL UNIQUE,
  password_hash TEXT NOT NULL,
  role TEXT NOT NULL CHECK (role IN ('admin', 'doctor', 'technician', 'viewer')),
  enabled INTEGER NOT NULL DEFAULT 0,
  display_name TEXT NOT NULL DEFAULT '',
  email TEXT NOT NULL DEFAULT '',
  phone TEXT NOT NULL DEFAULT '',
  department TEXT NOT NULL DEFAULT '',
  gender TEXT NOT NULL DEFAULT '',
  avatar_sha256 TEXT,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  last_login_at BIGINT
);
CREATE TABLE sessions (
  id {id},
  user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  token_hash TEXT NOT NULL UNIQUE,
  csrf_token TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  last_seen_at BIGINT NOT NULL,
  revoked_at BIGINT,
  ip TEXT NOT NULL DEFAULT '',
  user_agent TEXT NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE TABLE login_failures (
  id {id},
  username TEXT NOT NULL,
  ip TEXT NOT NULL DEFAULT '',
  at BIGINT NOT NULL
);
CREATE INDEX login_failures_user ON login_failures (username, at);
CREATE TABLE patients (
  id {id},
  identifier TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  sex TEXT NOT NULL DEFAULT 'unknown' CHECK (sex IN ('female', 'male', 'other', 'unknown')),
  birth_date TEXT,
  keywords TEXT NOT NULL DEFAULT '',
  notes TEXT NOT NULL DEFAULT '',
  created_by BIGINT REFERENCES users(id) ON DELETE SET NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE INDEX patients_name ON patients (name);
CREATE TABLE samples (
  id {id},
  patient_id BIGINT NOT NULL REFERENCES patients(id) ON DELETE CASCADE,
  accession TEXT NOT NULL UNIQUE,
  specimen TEXT NOT NULL CHECK (specimen IN ('bone_marrow', 'peripheral_blood')),
  collection_date TEXT,
  count_target INTEGER NOT NULL CHECK (count_target > 0),
  status TEXT NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'in_review', 'signed')),
  notes TEXT NOT NULL DEFAULT '',
  signed_by BIGINT REFERENCES users(id) ON DELETE SET NULL,
  signed_at BIGINT,
  created_by BIGINT REFERENCES users(id) ON DELETE SET NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE INDEX samples_patient ON samples (patient_id);
CREATE TABLE images (
  id {id},
  sample_id BIGINT NOT NULL REFERENCES samples(id) ON DELETE CASCADE,
  sha256 TEXT NOT NULL,
  filename TEXT NOT NULL,
  format TEXT NOT NULL,
  width INTEGER NOT NULL,
  height INTEGER NOT NULL,
  bytes BIGINT NOT NULL,
  thumbnail_sha256 TEXT,
  uploaded_by BIGINT REFERENCES users(id) ON DELETE SET NULL,
  created_at BIGINT NOT NULL,
  UNIQUE (sample_id, sha256)
);
CREATE TABLE model_versions (
  id {id},
  kind TEXT NOT NULL CHECK (kind IN ('detector', 'classifier')),
  name TEXT NOT NULL,
  version TEXT NOT NULL,
  sha256 TEXT NOT NULL DEFAULT '',
  metrics TEXT NOT NULL DEFAULT '{}',
  active INTEGER NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL,
  UNIQUE (kind, name, version)
);
CREATE TABLE jobs (
  id {id},
  kind TEXT NOT NULL DEFAULT 'analyse_image',
  image_id BIGINT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
  sample_id BIGINT NOT NULL REFERENCES samples(id) ON DELETE CASCADE,
  status TEXT NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'done', 'failed')),
  progress DOUBLE PRECISION NOT NULL DEFAULT 0,
  attempts INTEGER NOT NULL DEFAULT 0,
  error TEXT,
  worker TEXT,
  lease_until BIGINT,
  created_by BIGINT REFERENCES users(id) ON DELETE SET NULL,
  created_at BIGINT NOT NULL,
  started_at BIGINT,
  finished_at BIGINT
);
CREATE INDEX jobs_status ON jobs (status, id);
CREATE INDEX jobs_sample ON jobs (sample_id);
CREATE TABLE cells (
  id {id},
  job_id BIGINT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  cell_index INTEGER NOT NULL,
  image_id BIGINT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
  sample_id BIGINT NOT NULL REFERENCES samples(id) ON DELETE CASCADE,
  x1 DOUBLE PRECISION NOT NULL,
  y1 DOUBLE PRECISION NOT NULL,
  x2 DOUBLE PRECISION NOT NULL,
  y2 DOUBLE PRECISION NOT NULL,
  det_score DOUBLE PRECISION NOT NULL,
  suggested_class TEXT NOT NULL,
  probability DOUBLE PRECISION NOT NULL,
  top_k TEXT NOT NULL DEFAULT '[]',
  entropy DOUBLE PRECISION NOT NULL DEFAULT 0,
  flagged INTEGER NOT NULL DEFAULT 0,
  detector_version TEXT NOT NULL DEFAULT '',
  classifier_version TEXT NOT NULL DEFAULT '',
  reviewed_class TEXT,
  reviewer_id BIGINT REFERENCES users(id) ON DELETE SET NULL,
  confirmed INTEGER NOT NULL DEFAULT 0,
  reviewed_at BIGINT,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  UNIQUE (job_id, cell_index)
);
CREATE INDEX cells_sample ON cells (sample_id, suggested_class);
CREATE INDEX cells_image ON cells (image_id);
CREATE TABLE audit_events (
  id {id},
  at BIGINT NOT NULL,
  user_id BIGINT REFERENCES users(id) ON DELETE SET NULL,
  entity_type TEXT NOT NULL,
  entity_id BIGINT NOT NULL,
  action TEXT NOT NULL,
  from_value TEXT,
  to_value TEXT,
  ip TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_events_entity ON audit_events (entity_type, entity_id);
CREATE TABLE log_entries (
  id {id},
  at BIGINT NOT NULL,
  user_id BIGINT REFERENCES users(id) ON DELETE SET NULL,
  username TEXT NOT NULL DEFAULT '',
  action TEXT NOT NULL,
  target TEXT NOT NULL DEFAULT '',
  details TEXT NOT NULL DEFAULT '',
  ip TEXT NOT NULL DEFAULT ''
);
CREATE INDEX log_entries_at ON log_entries (at);
CREATE INDEX log_entries_action ON log_entries (action, at);
)SQL";

// Review (migration 2): an audit event of a cell also names its sample, so a sample's review
// trail and "undo my last change" need no join, and a change_id groups the events one request
// wrote (a batch reclassification is undone as one step); undone_at marks a group reverted.
// The list indexes serve the review queue's orders (lowest confidence, highest entropy first).
const char* kSchemaV2 = R"SQL(
ALTER TABLE audit_events ADD COLUMN sample_id BIGINT;
ALTER TABLE audit_events ADD COLUMN change_id TEXT;
ALTER TABLE audit_events ADD COLUMN undone_at BIGINT;
CREATE INDEX audit_events_sample ON audit_events (sample_id, user_id, id);
CREATE INDEX audit_events_change ON audit_events (change_id);
CREATE INDEX cells_sample_probability ON cells (sample_id, probability);
CREATE INDEX cells_sample_entropy ON cells (sample_id, entropy);
)SQL";

// Sign-off and addenda (the report layer's snapshot is stored verbatim as JSON text). One sign-off
// per sample (UNIQUE): two doctors signing at once cannot both succeed. The snapshot is what was
// signed and is never updated; later changes are appended as addenda.
const char* kSchemaV3 = R"SQL(
CREATE TABLE sample_signoffs (
  id {id},
  sample_id BIGINT NOT NULL UNIQUE REFERENCES samples(id) ON DELETE CASCADE,
  signed_by BIGINT REFERENCES users(id) ON DELETE SET NULL,
  signer_name TEXT NOT NULL,
  signed_at BIGINT NOT NULL,
  snapshot TEXT NOT NULL,
  snapshot_sha256 TEXT NOT NULL
);
CREATE TABLE report_addenda (
  id {id},
  sample_id BIGINT NOT NULL REFERENCES samples(id) ON DELETE CASCADE,
  author_id BIGINT REFERENCES users(id) ON DELETE SET NULL,
  author_name TEXT NOT NULL,
  body TEXT NOT NULL,
  created_at BIGINT NOT NULL
);
CREATE INDEX report_addenda_sample ON report_addenda (sample_id, id);
)SQL";

// Crop framing (migration 4): the side of the square crop the classifier saw. The pipeline sizes
// crops from each field's red cells (src/pipeline/pipeline_options.h crop_rbc_sides), which the
// box alone does not tell, so display and export crops read it here to frame a cell exactly as it
// was classified. NULL for cells written before (they keep the default margin).
const char* kSchemaV4 = R"SQL(
ALTER TABLE cells ADD COLUMN crop_side INTEGER;
)SQL";

// Throttling and session lifetime (migration 5). login_failures holds every throttled attempt,
// told apart by kind: failed sign-ins ('login', counted per username and client address and per
// address), wrong current passwords of a password change ('password', per account) and
// self-registrations ('register', per address). Its (at) index makes the purge of old rows a
// range delete instead of a scan of a table an attacker can grow; (ip, kind, at) serves the
// per-address counts. Sessions get an absolute end (ends_at) that the sliding idle expiry never
// passes; existing sessions end 7 days after they began. The (expires_at) index serves the purge
// of ended sessions at sign-in.
const char* kSchemaV5 = R"SQL(
ALTER TABLE login_failures ADD COLUMN kind TEXT NOT NULL DEFAULT 'login';
CREATE INDEX login_failures_at ON login_failures (at);
CREATE INDEX login_failures_ip ON login_failures (ip, kind, at);
ALTER TABLE sessions ADD COLUMN ends_at BIGINT;
UPDATE sessions SET ends_at = created_at + 604800000;
CREATE INDEX sessions_expires ON sessions (expires_at);
)SQL";

// Jobs and files (migration 6): a job can be cancelled (by a person, or because its sample was
// signed before its cells could be stored), which the status CHECK must allow; the per-user queue
// quota counts a user's queued jobs; the file sweep asks whether any image still names a file.
// PostgreSQL replaces the constraint. SQLite cannot alter a CHECK, but widening one is a change
// that "does not affect the on-disk content in any way", for which SQLite documents editing the
// table's text in sqlite_schema under writable_schema and bumping the schema cookie
// (sqlite.org/lang_altertable.html, "otheralter"): every existing row already satisfies the wider
// CHECK, and no table rebuild (which would cascade-delete the cells through their foreign key) is
// needed.
const char* kSchemaV6Sqlite = R"SQL(
CREATE INDEX jobs_creator ON jobs (created_by, status);
CREATE INDEX images_sha256 ON images (sha256);
CREATE INDEX images_thumbnail ON images (thumbnail_sha256);
PRAGMA writable_schema = ON;
UPDATE sqlite_schema SET sql = replace(sql, '''done'', ''failed''))', '''done'', ''failed'', ''cancelled''))')
  WHERE type = 'table' AND name = 'jobs';
PRAGMA writable_schema = OFF;
)SQL";
const char* kSchemaV6Postgres = R"SQL(
ALTER TABLE jobs DROP CONSTRAINT IF EXISTS jobs_status_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_status_check
  CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled'));
CREATE INDEX jobs_creator ON jobs (created_by, status);
CREATE INDEX images_sha256 ON images (sha256);
CREATE INDEX images_thumbnail ON images (thumbnail_sha256);
)SQL";

// Atypical cells (migration 7): how unlike the classifier's training cells a cell looks (a share
// in [0,1], engine/classifier/atypical.h) and why it needs attention ("atypical",
// "low_confidence", "high_entropy"), so the review queue can say why a cell is in it. NULL for
// cells written before, or by a classifier without an atypical reference.
const char* kSchemaV7 = R"SQL(
ALTER TABLE cells ADD COLUMN atypical REAL;
ALTER TABLE cells ADD COLUMN flag_reason TEXT;
)SQL";

// Field edits (migration 8): who drew a cell's box, "model" (the detector) or "reviewer" (a missed
// cell added on the field). Removed boxes need no column: they are cells whose class is not_a_cell.
const char* kSchemaV8 = R"SQL(
ALTER TABLE cells ADD COLUMN origin TEXT NOT NULL DEFAULT 'model';
)SQL";

// Browser renditions (migration 9): the PNG the field viewer shows for an image whose format
// browsers do not display (TIFF), made on first view and kept in the file store like thumbnails.
const char* kSchemaV9 = R"SQL(
ALTER TABLE images ADD COLUMN display_sha256 TEXT;
CREATE INDEX images_display ON images (display_sha256);
)SQL";

// Technician pre-verification (migration 10): a technician vouches for a cell's class (who and
// when) before a doctor confirms and signs, the CellaVision / Scopio routine. Distinct from the
// doctor's confirmation; a new class clears it unless the same change verifies again.
const char* kSchemaV10 = R"SQL(
ALTER TABLE cells ADD COLUMN verified_by BIGINT REFERENCES users(id) ON DELETE SET NULL;
ALTER TABLE cells ADD COLUMN verified_at BIGINT;
)SQL";

// Classifier adaptations an admin asked for (fine-tuning on the lab's reviewed cells) and the
// folder each adapted version lives in, so that an activated version is loaded again after a
// restart. model_dir is relative to the data directory; '' for models the server was started with.
const char* kSchemaV11 = R"SQL(
CREATE TABLE adaptations (
  id {id},
  status TEXT NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'done', 'failed')),
  base_version TEXT NOT NULL,
  version TEXT,
  model_dir TEXT,
  options TEXT NOT NULL DEFAULT '{}',
  sample_ids TEXT NOT NULL DEFAULT '[]',
  progress TEXT NOT NULL DEFAULT '',
  attempts INTEGER NOT NULL DEFAULT 0,
  lab_cells INTEGER NOT NULL DEFAULT 0,
  held_back INTEGER NOT NULL DEFAULT 0,
  before_accuracy DOUBLE PRECISION,
  after_accuracy DOUBLE PRECISION,
  summary TEXT NOT NULL DEFAULT '{}',
  error TEXT,
  worker TEXT,
  heartbeat_at BIGINT,
  requested_by BIGINT REFERENCES users(id) ON DELETE SET NULL,
  created_at BIGINT NOT NULL,
  started_at BIGINT,
  finished_at BIGINT
);
CREATE INDEX adaptations_status ON adaptations (status, id);
ALTER TABLE model_versions ADD COLUMN model_dir TEXT NOT NULL DEFAULT '';
)SQL";

// A sample's declared scale (micrometres per pixel of its fields), where the lab knows it: fields
// whose red cells are too few to measure are framed by it.
const char* kSchemaV12 = R"SQL(
ALTER TABLE samples ADD COLUMN um_per_px DOUBLE PRECISION;
)SQL";

// Whole slides (migration 13). An image is a field (decoded whole, analysed whole when uploaded)
// or a slide (read tile by tile through OpenSlide; analysed area by area). mpp: microns per
// level-0 pixel where the slide says. An area job names its rectangle in level-0 slide pixels.
// A slide arrives in chunks: an upload row records how many bytes of its part file are on disk,
// so an interrupted upload resumes where it stopped.
const char* kSchemaV13 = R"SQL(
ALTER TABLE images ADD COLUMN kind TEXT NOT NULL DEFAULT 'field' CHECK (kind IN ('field', 'slide'));
ALTER TABLE images ADD COLUMN mpp DOUBLE PRECISION;
ALTER TABLE jobs ADD COLUMN region_x BIGINT;
ALTER TABLE jobs ADD COLUMN region_y BIGINT;
ALTER TABLE jobs ADD COLUMN region_w BIGINT;
ALTER TABLE jobs ADD COLUMN region_h BIGINT;
CREATE TABLE slide_uploads (
  id {id},
  sample_id BIGINT NOT NULL REFERENCES samples(id) ON DELETE CASCADE,
  filename TEXT NOT NULL,
  bytes BIGINT NOT NULL CHECK (bytes > 0),
  received BIGINT NOT NULL DEFAULT 0 CHECK (received >= 0 AND received <= bytes),
  created_by BIGINT REFERENCES users(id) ON DELETE SET NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE INDEX slide_uploads_sample ON slide_uploads (sample_id);
)SQL";

// Each sample's revision (migration 14): a number that changes in the same transaction as
// anything a sample's cached answers are made of (its row, its cells, the names of the users who
// reviewed, verified or signed them), so the server may keep an answer while the number holds
// and revalidate a client's copy by it (ETag). Kept by triggers, not by the code paths that write:
// a path that forgot to count would serve a stale answer, and worker processes write cells too.
// Its own table, not a column of samples: a cell's write must not take the sample row's lock,
// which jobs of one sample hold shared side by side. No foreign key: deleting a sample deletes
// its cells, whose trigger writes here while the sample row is already gone.
const char* kSchemaV14Sqlite = R"SQL(
CREATE TABLE sample_revisions (
  sample_id BIGINT PRIMARY KEY,
  revision BIGINT NOT NULL
);
INSERT INTO sample_revisions (sample_id, revision) SELECT id, 1 FROM samples WHERE true;
CREATE TRIGGER sample_revision_cell_insert AFTER INSERT ON cells BEGIN
  INSERT INTO sample_revisions (sample_id, revision) VALUES (NEW.sample_id, 1)
    ON CONFLICT (sample_id) DO UPDATE SET revision = sample_revisions.revision + 1;
END;
CREATE TRIGGER sample_revision_cell_update AFTER UPDATE ON cells BEGIN
  INSERT INTO sample_revisions (sample_id, revision) SELECT DISTINCT s, 1 FROM
    (SELECT OLD.sample_id AS s UNION SELECT NEW.sample_id) WHERE true
    ON CONFLICT (sample_id) DO UPDATE SET revision = sample_revisions.revision + 1;
END;
CREATE TRIGGER sample_revision_cell_delete AFTER DELETE ON cells BEGIN
  INSERT INTO sample_revisions (sample_id, revision) VALUES (OLD.sample_id, 1)
    ON CONFLICT (sample_id) DO UPDATE SET revision = sample_revisions.revision + 1;
END;
CREATE TRIGGER sample_revision_sample AFTER UPDATE ON samples BEGIN
  INSERT INTO sample_revisions (sample_id, revision) VALUES (NEW.id, 1)
    ON CONFLICT (sample_id) DO UPDATE SET revision = sample_revisions.revision + 1;
END;
CREATE TRIGGER sample_revision_user AFTER UPDATE OF username, display_name ON users BEGIN
  INSERT INTO sample_revisions (sample_id, revision)
    SELECT DISTINCT s, 1 FROM (SELECT sample_id AS s FROM cells WHERE reviewer_id = NEW.id OR
      verified_by = NEW.id UNION SELECT id FROM samples WHERE signed_by = NEW.id) WHERE true
    ON CONFLICT (sample_id) DO UPDATE SET revision = sample_revisions.revision + 1;
END;
)SQL";

const char* kSchemaV14Postgres = R"SQL(
CREATE TABLE sample_revisions (
  sample_id BIGINT PRIMARY KEY,
  revision BIGINT NOT NULL
);
INSERT INTO sample_revisions (sample_id, revision) SELECT id, 1 FROM samples;
CREATE FUNCTION marrowscope_bump_sample_revision(sid BIGINT) RETURNS void LANGUAGE sql AS $$
  INSERT INTO sample_revisions AS r (sample_id, revision) VALUES (sid, 1)
    ON CONFLICT (sample_id) DO UPDATE SET revision = r.revision + 1;
$$;
CREATE FUNCTION marrowscope_cells_revision() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'INSERT' THEN PERFORM marrowscope_bump_sample_revision(OLD.sample_id); END IF;
  IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.sample_id IS DISTINCT FROM OLD.sample_id) THEN
    PERFORM marrowscope_bump_sample_revision(NEW.sample_id);
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER sample_revision_cells AFTER INSERT OR UPDATE OR DELETE ON cells
  FOR EACH ROW EXECUTE FUNCTION marrowscope_cells_revision();
CREATE FUNCTION marrowscope_samples_revision() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM marrowscope_bump_sample_revision(NEW.id);
  RETURN NULL;
END $$;
CREATE TRIGGER sample_revision_sample AFTER UPDATE ON samples
  FOR EACH ROW EXECUTE FUNCTION marrowscope_samples_revision();
CREATE FUNCTION marrowscope_users_revision() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM marrowscope_bump_sample_revision(s) FROM (SELECT sample_id AS s FROM cells
    WHERE reviewer_id = NEW.id OR verified_by = NEW.id UNION SELECT id FROM samples
    WHERE signed_by = NEW.id) AS touched;
  RETURN NULL;
END $$;
CREATE TRIGGER sample_revision_user AFTER UPDATE OF username, display_name ON users
  FOR EACH ROW EXECUTE FUNCTION marrowscope_users_revision();
)SQL";

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  for (std::size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size()))
    s.replace(p, from.size(), to);
}

Migration same_sql(int version, std::string name, std::string sql) {
  Migration m;
  m.version = version;
  m.name = std::move(name);
  m.sql = std::move(sql);
  return m;
}

}  // namespace

const std::vector<Migration>& migrations() {
  static const std::vector<Migration> all = [] {
    std::vector<Migration> v = {
        same_sql(1, "users, sessions, patients, samples, images, jobs, cells, audit, log", kSchemaV1),
        same_sql(2, "review: audit events grouped by change and sample, undo, cell list indexes", kSchemaV2),
        same_sql(3, "sample sign-offs (signed report snapshots) and report addenda", kSchemaV3),
        same_sql(4, "cells: side of the classifier's crop (per-field red-cell framing)", kSchemaV4),
        same_sql(5, "throttling per address and account (login_failures kind, indexes), session absolute end",
                 kSchemaV5),
    };
    Migration jobs = same_sql(6, "jobs: cancelled status, per-user queue index; image file hash indexes", "");
    jobs.sqlite_sql = kSchemaV6Sqlite;
    jobs.postgres_sql = kSchemaV6Postgres;
    jobs.rewrites_sqlite_schema = true;
    v.push_back(std::move(jobs));
    v.push_back(same_sql(7, "cells: atypical score and the reason a cell needs attention", kSchemaV7));
    v.push_back(same_sql(8, "cells: origin of the box (model or reviewer)", kSchemaV8));
    v.push_back(same_sql(9, "images: browser rendition of formats browsers do not show", kSchemaV9));
    v.push_back(same_sql(10, "cells: technician pre-verification (who, when)", kSchemaV10));
    v.push_back(same_sql(11, "classifier adaptations; the folder of each adapted model version", kSchemaV11));
    v.push_back(same_sql(12, "samples: declared scale (micrometres per pixel)", kSchemaV12));
    v.push_back(same_sql(13, "whole slides: image kind and scale, area jobs, resumable slide uploads", kSchemaV13));
    Migration revisions = same_sql(14, "sample revisions kept by triggers (cached answers, ETags)", "");
    revisions.sqlite_sql = kSchemaV14Sqlite;
    revisions.postgres_sql = kSchemaV14Postgres;
    v.push_back(std::move(revisions));
    return v;
  }();
  return all;
}

int newest_schema_version() {
  int newest = 0;
  for (const auto& m : migrations()) newest = std::max(newest, m.version);
  return newest;
}

std::string migration_sql(const Migration& m, Dialect d) {
  std::string sql = m.sql;
  if (d == Dialect::kSqlite && !m.sqlite_sql.empty()) sql = m.sqlite_sql;
  if (d == Dialect::kPostgres && !m.postgres_sql.empty()) sql = m.postgres_sql;
  replace_all(sql, "{id}",
              d == Dialect::kSqlite ? "INTEGER PRIMARY KEY AUTOINCREMENT" : "BIGSERIAL PRIMARY KEY");
  return sql;
}

Status migrate(Database& db) {
  return db.transact(TxMode::kWrite, [&](Tx& tx) -> Status {
    if (tx.dialect() == Dialect::kPostgres) {
      // Serialises concurrent first starts; released at commit.
      auto locked = tx.query("SELECT pg_advisory_xact_lock(726173)");
      if (!locked) return tl::unexpected(locked.error());
    }
    auto created = tx.exec_script(
        "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, "
        "name TEXT NOT NULL, applied_at BIGINT NOT NULL)");
    if (!created) return created;
    auto cur = tx.query_one("SELECT COALESCE(MAX(version), 0) AS v FROM schema_version");
    if (!cur) return tl::unexpected(cur.error());
    const int current = static_cast<int>((*cur)->i("v"));
    const int newest = newest_schema_version();
    if (current > newest)
      return fail(ErrorCode::kConflict, "database schema",
                  fmt::format("version <= {} (this build)", newest), std::to_string(current));
    // Applied versions, not just the highest: migrations developed side by side (2 and 3) may
    // land in either order, and a database that got 3 first must still receive 2.
    auto applied_rows = tx.query("SELECT version FROM schema_version");
    if (!applied_rows) return tl::unexpected(applied_rows.error());
    std::set<int> done;
    for (const auto& r : *applied_rows) done.insert(static_cast<int>(r.i("version")));
    for (const auto& m : migrations()) {
      if (done.count(m.version)) continue;
      auto applied = tx.exec_script(migration_sql(m, tx.dialect()));
      if (!applied) return applied;
      if (m.rewrites_sqlite_schema && tx.dialect() == Dialect::kSqlite) {
        auto cookie = tx.query_one("PRAGMA schema_version");
        if (!cookie) return tl::unexpected(cookie.error());
        const auto next = (*cookie)->values().at(0).as_int() + 1;
        auto bumped = tx.exec_script("PRAGMA schema_version = " + std::to_string(next));
        if (!bumped) return bumped;
        // The text replaced must have been there: a schema that did not match would otherwise
        // be recorded as migrated with the old constraint.
        auto jobs = tx.query_one("SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = 'jobs'");
        if (!jobs) return tl::unexpected(jobs.error());
        if (!*jobs || (*jobs)->s("sql").find("'cancelled'") == std::string::npos)
          return fail(ErrorCode::kInternal, "database schema", "a jobs table whose status CHECK "
                      "could be widened by migration " + std::to_string(m.version),
                      *jobs ? (*jobs)->s("sql") : "no jobs table");
      }
      auto rec = tx.exec("INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)",
                         {m.version, m.name, now_ms()});
      if (!rec) return tl::unexpected(rec.error());
    }
    return {};
  });
}

Result<int> schema_version(Database& db) {
  return db.transact(TxMode::kRead, [&](Tx& tx) -> Result<int> {
    const char* sql = tx.dialect() == Dialect::kSqlite
                          ? "SELECT COUNT(*) AS n FROM sqlite_master WHERE name = 'schema_version'"
                          : "SELECT COUNT(*) AS n FROM information_schema.tables "
                            "WHERE table_name = 'schema_version' AND table_schema = current_schema()";
    auto exists = tx.query_one(sql);
    if (!exists) return tl::unexpected(exists.error());
    if ((*exists)->i("n") == 0) return 0;
    auto cur = tx.query_one("SELECT COALESCE(MAX(version), 0) AS v FROM schema_version");
    if (!cur) return tl::unexpected(cur.error());
    return static_cast<int>((*cur)->i("v"));
  });
}

}  // namespace ms::store
