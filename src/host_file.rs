//! Reading host files the user names (the program, files placed in the guest's filesystem):
//! regular files only, and at most a size, so `/dev/zero`, a FIFO or a huge file cannot make
//! tagmmu read without bound.

use std::io::Read;
use std::path::Path;

/// The largest host file tagmmu reads: the in-memory tmpfs's largest file.
pub const MAX_HOST_FILE: u64 = crate::kernel_stub::vfs::MAX_FILE_SIZE;

/// Read the regular file at `path`, refusing anything else (a device, a FIFO, a directory)
/// and anything larger than `max` bytes, with an error that says which.
pub fn read_regular(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file"));
    }
    if meta.len() > max {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{} bytes is more than the {max} tagmmu reads", meta.len()),
        ));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // One byte more than allowed: a file that grows while read is caught too.
    file.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("more than the {max} bytes tagmmu reads"),
        ));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bounded_regular_files_are_read() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("f");
        std::fs::write(&f, b"hello").unwrap();
        assert_eq!(read_regular(&f, 5).unwrap(), b"hello");
        assert!(read_regular(&f, 4).unwrap_err().to_string().contains("more than the 4"));
        assert!(read_regular(Path::new("/dev/zero"), 1 << 20).unwrap_err().to_string().contains("not a regular file"));
        assert!(read_regular(d.path(), 1 << 20).is_err(), "a directory");
        assert_eq!(read_regular(&d.path().join("missing"), 5).unwrap_err().kind(), std::io::ErrorKind::NotFound);
    }
}
