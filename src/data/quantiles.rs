//! Quantiles and histograms of a column in bounded memory.
//!
//! Up to [`EXACT_LIMIT`] values a column keeps every value and both are exact: quantiles by
//! numpy's default linear interpolation, histogram counts per equal-width bin. Beyond that they
//! come from a [`Sketch`]: counts of the values' distance `d = v − s` from the column's first
//! value `s`, in buckets whose width is 2⁻¹⁰ of the distance (the top 10 bits of the mantissa of
//! `|d|`, an HDR-histogram layout). A value is represented by its bucket's midpoint, so every
//! quantile is within 2⁻¹¹·|q − s| ≤ 0.05 % of the column's range (max − min) of the exact one, and
//! a value counts in a neighbouring histogram bin only when it lies that close to a bin edge.
//! Counts are integers, so sketches merge in any order to the same result; memory is a few
//! hundred KB per column whatever the number of rows (pages of the bucket array never touched
//! are never allocated).

/// Columns with at most this many values get exact quantiles and histograms.
pub const EXACT_LIMIT: usize = 1 << 17;
/// Mantissa bits kept in a bucket key: the relative bucket width is 2^-MANTISSA_BITS.
const MANTISSA_BITS: u32 = 10;
const KEYS: usize = 1 << (11 + MANTISSA_BITS);
/// The relative bound on a sketched quantile's distance from the exact one, stated in profiles.
pub const SKETCH_RELATIVE_ERROR: f64 = 1.0 / (1u64 << (MANTISSA_BITS + 1)) as f64;

/// Bucket counts of one column's values, relative to a fixed shift.
#[derive(Clone)]
pub struct Sketch {
    shift: f64,
    zero: u64,
    positive: Buckets,
    negative: Buckets,
}

#[derive(Clone)]
struct Buckets {
    counts: Vec<u64>,
    lo: usize,
    hi: usize,
}

impl Buckets {
    fn new() -> Self {
        // vec! of zeros is a calloc: untouched pages stay unallocated.
        Buckets { counts: Vec::new(), lo: KEYS, hi: 0 }
    }

    fn add(&mut self, key: usize, count: u64) {
        if self.counts.is_empty() {
            self.counts = vec![0; KEYS];
        }
        self.counts[key] += count;
        self.lo = self.lo.min(key);
        self.hi = self.hi.max(key + 1);
    }

    fn iter(&self) -> impl DoubleEndedIterator<Item = (usize, u64)> + '_ {
        (self.lo..self.hi.max(self.lo)).map(|k| (k, self.counts[k])).filter(|&(_, c)| c > 0)
    }
}

impl std::fmt::Debug for Sketch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sketch").field("shift", &self.shift).field("buckets", &self.buckets().count()).finish()
    }
}

fn key(magnitude: f64) -> usize {
    (magnitude.to_bits() >> (52 - MANTISSA_BITS)) as usize & (KEYS - 1)
}

/// The midpoint of a bucket's magnitudes.
fn midpoint(key: usize) -> f64 {
    let lower = f64::from_bits((key as u64) << (52 - MANTISSA_BITS));
    let upper = f64::from_bits(((key as u64) + 1) << (52 - MANTISSA_BITS));
    lower + (upper - lower) / 2.0
}

impl Sketch {
    pub fn new(shift: f64) -> Self {
        Sketch { shift, zero: 0, positive: Buckets::new(), negative: Buckets::new() }
    }

    /// The value distances are measured from.
    pub fn shift(&self) -> f64 {
        self.shift
    }

    pub fn add(&mut self, value: f64) {
        let d = value - self.shift;
        if d > 0.0 {
            self.positive.add(key(d), 1);
        } else if d < 0.0 {
            self.negative.add(key(-d), 1);
        } else {
            self.zero += 1;
        }
    }

    pub fn merge(&mut self, other: &Sketch) {
        self.zero += other.zero;
        for (k, c) in other.positive.iter() {
            self.positive.add(k, c);
        }
        for (k, c) in other.negative.iter() {
            self.negative.add(k, c);
        }
    }

    /// Buckets in increasing value order: (representative value, count).
    fn buckets(&self) -> impl Iterator<Item = (f64, u64)> + '_ {
        let negative = self.negative.iter().rev().map(|(k, c)| (self.shift - midpoint(k), c));
        let zero = (self.zero > 0).then_some((self.shift, self.zero));
        let positive = self.positive.iter().map(|(k, c)| (self.shift + midpoint(k), c));
        negative.chain(zero).chain(positive)
    }

    /// The value of rank `rank` (0-based) in sorted order, clamped to `[min, max]`.
    fn value_at(&self, rank: u64, min: f64, max: f64) -> f64 {
        let mut seen = 0u64;
        for (value, count) in self.buckets() {
            seen += count;
            if rank < seen {
                return value.clamp(min, max);
            }
        }
        max
    }

    /// numpy-style quantile `q` of `n` values with the given min and max.
    pub fn quantile(&self, q: f64, n: u64, min: f64, max: f64) -> f64 {
        let position = q * (n - 1) as f64;
        let (lower, upper) = (position.floor() as u64, position.ceil() as u64);
        let (a, b) = (self.value_at(lower, min, max), self.value_at(upper, min, max));
        a + (b - a) * (position - lower as f64)
    }

    /// Counts per equal-width bin between `min` and `max`, each bucket counted at its midpoint.
    pub fn histogram(&self, bins: usize, min: f64, max: f64) -> Vec<usize> {
        let width = (max - min) / bins as f64;
        let mut counts = vec![0usize; bins];
        for (value, count) in self.buckets() {
            counts[bin(value, min, width, bins)] += count as usize;
        }
        counts
    }
}

/// The bin of `value`: equal widths from `min`, the last bin closed (it holds the maximum).
pub fn bin(value: f64, min: f64, width: f64, bins: usize) -> usize {
    if width > 0.0 && value > min { (((value - min) / width) as usize).min(bins - 1) } else { 0 }
}

/// Quantile with linear interpolation between order statistics (numpy's default method).
pub fn exact_quantile(sorted: &[f64], q: f64) -> f64 {
    let position = q * (sorted.len() - 1) as f64;
    let lower = position.floor() as usize;
    let upper = position.ceil() as usize;
    let fraction = position - lower as f64;
    sorted[lower] + (sorted[upper] - sorted[lower]) * fraction
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sketched_quantiles_are_within_the_stated_bound() {
        // A column with a large offset: the bound is relative to the distance from the first value.
        let values: Vec<f64> = (0..200_000u64).map(|i| 1e6 + ((i * 2_654_435_761) % 100_003) as f64 / 1000.0).collect();
        let mut halves = (Sketch::new(values[0]), Sketch::new(values[0]));
        for (i, &v) in values.iter().enumerate() {
            if i % 2 == 0 { halves.0.add(v) } else { halves.1.add(v) }
        }
        halves.0.merge(&halves.1);
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        let (min, max) = (sorted[0], sorted[sorted.len() - 1]);
        for q in [0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0] {
            let exact = exact_quantile(&sorted, q);
            let sketched = halves.0.quantile(q, values.len() as u64, min, max);
            let bound = SKETCH_RELATIVE_ERROR * (max - min) + 1e-9;
            assert!((sketched - exact).abs() <= bound, "q={q}: {sketched} vs {exact} (bound {bound})");
        }
        let counts = halves.0.histogram(10, min, max);
        assert_eq!(counts.iter().sum::<usize>(), values.len());
        let exact_counts = {
            let mut c = vec![0usize; 10];
            for &v in &values {
                c[bin(v, min, (max - min) / 10.0, 10)] += 1;
            }
            c
        };
        for (a, e) in counts.iter().zip(&exact_counts) {
            assert!(a.abs_diff(*e) <= e / 100 + 1, "{counts:?} vs {exact_counts:?}");
        }
    }

    #[test]
    fn negative_zero_and_positive_distances_sort_correctly() {
        let mut sketch = Sketch::new(0.0);
        for v in [-3.0, -1.0, 0.0, 0.0, 2.0, 5.0] {
            sketch.add(v);
        }
        let values: Vec<f64> = (0..6).map(|r| sketch.value_at(r, -3.0, 5.0)).collect();
        for (got, want) in values.iter().zip([-3.0, -1.0, 0.0, 0.0, 2.0, 5.0]) {
            assert!((got - want).abs() <= want.abs() * SKETCH_RELATIVE_ERROR, "{values:?}");
        }
    }
}
