import Foundation
import Testing

/// A real model through a real mount: llama.cpp's `llama-server` with Gemma 3 270M (Q4_K_M),
/// built and cached by `scripts/real-model.sh` (`./mount --test` builds it first), speaking
/// both wire formats. The configuration holds only `kind` and `base_url`: the model's name
/// comes from the server's `GET /v1/models`.
///
/// The model is a base model that never stops by itself: every reply ends at `max-tokens`.
/// Each test starts its own server, so the server's counters (`/metrics`) are this test's.
/// Set `AIFS_SKIP_REAL_MODEL=1` to skip them where the model cannot be built.
@Suite("Mounted: a real model (llama.cpp, Gemma 3 270M)", .serialized,
       .enabled(if: ProcessInfo.processInfo.environment["AIFS_SKIP_REAL_MODEL"] != "1",
                "AIFS_SKIP_REAL_MODEL=1 is set: the real-model tests are skipped"))
struct RealModelTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    static let model = "gemma3-270m-q4_k_m"

    /// Runs `body` with a llama-server on `$PORT`, `$M` mounted with providers `ll` (OpenAI
    /// format) and `la` (Anthropic format) on it, and `real` the helper `real_model.py`.
    func withServer(_ body: String) async -> Shell.Result {
        let dir = MountedAIFS.makeTempDirectory("aifs-real")
        let r = await Shell.run("""
            D=\(dir); M=$D/mnt; C=$D/config.toml; mkdir -p $M
            RM='\(Self.root)/scripts/real-model.sh'
            real() { python3 "$AIFS_TESTS/real_model.py" "$@"; }
            bash "$RM" path >/dev/null || { echo "no intact llama-server and model in the cache: run scripts/real-model.sh build (./mount --test does)"; exit 3; }
            read PORT PID < <(bash "$RM" start) || { echo "llama-server did not start"; exit 3; }
            trap '$AIFS unmount $M >/dev/null 2>&1; umount -l $M 2>/dev/null; bash "$RM" stop $PID; rm -rf $D' EXIT
            printf '[providers.ll]\\nkind = "openai"\\nbase_url = "http://127.0.0.1:%s/v1"\\n[providers.la]\\nkind = "anthropic"\\nbase_url = "http://127.0.0.1:%s"\\n' $PORT $PORT > $C
            $AIFS mount $M --config $C --store $D/store/aifs.db >/dev/null || exit 1
            \(body)
            """, timeout: 300)
        _ = await Shell.run("grep -q ' \(dir)/mnt ' /proc/mounts && umount -l '\(dir)/mnt'; rm -rf '\(dir)'")
        print(r.stdout)
        return r
    }

    @Test("both wire formats stream a real completion through output; max-tokens cuts it and error says so; tokens match the server's")
    func completions() async {
        let r = await withServer("""
            grep -x "ll/\(Self.model)" $M/models; grep -x "la/\(Self.model)" $M/models
            grep '^provider l' $M/ctl
            for p in ll la; do
                mkdir $M/$p; printf 'model %s/\(Self.model)\\nset max-tokens 40\\nset temperature 0\\n' $p > $M/$p/ctl
                echo 'What is a file?' > $M/$p/input
                echo "--- $p"; real stream $M/$p $PORT
                cut -d' ' -f2- $M/$p/error
                grep '^tokens-' $M/$p/ctl
            done
            echo "aifs tokens-in: $(( $(grep -h '^tokens-in:' $M/ll/ctl $M/la/ctl | cut -d' ' -f2 | paste -sd+) ))"
            echo "aifs tokens-out: $(( $(grep -h '^tokens-out:' $M/ll/ctl $M/la/ctl | cut -d' ' -f2 | paste -sd+) ))"
            real totals $PORT
            """)
        #expect(r.status == 0, "\(r)")
        #expect(r.stdout.contains("ll/\(Self.model)\nla/\(Self.model)\n"), "the server's model is listed for both providers: \(r)")
        #expect(r.stdout.contains("provider la: ok, 1 models listed\nprovider ll: ok, 1 models listed\n"), "\(r)")
        for dialect in ["ll": "finish_reason length", "la": "stop_reason max_tokens"] {
            #expect(r.stdout.contains("--- \(dialect.key)\nfirst bytes while the server was generating: True\n"), "\(dialect.key) streams: \(r)")
            #expect(r.stdout.contains("request the reply is cut: the model stopped at its token limit (max-tokens; \(dialect.value))\ntokens-in: "),
                    "\(dialect.key): \(r)")
        }
        #expect(r.stdout.components(separatedBy: "tokens-out: 40\n").count == 3, "each reply is 40 tokens: \(r)")
        let lines = r.stdout.split(separator: "\n")
        func value(_ prefix: String) -> Int? { lines.first { $0.hasPrefix(prefix) }.flatMap { Int($0.dropFirst(prefix.count)) } }
        #expect(value("aifs tokens-in: ") != nil && value("aifs tokens-in: ") == value("server prompt tokens: "), "\(r)")
        #expect(value("aifs tokens-out: ") == 80 && value("server predicted tokens: ") == 80, "\(r)")
    }

    @Test("the conversation reaches the model: the prompt the server counts grows by each reply, turn by turn")
    func multiTurn() async {
        let r = await withServer("""
            mkdir $M/c; printf 'model ll/\(Self.model)\\nset max-tokens 8\\n' > $M/c/ctl
            before=0
            for q in 'What is a file?' 'And a directory?' 'And a pipe?'; do
                echo "$q" > $M/c/input; cat $M/c/output > /dev/null
                now=$(grep '^tokens-in:' $M/c/ctl | cut -d' ' -f2)
                echo "prompt tokens: $(( now - before ))"; before=$now
            done
            grep -c '^\\[team-chat-from-c\\]' $M/c/transcript
            real totals $PORT
            """)
        #expect(r.status == 0, "\(r)")
        let prompts = r.stdout.split(separator: "\n").compactMap { $0.hasPrefix("prompt tokens: ") ? Int($0.dropFirst(15)) : nil }
        #expect(prompts.count == 3, "\(r)")
        if prompts.count == 3 {
            // Each prompt holds the previous one, its 8-token reply and a new question.
            #expect(prompts[1] >= prompts[0] + 8 && prompts[2] >= prompts[1] + 8, "\(prompts): \(r)")
        }
        let server = r.stdout.split(separator: "\n").first { $0.hasPrefix("server prompt tokens: ") }.flatMap { Int($0.dropFirst(22)) }
        #expect(server == prompts.reduce(0, +), "tokens-in is what the server counted: \(r)")
        #expect(r.stdout.contains("\n3\n"), "three replies in the transcript: \(r)")
    }

    @Test("cancel mid-stream stops the generation: the server's slots go idle, having predicted fewer than max-tokens")
    func cancelStopsGeneration() async {
        let r = await withServer("""
            mkdir $M/k; printf 'model la/\(Self.model)\\nset max-tokens 1500\\n' > $M/k/ctl
            echo 'Tell me a very long story.' > $M/k/input
            real cancel $M/k $PORT
            cut -d' ' -f2- $M/k/error | grep -c cancel
            real totals $PORT
            """)
        #expect(r.status == 0, "\(r)")
        #expect(r.stdout.contains("generating before the cancel: True\nevery slot idle after the cancel: True\n"), "\(r)")
        let predicted = r.stdout.split(separator: "\n").first { $0.hasPrefix("server predicted tokens: ") }.flatMap { Int($0.dropFirst(25)) }
        #expect((predicted ?? 1500) < 1500, "the server stopped before max-tokens: \(r)")
    }
}
