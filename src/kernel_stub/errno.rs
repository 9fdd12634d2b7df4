//! Linux error numbers, as the kernel stub returns them.
//!
//! The stub works with one [`Errno`] type; the per-architecture ABI adapter turns it into the
//! number the guest sees (asm-generic numbering on arm64, `arch/sparc/include/uapi/asm/errno.h`
//! on SPARC, where several values differ).

use std::fmt;

macro_rules! errnos {
    ($( $name:ident = $generic:expr, $sparc:expr, $text:expr; )*) => {
        /// A Linux errno value.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[allow(clippy::upper_case_acronyms)]
        pub enum Errno { $( #[doc = $text] $name, )* }

        impl Errno {
            /// The number in the asm-generic numbering (arm64, x86, riscv...).
            pub fn generic(self) -> i64 { match self { $( Errno::$name => $generic, )* } }
            /// The number on SPARC (arch/sparc/include/uapi/asm/errno.h).
            pub fn sparc(self) -> i64 { match self { $( Errno::$name => $sparc, )* } }
            /// The description, e.g. `"Bad address"`.
            pub fn description(self) -> &'static str { match self { $( Errno::$name => $text, )* } }
            /// The symbolic name, e.g. `"EFAULT"`.
            pub fn name(self) -> &'static str { match self { $( Errno::$name => stringify!($name), )* } }
            /// The errno for an asm-generic number, if it is one tagmmu knows.
            pub fn from_generic(n: i64) -> Option<Errno> {
                match n { $( $generic => Some(Errno::$name), )* _ => None }
            }
            /// The errno for a name such as `"EFAULT"`.
            pub fn from_name(name: &str) -> Option<Errno> {
                match name { $( stringify!($name) => Some(Errno::$name), )* _ => None }
            }
        }
    };
}

errnos! {
    EPERM = 1, 1, "Operation not permitted";
    ENOENT = 2, 2, "No such file or directory";
    ESRCH = 3, 3, "No such process";
    EINTR = 4, 4, "Interrupted system call";
    EIO = 5, 5, "I/O error";
    ENXIO = 6, 6, "No such device or address";
    E2BIG = 7, 7, "Argument list too long";
    ENOEXEC = 8, 8, "Exec format error";
    EBADF = 9, 9, "Bad file number";
    ECHILD = 10, 10, "No child processes";
    EAGAIN = 11, 11, "Try again";
    ENOMEM = 12, 12, "Out of memory";
    EACCES = 13, 13, "Permission denied";
    EFAULT = 14, 14, "Bad address";
    EBUSY = 16, 16, "Device or resource busy";
    EEXIST = 17, 17, "File exists";
    EXDEV = 18, 18, "Cross-device link";
    ENODEV = 19, 19, "No such device";
    ENOTDIR = 20, 20, "Not a directory";
    EISDIR = 21, 21, "Is a directory";
    EINVAL = 22, 22, "Invalid argument";
    ENFILE = 23, 23, "File table overflow";
    EMFILE = 24, 24, "Too many open files";
    ENOTTY = 25, 25, "Not a typewriter";
    EFBIG = 27, 27, "File too large";
    ENOSPC = 28, 28, "No space left on device";
    ESPIPE = 29, 29, "Illegal seek";
    EROFS = 30, 30, "Read-only file system";
    EPIPE = 32, 32, "Broken pipe";
    ERANGE = 34, 34, "Math result not representable";
    EDEADLK = 35, 78, "Resource deadlock would occur";
    ENAMETOOLONG = 36, 63, "File name too long";
    ENOSYS = 38, 90, "Invalid system call number";
    ENOTEMPTY = 39, 66, "Directory not empty";
    ELOOP = 40, 62, "Too many symbolic links encountered";
    ENODATA = 61, 111, "No data available";
    EOVERFLOW = 75, 92, "Value too large for defined data type";
    EOPNOTSUPP = 95, 45, "Operation not supported";
    ETIMEDOUT = 110, 60, "Connection timed out";
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Result type of kernel-stub operations that fail with an errno.
pub type KResult<T> = Result<T, Errno>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_match_linux_uapi() {
        assert_eq!(Errno::EFAULT.generic(), 14);
        assert_eq!(Errno::ENOSYS.generic(), 38);
        assert_eq!(Errno::ENOSYS.sparc(), 90);
        assert_eq!(Errno::EOVERFLOW.generic(), 75);
        assert_eq!(Errno::EOVERFLOW.sparc(), 92);
        assert_eq!(Errno::from_generic(22), Some(Errno::EINVAL));
        assert_eq!(Errno::from_name("EPERM"), Some(Errno::EPERM));
        assert_eq!(Errno::from_name("EBOGUS"), None);
    }
}
