import Foundation
import Testing

/// What was moved out of the acknowledged commit (issue "At the FUSE floor"): the journal's
/// batches written into the tables later, and the memory index written after the rows. Each
/// test holds one of them back with a long delay, kills the daemon while it is held, and finds
/// every acknowledged message answered and searchable after the restart.
@Suite("Mounted: kill -9 before deferred writes", .serialized)
struct DeferredWriteTests {
    /// Mounts with `config`, sends `n` messages and reads their replies (with `applyJournal`,
    /// then takes a snapshot, which writes the journal into the tables first), prints what the
    /// store holds (python's sqlite3, read-only), kills the daemon, mounts again with the
    /// defaults and prints what the user sees.
    func killWhileHeld(_ config: String, messages n: Int, applyJournal: Bool) async -> Shell.Result {
        let dir = MountedAIFS.makeTempDirectory("aifs-deferred")
        let r = await Shell.run("""
            M=\(dir)
            trap '$AIFS unmount $M >/dev/null 2>&1; umount -l $M 2>/dev/null; rmdir $M 2>/dev/null; rm -f $M.toml' EXIT
            printf '\(config)' > $M.toml
            $AIFS mount $M --config $M.toml >/dev/null
            mkdir $M/keep
            for n in $(seq 1 \(n)); do echo "unindexed$n said" > $M/keep/input; cat $M/keep/output >/dev/null; done
            \(applyJournal ? "mkdir $M/snapshots/applied  # a snapshot writes the journal into the tables first" : "")
            python3 - "$AIFS_STORE_PATH" <<'PY'
            import sqlite3, sys
            db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
            one = lambda sql, *a: db.execute(sql, a).fetchone()[0]
            position = one("SELECT value FROM meta WHERE key = 'memory_indexed'")
            print(f"before the kill: journal {one('SELECT count(*) FROM journal')} rows, "
                  f"memories {one('SELECT count(*) FROM memories WHERE content LIKE ?', 'unindexed%')}, "
                  f"past the index {one('SELECT count(*) FROM memories WHERE id > ?', position)}, "
                  f"indexed {one('SELECT count(*) FROM memories_fts WHERE memories_fts MATCH ?', 'said')}")
            PY
            pid=$(grep '^pid:' $M/ctl | cut -d' ' -f2); kill -9 $pid
            python3 $AIFS_TESTS/wait_exit.py $pid 30 >/dev/null  # until it has exited: its pidfd, no polling
            $AIFS mount $M >/dev/null 2>&1
            echo "answered: $(grep -c '^unindexed[0-9]* said$' $M/keep/transcript)"
            echo "found: $(cat $M/memory/search/said | cut -f4 | sort | uniq -c | awk '{printf "%s=%s ", $2, $1}')"
            for n in 1 \(n / 2) \(n); do echo "unindexed$n: $(cat $M/memory/search/unindexed$n | cut -f3,4 | sort | tr '\\n\\t' ' :')"; done
            echo "after: queued $(grep '^queued:' $M/keep/ctl | cut -d' ' -f2), unread $(cat $M/keep/output | wc -c)"
            """, timeout: 120)
        _ = await Shell.run("grep -q ' \(dir) ' /proc/mounts && umount -l '\(dir)'; rmdir '\(dir)' 2>/dev/null")
        return r
    }

    /// What the user sees after the restart, whatever was held.
    func expectAnsweredAndSearchable(_ r: Shell.Result, messages n: Int) {
        #expect(r.status == 0, "\(r)")
        #expect(r.stdout.contains("answered: \(2 * n)\n"), "each input and its reply in the transcript: \(r)")
        #expect(r.stdout.contains("found: input=\(n) reply=\(n) \n"), "\(r)")
        for k in [1, n / 2, n] {
            #expect(r.stdout.contains("unindexed\(k): keep:input keep:reply \n"), "\(r)")
        }
        #expect(r.stdout.contains("after: queued 0, unread 0\n"), "nothing answered again, nothing read twice: \(r)")
    }

    @Test("kill -9 while the journal holds 8 exchanges: after the restart all are answered and searchable")
    func crashBeforeTheJournalIsApplied() async {
        // 8 exchanges make at most 24 journal rows (an exchange's events share at most three
        // commits), fewer than the 32 that would be applied anyway.
        let r = await killWhileHeld("[store]\\njournal_delay = \"1h\"\\n", messages: 8, applyJournal: false)
        #expect(r.stdout.contains("before the kill: journal "), "\(r)")
        #expect(!r.stdout.contains("before the kill: journal 0 rows"), "the exchanges wait in the journal: \(r)")
        #expect(r.stdout.contains(" rows, memories 0, "), "and are not in the tables yet: \(r)")
        expectAnsweredAndSearchable(r, messages: 8)
    }

    @Test("kill -9 between the commit and the memory index: after the restart all are answered and searchable")
    func crashBeforeIndexing() async {
        // 20 exchanges stay under the 256 rows that would be indexed anyway.
        let r = await killWhileHeld("[memory]\\nindex_delay = \"1h\"\\n", messages: 20, applyJournal: true)
        #expect(r.stdout.contains(" rows, memories 40, "), "every input and reply committed: \(r)")
        #expect(r.stdout.contains(", indexed 0\n"), "none indexed yet: \(r)")
        #expect(!r.stdout.contains("past the index 0,"), "\(r)")
        expectAnsweredAndSearchable(r, messages: 20)
    }
}
