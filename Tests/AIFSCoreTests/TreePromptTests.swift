@testable import AIFSCore
import FuseKit
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A socket's `prompt` and `transcript`, in-process (docs/file-protocol.md, "`prompt`",
/// "`transcript`").
@Suite("tree: prompt and transcript", .timeLimit(.minutes(1)))
struct TreePromptTests {
    @Test("prompt is a private copy with file semantics, stored at close: O_TRUNC, offsets, O_APPEND, gaps of zeros")
    func promptSemantics() async throws {
        try await withTree { tree in
            let s = try await tree.mkdir("s")
            let prompt = tree.inode(s, .prompt)
            let writer = try await tree.open(s, .prompt, O_WRONLY | O_TRUNC)
            #expect(try await tree.session.write(writer, "You are terse.").reply == .written(14))
            #expect(try await tree.cat(prompt) == "", "not stored before the close")
            #expect(try await tree.session.flush(writer).reply == .ok)
            _ = try await tree.session.release(writer).reply
            #expect(try await tree.cat(prompt) == "You are terse.")
            #expect(try await tree.session.getattr(inode: prompt).reply.attributes?.size == 14)
            // Overwrite at an offset, then append.
            let editor = try await tree.open(s, .prompt, O_RDWR)
            #expect(try await tree.session.write(editor, "ARE", offset: 4).reply == .written(3))
            #expect(try await tree.session.write(editor, "!", offset: 0, flags: O_RDWR | O_APPEND).reply == .written(1))
            #expect(try await tree.session.read(editor, size: 100).reply.text == "You ARE terse.!")
            #expect(try await tree.session.flush(editor).reply == .ok)
            _ = try await tree.session.release(editor).reply
            #expect(try await tree.cat(prompt) == "You ARE terse.!")
            // Writing beyond the end fills the gap with zeros.
            let gap = try await tree.open(s, .prompt, O_WRONLY | O_TRUNC)
            #expect(try await tree.session.write(gap, "x", offset: 3).reply == .written(1))
            #expect(try await tree.session.flush(gap).reply == .ok)
            _ = try await tree.session.release(gap).reply
            #expect(tree.registry.socket(id: s)?.prompt == [0, 0, 0, 0x78])
            // A read-only open changes nothing.
            #expect(try await tree.openError(prompt, O_RDONLY | O_TRUNC) == nil)
            #expect(tree.registry.socket(id: s)?.prompt == [0, 0, 0, 0x78])
        }
    }

    @Test("prompt: a write past [limits] prompt_bytes is EFBIG; truncate of the path, ftruncate and fallocate of a copy too")
    func promptLimits() async throws {
        try await withTree(limits: .with { $0.maxPromptBytes = 10 }) { tree in
            let s = try await tree.mkdir("s")
            let prompt = tree.inode(s, .prompt)
            let file = try await tree.open(s, .prompt, O_WRONLY | O_TRUNC)
            #expect(try await tree.session.write(file, "12345678901").reply == .error(.EFBIG))
            #expect(try await tree.session.write(file, "12345", offset: 6).reply == .error(.EFBIG), "it would end at 11")
            #expect(try await tree.session.write(file, "0123456789").reply == .written(10))
            #expect(try await tree.session.flush(file).reply == .ok)
            _ = try await tree.session.release(file).reply
            #expect(try await tree.cat(s, .error).contains(" prompt prompt over 10 bytes refused\n"))
            // truncate(2) of the path changes the stored prompt directly.
            #expect(try await tree.setattrError(prompt, SetAttributes(size: 11)) == .EFBIG)
            #expect(try await tree.setattrError(prompt, SetAttributes(size: 4)) == nil)
            #expect(try await tree.cat(prompt) == "0123")
            let grown = try await tree.session.setattr(inode: prompt, changes: SetAttributes(size: 6)).reply
            #expect(grown.attributes?.size == 6)
            #expect(tree.registry.socket(id: s)?.prompt == Array("0123".utf8) + [0, 0])
            // ftruncate(2) changes the open copy, within the limit: past it, EFBIG at once, before
            // anything is allocated (issue 23), and the copy stays as it was.
            let copy = try await tree.open(s, .prompt, O_RDWR)
            #expect(try await tree.setattrError(prompt, SetAttributes(size: 20), file: copy) == .EFBIG)
            #expect(try await tree.setattrError(prompt, SetAttributes(size: 1 << 62), file: copy) == .EFBIG)
            #expect(try await tree.session.read(copy, size: 100).reply.bytes?.count == 6)
            #expect(try await tree.session.fallocate(copy, length: 11).reply == .error(.EFBIG))
            #expect(try await tree.session.fallocate(copy, length: 8).reply == .ok)
            #expect(try await tree.session.read(copy, size: 100).reply.bytes == Array("0123".utf8) + [0, 0, 0, 0])
            #expect(try await tree.setattrError(prompt, SetAttributes(size: 6), file: copy) == nil)
            #expect(try await tree.session.flush(copy).reply == .ok)
            _ = try await tree.session.release(copy).reply
            #expect(tree.registry.socket(id: s)?.prompt.count == 6, "the stored prompt is unchanged")
        }
    }

    @Test("transcript: EACCES for writing, truncate EPERM; append-only with a true size, read at offsets")
    func transcript() async throws {
        try await withTree { tree in
            let s = try await tree.mkdir("s")
            let transcript = tree.inode(s, .transcript)
            #expect(try await tree.openError(transcript, O_WRONLY) == .EACCES)
            #expect(try await tree.openError(transcript, O_RDWR | O_TRUNC) == .EACCES)
            #expect(try await tree.setattrError(transcript, SetAttributes(size: 0)) == .EPERM)
            #expect(try await tree.session.getattr(inode: transcript).reply.attributes?.size == 0)
            #expect(try await tree.send(s, "first") == .ok)
            #expect(try await tree.cat(s, .output) == "first\n")
            let text = try await tree.cat(transcript)
            let size = try await tree.session.getattr(inode: transcript).reply.attributes?.size
            #expect(size == UInt64(text.utf8.count) && size ?? 0 > 0)
            let file = try await tree.open(s, .transcript)
            let tail = try await tree.session.read(file, size: 6, offset: Int64(text.utf8.count - 6)).reply
            #expect(tail.text == "first\n")
            #expect(try await tree.session.read(file, size: 10, offset: Int64(text.utf8.count)).reply == .data([]))
            _ = try await tree.session.release(file).reply
            let lines = text.split(separator: "\n")
            #expect(lines.count == 4 && lines[0].hasPrefix("[team-chat-to-s] ") && lines[2].hasPrefix("[team-chat-from-s] "))
        }
    }
}
