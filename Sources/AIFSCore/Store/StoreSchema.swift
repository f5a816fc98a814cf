import GRDB

/// The database schema, as ordered named migrations (GRDB's `DatabaseMigrator`). A migration is
/// never edited once released; changes are new migrations appended at the end.
enum StoreSchema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: sockets, queues, streams, transcripts, memories") { db in
            try db.execute(sql: """
                CREATE TABLE meta (
                    key TEXT PRIMARY KEY NOT NULL,
                    value INTEGER NOT NULL
                ) WITHOUT ROWID;

                CREATE TABLE socket (
                    id INTEGER PRIMARY KEY,
                    name TEXT NOT NULL,
                    model TEXT NOT NULL,
                    life TEXT NOT NULL,
                    headers INTEGER NOT NULL,
                    settings TEXT NOT NULL,             -- JSON object: setting -> value
                    prompt BLOB NOT NULL,
                    created REAL NOT NULL,
                    last_activity REAL NOT NULL,
                    uid INTEGER NOT NULL,
                    gid INTEGER NOT NULL,
                    mode INTEGER NOT NULL,
                    messages INTEGER NOT NULL,
                    tokens_in INTEGER NOT NULL,
                    tokens_out INTEGER NOT NULL,
                    next_message_id INTEGER NOT NULL
                );

                -- The input queue: a message stays until its request ends.
                CREATE TABLE message (
                    socket INTEGER NOT NULL REFERENCES socket(id) ON DELETE CASCADE,
                    id INTEGER NOT NULL,
                    content BLOB NOT NULL,
                    priority_high INTEGER NOT NULL,
                    recipients TEXT NOT NULL,           -- JSON array of socket names
                    uid INTEGER NOT NULL,
                    time REAL NOT NULL,
                    started INTEGER NOT NULL DEFAULT 0,
                    PRIMARY KEY (socket, id)
                ) WITHOUT ROWID;

                CREATE TABLE context (
                    seq INTEGER PRIMARY KEY,
                    socket INTEGER NOT NULL REFERENCES socket(id) ON DELETE CASCADE,
                    role TEXT NOT NULL,
                    content BLOB NOT NULL
                );
                CREATE INDEX context_socket ON context(socket, seq);

                CREATE TABLE transcript (
                    seq INTEGER PRIMARY KEY,
                    socket INTEGER NOT NULL REFERENCES socket(id) ON DELETE CASCADE,
                    time REAL NOT NULL,
                    bytes BLOB NOT NULL
                );
                CREATE INDEX transcript_socket ON transcript(socket, seq);

                -- Unread `output` and `error`: chunks at absolute positions, and how far
                -- readers have consumed them.
                CREATE TABLE stream_chunk (
                    seq INTEGER PRIMARY KEY,
                    socket INTEGER NOT NULL REFERENCES socket(id) ON DELETE CASCADE,
                    kind TEXT NOT NULL,
                    start INTEGER NOT NULL,
                    bytes BLOB NOT NULL,
                    failure_after INTEGER NOT NULL
                );
                CREATE INDEX stream_chunk_socket ON stream_chunk(socket, kind, start);

                CREATE TABLE stream_cursor (
                    socket INTEGER NOT NULL REFERENCES socket(id) ON DELETE CASCADE,
                    kind TEXT NOT NULL,
                    position INTEGER NOT NULL,
                    past_mark INTEGER NOT NULL,
                    PRIMARY KEY (socket, kind)
                ) WITHOUT ROWID;

                -- Everything ever said, for memory search. Ids are time-sortable (MemoryID).
                CREATE TABLE memories (
                    id INTEGER PRIMARY KEY,
                    time REAL NOT NULL,
                    socket TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    content TEXT NOT NULL,
                    metadata TEXT NOT NULL DEFAULT '{}'
                );
                CREATE VIRTUAL TABLE memories_fts USING fts5(content, content='memories', content_rowid='id');
                CREATE TRIGGER memories_after_insert AFTER INSERT ON memories BEGIN
                    INSERT INTO memories_fts(rowid, content) VALUES (new.id, new.content);
                END;
                CREATE TRIGGER memories_after_delete AFTER DELETE ON memories BEGIN
                    INSERT INTO memories_fts(memories_fts, rowid, content) VALUES ('delete', old.id, old.content);
                END;
                """)
        }
        migrator.registerMigration("v2: wires, reply routes, the team chat") { db in
            try db.execute(sql: """
                ALTER TABLE socket ADD COLUMN wire TEXT NOT NULL DEFAULT '';   -- name of the wire target
                ALTER TABLE message ADD COLUMN route TEXT NOT NULL DEFAULT ''; -- '' or team:ROUND[:synthesis]

                -- team-chat-all/ctl settings.
                CREATE TABLE team_setting (
                    key TEXT PRIMARY KEY NOT NULL,
                    value TEXT NOT NULL
                ) WITHOUT ROWID;

                -- Unread team-chat-all/output and error, as socket streams are kept.
                CREATE TABLE team_chunk (
                    seq INTEGER PRIMARY KEY,
                    kind TEXT NOT NULL,
                    start INTEGER NOT NULL,
                    bytes BLOB NOT NULL
                );
                CREATE INDEX team_chunk_kind ON team_chunk(kind, start);
                CREATE TABLE team_cursor (
                    kind TEXT PRIMARY KEY NOT NULL,
                    position INTEGER NOT NULL
                ) WITHOUT ROWID;
                """)
        }
        migrator.registerMigration("v3: snapshots") { db in
            try db.execute(sql: """
                -- Bumped by every batch that changes the socket: a snapshot reuses the stored
                -- state of a socket whose version has not moved.
                ALTER TABLE socket ADD COLUMN version INTEGER NOT NULL DEFAULT 0;

                CREATE TABLE snapshot (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,   -- never reused (inode numbers use it)
                    name TEXT NOT NULL UNIQUE,
                    created REAL NOT NULL,
                    trigger TEXT NOT NULL,
                    team TEXT NOT NULL                      -- team-chat-all settings, JSON
                );

                -- One socket's state as some snapshot saw it; shared by every snapshot that
                -- found the socket at the same version. States outlive their socket.
                CREATE TABLE socket_state (
                    id INTEGER PRIMARY KEY,
                    socket INTEGER NOT NULL,
                    version INTEGER NOT NULL,
                    name TEXT NOT NULL,
                    body BLOB NOT NULL,                     -- SnapshotCodec: record, context, queue, streams
                    prompt BLOB NOT NULL,
                    ctl TEXT NOT NULL,
                    last_seq INTEGER NOT NULL,              -- the last transcript row it covers (0: none)
                    transcript_size INTEGER NOT NULL,
                    UNIQUE (socket, version)
                );

                -- Transcripts are append-only, so a state keeps the segments of the state before
                -- it and adds one segment for what was appended since.
                CREATE TABLE snapshot_segment (
                    id INTEGER PRIMARY KEY,
                    bytes BLOB NOT NULL
                );
                CREATE TABLE state_segment (
                    state INTEGER NOT NULL REFERENCES socket_state(id) ON DELETE CASCADE,
                    position INTEGER NOT NULL,
                    segment INTEGER NOT NULL REFERENCES snapshot_segment(id),
                    PRIMARY KEY (state, position)
                ) WITHOUT ROWID;
                CREATE INDEX state_segment_segment ON state_segment(segment);

                CREATE TABLE snapshot_socket (
                    snapshot INTEGER NOT NULL REFERENCES snapshot(id) ON DELETE CASCADE,
                    position INTEGER NOT NULL,
                    state INTEGER NOT NULL REFERENCES socket_state(id),
                    PRIMARY KEY (snapshot, position)
                ) WITHOUT ROWID;
                CREATE INDEX snapshot_socket_state ON snapshot_socket(state);
                """)
        }
        migrator.registerMigration("v4: snapshot owners") { db in
            try db.execute(sql: """
                -- A snapshot's socket keeps its owner and mode, so its files stay as private as
                -- the socket was.
                ALTER TABLE socket_state ADD COLUMN uid INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE socket_state ADD COLUMN gid INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE socket_state ADD COLUMN mode INTEGER NOT NULL DEFAULT 448;  -- 0700
                """)
        }
        migrator.registerMigration("v5: cluster position") { db in
            try db.execute(sql: """
                -- With the Redis backend this database is the daemon's replica: how far into the
                -- shared log it has applied.
                CREATE TABLE cluster_meta (
                    key TEXT PRIMARY KEY NOT NULL,
                    value TEXT NOT NULL
                ) WITHOUT ROWID;
                """)
        }
        migrator.registerMigration("v6: memories indexed after their commit") { db in
            try db.execute(sql: """
                -- The FTS5 index is written after the commit, from a recorded position (see
                -- MemoryIndexer): every row so far was indexed by the insert trigger.
                DROP TRIGGER memories_after_insert;
                DROP TRIGGER memories_after_delete;
                INSERT INTO meta (key, value) VALUES ('memory_indexed', (SELECT coalesce(max(id), 0) FROM memories))
                    ON CONFLICT(key) DO UPDATE SET value = excluded.value;
                -- Only an indexed row has index entries to delete.
                CREATE TRIGGER memories_after_delete AFTER DELETE ON memories
                    WHEN old.id <= (SELECT value FROM meta WHERE key = 'memory_indexed') BEGIN
                    INSERT INTO memories_fts(memories_fts, rowid, content) VALUES ('delete', old.id, old.content);
                END;
                """)
        }
        migrator.registerMigration("v7: the journal") { db in
            try db.execute(sql: """
                -- Batches of row changes committed as one row each, written into the tables later
                -- (see Journal): JournalCodec bytes.
                CREATE TABLE journal (
                    seq INTEGER PRIMARY KEY,
                    ops BLOB NOT NULL
                );
                """)
        }
        migrator.registerMigration("v8: snapshots of one socket") { db in
            try db.execute(sql: """
                -- NULL: the snapshot holds every socket. Otherwise the one socket it holds (taken
                -- before an act on that socket: rmdir, reset, a prompt replaced, its restore).
                ALTER TABLE snapshot ADD COLUMN socket INTEGER;
                """)
        }
        migrator.registerMigration("v9: conversation history") { db in
            try db.execute(sql: """
                -- Every turn of a socket's conversation since its last reset, as places in its
                -- transcript (History): what `uncompact` and `fork NAME TURN` read.
                CREATE TABLE history (
                    seq INTEGER PRIMARY KEY,
                    socket INTEGER NOT NULL REFERENCES socket(id) ON DELETE CASCADE,
                    exchange INTEGER NOT NULL,                -- #N; 0 for a discussion note
                    role TEXT NOT NULL,
                    start INTEGER NOT NULL,                   -- byte offset in the transcript
                    length INTEGER NOT NULL
                );
                CREATE INDEX history_socket ON history(socket, seq);
                """)
        }
        migrator.registerMigration("v10: undo records") { db in
            try db.execute(sql: """
                -- What a `write` tool call replaced, kept for `undo ID` (UndoRecord): the file and
                -- its content before. Not cleared by `reset` (it is about files, not the
                -- conversation) and not in snapshots; goes with its socket.
                CREATE TABLE undo (
                    socket INTEGER NOT NULL REFERENCES socket(id) ON DELETE CASCADE,
                    call TEXT NOT NULL,                       -- the tool call's id, e.g. 3.1
                    path TEXT NOT NULL,
                    existed INTEGER NOT NULL,                 -- 0: no file before (content empty)
                    content BLOB NOT NULL,
                    PRIMARY KEY (socket, call)
                );
                """)
        }
        return migrator
    }
}
