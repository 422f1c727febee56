// The typed database. Mirrors migrations/ (which stay untyped and frozen). Invariant: nothing here
// ever stores a password, passphrase or secret; tokens are stored as SHA-256 hashes.
import type { ColumnType, Generated, Insertable, Selectable, Updateable } from "kysely";

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type NullableTimestamp = ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
/** bigint comes back as string from pg; we write numbers. */
type BigIntColumn = ColumnType<string | number, number | undefined, number>;
type Json<T> = ColumnType<T, string, string>;
type NullableJson<T> = ColumnType<T | null, string | null | undefined, string | null>;

export type ArchiveKind = "export" | "import";
export type ArchiveStatus = "writing" | "ready" | "failed";

export interface ArchivesTable {
  id: string;
  owner_jid: string;
  kind: ArchiveKind;
  status: ArchiveStatus;
  filename: string;
  content_type: string;
  encrypted: Generated<boolean>;
  byte_size: BigIntColumn;
  sha256: string | null;
  section_counts: NullableJson<Record<string, number>>;
  download_token_hash: string | null;
  error: string | null;
  created_at: Timestamp;
  finished_at: NullableTimestamp;
  expires_at: Timestamp;
}

export interface ArchiveChunksTable {
  archive_id: string;
  seq: number;
  data: Uint8Array;
}

export type JobStatus = "queued" | "running" | "done" | "failed" | "canceled";

export interface JobsTable {
  id: string;
  kind: string;
  owner_jid: string;
  requested_by: string;
  archive_id: string | null;
  status: JobStatus;
  /** Never contains passwords or passphrases (held in memory only). */
  options: Json<Record<string, unknown>>;
  cursor: NullableJson<Record<string, unknown>>;
  progress: NullableJson<Record<string, unknown>>;
  report: NullableJson<Record<string, unknown>>;
  error: string | null;
  attempts: Generated<number>;
  lease_owner: string | null;
  lease_until: NullableTimestamp;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export type MovedMode = "automatic" | "ask" | "off";

export interface UserSettingsTable {
  jid: string;
  moved_mode: MovedMode;
  updated_at: Timestamp;
}

export interface MovedNoticesTable {
  id: string;
  user_jid: string;
  from_jid: string;
  old_jid: string;
  status: string;
  reason: string | null;
  seen_count: Generated<number>;
  received_at: Timestamp;
  decided_at: NullableTimestamp;
}

/** notified = asked, nothing back yet (pending); approved / declined / failed = the contact's answer. */
export type MoveContactStatus = "notified" | "approved" | "declined" | "failed";

export interface MoveContactsTable {
  job_id: string;
  contact_jid: string;
  status: MoveContactStatus;
  detail: string | null;
  /** How many times the contact was asked (move-renotify adds one). */
  attempts: Generated<number>;
  updated_at: Timestamp;
}

export interface UploadLinksTable {
  token_hash: string;
  owner_jid: string;
  archive_id: string | null;
  used: Generated<boolean>;
  created_at: Timestamp;
  expires_at: Timestamp;
}

export type BulkExportStatus = "running" | "stopped" | "done" | "canceled";

export interface BulkExportOptions {
  /** Link validity in days. */
  ttlDays: number;
  /** Message sent with each link (placeholders filled by the export service). */
  text: string;
  /** Exports in flight at once. */
  concurrency: number;
  history: boolean;
}

export interface BulkExportsTable {
  id: string;
  host: string;
  requested_by: string;
  status: BulkExportStatus;
  /** True once every account of the host has an item row. */
  listed: Generated<boolean>;
  /** Last account name listed, to resume listing. */
  list_after: string | null;
  options: Json<BulkExportOptions>;
  total: Generated<number>;
  stop_reason: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
  finished_at: NullableTimestamp;
}

/** pending → starting (export being created) → exporting (job_id set) → done | failed. */
export type BulkItemStatus = "pending" | "starting" | "exporting" | "done" | "failed";

export interface BulkExportItemsTable {
  bulk_id: string;
  user_jid: string;
  status: BulkItemStatus;
  job_id: string | null;
  attempts: Generated<number>;
  error: string | null;
  bytes: BigIntColumn;
  started_at: NullableTimestamp;
  finished_at: NullableTimestamp;
}

export type ScheduleFrequency = "weekly" | "monthly";

export interface ExportSchedulesTable {
  jid: string;
  frequency: ScheduleFrequency;
  keep: number;
  next_run_at: Timestamp;
  last_job_id: string | null;
  /** XAPENC1 key material (never the passphrase): salt, scrypt parameters, derived key. */
  kdf_salt: Uint8Array | null;
  kdf_log2n: number | null;
  kdf_r: number | null;
  kdf_p: number | null;
  archive_key: Uint8Array | null;
  /** Last nonce prefix used under archive_key; each archive takes the next one. */
  nonce_counter: BigIntColumn;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface Database {
  archives: ArchivesTable;
  archive_chunks: ArchiveChunksTable;
  jobs: JobsTable;
  user_settings: UserSettingsTable;
  moved_notices: MovedNoticesTable;
  move_contacts: MoveContactsTable;
  upload_links: UploadLinksTable;
  bulk_exports: BulkExportsTable;
  bulk_export_items: BulkExportItemsTable;
  export_schedules: ExportSchedulesTable;
}

export type Archive = Selectable<ArchivesTable>;
export type NewArchive = Insertable<ArchivesTable>;
export type ArchiveUpdate = Updateable<ArchivesTable>;
export type Job = Selectable<JobsTable>;
export type NewJob = Insertable<JobsTable>;
export type MoveContact = Selectable<MoveContactsTable>;
export type BulkExport = Selectable<BulkExportsTable>;
export type BulkExportItem = Selectable<BulkExportItemsTable>;
export type ExportSchedule = Selectable<ExportSchedulesTable>;
