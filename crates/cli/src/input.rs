//! Finding and opening the input the user named.

use std::path::{Path, PathBuf};

use etcd::v3::Backend;
use storage::FileSource;

use crate::Failure;

/// The one-line message for an error in `path`: `etcdscope: PATH: <what, page, offset>`.
pub fn fail(path: &Path, e: &dyn std::fmt::Display) -> Failure {
    Failure::Input(format!("etcdscope: {}: {e}", path.display()))
}

/// Where the v3 db is for a file or directory argument.
pub fn locate_db(input: &Path) -> Result<PathBuf, Failure> {
    let meta = std::fs::metadata(input).map_err(|e| fail(input, &e))?;
    if meta.is_file() {
        return Ok(input.to_path_buf());
    }
    // A data dir, its member dir, or its snap dir.
    for cand in ["member/snap/db", "snap/db", "db"] {
        let p = input.join(cand);
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(fail(
        input,
        &"no v3 db here (looked for member/snap/db, snap/db and db)",
    ))
}

pub fn open_v3(input: &Path) -> Result<(PathBuf, Backend<FileSource>), Failure> {
    let path = locate_db(input)?;
    let src = FileSource::open(&path).map_err(|e| fail(&path, &e))?;
    let be = Backend::open(src).map_err(|e| fail(&path, &e))?;
    Ok((path, be))
}
