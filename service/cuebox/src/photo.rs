//! Reading a photo named by a catalog, a command line or an upload: a regular file inside the
//! folder it must come from, of bounded size, whose declared pixel count is checked before it is
//! decoded (docs/security.md).

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use cuebox_vision::{RgbImage, decode_image};

/// The largest photo file read, in bytes.
pub const MAX_PHOTO_BYTES: u64 = 25 * 1024 * 1024;

/// Where a photo must be: anywhere the caller may read (a path the operator typed), or inside a
/// folder (a catalog's own folder, an upload folder), symlinks and `..` resolved first.
#[derive(Clone, Copy, Debug)]
pub enum Within<'a> {
    Anywhere,
    Folder(&'a Path),
}

/// The bytes of the photo at `path`, after checking what it is and where it is. The error is one
/// readable sentence (the caller names the file and where it was written).
pub fn read_photo(path: &Path, within: Within<'_>) -> Result<Vec<u8>, String> {
    let resolved = std::fs::canonicalize(path).map_err(|e| e.to_string())?;
    if let Within::Folder(folder) = within {
        let folder: PathBuf = std::fs::canonicalize(folder).map_err(|e| format!("{}: {e}", folder.display()))?;
        if !resolved.starts_with(&folder) {
            return Err(format!(
                "resolves to {}, outside the folder {} that photos must be in",
                resolved.display(),
                folder.display()
            ));
        }
    }
    let metadata = std::fs::metadata(&resolved).map_err(|e| e.to_string())?;
    if !metadata.is_file() {
        return Err(format!("{} is not a regular file", resolved.display()));
    }
    // Non-blocking, so that a file swapped for a FIFO after the check cannot hang the open.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&resolved)
        .map_err(|e| e.to_string())?;
    let opened = file.metadata().map_err(|e| e.to_string())?;
    if !opened.is_file() {
        return Err(format!("{} is not a regular file", resolved.display()));
    }
    if opened.len() > MAX_PHOTO_BYTES {
        return Err(too_big(opened.len()));
    }
    let mut bytes = Vec::with_capacity(opened.len() as usize);
    file.take(MAX_PHOTO_BYTES + 1).read_to_end(&mut bytes).map_err(|e| e.to_string())?;
    if bytes.len() as u64 > MAX_PHOTO_BYTES {
        return Err(too_big(bytes.len() as u64));
    }
    Ok(bytes)
}

fn too_big(bytes: u64) -> String {
    format!("{:.1} MB is over the limit of {} MB for a photo", bytes as f64 / 1e6, MAX_PHOTO_BYTES / 1024 / 1024)
}

/// [`read_photo`], then decoded (the pixel count checked from the header first).
pub fn load_photo(path: &Path, within: Within<'_>) -> Result<RgbImage, String> {
    decode_image(&read_photo(path, within)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_fifos_and_folders_are_not_photos() {
        let folder = tempfile::tempdir().unwrap();
        let fifo = folder.path().join("pipe.jpg");
        let name = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
        for path in [Path::new("/dev/zero"), fifo.as_path(), folder.path()] {
            let error = read_photo(path, Within::Anywhere).unwrap_err();
            assert!(error.contains("is not a regular file"), "{path:?}: {error}");
        }
    }

    #[test]
    fn a_photo_outside_its_folder_is_refused_however_it_is_named() {
        let root = tempfile::tempdir().unwrap();
        let folder = root.path().join("catalog");
        std::fs::create_dir(&folder).unwrap();
        let outside = root.path().join("secret.jpg");
        std::fs::write(&outside, b"not a photo").unwrap();
        std::os::unix::fs::symlink(&outside, folder.join("link.jpg")).unwrap();
        std::fs::write(folder.join("inside.jpg"), b"bytes").unwrap();
        for path in [folder.join("../secret.jpg"), outside.clone(), folder.join("link.jpg")] {
            let error = read_photo(&path, Within::Folder(&folder)).unwrap_err();
            assert!(error.contains("outside the folder"), "{path:?}: {error}");
        }
        assert_eq!(read_photo(&folder.join("inside.jpg"), Within::Folder(&folder)).unwrap(), b"bytes");
    }

    #[test]
    fn a_file_over_the_size_limit_is_refused_without_reading_it() {
        let folder = tempfile::tempdir().unwrap();
        let big = folder.path().join("big.jpg");
        let file = std::fs::File::create(&big).unwrap();
        file.set_len(MAX_PHOTO_BYTES + 1).unwrap();
        let error = read_photo(&big, Within::Anywhere).unwrap_err();
        assert!(error.contains("over the limit of 25 MB"), "{error}");
    }
}
