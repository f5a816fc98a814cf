import Foundation
import Testing

/// `aifs chat` in a real terminal: tmux runs it, `send-keys` types, `capture-pane` reads the
/// screen. Every step waits for what the screen must show (bounded), never for a time.
@Suite("Mounted: aifs chat under tmux", .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/tmux"),
                                                 "tmux is not installed (apt-get install tmux)"))
struct ChatCommandTests {
    @Test("a question and its streamed answer, /model, Ctrl-C cancels an echo/slow reply, history with Up, /exit")
    func chatSession() async throws {
        try await MountedAIFS.with { m in
            let r = await m.sh("""
                export TERM=xterm
                T="tmux -L aifs-chat-$$"
                trap '$T kill-server 2>/dev/null' EXIT
                screen() { $T capture-pane -p -t chat; }
                # wait_for REGEX [COUNT]: until the screen has COUNT lines matching (30 s at most)
                wait_for() { for i in $(seq 1 600); do [ "$(screen | grep -cE -- "$1")" -ge "${2:-1}" ] && return 0; sleep 0.05; done
                             echo "never saw: $1"; screen; return 1; }
                $T new-session -d -s chat -x 150 -y 40 "$AIFS chat -m $M bob; echo EXITED rc=\\$?; sleep 600"
                wait_for '^bob> ?$' || exit 1
                $T send-keys -t chat 'hello there' Enter
                wait_for '^hello there$' && echo "answered"
                wait_for '^bob> ?$'   # typed only at the prompt: type-ahead is echoed by the terminal, not libedit
                $T send-keys -t chat '/model echo/slow' Enter
                wait_for '^\\[model echo/slow\\]$' && echo "model set"
                wait_for '^bob> ?$'
                $T send-keys -t chat 'one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen' Enter
                wait_for '^one ' && $T send-keys -t chat C-c
                wait_for '^\\[cancelled\\]$' && echo "cancelled"
                screen | grep -E '^one ' | grep -q fifteen && echo "but the reply went on"
                grep -c 'cancelled' $M/bob/error
                wait_for '^bob> ?$'
                $T send-keys -t chat Up
                wait_for '^bob> one two .* fifteen$' 2 && echo "history recalled"
                $T send-keys -t chat C-u '/exit' Enter
                wait_for '^EXITED rc=0$' && echo "left"
                grep -c '^\\[team-chat-to-bob\\] \\[chat\\]' $M/bob/transcript
                """, timeout: 120)
            print(r.stdout)
            #expect(r.stdout.contains("answered\nmodel set\ncancelled\n1\nhistory recalled\nleft\n2\n"), "\(r)")
            #expect(!r.stdout.contains("but the reply went on"), "\(r)")
        }
    }

    @Test("a second Ctrl-C after the one that cancels a reply leaves, and so does one at the prompt")
    func secondInterruptLeaves() async throws {
        try await MountedAIFS.with { m in
            let r = await m.sh("""
                export TERM=xterm
                T="tmux -L aifs-chat2-$$"
                trap '$T kill-server 2>/dev/null' EXIT
                screen() { $T capture-pane -p -t chat; }
                wait_for() { for i in $(seq 1 600); do screen | grep -qE -- "$1" && return 0; sleep 0.05; done
                             echo "never saw: $1"; screen; return 1; }
                mkdir $M/bob; echo 'model echo/slow' > $M/bob/ctl
                # The pane runs only aifs chat: it closes when chat ends, whether the second Ctrl-C
                # came during the reply (exit 130) or once the cancelled reply had ended (at the prompt).
                $T new-session -d -s chat -x 150 -y 40 "$AIFS chat -m $M bob"
                wait_for '^bob> ?$' || exit 1
                # A reply long enough that both interrupts land while it streams: 400 words.
                $T send-keys -t chat "$(seq 1 400 | tr '\\n' ' ')" Enter
                wait_for '^1 2 ' && $T send-keys -t chat C-c
                # The cancel is written; the second Ctrl-C comes before the reply's end is read.
                $T send-keys -t chat C-c
                for i in $(seq 1 600); do $T has-session -t chat 2>/dev/null || { echo "second Ctrl-C left"; break; }; sleep 0.05; done
                # At the prompt Ctrl-C ends it as it ends cat (the signal's default): its pane,
                # which runs nothing else, closes.
                $T new-session -d -s chat2 -x 150 -y 40 "$AIFS chat -m $M bob"
                for i in $(seq 1 600); do $T capture-pane -p -t chat2 | grep -qE '^bob> ?$' && break; sleep 0.05; done
                $T send-keys -t chat2 C-c
                for i in $(seq 1 600); do $T has-session -t chat2 2>/dev/null || { echo "Ctrl-C at the prompt left"; break; }; sleep 0.05; done
                """, timeout: 120)
            print(r.stdout)
            #expect(r.stdout.contains("second Ctrl-C left\nCtrl-C at the prompt left\n"), "\(r)")
        }
    }
}
