import Foundation
import Testing

/// `aifs top` on a real mount: live under tmux (a private server, killed however the test
/// ends), `--once`, and the plain frames it prints when standard output is not a terminal.
@Suite("Mounted: aifs top", .serialized)
struct TopTests {
    /// Runs `script` with `T` set to a tmux command on a private server, which is killed after
    /// the script, whatever became of it. The script's own `trap` kills it too, and stops the
    /// traffic it started.
    static func withTmux(_ m: MountedAIFS, _ script: String, timeout: Double = 180) async -> Shell.Result {
        let server = "aifs-top-\(getpid())-\(UUID().uuidString.prefix(8))"
        let r = await m.sh("""
            T="tmux -L \(server)"
            STOP=$(mktemp -u)
            trap 'touch $STOP; $T kill-server 2>/dev/null; wait' EXIT
            export TERM=xterm
            # Waits (bounded only to end a failure) until `$1` (a command) succeeds.
            until_ok() { local end=$((SECONDS + 90)); until eval "$1"; do
                [ $SECONDS -lt $end ] || { echo "TIMEOUT waiting for: $1"; $T capture-pane -p -t top; exit 1; }; sleep 0.05; done; }
            pane() { $T display -p -t top "$1"; }
            # The terminal modes of the pane's shell, after the command is back at the prompt.
            modes() { $T send-keys -t top "stty -a | tr ' ;' '\\\\n\\\\n' | grep -xE -- '-?(icanon|echo|isig)' | tr '\\\\n' ' '; echo MODES-$1" Enter
                until_ok "$T capture-pane -p -t top | grep -q '^[-a-z ]* MODES-$1\\$'"; $T capture-pane -p -t top | grep "MODES-$1\\$"; }
            \(script)
            """, timeout: timeout)
        _ = await Shell.run("tmux -L \(server) kill-server 2>/dev/null; true")
        return r
    }

    @Test("under tmux: both sockets and a changing token rate; q and Ctrl-C restore the terminal")
    func liveUnderTmux() async throws {
        try await MountedAIFS.with { m in
            let r = await Self.withTmux(m, """
                mkdir $M/alpha $M/beta
                drive() { while [ ! -e $STOP ]; do echo "one two three $RANDOM" > $M/$1/input || break; cat $M/$1/output > /dev/null; done; }
                drive alpha & drive beta &
                $T new-session -d -s top -x 120 -y 40 "env PS1='PROMPT$ ' bash --norc --noprofile"
                until_ok "$T capture-pane -p -t top | grep -q '^PROMPT'"
                $T send-keys -t top "$AIFS top -m $M --interval 0.3" Enter
                # Both sockets with a numeric rate, one of them not 0, and the rates changed
                # between two captures.
                previous=""; changed=""
                while [ -z "$changed" ]; do
                    screen=$($T capture-pane -p -t top)
                    rates=$(echo "$screen" | awk '$1 == "alpha" || $1 == "beta" { print $1 "=" $6 }' | sort | tr '\\n' ' ')
                    if [[ $rates =~ ^alpha=[0-9.]+\\ beta=[0-9.]+\\ $ ]] && echo "$rates" | grep -qE '=[0-9]*[1-9]'; then
                        [ -n "$previous" ] && [ "$rates" != "$previous" ] && changed="$previous -> $rates"
                        previous=$rates
                    fi
                    [ $SECONDS -lt 90 ] || { echo "TIMEOUT waiting for a changing rate"; echo "$screen"; exit 1; }
                    sleep 0.05
                done
                echo "rates: $changed"
                echo "alternate while running: $(pane '#{alternate_on}')"
                echo "--- screen"; echo "$screen"; echo "---"
                # `s` changes the sort at once.
                $T send-keys -t top s
                until_ok '$T capture-pane -p -t top | grep -q "sort: tokens"'
                echo "sorted by tokens"
                $T send-keys -t top q
                until_ok '[ "$(pane "#{pane_current_command}")" = bash ]'
                echo "after q: alternate $(pane '#{alternate_on}')"
                modes q
                # A resize redraws at once (SIGWINCH; the next refresh is an hour away), and
                # Ctrl-C ends it like q.
                $T resize-window -t top -x 60 -y 20
                $T send-keys -t top "$AIFS top -m $M --interval 3600" Enter
                until_ok '[ "$(pane "#{alternate_on}")" = 1 ] && $T capture-pane -p -t top | grep -q "^SOCKET"'
                echo "narrow: $($T capture-pane -p -t top | head -1 | grep -c 'q quits')"
                $T resize-window -t top -x 120 -y 40
                until_ok '$T capture-pane -p -t top | head -1 | grep -q "(q quits, s sorts)"'
                echo "redrawn wide"
                $T send-keys -t top C-c
                until_ok '[ "$(pane "#{pane_current_command}")" = bash ]'
                echo "after Ctrl-C: alternate $(pane '#{alternate_on}')"
                modes c
                $T send-keys -t top exit Enter
                until_ok '! $T has-session -t top 2>/dev/null'
                echo "session ended"
                """)
            #expect(r.status == 0, "\(r)")
            let out = r.stdout
            #expect(out.contains("rates: alpha="), "\(r)")
            #expect(out.contains("alternate while running: 1\n"), "\(r)")
            let screen = out.components(separatedBy: "--- screen\n").last?.components(separatedBy: "---\n").first ?? ""
            #expect(screen.hasPrefix("aifs top \(m.mountpoint)"), "\(r)")
            #expect(screen.contains("(q quits, s sorts)"), "\(r)")
            let header = screen.split(separator: "\n").first { $0.hasPrefix("SOCKET ") }?.split(separator: " ").joined(separator: " ")
            #expect(header == "SOCKET MODEL STATE QUEUED IN-FLIGHT TOK/S TOKENS-IN TOKENS-OUT LAST-LATENCY ERRORS", "\(r)")
            for name in ["alpha", "beta"] {
                #expect(screen.contains("\n\(name) ") && screen.contains(" echo   active "), "\(name): \(r)")
            }
            #expect(out.contains("sorted by tokens\n"), "\(r)")
            #expect(out.contains("narrow: 0\nredrawn wide\n"), "the keys hint was cut at 60 columns, then drawn at 120: \(r)")
            #expect(out.contains("after q: alternate 0\n") && out.contains("after Ctrl-C: alternate 0\n"), "\(r)")
            // The shell's modes are back: canonical input, echo and keyboard signals.
            #expect(out.contains("isig icanon echo MODES-q\n") && out.contains("isig icanon echo MODES-c\n"), "\(r)")
            #expect(out.hasSuffix("session ended\n"), "\(r)")
        }
    }

    @Test("under tmux: the mount going away ends top with the reason, the terminal restored")
    func mountGoneRestores() async throws {
        try await MountedAIFS.with { m in
            let r = await Self.withTmux(m, """
                mkdir $M/alpha $M/s{01..30}
                $T new-session -d -s top -x 100 -y 20 "env PS1='PROMPT$ ' bash --norc --noprofile"
                until_ok "$T capture-pane -p -t top | grep -q '^PROMPT'"
                $T send-keys -t top "$AIFS top -m $M --interval 0.2 --sort name; echo EXIT=\\$?" Enter
                until_ok '$T capture-pane -p -t top | grep -q "^alpha "'
                # 31 sockets on 20 rows: the header (3 lines), the table's head, 15 sockets, a count of the rest.
                until_ok '$T capture-pane -p -t top | grep -q "^\\.\\.\\. 16 more sockets$"'
                echo "last shown: $($T capture-pane -p -t top | grep -E '^s[0-9]+ ' | tail -1 | cut -d' ' -f1)"
                kill -TERM \(m.pid)
                until_ok '$T capture-pane -p -t top | grep -q "^EXIT="'
                echo "alternate: $(pane '#{alternate_on}')"
                $T capture-pane -p -t top | grep -E '^(Error|EXIT)'
                modes gone
                """)
            #expect(r.status == 0, "\(r)")
            #expect(r.stdout.contains("last shown: s14\n"), "alpha, then s01 to s14 fit: \(r)")
            #expect(r.stdout.contains("alternate: 0\n"), "\(r)")
            #expect(r.stdout.contains("Error: "), "the reason shows on the normal screen: \(r)")
            #expect(r.stdout.contains("EXIT=1\n"), "\(r)")
            #expect(r.stdout.contains("isig icanon echo MODES-gone\n"), "\(r)")
        }
    }

    @Test("--once prints one plain frame of ctl's figures; without a terminal it prints frames until a signal")
    func onceAndBatch() async throws {
        try await MountedAIFS.with { m in
            let r = await m.sh("""
                mkdir $M/alpha $M/beta $M/gamma
                for i in 1 2 3; do echo "one two three four" > $M/alpha/input; cat $M/alpha/output > /dev/null; done
                echo "five" > $M/beta/input; cat $M/beta/output > /dev/null
                echo "bogus" > $M/gamma/ctl 2>/dev/null
                echo "--- once"; $AIFS top -m $M --once --interval 0.1 --sort name; echo "rc=$?"
                echo "--- tokens"; $AIFS top -m $M --once --interval 0.1 --sort tokens | awk '$1 ~ /^(alpha|beta|gamma)$/ { print $1 }' | tr '\\n' ' '; echo
                echo "--- errors"; $AIFS top -m $M --once --interval 0.1 --sort errors | awk '$1 ~ /^(alpha|beta|gamma)$/ { print $1 }' | tr '\\n' ' '; echo
                echo "--- escapes: $($AIFS top -m $M --once --interval 0.1 | grep -c $'\\e')"
                echo "--- bad"; $AIFS top -m $M --interval 0 2>&1; echo "rc=$?"; $AIFS top -m $M --sort size 2>&1 | head -1; echo
                OUT=$(mktemp)
                $AIFS top -m $M --interval 0.1 > $OUT 2>&1 &
                TOP=$!
                end=$((SECONDS + 60))
                until [ "$(grep -c '^aifs top ' $OUT)" -ge 3 ]; do [ $SECONDS -lt $end ] || { echo TIMEOUT; cat $OUT; exit 1; }; sleep 0.05; done
                kill -INT $TOP; wait $TOP; echo "batch rc=$?"
                echo "batch escapes: $(grep -c $'\\e' $OUT)"
                echo "batch blank separators: $(grep -c '^$' $OUT)"
                rm -f $OUT
                """)
            #expect(r.status == 0, "\(r)")
            let out = r.stdout
            let once = out.components(separatedBy: "--- once\n").last?.components(separatedBy: "rc=").first ?? ""
            let lines = once.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            #expect(lines.first?.hasPrefix("aifs top \(m.mountpoint)") == true && lines.first?.contains("sort: name") == true, "\(r)")
            #expect(lines.first?.contains("q quits") == false, "no keys without a terminal: \(r)")
            // Three requests of four words on alpha, one of one word on beta: the tokens ctl shows.
            #expect(once.contains("sockets 3  in flight 0  queued 0  requests 4 completed 0 failed 0 cancelled  tokens in 13 out 13  0.0 tok/s out\n"), "\(r)")
            let rows = lines.filter { ["alpha", "beta", "gamma"].contains($0.split(separator: " ").first.map(String.init) ?? "") }
            #expect(rows.count == 3, "\(r)")
            func fields(_ name: String) -> [String] {
                rows.first { $0.hasPrefix(name + " ") }?.split(separator: " ").map(String.init) ?? []
            }
            // SOCKET MODEL STATE QUEUED IN-FLIGHT TOK/S TOKENS-IN TOKENS-OUT LAST-LATENCY ERRORS
            #expect(Array(fields("alpha").prefix(8)) == ["alpha", "echo", "active", "0", "0", "0.0", "12", "12"], "\(r)")
            #expect(fields("alpha").count == 10 && fields("alpha")[8] != "-" && fields("alpha")[9] == "0", "\(r)")
            #expect(Array(fields("beta").prefix(8)) == ["beta", "echo", "active", "0", "0", "0.0", "1", "1"], "\(r)")
            #expect(fields("gamma") == ["gamma", "echo", "active", "0", "0", "0.0", "0", "0", "-", "1"], "one refused ctl line: \(r)")
            #expect(rows.map { String($0.split(separator: " ")[0]) } == ["alpha", "beta", "gamma"], "sorted by name: \(r)")
            #expect(out.contains("--- tokens\nalpha beta gamma \n"), "\(r)")
            #expect(out.contains("--- errors\ngamma alpha beta \n"), "\(r)")
            #expect(out.contains("--- escapes: 0\n"), "\(r)")
            #expect(out.contains("Error: --interval must be more than 0 and at most 3600 seconds\n") && out.contains("rc=64\n"), "\(r)")
            #expect(out.contains("Error: The value 'size' is invalid for '--sort <sort>'"), "\(r)")
            #expect(out.contains("batch rc=0\n") && out.contains("batch escapes: 0\n"), "\(r)")
            let separators = out.split(separator: "\n").first { $0.hasPrefix("batch blank separators: ") }
                .flatMap { Int($0.split(separator: " ").last!) } ?? 0
            #expect(separators >= 2 * 2, "each frame has one blank line, and one separates it from the next: \(r)")
        }
    }
}
