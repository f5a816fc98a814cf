import FuseKit
import Testing

/// `Errno` as a value, and the errno other errors map to.
@Suite("errno as a type")
struct ErrnoTests {
    /// An error that names its errno.
    struct Domain: Error, ErrnoConvertible { var errno: Errno { .EHOSTDOWN } }
    /// An error that does not (it becomes `EIO`).
    struct Plain: Error {}

    @Test func mapping() {
        #expect(Domain().asErrno == .EHOSTDOWN)
        #expect(Plain().asErrno == .EIO)
        #expect(Errno.EINVAL.asErrno == .EINVAL)
        #expect(Errno.ENOENT.description == "No such file or directory")
    }
}
