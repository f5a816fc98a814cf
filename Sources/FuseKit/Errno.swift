#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A POSIX error number, as FUSE replies carry it.
///
/// Domain errors in the layers above conform to ``ErrnoConvertible`` so that every failure knows
/// which errno the kernel should see; anything else becomes `EIO`.
public struct Errno: Error, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int32
    public init(_ rawValue: Int32) { self.rawValue = rawValue }

    public var description: String {
        guard let cString = strerror(rawValue) else { return "errno \(rawValue)" }
        return String(cString: cString)
    }

    /// The errno of the calling thread, as a value.
    public static var current: Errno { Errno(Glibc.errno) }

    public static let EPERM = Errno(Glibc.EPERM)
    public static let ENOENT = Errno(Glibc.ENOENT)
    public static let ENXIO = Errno(Glibc.ENXIO)
    public static let EINTR = Errno(Glibc.EINTR)
    public static let EIO = Errno(Glibc.EIO)
    public static let EBADF = Errno(Glibc.EBADF)
    public static let EAGAIN = Errno(Glibc.EAGAIN)
    public static let ENOMEM = Errno(Glibc.ENOMEM)
    public static let EACCES = Errno(Glibc.EACCES)
    public static let EBUSY = Errno(Glibc.EBUSY)
    public static let EEXIST = Errno(Glibc.EEXIST)
    public static let EXDEV = Errno(Glibc.EXDEV)
    public static let ENOTDIR = Errno(Glibc.ENOTDIR)
    public static let EISDIR = Errno(Glibc.EISDIR)
    public static let EINVAL = Errno(Glibc.EINVAL)
    public static let EFBIG = Errno(Glibc.EFBIG)
    public static let ENOSPC = Errno(Glibc.ENOSPC)
    public static let ESPIPE = Errno(Glibc.ESPIPE)
    public static let EROFS = Errno(Glibc.EROFS)
    public static let ENAMETOOLONG = Errno(Glibc.ENAMETOOLONG)
    public static let ENOSYS = Errno(Glibc.ENOSYS)
    public static let ENOTEMPTY = Errno(Glibc.ENOTEMPTY)
    public static let ELOOP = Errno(Glibc.ELOOP)
    public static let ENODATA = Errno(Glibc.ENODATA)
    public static let ENOTSUP = Errno(Glibc.ENOTSUP)
    public static let EOPNOTSUPP = Errno(Glibc.EOPNOTSUPP)
    public static let ENOTCONN = Errno(Glibc.ENOTCONN)
    public static let EHOSTDOWN = Errno(Glibc.EHOSTDOWN)
    public static let ECANCELED = Errno(Glibc.ECANCELED)
}

/// An error that knows the errno it should reach the kernel as.
public protocol ErrnoConvertible: Error {
    var errno: Errno { get }
}

extension Errno: ErrnoConvertible {
    public var errno: Errno { self }
}

extension Error {
    /// The errno this error maps to: its own if it has one, otherwise `EIO`.
    public var asErrno: Errno { (self as? any ErrnoConvertible)?.errno ?? .EIO }
}
