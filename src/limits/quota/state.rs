//! The quota state file: its JSON records, reading it, and writing it atomically.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub(super) const STATE_VERSION: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct StateFile {
    pub(super) version: u32,
    pub(super) saved_at: String,
    pub(super) saved_at_unix: i64,
    pub(super) quotas: Vec<StateRecord>,
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct StateRecord {
    pub(super) plan: String,
    pub(super) key_id: String,
    pub(super) period: String,
    pub(super) offset: u32,
    pub(super) period_index: i64,
    pub(super) period_start: String,
    pub(super) period_start_unix: i64,
    pub(super) period_end: String,
    pub(super) period_end_unix: i64,
    pub(super) used: u64,
    pub(super) limit: u64,
    pub(super) remaining: u64,
    #[serde(default)]
    pub(super) daily: Vec<DailyRecord>,
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct DailyRecord {
    /// UTC date, `YYYY-MM-DD`.
    pub(super) date: String,
    pub(super) used: u64,
}

pub(super) fn named(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(
        e.kind(),
        format!("quota state file {}: {e}", path.display()),
    )
}

pub(super) fn read_state(path: &Path) -> io::Result<StateFile> {
    let bytes = fs::read(path).map_err(|e| named(path, e))?;
    let file: StateFile = serde_json::from_slice(&bytes).map_err(|e| {
        named(
            path,
            io::Error::new(io::ErrorKind::InvalidData, format!("corrupt: {e}")),
        )
    })?;
    if file.version != STATE_VERSION {
        return Err(named(
            path,
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "unsupported version {} (expected {STATE_VERSION})",
                    file.version
                ),
            ),
        ));
    }
    Ok(file)
}

pub(super) fn tmp_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(".tmp");
    PathBuf::from(s)
}

pub(super) fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = tmp_path(path);
    let written = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    match File::open(dir).and_then(|d| d.sync_all()) {
        // Some file systems cannot fsync a directory; the rename itself is done.
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok(()),
        r => r,
    }
}
