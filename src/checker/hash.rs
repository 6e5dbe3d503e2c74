//! A small, fast, non-cryptographic hasher for the checker's internal tables (interned values,
//! memoized search states). Inputs come from one history and are not adversarial, so a
//! multiply-rotate hash (the rustc "Fx" scheme) is enough and much faster than SipHash.

use std::hash::{BuildHasherDefault, Hasher};

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

/// The rustc Fx hash: one rotate, xor and multiply per word.
#[derive(Default, Clone, Copy)]
pub(crate) struct FxHasher {
    hash: u64,
}

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 59));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        // A final avalanche so that hashbrown's top-7-bit control bytes are well spread.
        let mut h = self.hash;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h
    }
}

/// `BuildHasher` for std/hashbrown maps keyed by interned ids or short strings.
pub(crate) type FxBuild = BuildHasherDefault<FxHasher>;

/// A std `HashMap` using [`FxHasher`].
pub(crate) type FxHashMap<K, V> = std::collections::HashMap<K, V, FxBuild>;

/// A std `HashSet` using [`FxHasher`].
pub(crate) type FxHashSet<K> = std::collections::HashSet<K, FxBuild>;

/// Hashes a slice of words (a memo key) in one pass.
#[inline]
pub(crate) fn hash_words(words: &[u64]) -> u64 {
    let mut h = FxHasher::default();
    for &w in words {
        h.add(w);
    }
    h.finish()
}

/// Hashes a slice of 32-bit words (an interned map state) in one pass, two per round.
#[inline]
pub(crate) fn hash_words32(words: &[u32]) -> u64 {
    let mut h = FxHasher::default();
    let mut pairs = words.chunks_exact(2);
    for p in &mut pairs {
        h.add(u64::from(p[0]) | u64::from(p[1]) << 32);
    }
    if let [last] = pairs.remainder() {
        h.add(u64::from(*last) | 1 << 63);
    }
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_words_hash_equal_and_order_matters() {
        assert_eq!(hash_words(&[1, 2, 3]), hash_words(&[1, 2, 3]));
        assert_ne!(hash_words(&[1, 2, 3]), hash_words(&[3, 2, 1]));
        assert_eq!(hash_words32(&[1, 2, 3]), hash_words32(&[1, 2, 3]));
        assert_ne!(hash_words32(&[1, 2, 3]), hash_words32(&[1, 3, 2]));
        let mut a = FxHasher::default();
        a.write(b"abc");
        let mut b = FxHasher::default();
        b.write(b"abd");
        assert_ne!(a.finish(), b.finish());
    }
}
