import GRDB

/// The catalog schema, one migration per version. A migration, once released,
/// never changes: later issues add new ones.
enum CatalogMigrations {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-foundation", migrate: createFoundationSchema)
        migrator.registerMigration("v2-protection-flows", migrate: addFlowScheduling)
        migrator.registerMigration("v3-child-processes", migrate: addChildProcesses)
        migrator.registerMigration("v4-job-history", migrate: addJobHistory)
        migrator.registerMigration("v5-restore-history", migrate: addRestoreHistory)
        migrator.registerMigration("v6-libvirt-live-backups", migrate: addLibvirtLiveBackups)
        migrator.registerMigration("v7-backup-list-order", migrate: addBackupListOrder)
        migrator.registerMigration("v8-recoveries", migrate: addRecoveries)
        migrator.registerMigration("v9-vm-restores", migrate: addVMRestores)
        migrator.registerMigration("v10-boot-checks", migrate: addBootChecks)
        migrator.registerMigration("v11-vcenter-restores", migrate: addVCenterRestores)
        migrator.registerMigration("v12-flow-boot-checks", migrate: addFlowBootChecks)
        return migrator
    }

    /// A flow may verify each backup it completes by booting it.
    private static func addFlowBootChecks(_ db: Database) throws {
        try db.execute(sql: "ALTER TABLE protection_flows ADD COLUMN boot_check BOOLEAN NOT NULL DEFAULT 0")
    }

    /// VM restores into vCenter: `libvirt_uri` may now be null, and
    /// `vcenter_json` says where in vCenter the VM is made (exactly one of
    /// the two is set). SQLite cannot drop a NOT NULL: the table is rebuilt.
    private static func addVCenterRestores(_ db: Database) throws {
        try db.execute(sql: """
            CREATE TABLE vm_restores_v11 (
                job_id TEXT PRIMARY KEY,
                backup_id TEXT NOT NULL,
                vm_name TEXT NOT NULL,
                domain_name TEXT NOT NULL,
                domain_uuid TEXT,
                libvirt_uri TEXT,
                vcenter_json TEXT,
                storage_pool TEXT,
                network TEXT,
                keep_macs BOOLEAN NOT NULL,
                start BOOLEAN NOT NULL,
                disks_json TEXT NOT NULL,
                settled BOOLEAN NOT NULL DEFAULT 0,
                created_at DATETIME NOT NULL,
                CHECK ((libvirt_uri IS NULL) != (vcenter_json IS NULL))
            );
            INSERT INTO vm_restores_v11 (job_id, backup_id, vm_name, domain_name, domain_uuid, libvirt_uri, storage_pool, network,
                                         keep_macs, start, disks_json, settled, created_at)
                SELECT job_id, backup_id, vm_name, domain_name, domain_uuid, libvirt_uri, storage_pool, network,
                       keep_macs, start, disks_json, settled, created_at FROM vm_restores;
            DROP TABLE vm_restores;
            ALTER TABLE vm_restores_v11 RENAME TO vm_restores;
            CREATE INDEX vm_restores_unsettled ON vm_restores(settled) WHERE settled = 0;
            """)
    }

    /// Boot checks: a restore point booted in a sandbox, and the verdict kept
    /// with it. `backup_id` has no foreign key: the verdict outlives the point
    /// (its screenshot goes with the point's deletion, `screenshot` then null).
    private static func addBootChecks(_ db: Database) throws {
        try db.execute(sql: """
            CREATE TABLE boot_checks (
                check_id TEXT PRIMARY KEY,
                backup_id TEXT NOT NULL,
                vm_name TEXT NOT NULL,
                heartbeat TEXT NOT NULL CHECK (heartbeat IN ('agent', 'console')),
                console_pattern TEXT,
                timeout_seconds INTEGER NOT NULL,
                status TEXT NOT NULL CHECK (status IN ('running', 'passed', 'failed', 'error')),
                reason TEXT,
                heartbeat_seconds REAL,
                screenshot TEXT,
                recovery_id TEXT,
                created_at DATETIME NOT NULL,
                completed_at DATETIME
            );
            CREATE INDEX boot_checks_backup ON boot_checks(backup_id, created_at);
            """)
    }

    /// VM restores: what each one writes and defines beside its job-history
    /// row (which has its state and progress). `settled` is 0 while a failure
    /// or a restart would have to remove its files and domain.
    private static func addVMRestores(_ db: Database) throws {
        try db.execute(sql: """
            CREATE TABLE vm_restores (
                job_id TEXT PRIMARY KEY,
                backup_id TEXT NOT NULL,
                vm_name TEXT NOT NULL,
                domain_name TEXT NOT NULL,
                domain_uuid TEXT,
                libvirt_uri TEXT NOT NULL,
                storage_pool TEXT,
                network TEXT,
                keep_macs BOOLEAN NOT NULL,
                start BOOLEAN NOT NULL,
                disks_json TEXT NOT NULL,
                settled BOOLEAN NOT NULL DEFAULT 0,
                created_at DATETIME NOT NULL
            );
            CREATE INDEX vm_restores_unsettled ON vm_restores(settled) WHERE settled = 0;
            """)
    }

    /// Instant recoveries: VMs running from restore points. A session outlives
    /// the hub process (its VM and disk server do), so it has rows of its own
    /// rather than a job-history row a restart would fail. `backup_id` has no
    /// foreign key: an ended session's row stays after its point is deleted.
    private static func addRecoveries(_ db: Database) throws {
        try db.execute(sql: """
            CREATE TABLE recoveries (
                recovery_id TEXT PRIMARY KEY,
                backup_id TEXT NOT NULL,
                vm_name TEXT NOT NULL,
                domain_name TEXT NOT NULL,
                domain_uuid TEXT,
                libvirt_uri TEXT NOT NULL,
                network TEXT,
                state TEXT NOT NULL CHECK (state IN ('starting', 'running', 'migrating', 'stopping', 'stopped', 'migrated', 'failed')),
                migrated_to TEXT,
                folder TEXT NOT NULL,
                work_folder TEXT NOT NULL,
                server_pid INTEGER,
                server_start_time INTEGER,
                error_message TEXT,
                created_at DATETIME NOT NULL,
                ended_at DATETIME
            );
            CREATE INDEX recoveries_created ON recoveries(created_at);
            CREATE INDEX recoveries_active ON recoveries(state) WHERE state IN ('starting', 'running', 'migrating', 'stopping');
            """)
    }

    /// Indexes for a catalog of 50,000 points (scripts/seed-catalog.py): the
    /// backup list pages newest first over every backup (SQLite sorted the
    /// whole table for each page), and a VM's chain in a repository is read
    /// by VM, repository and status (SQLite walked every completed backup
    /// through the status index instead).
    private static func addBackupListOrder(_ db: Database) throws {
        try db.execute(sql: """
            CREATE INDEX backup_jobs_created ON backup_jobs(created_at, backup_id);
            CREATE INDEX backup_jobs_chain ON backup_jobs(vm_name, repository_id, status, created_at);
            """)
    }

    /// libvirt domains and QMP-reached QEMUs as sources (SQLite cannot change a CHECK: the table is
    /// rebuilt, its rows and the references to it kept; GRDB checks foreign
    /// keys after the migration), and whether each backup's guest helped.
    private static func addLibvirtLiveBackups(_ db: Database) throws {
        try db.execute(sql: """
            CREATE TABLE vm_contexts_v6 (
                context_id TEXT PRIMARY KEY,
                vm_name TEXT NOT NULL UNIQUE,
                source_type TEXT NOT NULL CHECK (source_type IN ('vmware', 'qemu_image', 'libvirt', 'qmp')),
                source_json TEXT,
                vm_path TEXT,
                vcenter_host TEXT,
                datacenter TEXT,
                moref TEXT,
                instance_uuid TEXT,
                current_status TEXT NOT NULL DEFAULT 'ready',
                cpu_count INTEGER,
                memory_mb INTEGER,
                os_type TEXT,
                power_state TEXT,
                credential_id INTEGER REFERENCES vmware_credentials(id) ON DELETE SET NULL,
                last_backup_at DATETIME,
                created_at DATETIME NOT NULL,
                updated_at DATETIME NOT NULL
            );
            INSERT INTO vm_contexts_v6 SELECT * FROM vm_contexts;
            DROP TABLE vm_contexts;
            ALTER TABLE vm_contexts_v6 RENAME TO vm_contexts;
            ALTER TABLE backup_jobs ADD COLUMN consistency TEXT
                CHECK (consistency IN ('powered_off', 'application_consistent', 'crash_consistent'));
            """)
    }

    /// Jobs that are not backups (restores, verify, prune, merge, cleanup),
    /// so the job list outlives a restart and one cut short by it says so.
    private static func addJobHistory(_ db: Database) throws {
        try db.execute(sql: """
            CREATE TABLE job_history (
                job_id TEXT PRIMARY KEY,
                type TEXT NOT NULL,
                status TEXT NOT NULL,
                vm_name TEXT,
                detail TEXT,
                error_message TEXT,
                created_at DATETIME NOT NULL,
                completed_at DATETIME
            );
            CREATE INDEX job_history_created ON job_history (created_at);
            """)
    }

    /// What a disk restore was of and how big, so its status outlives a restart.
    private static func addRestoreHistory(_ db: Database) throws {
        try db.execute(sql: """
            ALTER TABLE job_history ADD COLUMN backup_id TEXT;
            ALTER TABLE job_history ADD COLUMN disk_index INTEGER;
            ALTER TABLE job_history ADD COLUMN bytes_done INTEGER;
            ALTER TABLE job_history ADD COLUMN total_bytes INTEGER;
            """)
    }

    /// The NBD servers jobs start, by PID and kernel start time, so the
    /// janitor stops the ones no live job owns and never a reused PID.
    private static func addChildProcesses(_ db: Database) throws {
        try db.execute(sql: """
            CREATE TABLE child_processes (
                pid INTEGER NOT NULL,
                start_time INTEGER NOT NULL,
                command TEXT NOT NULL,
                job_id TEXT,
                created_at DATETIME NOT NULL,
                PRIMARY KEY (pid, start_time)
            );
            """)
    }

    /// Flows read their cron schedule in a time zone and may ask for a weekly
    /// full; executions say what started them and why they failed;
    /// repositories may refuse deletions for some days (immutability).
    private static func addFlowScheduling(_ db: Database) throws {
        try db.execute(sql: """
            ALTER TABLE protection_flows ADD COLUMN time_zone TEXT NOT NULL DEFAULT 'UTC';
            ALTER TABLE protection_flows ADD COLUMN full_weekly BOOLEAN NOT NULL DEFAULT 0;
            ALTER TABLE flow_executions ADD COLUMN trigger TEXT NOT NULL DEFAULT 'schedule';
            ALTER TABLE flow_executions ADD COLUMN error_message TEXT;
            ALTER TABLE repositories ADD COLUMN immutable_days INTEGER;
            CREATE INDEX flow_executions_flow ON flow_executions(flow_id, started_at);
            """)
    }

    private static func createFoundationSchema(_ db: Database) throws {
        try db.execute(sql: """
            CREATE TABLE users (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                username TEXT NOT NULL UNIQUE COLLATE NOCASE,
                password_hash TEXT NOT NULL,
                role TEXT NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
                created_at DATETIME NOT NULL,
                updated_at DATETIME NOT NULL
            );

            -- Tokens are stored only as SHA-256 hashes: a copy of the database
            -- gives no usable token.
            CREATE TABLE api_tokens (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                token_hash TEXT NOT NULL UNIQUE,
                created_at DATETIME NOT NULL,
                expires_at DATETIME NOT NULL,
                revoked_at DATETIME
            );
            CREATE INDEX api_tokens_user ON api_tokens(user_id);

            CREATE TABLE vmware_credentials (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                name TEXT NOT NULL UNIQUE,
                vcenter_host TEXT NOT NULL,
                vcenter_port INTEGER NOT NULL DEFAULT 443,
                username TEXT NOT NULL,
                password_encrypted BLOB NOT NULL,
                datacenter TEXT,
                thumbprint TEXT,
                insecure BOOLEAN NOT NULL DEFAULT 0,
                transport TEXT NOT NULL DEFAULT 'https' CHECK (transport IN ('vddk', 'https', 'ssh')),
                created_at DATETIME NOT NULL,
                updated_at DATETIME NOT NULL
            );

            CREATE TABLE repositories (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                name TEXT NOT NULL UNIQUE,
                type TEXT NOT NULL CHECK (type IN ('local', 'nfs', 'cifs')),
                path TEXT NOT NULL UNIQUE,
                repository_uuid TEXT NOT NULL,
                nfs_server TEXT,
                nfs_export TEXT,
                cifs_share TEXT,
                username TEXT,
                password_encrypted BLOB,
                mount_options TEXT,
                enabled BOOLEAN NOT NULL DEFAULT 1,
                immutable BOOLEAN NOT NULL DEFAULT 0,
                created_at DATETIME NOT NULL
            );

            CREATE TABLE vm_contexts (
                context_id TEXT PRIMARY KEY,
                vm_name TEXT NOT NULL UNIQUE,
                source_type TEXT NOT NULL CHECK (source_type IN ('vmware', 'qemu_image')),
                source_json TEXT,
                vm_path TEXT,
                vcenter_host TEXT,
                datacenter TEXT,
                moref TEXT,
                instance_uuid TEXT,
                current_status TEXT NOT NULL DEFAULT 'ready',
                cpu_count INTEGER,
                memory_mb INTEGER,
                os_type TEXT,
                power_state TEXT,
                credential_id INTEGER REFERENCES vmware_credentials(id) ON DELETE SET NULL,
                last_backup_at DATETIME,
                created_at DATETIME NOT NULL,
                updated_at DATETIME NOT NULL
            );

            CREATE TABLE vm_disks (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                context_id TEXT NOT NULL REFERENCES vm_contexts(context_id) ON DELETE CASCADE,
                disk_index INTEGER NOT NULL,
                vmware_disk_key INTEGER,
                label TEXT NOT NULL,
                capacity_bytes INTEGER NOT NULL,
                datastore TEXT,
                path TEXT NOT NULL,
                UNIQUE (context_id, disk_index)
            );

            -- One row per VM and repository: the chain a VM has in that repository.
            CREATE TABLE vm_backup_contexts (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                context_id TEXT NOT NULL REFERENCES vm_contexts(context_id) ON DELETE CASCADE,
                repository_id INTEGER NOT NULL REFERENCES repositories(id) ON DELETE RESTRICT,
                vm_key TEXT NOT NULL,
                last_backup_id TEXT,
                created_at DATETIME NOT NULL,
                UNIQUE (context_id, repository_id)
            );

            CREATE TABLE backup_jobs (
                backup_id TEXT PRIMARY KEY,
                vm_backup_context_id INTEGER NOT NULL REFERENCES vm_backup_contexts(id) ON DELETE RESTRICT,
                repository_id INTEGER NOT NULL REFERENCES repositories(id) ON DELETE RESTRICT,
                vm_name TEXT NOT NULL,
                backup_type TEXT NOT NULL CHECK (backup_type IN ('full', 'incremental')),
                status TEXT NOT NULL CHECK (status IN ('started', 'in_progress', 'completed', 'failed', 'cancelled')),
                parent_backup_id TEXT REFERENCES backup_jobs(backup_id) ON DELETE RESTRICT,
                current_phase TEXT,
                bytes_transferred INTEGER NOT NULL DEFAULT 0,
                total_bytes INTEGER NOT NULL DEFAULT 0,
                error_message TEXT,
                note TEXT,
                performance_metrics TEXT,
                created_at DATETIME NOT NULL,
                started_at DATETIME,
                completed_at DATETIME
            );
            CREATE INDEX backup_jobs_repository ON backup_jobs(repository_id);
            CREATE INDEX backup_jobs_vm ON backup_jobs(vm_name, created_at);
            CREATE INDEX backup_jobs_status ON backup_jobs(status);

            CREATE TABLE backup_disks (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                backup_id TEXT NOT NULL REFERENCES backup_jobs(backup_id) ON DELETE CASCADE,
                disk_index INTEGER NOT NULL,
                vmware_disk_key INTEGER,
                capacity_bytes INTEGER NOT NULL,
                qcow2_path TEXT NOT NULL,
                status TEXT NOT NULL,
                bytes_transferred INTEGER NOT NULL DEFAULT 0,
                checkpoint TEXT,
                UNIQUE (backup_id, disk_index)
            );

            -- Deleting a backup removes its restore sessions with it.
            CREATE TABLE restore_mounts (
                mount_id TEXT PRIMARY KEY,
                backup_id TEXT NOT NULL REFERENCES backup_jobs(backup_id) ON DELETE CASCADE,
                backup_disk_id INTEGER NOT NULL REFERENCES backup_disks(id) ON DELETE CASCADE,
                disk_index INTEGER NOT NULL,
                filesystem_type TEXT,
                status TEXT NOT NULL,
                created_at DATETIME NOT NULL,
                last_used_at DATETIME NOT NULL,
                expires_at DATETIME NOT NULL
            );

            -- Snapshots of any job's progress (backup, restore, verify, …),
            -- rolled up into the job when it ends.
            CREATE TABLE job_telemetry_snapshots (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                job_id TEXT NOT NULL,
                timestamp DATETIME NOT NULL,
                bytes_transferred INTEGER NOT NULL,
                speed_bps INTEGER NOT NULL,
                progress_percent REAL NOT NULL,
                phase TEXT NOT NULL
            );
            CREATE INDEX job_telemetry_snapshots_job ON job_telemetry_snapshots(job_id, timestamp);

            CREATE TABLE protection_groups (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                name TEXT NOT NULL UNIQUE,
                description TEXT,
                created_at DATETIME NOT NULL,
                updated_at DATETIME NOT NULL
            );

            CREATE TABLE protection_group_members (
                group_id INTEGER NOT NULL REFERENCES protection_groups(id) ON DELETE CASCADE,
                context_id TEXT NOT NULL REFERENCES vm_contexts(context_id) ON DELETE CASCADE,
                PRIMARY KEY (group_id, context_id)
            );

            CREATE TABLE protection_flows (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                name TEXT NOT NULL UNIQUE,
                target_type TEXT NOT NULL CHECK (target_type IN ('vm', 'group')),
                target_id TEXT NOT NULL,
                repository_id INTEGER NOT NULL REFERENCES repositories(id) ON DELETE RESTRICT,
                schedule TEXT NOT NULL,
                backup_type TEXT NOT NULL CHECK (backup_type IN ('full', 'incremental')),
                full_every INTEGER,
                retention_json TEXT NOT NULL DEFAULT '{}',
                enabled BOOLEAN NOT NULL DEFAULT 1,
                next_run_at DATETIME,
                last_run_at DATETIME,
                created_at DATETIME NOT NULL,
                updated_at DATETIME NOT NULL
            );

            CREATE TABLE flow_executions (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                flow_id INTEGER NOT NULL REFERENCES protection_flows(id) ON DELETE CASCADE,
                status TEXT NOT NULL,
                started_at DATETIME NOT NULL,
                completed_at DATETIME
            );

            CREATE TABLE flow_execution_vms (
                execution_id INTEGER NOT NULL REFERENCES flow_executions(id) ON DELETE CASCADE,
                vm_name TEXT NOT NULL,
                backup_id TEXT REFERENCES backup_jobs(backup_id) ON DELETE SET NULL,
                status TEXT NOT NULL,
                error_message TEXT,
                PRIMARY KEY (execution_id, vm_name)
            );
            """)
    }
}
