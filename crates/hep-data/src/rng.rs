//! A bit-exact port of numpy's `default_rng(seed)`: `SeedSequence` seeding, the PCG64
//! (XSL-RR 128/64) bit generator, and the `Generator` draws the JetNet tools rely on.
//!
//! `jetnet` 0.2.5 splits datasets with `default_rng(seed).permutation(n)` and bootstraps
//! its metrics with `rng.choice(n, size)`; reproducing those streams lets our splits and
//! seeded metrics equal the Python reference exactly.
//!
//! # References
//! - numpy `bit_generator.pyx` (`SeedSequence`), `_pcg64.pyx` / `pcg64.h` (PCG64),
//!   `_bounded_integers.pyx` / `distributions.c` (`random_interval`, Lemire bounded draws).
//! - M. E. O'Neill, "PCG: A Family of Simple Fast Space-Efficient Statistically Good
//!   Algorithms for Random Number Generation" (2014).

const PCG_MULT: u128 = 0x2360_ed05_1fc6_5da4_4385_df64_9fcc_f645;

const INIT_A: u32 = 0x43b0_d7e5;
const MULT_A: u32 = 0x931e_8875;
const INIT_B: u32 = 0x8b51_f9dd;
const MULT_B: u32 = 0x58f3_8ded;
const MIX_MULT_L: u32 = 0xca01_f9dd;
const MIX_MULT_R: u32 = 0x4973_f715;
const XSHIFT: u32 = 16;
const POOL_SIZE: usize = 4;

/// numpy's `SeedSequence(seed)` for a non-negative integer seed: entropy pooling and
/// `generate_state`.
#[derive(Debug, Clone)]
pub struct SeedSequence {
    pool: [u32; POOL_SIZE],
}

impl SeedSequence {
    /// `SeedSequence(seed)`: the seed is split into little-endian 32-bit words
    /// (a zero seed is the single word 0), as numpy's `_coerce_to_uint32_array` does.
    pub fn new(seed: u64) -> Self {
        let lo = seed as u32;
        let hi = (seed >> 32) as u32;
        let entropy: Vec<u32> = if hi == 0 { vec![lo] } else { vec![lo, hi] };
        Self::from_entropy(&entropy)
    }

    fn from_entropy(entropy: &[u32]) -> Self {
        let mut hash_const = INIT_A;
        let mut hashmix = |value: u32| -> u32 {
            let mut v = value ^ hash_const;
            hash_const = hash_const.wrapping_mul(MULT_A);
            v = v.wrapping_mul(hash_const);
            v ^ (v >> XSHIFT)
        };
        let mix = |x: u32, y: u32| -> u32 {
            let r = MIX_MULT_L
                .wrapping_mul(x)
                .wrapping_sub(MIX_MULT_R.wrapping_mul(y));
            r ^ (r >> XSHIFT)
        };
        let mut pool = [0u32; POOL_SIZE];
        for (i, slot) in pool.iter_mut().enumerate() {
            *slot = hashmix(entropy.get(i).copied().unwrap_or(0));
        }
        for src in 0..POOL_SIZE {
            for dst in 0..POOL_SIZE {
                if src != dst {
                    let h = hashmix(pool[src]);
                    pool[dst] = mix(pool[dst], h);
                }
            }
        }
        for &word in entropy.iter().skip(POOL_SIZE) {
            for slot in pool.iter_mut() {
                let h = hashmix(word);
                *slot = mix(*slot, h);
            }
        }
        Self { pool }
    }

    /// `generate_state(n_words, np.uint64)`.
    pub fn generate_state_u64(&self, n_words: usize) -> Vec<u64> {
        let mut hash_const = INIT_B;
        let words: Vec<u32> = (0..2 * n_words)
            .map(|i| {
                let mut v = self.pool[i % POOL_SIZE] ^ hash_const;
                hash_const = hash_const.wrapping_mul(MULT_B);
                v = v.wrapping_mul(hash_const);
                v ^ (v >> XSHIFT)
            })
            .collect();
        words
            .chunks_exact(2)
            .map(|w| u64::from(w[0]) | (u64::from(w[1]) << 32))
            .collect()
    }
}

/// The PCG64 bit generator (128-bit LCG state, XSL-RR output), seeded like numpy's `PCG64`.
#[derive(Debug, Clone)]
pub struct Pcg64 {
    state: u128,
    inc: u128,
    /// numpy buffers the upper half of a 64-bit draw for the next 32-bit request.
    buffered_u32: Option<u32>,
}

impl Pcg64 {
    /// `PCG64(SeedSequence(seed))`.
    pub fn new(seed: u64) -> Self {
        let s = SeedSequence::new(seed).generate_state_u64(4);
        let initstate = (u128::from(s[0]) << 64) | u128::from(s[1]);
        let initseq = (u128::from(s[2]) << 64) | u128::from(s[3]);
        let mut rng = Self {
            state: 0,
            inc: (initseq << 1) | 1,
            buffered_u32: None,
        };
        rng.step();
        rng.state = rng.state.wrapping_add(initstate);
        rng.step();
        rng
    }

    fn step(&mut self) {
        self.state = self.state.wrapping_mul(PCG_MULT).wrapping_add(self.inc);
    }

    /// The next 64-bit output.
    pub fn next_u64(&mut self) -> u64 {
        self.step();
        let rot = (self.state >> 122) as u32;
        let xored = ((self.state >> 64) as u64) ^ (self.state as u64);
        xored.rotate_right(rot)
    }

    /// The next 32-bit output: the low half of a fresh 64-bit draw, then its high half.
    pub fn next_u32(&mut self) -> u32 {
        if let Some(v) = self.buffered_u32.take() {
            return v;
        }
        let v = self.next_u64();
        self.buffered_u32 = Some((v >> 32) as u32);
        v as u32
    }
}

/// numpy's `Generator` over [`Pcg64`]: `np.random.default_rng(seed)`.
///
/// Only the draws the JetNet tooling uses are provided; each one consumes the bit
/// stream exactly as numpy does, so interleaved calls stay in step with Python.
#[derive(Debug, Clone)]
pub struct NumpyRng {
    bits: Pcg64,
}

impl NumpyRng {
    /// `np.random.default_rng(seed)`.
    pub fn new(seed: u64) -> Self {
        Self {
            bits: Pcg64::new(seed),
        }
    }

    /// The next raw 64-bit output of the bit generator.
    pub fn next_u64(&mut self) -> u64 {
        self.bits.next_u64()
    }

    /// The next raw 32-bit output (buffered halves, as numpy).
    pub fn next_u32(&mut self) -> u32 {
        self.bits.next_u32()
    }

    /// `Generator.random()`: a double in `[0, 1)` from the top 53 bits.
    pub fn random(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / 9_007_199_254_740_992.0)
    }

    /// `Generator.integers(0, high)` for one value: uniform in `[0, high)` by Lemire's
    /// bounded method (32-bit draws when `high - 1` fits in 32 bits), exactly as numpy.
    ///
    /// # Panics
    /// If `high == 0` (numpy raises `ValueError: high <= 0`).
    pub fn integers(&mut self, high: u64) -> u64 {
        assert!(high > 0, "integers: high must be positive");
        let rng = high - 1;
        if rng == 0 {
            return 0;
        }
        if rng <= u64::from(u32::MAX) {
            self.bounded_lemire_u32(rng as u32) as u64
        } else {
            self.bounded_lemire_u64(rng)
        }
    }

    fn bounded_lemire_u32(&mut self, rng: u32) -> u32 {
        if rng == u32::MAX {
            return self.next_u32();
        }
        let rng_excl = rng + 1;
        let mut m = u64::from(self.next_u32()) * u64::from(rng_excl);
        let mut leftover = m as u32;
        if leftover < rng_excl {
            let threshold = (u32::MAX - rng) % rng_excl;
            while leftover < threshold {
                m = u64::from(self.next_u32()) * u64::from(rng_excl);
                leftover = m as u32;
            }
        }
        (m >> 32) as u32
    }

    fn bounded_lemire_u64(&mut self, rng: u64) -> u64 {
        if rng == u64::MAX {
            return self.next_u64();
        }
        let rng_excl = rng + 1;
        let mut m = u128::from(self.next_u64()) * u128::from(rng_excl);
        let mut leftover = m as u64;
        if leftover < rng_excl {
            let threshold = (u64::MAX - rng) % rng_excl;
            while leftover < threshold {
                m = u128::from(self.next_u64()) * u128::from(rng_excl);
                leftover = m as u64;
            }
        }
        (m >> 64) as u64
    }

    /// `Generator.choice(n, size)` (with replacement, uniform): `size` draws of
    /// `integers(0, n)`.
    ///
    /// # Panics
    /// If `n == 0` and `size > 0` (numpy raises `ValueError`).
    pub fn choice(&mut self, n: usize, size: usize) -> Vec<usize> {
        (0..size)
            .map(|_| self.integers(n as u64) as usize)
            .collect()
    }

    /// `Generator.permutation(n)`: Fisher–Yates from the end, each swap index drawn by
    /// numpy's masked rejection sampler `random_interval`.
    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut a: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            let j = self.random_interval(i as u64) as usize;
            a.swap(i, j);
        }
        a
    }

    /// numpy's `random_interval(max)`: uniform in `[0, max]` by masking to the next
    /// power of two minus one and rejecting.
    fn random_interval(&mut self, max: u64) -> u64 {
        if max == 0 {
            return 0;
        }
        let mask = u64::MAX >> max.leading_zeros();
        if max <= u64::from(u32::MAX) {
            loop {
                let v = u64::from(self.next_u32()) & mask;
                if v <= max {
                    return v;
                }
            }
        }
        loop {
            let v = self.next_u64() & mask;
            if v <= max {
                return v;
            }
        }
    }
}

#[cfg(test)]
mod tests;
