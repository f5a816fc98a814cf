@testable import AIFSCore
import FuseKit
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `mode race` and `mode fallback A,B,C` of `team-chat-all`, in-process: parsing, the stored
/// form, and rounds against ``TeamTestProvider`` (deadlines fired by the test, never waited for).
@Suite("team chat: race and fallback", .timeLimit(.minutes(1)))
struct TeamModeTests {
    typealias T = TeamTestSupport

    static func errors(_ socket: Socket) -> String { String(decoding: socket.readErrors(max: 1 << 16), as: UTF8.self) }

    // MARK: Parsing and the stored form

    @Test("mode race and mode fallback A,B,C parse, and render back as ctl shows them")
    func parsing() throws {
        #expect(try TeamCommand.parse("mode race") == .mode(.race))
        #expect(try TeamCommand.parse("mode fallback a,b,c") == .mode(.fallback(["a", "b", "c"])))
        #expect(try TeamCommand.parse("mode\tfallback   solo") == .mode(.fallback(["solo"])))
        #expect(try TeamCommand.parseLines("mode race\ntimeout 2\nmode fallback x.1,Y_2,z-3\n")
                == [.mode(.race), .timeout(2), .mode(.fallback(["x.1", "Y_2", "z-3"]))])
        for mode in [TeamMode.fanout, .discuss, .race, .fallback(["a", "b", "c"])] {
            #expect(try TeamCommand.parse("mode " + mode.text) == .mode(mode), "\(mode.text)")
            #expect(TeamMode(text: mode.text) == mode)
        }
        #expect(TeamMode.fallback(["a", "b"]).text == "fallback a,b")
    }

    @Test("bad mode lines say why: no names, bad names, reserved names, duplicates, spaces, extra words")
    func badModes() {
        let cases: [(String, String)] = [
            ("mode fallback", "mode fallback: name the sockets to ask, in order"),
            ("mode fallback a,,b", "mode fallback: '': empty name"),
            ("mode fallback a,", "mode fallback: '': empty name"),
            ("mode fallback a,x/y", "mode fallback: 'x/y': name may only hold"),
            ("mode fallback .hidden", "mode fallback: '.hidden': name starts with '.'"),
            ("mode fallback a,ctl", "mode fallback: 'ctl': 'ctl' is reserved"),
            ("mode fallback a,b,a", "mode fallback: a is named twice"),
            ("mode fallback a, b", "mode fallback: one word of names joined by commas"),
            ("mode race now", "usage: mode fanout|discuss|race|fallback A,B,C"),
            ("mode chaos", "usage: mode fanout|discuss|race|fallback A,B,C"),
            ("mode", "usage: mode fanout|discuss|race|fallback A,B,C"),
            ("mode fallback " + String(repeating: "x", count: 65), "name longer than 64 bytes"),
        ]
        for (line, reason) in cases {
            #expect(throws: ControlError.self, "\(line)") { try TeamCommand.parse(line) }
            do {
                _ = try TeamCommand.parse(line)
            } catch {
                #expect(error.reason.contains(reason), "\(line): \(error.reason)")
                #expect(error.errno == .EINVAL)
            }
        }
    }

    @Test("the stored form round-trips every mode; older stored values still read; an unknown one is fanout")
    func storedForm() {
        for mode in [TeamMode.fanout, .discuss, .race, .fallback(["a"]), .fallback(["b", "a.1", "c_2"])] {
            let settings = TeamSettings(mode: mode, moderator: "m", timeout: 2.5)
            #expect(TeamSettings(stored: settings.stored) == settings, "\(mode.text)")
        }
        #expect(TeamSettings(mode: .fallback(["a", "b"])).stored["mode"] == "fallback a,b")
        // What earlier versions wrote.
        #expect(TeamSettings(stored: ["mode": "discuss", "moderator": "", "timeout": "300.0"]) == TeamSettings(mode: .discuss))
        #expect(TeamSettings(stored: ["mode": "fanout", "moderator": "b", "timeout": "42.0"]) == TeamSettings(moderator: "b", timeout: 42))
        #expect(TeamSettings(stored: ["mode": "chaos"]).mode == .fanout)
        #expect(TeamSettings(stored: ["mode": "fallback"]).mode == .fanout, "no names: not a mode")
        #expect(TeamSettings(stored: [:]) == TeamSettings())
    }

    @Test("ctl: race and fallback show in ctl read; bad lines are EINVAL with the reason in error and change nothing")
    func control() async throws {
        try await withTree { tree in
            try await tree.mkdir("a")
            try await tree.mkdir("b")
            let ctl = InodeScheme.inode(team: .ctl)
            for bad in ["mode fallback\n", "mode fallback a,../b\n", "mode fallback a,a\n", "mode race\nmode fallback\n"] {
                #expect(try await tree.writeControl(ctl, bad).write == .error(.EINVAL), "\(bad.debugDescription)")
            }
            let errors = try await tree.cat(InodeScheme.inode(team: .error))
            #expect(errors.split(separator: "\n").count == 4, "\(errors)")
            for reason in [" ctl mode fallback: name the sockets to ask, in order (mode fallback A,B,C)\n",
                           " ctl mode fallback: '../b': name starts with '.'\n", " ctl mode fallback: a is named twice\n"] {
                #expect(errors.components(separatedBy: reason).count == (reason.contains("in order") ? 3 : 2), "\(reason): \(errors)")
            }
            #expect(Tree.value("mode", in: try await tree.cat(ctl)) == "fanout", "all or nothing")
            #expect(try await tree.writeControl(ctl, "mode race\n").write == .written(10))
            #expect(Tree.value("mode", in: try await tree.cat(ctl)) == "race")
            #expect(try await tree.writeControl(ctl, "mode fallback b,ghost,a\n").write == .written(24))
            let text = try await tree.cat(ctl)
            #expect(Tree.value("mode", in: text) == "fallback b,ghost,a", "\(text)")
            #expect(Tree.value("members", in: text) == "b a", "who a message would reach, in order")
        }
    }

    @Test("fallback: [team-chat-to-NAME] headers are EINVAL; no listed socket is ENOENT; the reasons are in error; nothing is sent")
    func fallbackRefusals() async throws {
        try await withTree { tree in
            let a = try await tree.mkdir("a")
            let ctl = InodeScheme.inode(team: .ctl)
            #expect(try await tree.writeControl(ctl, "mode fallback ghost,a\n").write == .written(22))
            #expect(try await TreeTeamTests.send(tree, "[team-chat-to-a] hi") == .error(.EINVAL))
            #expect(try await tree.writeControl(ctl, "mode fallback ghost,phantom\n").write == .written(28))
            #expect(try await TreeTeamTests.send(tree, "hi") == .error(.ENOENT))
            let errors = try await tree.cat(InodeScheme.inode(team: .error))
            #expect(errors.contains(" team mode fallback asks ghost,a in turn; [team-chat-to-NAME] headers are refused; message not sent\n"), "\(errors)")
            #expect(errors.contains(" team mode fallback: no socket named ghost, phantom; message not sent\n"), "\(errors)")
            #expect(tree.registry.socket(id: a)?.info.messages == 0)
            #expect(try await tree.cat(InodeScheme.inode(team: .output)) == "")
        }
    }

    // MARK: Race

    @Test("race: the first answer is printed, the others are cancelled in flight and told they lost; no moderator")
    func race() async throws {
        let provider = TeamTestProvider()
        let registry = provider.registry()
        _ = try T.make(registry, "a", model: "t/a")
        let hang = try T.make(registry, "h", model: "t/hang")
        let slow = try T.make(registry, "s", model: "t/slow")
        _ = try T.make(registry, "m", model: "t/m")
        try registry.socket(named: "m")?.apply([.state(.inactive)])
        registry.team.apply([.mode(.race), .moderator("m")])
        #expect(await T.send(registry.team, "go") == nil)
        let text = try await T.collect(registry.team)
        #expect(text.hasPrefix("[team-chat-from-a]\na says: go\n"), "\(text)")
        #expect(text.contains("[team-chat-from-h] [cancelled] lost the race to a\n") && text.contains("[team-chat-from-s] [cancelled] lost the race to a\n"),
                "\(text)")
        #expect(text.components(separatedBy: "[team-chat-from-").count == 4, "one block each, no synthesis: \(text)")
        for loser in [hang, slow] {
            try await SocketTestSupport.idle(loser)
            #expect(Self.errors(loser).contains("cancelled: lost the race to a"), "\(loser.name)")
            #expect(T.transcript(loser).contains("[cancelled] ") && T.transcript(loser).contains("lost the race to a"))
        }
        #expect(provider.requests("m").isEmpty, "race asks no moderator")
    }

    @Test("race: failures before the winner are printed as they come; when every member fails the round ends with each failure")
    func raceFailures() async throws {
        let provider = TeamTestProvider()
        let timers = ManualTimers()
        let registry = provider.registry(timers: timers)
        _ = try T.make(registry, "f1", model: "t/fail")
        _ = try T.make(registry, "f2", model: "t/fail")
        registry.team.apply([.mode(.race)])
        #expect(await T.send(registry.team, "go") == nil)
        let text = try await T.collect(registry.team)
        #expect(text.contains("[team-chat-from-f1] [error] HTTP 500: broken on purpose\n")
                && text.contains("[team-chat-from-f2] [error] HTTP 500: broken on purpose\n"), "\(text)")
        #expect(text.components(separatedBy: "[team-chat-from-").count == 3, "\(text)")

        // A failure, then the winner (held until the failure is out): the failure stays, and
        // nobody is left to lose.
        let gate = GateProvider()
        let mixed = SocketRegistry(environment: SocketEnvironment(
            store: InMemoryStore(), catalog: ModelCatalog(modelIDs: ["t/fail", "g/gate"], defaultModel: "t/fail", providers: ["t": provider, "g": gate]),
            limits: Limits(), timers: timers))
        _ = try T.make(mixed, "f", model: "t/fail")
        _ = try T.make(mixed, "g", model: "g/gate")
        mixed.team.apply([.mode(.race)])
        #expect(await T.send(mixed.team, "again") == nil)
        let early = try await T.collect(mixed.team, until: ["[team-chat-from-f] [error] HTTP 500: broken on purpose\n"])
        gate.release()
        let second = try await early + T.collect(mixed.team)
        #expect(second == "[team-chat-from-f] [error] HTTP 500: broken on purpose\n[team-chat-from-g]\ngated: again\n", "\(second)")
    }

    @Test("race: a round's timeout still ends it when nobody answers, and cancels everyone")
    func raceTimeout() async throws {
        let provider = TeamTestProvider()
        let timers = ManualTimers()
        let registry = provider.registry(timers: timers)
        let h1 = try T.make(registry, "h1", model: "t/hang")
        let h2 = try T.make(registry, "h2", model: "t/hang")
        registry.team.apply([.mode(.race), .timeout(2)])
        #expect(await T.send(registry.team, "go") == nil)
        try await SocketTestSupport.eventually("both members are asked") { provider.requests("hang").count == 2 }
        #expect(try await timers.fireNext() == 2)
        let text = try await T.collect(registry.team)
        #expect(text.contains("[team-chat-from-h1] [error] timed out after 2 s\n") && text.contains("[team-chat-from-h2] [error] timed out after 2 s\n"))
        for socket in [h1, h2] {
            try await SocketTestSupport.idle(socket)
            #expect(Self.errors(socket).contains("cancelled: team chat round timed out after 2 s"))
        }
    }

    // MARK: Fallback

    @Test("fallback f,h,a,c: f fails, h times out and is cancelled, a answers; c is never asked; printed in that order")
    func fallback() async throws {
        let provider = TeamTestProvider()
        let timers = ManualTimers()
        let registry = provider.registry(timers: timers)
        _ = try T.make(registry, "f", model: "t/fail")
        let hang = try T.make(registry, "h", model: "t/hang")
        _ = try T.make(registry, "a", model: "t/a")
        _ = try T.make(registry, "c", model: "t/c")
        _ = try T.make(registry, "m", model: "t/m")
        registry.team.apply([.mode(.fallback(["f", "h", "a", "c"])), .timeout(1.5), .moderator("m")])
        #expect(await T.send(registry.team, "go") == nil, "f took its copy")
        // f fails at once and h is asked: two deadlines are armed, f's (now stale) and h's.
        try await SocketTestSupport.eventually("h is asked") { provider.requests("hang").count == 1 && timers.scheduled.count == 2 }
        let early = try await T.collect(registry.team, until: ["[team-chat-from-f] [error] HTTP 500: broken on purpose\n"])
        #expect(try await timers.fireNext() == 1.5)  // f's: f is done, nothing happens
        #expect(try await timers.fireNext() == 1.5)  // h's
        let text = try await early + T.collect(registry.team)
        #expect(text == "[team-chat-from-f] [error] HTTP 500: broken on purpose\n"
                + "[team-chat-from-h] [error] timed out after 1.5 s\n"
                + "[team-chat-from-a]\na says: go\n", "\(text)")
        try await SocketTestSupport.idle(hang)
        #expect(Self.errors(hang).contains("cancelled: team chat round timed out after 1.5 s"))
        #expect(provider.requests("c").isEmpty && provider.requests("m").isEmpty, "the first answer ends the round; no moderator")
        let a = try #require(registry.socket(named: "a"))
        #expect(T.transcript(a).hasPrefix("[team-chat-to-a] "), "\(T.transcript(a))")
    }

    @Test("fallback skips a missing socket and one that refuses, each with a line; when nobody answers the round ends")
    func fallbackSkips() async throws {
        let provider = TeamTestProvider()
        let registry = provider.registry()
        try T.make(registry, "down", model: "t/a").apply([.state(.unresponsive)])
        _ = try T.make(registry, "a", model: "t/a")
        registry.team.apply([.mode(.fallback(["ghost", "down", "a"]))])
        #expect(await T.send(registry.team, "go") == nil)
        #expect(try await T.collect(registry.team) == "[team-chat-from-ghost] [error] no socket named ghost; skipped\n"
                + "[team-chat-from-down] [error] socket is unresponsive; message not queued\n"
                + "[team-chat-from-a]\na says: go\n")

        // Nobody takes it: the close gets the first refusal, and the round still ends.
        registry.team.apply([.mode(.fallback(["down", "ghost"]))])
        #expect(await T.send(registry.team, "again") == .EHOSTDOWN)
        #expect(try await T.collect(registry.team) == "[team-chat-from-down] [error] socket is unresponsive; message not queued\n"
                + "[team-chat-from-ghost] [error] no socket named ghost; skipped\n")

        // Every member fails: each failure, then the end.
        _ = try T.make(registry, "f1", model: "t/fail")
        _ = try T.make(registry, "f2", model: "t/fail")
        registry.team.apply([.mode(.fallback(["f1", "f2"]))])
        #expect(await T.send(registry.team, "third") == nil)
        #expect(try await T.collect(registry.team) == "[team-chat-from-f1] [error] HTTP 500: broken on purpose\n"
                + "[team-chat-from-f2] [error] HTTP 500: broken on purpose\n")
    }

    // MARK: A cancellation that comes before the commit

    @Test("a member cancelled while its copy is still being committed never starts it; error and transcript say cancelled")
    func cancelledWhileCommitting() async throws {
        let provider = TeamTestProvider()
        let store = FaultStore()
        let catalog = ModelCatalog(modelIDs: ["t/a", "t/hang"], defaultModel: "t/a", providers: ["t": provider])
        let registry = SocketRegistry(environment: SocketEnvironment(store: store, catalog: catalog, limits: Limits(), timers: ManualTimers()))
        let hang = try T.make(registry, "h", model: "t/hang")
        store.setCommit(.hold)
        let sent = Task { await T.send(registry.team, "go") }
        await store.waitForHeldCommits(1)
        let round = try #require(registry.team.state.withLock { $0.rounds.keys.first })
        hang.cancelTeamMessage(round: round, reason: "lost the race to x")
        store.releaseCommits()
        #expect(await sent.value == nil, "the copy was committed")
        try await SocketTestSupport.eventually("the cancellation is in h's error") { T.transcript(hang).contains("[cancelled] ") }
        try await SocketTestSupport.idle(hang)
        #expect(Self.errors(hang).contains("cancelled: lost the race to x"))
        #expect(provider.requests("hang").isEmpty, "the request never started")
        #expect(hang.info.queued == 0 && !hang.info.inFlight)
    }
}
