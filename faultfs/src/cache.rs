//! The volatile part of one file: the writes and size changes made since its last fsync.
//!
//! A [`Dirty`] sits in front of the backing file. Reads see the backing bytes with the dirty
//! pages laid over them; [`Dirty::write_back`] makes them the backing file's bytes (an fsync
//! follows); dropping a `Dirty` is losing them, as a power cut loses a page cache.
//!
//! Invariants:
//! - every page in `pages` starts at a multiple of [`PAGE`] and lies below `size`'s page;
//! - `base_len <= ` the backing file's length when the `Dirty` was made, and backing bytes at
//!   or past `base_len` are never read: they were truncated away (or never existed) in the
//!   volatile view.

use std::collections::BTreeMap;
use std::io;

/// Page size of the cache, in bytes.
pub const PAGE: u64 = 4096;

/// The backing file as the cache sees it: positional reads and writes, a length.
pub trait Backing {
    /// Reads up to `buf.len()` bytes at `offset`; returns how many were read (0 at the end).
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;
    /// Writes all of `data` at `offset`.
    fn write_at(&self, data: &[u8], offset: u64) -> io::Result<()>;
    /// Sets the length.
    fn set_len(&self, len: u64) -> io::Result<()>;
}

/// Unsynced state of one file.
#[derive(Debug)]
pub struct Dirty {
    /// Logical size of the file.
    size: u64,
    /// Backing bytes at or past this offset are not part of the file (truncated away).
    base_len: u64,
    /// Dirty pages by page number.
    pages: BTreeMap<u64, Box<[u8]>>,
    /// The last write, for a torn write at power loss: (offset, length).
    last_write: Option<(u64, u64)>,
}

impl Dirty {
    /// A clean view of a backing file of `len` bytes.
    pub fn new(len: u64) -> Self {
        Self {
            size: len,
            base_len: len,
            pages: BTreeMap::new(),
            last_write: None,
        }
    }

    /// Logical size.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Bytes held in dirty pages.
    pub fn dirty_bytes(&self) -> u64 {
        self.pages.len() as u64 * PAGE
    }

    /// True when nothing differs from the backing file.
    pub fn is_clean(&self) -> bool {
        self.pages.is_empty() && self.size == self.base_len
    }

    /// Reads from the backing file what the volatile view holds there: bytes below `base_len`,
    /// zeros elsewhere.
    fn base_read(&self, backing: &dyn Backing, buf: &mut [u8], offset: u64) -> io::Result<()> {
        buf.fill(0);
        let end = (offset + buf.len() as u64).min(self.base_len);
        let mut at = offset;
        while at < end {
            let i = (at - offset) as usize;
            let want = (end - at) as usize;
            let n = backing.read_at(&mut buf[i..i + want], at)?;
            if n == 0 {
                break;
            }
            at += n as u64;
        }
        Ok(())
    }

    /// Reads `len` bytes at `offset` (fewer past the end).
    pub fn read(&self, backing: &dyn Backing, offset: u64, len: u64) -> io::Result<Vec<u8>> {
        let end = offset.saturating_add(len).min(self.size);
        if offset >= end {
            return Ok(Vec::new());
        }
        let mut out = vec![0u8; (end - offset) as usize];
        self.base_read(backing, &mut out, offset)?;
        for (&page, data) in self.pages.range(offset / PAGE..=(end - 1) / PAGE) {
            let start = page * PAGE;
            let from = start.max(offset);
            let to = (start + PAGE).min(end);
            out[(from - offset) as usize..(to - offset) as usize]
                .copy_from_slice(&data[(from - start) as usize..(to - start) as usize]);
        }
        Ok(out)
    }

    /// Writes `data` at `offset`, extending the size if it ends past it.
    pub fn write(&mut self, backing: &dyn Backing, offset: u64, data: &[u8]) -> io::Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        let end = offset + data.len() as u64;
        for page in offset / PAGE..=(end - 1) / PAGE {
            let start = page * PAGE;
            if !self.pages.contains_key(&page) {
                let mut buf = vec![0u8; PAGE as usize].into_boxed_slice();
                // Bytes past the logical size are zeros, whatever the backing file holds.
                if start < self.size {
                    let keep = (self.size - start).min(PAGE) as usize;
                    self.base_read(backing, &mut buf[..keep], start)?;
                }
                self.pages.insert(page, buf);
            }
            let buf = self.pages.get_mut(&page).expect("page just inserted");
            let from = start.max(offset);
            let to = (start + PAGE).min(end);
            buf[(from - start) as usize..(to - start) as usize]
                .copy_from_slice(&data[(from - offset) as usize..(to - offset) as usize]);
        }
        self.size = self.size.max(end);
        self.last_write = Some((offset, data.len() as u64));
        Ok(())
    }

    /// Sets the logical size (truncate or extend with zeros).
    pub fn set_size(&mut self, size: u64) {
        if size < self.size {
            // Drop whole pages past the end and zero the tail of the last one, so a later
            // extension reads zeros.
            let keep_pages = size.div_ceil(PAGE);
            self.pages.split_off(&keep_pages);
            if !size.is_multiple_of(PAGE) {
                if let Some(buf) = self.pages.get_mut(&(size / PAGE)) {
                    buf[(size % PAGE) as usize..].fill(0);
                }
            }
            self.base_len = self.base_len.min(size);
        }
        self.size = size;
    }

    /// Makes the volatile view the backing file's content (the caller fsyncs after).
    pub fn write_back(&mut self, backing: &dyn Backing) -> io::Result<()> {
        backing.set_len(self.base_len)?;
        for (&page, data) in &self.pages {
            let start = page * PAGE;
            let len = (self.size - start).min(PAGE) as usize;
            backing.write_at(&data[..len], start)?;
        }
        backing.set_len(self.size)?;
        self.pages.clear();
        self.base_len = self.size;
        self.last_write = None;
        Ok(())
    }

    /// A power cut that tears the last write: the first `keep` bytes of it reach the backing
    /// file (at most its length), everything else unsynced is lost. Returns the bytes kept.
    pub fn tear_last_write(&self, backing: &dyn Backing, keep: u64) -> io::Result<u64> {
        let Some((offset, len)) = self.last_write else {
            return Ok(0);
        };
        let keep = keep.min(len);
        if keep == 0 {
            return Ok(0);
        }
        // Read the torn prefix from the volatile view: later truncations are part of it.
        let bytes = self.read(backing, offset, keep)?;
        if !bytes.is_empty() {
            backing.write_at(&bytes, offset)?;
        }
        Ok(bytes.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;

    /// A backing file in memory.
    #[derive(Default)]
    struct Mem(RefCell<Vec<u8>>);

    impl Backing for Mem {
        fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
            let v = self.0.borrow();
            let start = (offset as usize).min(v.len());
            let n = buf.len().min(v.len() - start);
            buf[..n].copy_from_slice(&v[start..start + n]);
            Ok(n)
        }
        fn write_at(&self, data: &[u8], offset: u64) -> io::Result<()> {
            let mut v = self.0.borrow_mut();
            let end = offset as usize + data.len();
            if v.len() < end {
                v.resize(end, 0);
            }
            v[offset as usize..end].copy_from_slice(data);
            Ok(())
        }
        fn set_len(&self, len: u64) -> io::Result<()> {
            self.0.borrow_mut().resize(len as usize, 0);
            Ok(())
        }
    }

    /// Tiny deterministic generator for the model test.
    fn next(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    #[test]
    fn random_writes_and_truncations_match_a_plain_buffer() {
        for seed in 1..200u64 {
            let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
            let backing = Mem::default();
            let initial: Vec<u8> = (0..(next(&mut rng) % 20_000)).map(|i| i as u8).collect();
            backing.write_at(&initial, 0).unwrap();
            let mut model = initial.clone();
            let mut dirty = Dirty::new(initial.len() as u64);
            for _ in 0..30 {
                match next(&mut rng) % 4 {
                    0 | 1 => {
                        let off = next(&mut rng) % 24_000;
                        let len = next(&mut rng) % 9_000;
                        let data: Vec<u8> = (0..len).map(|_| next(&mut rng) as u8).collect();
                        dirty.write(&backing, off, &data).unwrap();
                        let end = off as usize + data.len();
                        if model.len() < end && !data.is_empty() {
                            model.resize(end, 0);
                        }
                        model[off as usize..off as usize + data.len()].copy_from_slice(&data);
                    }
                    2 => {
                        let size = next(&mut rng) % 24_000;
                        dirty.set_size(size);
                        model.resize(size as usize, 0);
                    }
                    _ => {
                        dirty.write_back(&backing).unwrap();
                        assert_eq!(*backing.0.borrow(), model, "seed {seed}: written back");
                    }
                }
                let all = dirty.read(&backing, 0, u64::MAX).unwrap();
                assert_eq!(all, model, "seed {seed}: volatile view");
                assert_eq!(dirty.size(), model.len() as u64);
            }
        }
    }

    #[test]
    fn dropping_the_cache_leaves_the_backing_file_as_last_written_back() {
        let backing = Mem::default();
        backing.write_at(b"synced", 0).unwrap();
        let mut dirty = Dirty::new(6);
        dirty.write(&backing, 6, b" and not synced").unwrap();
        dirty.set_size(3);
        assert_eq!(dirty.read(&backing, 0, 100).unwrap(), b"syn");
        drop(dirty);
        assert_eq!(*backing.0.borrow(), b"synced");
    }

    #[test]
    fn a_torn_write_keeps_a_prefix_of_the_last_write_only() {
        let backing = Mem::default();
        let mut dirty = Dirty::new(0);
        dirty.write(&backing, 0, b"first write").unwrap();
        dirty.write(&backing, 100, b"0123456789").unwrap();
        assert_eq!(dirty.tear_last_write(&backing, 4).unwrap(), 4);
        let v = backing.0.borrow();
        assert_eq!(&v[100..104], b"0123");
        assert_eq!(v.len(), 104);
        assert!(
            v[..100].iter().all(|&b| b == 0),
            "the earlier write is lost"
        );
    }
}
