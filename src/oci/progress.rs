//! Progress of blob transfers, reported by the client and rendered by the command layer.

use super::Digest;

/// Progress of blob transfers; the command layer renders it.
pub trait TransferProgress: Send {
    /// A blob of `total` bytes starts moving; `what` names it for people.
    fn begin(&mut self, what: &str, total: u64);
    fn advance(&mut self, bytes: u64);
    fn end(&mut self);
}

/// Progress nobody watches.
pub struct NoProgress;

impl TransferProgress for NoProgress {
    fn begin(&mut self, _: &str, _: u64) {}
    fn advance(&mut self, _: u64) {}
    fn end(&mut self) {}
}

/// `sha256:0123456789ab`, how blobs are named to people.
pub fn short(digest: &Digest) -> String {
    format!("sha256:{}", &digest.hex()[..12])
}
