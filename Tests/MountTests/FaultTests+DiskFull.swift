import Foundation
import Testing

/// The store's disk full (docs/fault-tolerance.md, "a full disk"): refusals, what is kept for
/// later, the log, and a remount.
extension FaultTests {
    @Test("the store's disk full: close() fails with ENOSPC and error says so; after freeing space it works again and nothing acknowledged is lost")
    func diskFull() async throws {
        let r = await script(#"""
            mkdir -p $D/store; mount -t tmpfs -o size=8m,mode=700 tmpfs $D/store || exit 1
            mountit || exit 1
            mkdir $M/a $M/b
            send a 'before one' 'before two'
            dd if=/dev/zero of=$D/store/fill bs=64k 2>/dev/null; echo "free after the fill: $(df --output=avail -k $D/store | tail -1 | tr -d ' ') KiB"
            full_since=$(date +%s.%N)
            for i in $(seq 1 12); do send a "while-full-$i-$(head -c 30000 /dev/zero | tr '\0' x)"; done | sed -E 's/-[0-9]+(-x+)?( |$)/\2/' | sort | uniq -c
            for i in $(seq 1 5); do send b "small-while-full-$i"; done | sed -E 's/-[0-9]+( |$)/\1/' | sort | uniq -c
            cut -d' ' -f2- $M/a/error | sed 's/message [0-9]*/message N/' | sort | uniq -c
            grep -c 'database or disk is full' "$LOG" | sed 's/^/log lines about the full disk: /'
            echo "log lines with refusals: $(grep 'store write failed' "$LOG" | grep -v ': 0 waiting writes refused' | sed -E 's/.*: ([0-9]+) waiting writes refused.*/\1/' | awk '{s+=$1} END {print s+0}')"
            echo "log lines retrying what nobody waits for: $(grep -c ': 0 waiting writes refused; [0-9]* groups nobody waits for kept to write later' "$LOG")"
            echo "other store lines while full: $(grep -c 'journal into the tables failed\|memory indexing failed' "$LOG")"
            cat $M/a/error >/dev/null  # read: its cursor must survive the remount
            echo "full for: $(echo "$(date +%s.%N) $full_since" | awk '{print $1 - $2}') s"
            rm $D/store/fill
            send a 'after freeing space'; timeout 10 cat $M/a/output | grep -c '^after freeing space$'
            check 30; echo "check=$?"
            $AIFS unmount $M >/dev/null; mountit || exit 1
            echo "--- after the remount"
            check 30; echo "check=$?"
            grep -c 'small-while-full\|while-full' $M/a/transcript $M/b/transcript | sed 's/^.*\///'
            echo "unread error after the remount: $(cat $M/a/error | wc -l)"
            echo "in-flight lines: $(grep -c 'in flight' $M/a/transcript $M/a/error | awk -F: '{s+=$2} END {print s}')"
            echo "the message and its reply, once each: $(grep -c '^before one$' $M/a/transcript)"
            echo "refusals remembered: $(cat "$M/memory/search/stored space" | grep -c 'not stored')"
            """#)
        #expect(r.status == 0, "\(r)")
        #expect(r.stdout.contains("free after the fill: 0 KiB"), "\(r)")
        #expect(r.stdout.contains("refused while-full ENOSPC (No space left on device)"), "a close() failed with ENOSPC: \(r)")
        #expect(r.stdout.contains("store message N not stored (No space left on device); it was not queued"), "\(r)")
        #expect(!r.stdout.contains("log lines about the full disk: 0"), "\(r)")
        #expect(r.stdout.contains("ack after freeing space\n1\n"), "\(r)")
        let checks = r.stdout.components(separatedBy: "check=0").count - 1
        #expect(checks == 2, "every acknowledged message answered, before and after the remount: \(r)")
        #expect(!r.stdout.contains("check=1"), "\(r)")
        // What was refused was never stored: gone from the transcripts after the remount, unless acknowledged.
        let acked = r.stdout.split(separator: "\n").filter { $0.contains("ack while-full") || $0.contains("ack small-while-full") }
            .compactMap { Int($0.split(separator: " ").first ?? "") }.reduce(0, +)
        let kept = r.stdout.split(separator: "\n").filter { $0.hasPrefix("transcript:") }
            .compactMap { Int($0.split(separator: ":").last ?? "") }.reduce(0, +)
        #expect(kept == 2 * acked, "each acknowledged message and its reply, nothing refused: \(acked) acknowledged, \(kept) lines: \(r)")
        // The log: one line per refused write, and what nobody waits for (the refusals' error
        // lines and memories, read cursors, a reply's bookkeeping) kept and written once space
        // is back, retried with a back-off (50 ms doubling to 5 s) instead of every 5 ms.
        func figure(_ label: String) -> Double? {
            r.stdout.split(separator: "\n").first { $0.hasPrefix(label) }.flatMap { Double($0.dropFirst(label.count).split(separator: " ")[0]) }
        }
        let refusedCount = r.stdout.split(separator: "\n").filter { $0.contains(" refused ") && $0.contains("while-full ENOSPC") }
            .compactMap { Int($0.split(separator: " ").first ?? "") }.reduce(0, +)
        #expect(refusedCount > 0 && figure("log lines with refusals: ") == Double(refusedCount), "one log line per refused write: \(r)")
        #expect(figure("refusals remembered: ") == Double(refusedCount), "the refusals' memories were kept and written: \(r)")
        #expect(r.stdout.contains("the message and its reply, once each: 2\n") && r.stdout.contains("in-flight lines: 0\n"), "\(r)")
        #expect(r.stdout.contains("unread error after the remount: 0\n"), "what was read stays read: \(r)")
        let full = try #require(figure("full for: "), "\(r)")
        let attempts = log2(max(full, 0.05) / 0.05) + 1 + full / 5  // Backoff: 50 ms doubling to 5 s
        #expect(figure("other store lines while full: ")! <= 2 * attempts + 2, "the journal and the index back off: \(attempts) tries each in \(full) s: \(r)")
        #expect(figure("log lines retrying what nobody waits for: ")! <= Double(refusedCount) + attempts + 1, "\(r)")
    }
}
