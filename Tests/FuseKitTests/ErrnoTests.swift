import FuseKit
import Testing

@Suite("errno as a type")
struct ErrnoTests {
    struct Domain: Error, ErrnoConvertible { var errno: Errno { .EHOSTDOWN } }
    struct Plain: Error {}

    @Test func mapping() {
        #expect(Domain().asErrno == .EHOSTDOWN)
        #expect(Plain().asErrno == .EIO)
        #expect(Errno.EINVAL.asErrno == .EINVAL)
        #expect(Errno.ENOENT.description == "No such file or directory")
    }
}
