//! Overlapping file I/O with the cipher: a reader thread that reads ahead
//! ([`PrefetchReader`]) and a writer thread that writes behind ([`WriteBehind`]), each with a
//! few fixed-size buffers, so that reading, AES-GCM and writing run at the same time on
//! different cores. A third thread, the flusher, `fdatasync`s the output while it is still
//! being written, so that the disk works from the first megabytes on and the caller's final
//! fsync only has the tail left — without stalling the writer (and so the cipher) while the
//! disk catches up.
//!
//! Guarantees: memory is bounded by `(depth + 2) × chunk` per direction, whatever the file
//! size; buffers are recycled, not reallocated; I/O errors (including a failed background
//! `fdatasync`) reach the caller in order, at the latest from [`WriteBehind::finish`]; a
//! consumer that stops early makes the threads end. Does not: bypass the page cache, or make
//! the file durable by itself — the caller still fsyncs the returned file before relying on it.

use std::fs::File;
use std::io::{self, BufRead, ErrorKind, Read, Write};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TryRecvError};
use std::thread::JoinHandle;

/// Bytes written between requests to the flusher thread of [`WriteBehind`] to `fdatasync`.
/// Requests made while a flush is running are merged into the next one, so on a slow disk
/// the flusher simply syncs back to back.
pub const SYNC_EVERY: u64 = 8 << 20;

/// A `BufRead` over a source read ahead by a background thread.
pub struct PrefetchReader {
    chunks: Receiver<io::Result<Vec<u8>>>,
    recycle: SyncSender<Vec<u8>>,
    current: Vec<u8>,
    pos: usize,
    finished: bool,
}

impl PrefetchReader {
    /// Starts reading `source` ahead in pieces of `chunk` bytes, at most `depth` pieces ahead.
    pub fn new(mut source: impl Read + Send + 'static, chunk: usize, depth: usize) -> Self {
        let chunk = chunk.max(1);
        let (tx, chunks) = sync_channel::<io::Result<Vec<u8>>>(depth.max(1));
        let (recycle, returned) = sync_channel::<Vec<u8>>(depth.max(1) + 2);
        std::thread::spawn(move || loop {
            let mut buf = match returned.try_recv() {
                Ok(b) => b,
                Err(TryRecvError::Empty) => Vec::with_capacity(chunk),
                Err(TryRecvError::Disconnected) => return,
            };
            buf.resize(chunk, 0);
            let mut filled = 0;
            while filled < chunk {
                let Some(space) = buf.get_mut(filled..) else {
                    break;
                };
                match source.read(space) {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                }
            }
            buf.truncate(filled);
            let at_end = filled < chunk;
            if filled > 0 && tx.send(Ok(buf)).is_err() {
                return;
            }
            if at_end {
                return;
            }
        });
        Self {
            chunks,
            recycle,
            current: Vec::new(),
            pos: 0,
            finished: false,
        }
    }
}

impl BufRead for PrefetchReader {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos >= self.current.len() && !self.finished {
            let used = std::mem::take(&mut self.current);
            if used.capacity() > 0 {
                let _ = self.recycle.try_send(used);
            }
            self.pos = 0;
            match self.chunks.recv() {
                Ok(Ok(buf)) => self.current = buf,
                Ok(Err(e)) => {
                    self.finished = true;
                    return Err(e);
                }
                Err(_) => self.finished = true,
            }
        }
        Ok(self.current.get(self.pos..).unwrap_or_default())
    }

    fn consume(&mut self, amount: usize) {
        self.pos = self.pos.saturating_add(amount).min(self.current.len());
    }
}

impl Read for PrefetchReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        if let (Some(dst), Some(src)) = (out.get_mut(..n), available.get(..n)) {
            dst.copy_from_slice(src);
        }
        self.consume(n);
        Ok(n)
    }
}

/// Writes to a file from a background thread, with a flusher thread that `fdatasync`s the
/// file every `sync_every` bytes written, concurrently with the writes.
pub struct WriteBehind {
    chunks: Option<SyncSender<Vec<u8>>>,
    recycled: Receiver<Vec<u8>>,
    worker: Option<JoinHandle<io::Result<File>>>,
    current: Vec<u8>,
    chunk: usize,
}

/// The thread that `fdatasync`s a clone of the output handle on request.
struct Flusher {
    requests: Option<SyncSender<()>>,
    worker: Option<JoinHandle<io::Result<()>>>,
}

impl Flusher {
    fn start(file: File) -> Self {
        // One pending request at most: a flush that starts later covers every earlier write.
        let (requests, incoming) = sync_channel::<()>(1);
        let worker = std::thread::spawn(move || -> io::Result<()> {
            for () in incoming {
                file.sync_data()?;
            }
            Ok(())
        });
        Self {
            requests: Some(requests),
            worker: Some(worker),
        }
    }

    /// Asks for a flush without waiting; a stopped flusher reports its error from `finish`.
    fn request(&self) {
        if let Some(tx) = &self.requests {
            let _ = tx.try_send(());
        }
    }

    /// Waits for the running flush, if any, and returns the first flush error.
    fn finish(mut self) -> io::Result<()> {
        self.requests = None;
        match self.worker.take() {
            Some(worker) => worker
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("刷盘线程异常退出"))),
            None => Ok(()),
        }
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        self.requests = None;
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

impl WriteBehind {
    /// Starts the writer thread for `file`, with pieces of `chunk` bytes, `depth` in flight,
    /// and a background `fdatasync` every `sync_every` bytes.
    pub fn new(mut file: File, chunk: usize, depth: usize, sync_every: u64) -> Self {
        let chunk = chunk.max(1);
        let sync_every = sync_every.max(1);
        let (chunks, incoming) = sync_channel::<Vec<u8>>(depth.max(1));
        let (recycle, recycled) = sync_channel::<Vec<u8>>(depth.max(1) + 2);
        let worker = std::thread::spawn(move || -> io::Result<File> {
            let flusher = Flusher::start(file.try_clone()?);
            let mut since_sync: u64 = 0;
            for mut buf in incoming {
                file.write_all(&buf)?;
                since_sync += buf.len() as u64;
                if since_sync >= sync_every {
                    flusher.request();
                    since_sync = 0;
                }
                buf.clear();
                let _ = recycle.try_send(buf);
            }
            flusher.finish()?;
            Ok(file)
        });
        Self {
            chunks: Some(chunks),
            recycled,
            worker: Some(worker),
            current: Vec::with_capacity(chunk),
            chunk,
        }
    }

    fn send_current(&mut self) -> io::Result<()> {
        let next = self
            .recycled
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(self.chunk));
        let full = std::mem::replace(&mut self.current, next);
        let sent = self.chunks.as_ref().map(|tx| tx.send(full));
        match sent {
            Some(Ok(())) => Ok(()),
            // The worker stopped: its error comes out of `finish`.
            _ => Err(self
                .stop()
                .err()
                .unwrap_or_else(|| io::Error::other("写入线程已停止"))),
        }
    }

    /// Appends `bytes`.
    pub fn write_all(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            let room = self.chunk - self.current.len().min(self.chunk);
            let (now, later) = bytes.split_at(room.min(bytes.len()));
            self.current.extend_from_slice(now);
            bytes = later;
            if self.current.len() >= self.chunk {
                self.send_current()?;
            }
        }
        Ok(())
    }

    fn stop(&mut self) -> io::Result<File> {
        self.chunks = None;
        match self.worker.take() {
            Some(worker) => worker
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("写入线程异常退出"))),
            None => Err(io::Error::other("写入线程已停止")),
        }
    }

    /// Writes what is left, waits for the threads and returns the file (partly flushed, not
    /// yet fsynced: the caller's `sync_all` makes it durable).
    pub fn finish(mut self) -> io::Result<File> {
        if !self.current.is_empty() {
            self.send_current()?;
        }
        self.stop()
    }
}

impl Drop for WriteBehind {
    fn drop(&mut self) {
        self.chunks = None;
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefetch_reader_returns_every_byte_in_order() {
        let data: Vec<u8> = (0..100_003u32).map(|i| (i % 251) as u8).collect();
        for chunk in [1usize, 7, 4096, 1 << 20] {
            let mut r = PrefetchReader::new(io::Cursor::new(data.clone()), chunk, 3);
            let mut out = Vec::new();
            let mut piece = [0u8; 1000];
            loop {
                let n = r.read(&mut piece).unwrap();
                if n == 0 {
                    break;
                }
                out.extend_from_slice(&piece[..n]);
            }
            assert_eq!(out, data, "chunk {chunk}");
        }
    }

    #[test]
    fn write_behind_writes_every_byte_in_order() {
        let dir = std::env::temp_dir().join(format!("bidseal-wb-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("out");
        let data: Vec<u8> = (0..300_007u32).map(|i| (i % 253) as u8).collect();
        // A flush requested every 10 000 bytes: the flusher runs while the writer writes.
        for sync_every in [u64::MAX, 10_000] {
            let mut w = WriteBehind::new(File::create(&path).unwrap(), 4096, 2, sync_every);
            for piece in data.chunks(999) {
                w.write_all(piece).unwrap();
            }
            drop(w.finish().unwrap());
            assert_eq!(
                std::fs::read(&path).unwrap(),
                data,
                "sync every {sync_every}"
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
