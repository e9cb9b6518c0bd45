//! Overlapping file I/O with the cipher: a reader thread that reads ahead
//! ([`PrefetchReader`]) and a writer thread that writes behind ([`WriteBehind`]), each with a
//! few fixed-size buffers, so that reading, AES-GCM and writing run at the same time on
//! different cores. A third thread, the flusher, `fdatasync`s the output while it is still
//! being written, so that the disk works from the first megabytes on and the caller's final
//! fsync only has the tail left — without stalling the writer (and so the cipher) while the
//! disk catches up.
//!
//! For encryption the buffers themselves travel: [`PrefetchReader::next_chunk`] hands out the
//! buffer the reader thread filled, the cipher works on it in place,
//! [`WriteBehind::write_owned`] passes it to the writer thread, and
//! [`WriteBehind::take_spare`] + [`BufferReturn::give_back`] put it back in the reader's
//! pool — no user-space copy of the content between the two files.
//!
//! Guarantees: memory is bounded by the channel and pool capacities — at most
//! `depth + 1` pieces in each thread's queue or hands and `depth + 2` in each pool, so about
//! `(4·depth + 7) × chunk` for a full encryption pipeline — whatever the file size; buffers
//! are recycled, not reallocated; I/O errors (including a failed background
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

    /// Takes the next piece read ahead as an owned buffer (`None` at the end of the source),
    /// so that a consumer can work on it in place and hand it on without copying. Do not mix
    /// with the `Read`/`BufRead` methods on one reader.
    pub fn next_chunk(&mut self) -> io::Result<Option<Vec<u8>>> {
        if self.finished {
            return Ok(None);
        }
        match self.chunks.recv() {
            Ok(Ok(buf)) => Ok(Some(buf)),
            Ok(Err(e)) => {
                self.finished = true;
                Err(e)
            }
            Err(_) => {
                self.finished = true;
                Ok(None)
            }
        }
    }

    /// A handle that gives used buffers back to the reader thread's pool (a full pool drops
    /// them), so that buffers taken with [`PrefetchReader::next_chunk`] are reused.
    pub fn recycler(&self) -> BufferReturn {
        BufferReturn(self.recycle.clone())
    }
}

/// Gives buffers back to a [`PrefetchReader`]'s pool.
#[derive(Clone)]
pub struct BufferReturn(SyncSender<Vec<u8>>);

impl BufferReturn {
    /// Returns `buf` to the pool, or drops it when the pool is full or the reader ended.
    pub fn give_back(&self, buf: Vec<u8>) {
        let _ = self.0.try_send(buf);
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
            for buf in incoming {
                file.write_all(&buf)?;
                since_sync += buf.len() as u64;
                if since_sync >= sync_every {
                    flusher.request();
                    since_sync = 0;
                }
                // Not cleared: a full-length buffer goes back to a reader without re-zeroing.
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
        let mut next = self
            .recycled
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(self.chunk));
        next.clear();
        let full = std::mem::replace(&mut self.current, next);
        self.send(full)
    }

    fn send(&mut self, buf: Vec<u8>) -> io::Result<()> {
        let sent = self.chunks.as_ref().map(|tx| tx.send(buf));
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

    /// Appends the owned buffer `buf` without copying it (bytes given to
    /// [`WriteBehind::write_all`] before it are written first). Written buffers come back,
    /// uncleared, from [`WriteBehind::take_spare`].
    pub fn write_owned(&mut self, buf: Vec<u8>) -> io::Result<()> {
        if !self.current.is_empty() {
            self.send_current()?;
        }
        if buf.is_empty() {
            return Ok(());
        }
        self.send(buf)
    }

    /// A buffer the writer thread has finished writing, if one is waiting (its contents are
    /// the bytes written; clear or overwrite it before reuse).
    pub fn take_spare(&mut self) -> Option<Vec<u8>> {
        self.recycled.try_recv().ok()
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

    #[test]
    fn owned_buffers_go_round_from_reader_to_writer_and_back() {
        let dir = std::env::temp_dir().join(format!("bidseal-own-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("out");
        let data: Vec<u8> = (0..300_007u32).map(|i| (i % 247) as u8).collect();
        let mut r = PrefetchReader::new(io::Cursor::new(data.clone()), 4096, 2);
        let pool = r.recycler();
        let mut w = WriteBehind::new(File::create(&path).unwrap(), 4096, 2, 10_000);
        // A small copied write first (like the DER header) must stay in front.
        w.write_all(b"head").unwrap();
        let mut pieces = 0;
        let mut reused = 0;
        while let Some(mut piece) = r.next_chunk().unwrap() {
            assert!(!piece.is_empty() && piece.len() <= 4096);
            piece.iter_mut().for_each(|b| *b ^= 0x5a);
            w.write_owned(piece).unwrap();
            while let Some(spare) = w.take_spare() {
                reused += 1;
                pool.give_back(spare);
            }
            pieces += 1;
        }
        assert!(r.next_chunk().unwrap().is_none());
        w.write_owned(b"tail".to_vec()).unwrap();
        drop(w.finish().unwrap());
        let mut expected = b"head".to_vec();
        expected.extend(data.iter().map(|b| b ^ 0x5a));
        expected.extend_from_slice(b"tail");
        assert_eq!(std::fs::read(&path).unwrap(), expected);
        assert_eq!(pieces, data.len().div_ceil(4096));
        assert!(reused > 0, "written buffers never came back for reuse");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
