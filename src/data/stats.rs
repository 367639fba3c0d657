//! Numerically stable statistics that can be computed chunk by chunk and merged.
//!
//! Each chunk's values are summed pairwise (rounding error grows with log n, not n), its sum of
//! squared deviations is taken around its own mean with the corrected two-pass formula, and
//! chunks are combined with Chan, Golub and LeVeque's update in a fixed binary tree over the
//! chunk order ([`PairwiseMerge`]), so the result depends on the data and the chunk size only.

/// Values summed in one go before the pairwise split (numpy uses the same block size).
const BLOCK: usize = 128;

/// Pairwise sum of `f(i)` for `i` in `range`.
pub fn pairwise_sum(range: std::ops::Range<usize>, f: &impl Fn(usize) -> f64) -> f64 {
    if range.len() <= BLOCK {
        return range.map(f).sum();
    }
    let mid = range.start + range.len() / 2;
    pairwise_sum(range.start..mid, f) + pairwise_sum(mid..range.end, f)
}

/// Something that combines with another of its kind covering the data right after it.
pub trait Merge {
    fn merge(&mut self, later: Self);
}

/// Merges a sequence of partial results in a fixed binary tree over their order, as a binary
/// counter does: only O(log n) partial results are held at any time.
pub struct PairwiseMerge<T> {
    stack: Vec<(u32, T)>,
}

impl<T> Default for PairwiseMerge<T> {
    fn default() -> Self {
        PairwiseMerge { stack: Vec::new() }
    }
}

impl<T: Merge> PairwiseMerge<T> {
    pub fn push(&mut self, item: T) {
        let mut item = (0u32, item);
        while let Some((level, _)) = self.stack.last()
            && *level == item.0
        {
            let Some((level, mut earlier)) = self.stack.pop() else { break };
            earlier.merge(item.1);
            item = (level + 1, earlier);
        }
        self.stack.push(item);
    }

    /// The merge of everything pushed, or `None` when nothing was.
    pub fn finish(mut self) -> Option<T> {
        let (_, mut last) = self.stack.pop()?;
        while let Some((_, mut earlier)) = self.stack.pop() {
            earlier.merge(last);
            last = earlier;
        }
        Some(last)
    }
}

/// Count, mean, sum of squared deviations from the mean, minimum and maximum.
///
/// The mean is kept relative to a fixed `shift` (a value of the column, the same for every
/// chunk): merging moves means by differences of chunk means, and for a column like 1e8 + noise
/// those differences would otherwise carry the rounding error of 1e8 (1.5e-8) into the spread.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Moments {
    pub n: u64,
    pub shift: f64,
    /// `mean − shift`.
    pub offset: f64,
    pub m2: f64,
    pub min: f64,
    pub max: f64,
}

impl Default for Moments {
    fn default() -> Self {
        Moments { n: 0, shift: 0.0, offset: 0.0, m2: 0.0, min: f64::INFINITY, max: f64::NEG_INFINITY }
    }
}

impl Moments {
    /// The moments of `values`, with the first value as the shift.
    pub fn of(values: &[f64]) -> Self {
        Self::shifted(values, values.first().copied().unwrap_or(0.0))
    }

    /// The moments of `values`, the mean kept relative to `shift`.
    pub fn shifted(values: &[f64], shift: f64) -> Self {
        let n = values.len();
        if n == 0 {
            return Moments { shift, ..Moments::default() };
        }
        let offset = pairwise_sum(0..n, &|i| values[i] - shift) / n as f64;
        let deviation = pairwise_sum(0..n, &|i| (values[i] - shift) - offset);
        let squares = pairwise_sum(0..n, &|i| ((values[i] - shift) - offset) * ((values[i] - shift) - offset));
        let (min, max) = values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        Moments {
            n: n as u64,
            shift,
            offset: offset + deviation / n as f64,
            m2: (squares - deviation * deviation / n as f64).max(0.0),
            min,
            max,
        }
    }

    pub fn mean(&self) -> f64 {
        self.shift + self.offset
    }

    /// Sample standard deviation (n − 1 in the denominator, as pandas); `None` below two values.
    pub fn sample_std(&self) -> Option<f64> {
        (self.n >= 2).then(|| (self.m2 / (self.n - 1) as f64).sqrt())
    }
}

impl Merge for Moments {
    fn merge(&mut self, later: Self) {
        if later.n == 0 {
            return;
        }
        if self.n == 0 {
            *self = later;
            return;
        }
        let (na, nb) = (self.n as f64, later.n as f64);
        let n = na + nb;
        let delta = (later.offset + (later.shift - self.shift)) - self.offset;
        self.offset += delta * (nb / n);
        self.m2 += later.m2 + delta * delta * (na * nb / n);
        self.n += later.n;
        self.min = self.min.min(later.min);
        self.max = self.max.max(later.max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_chunks_match_the_whole() {
        let values: Vec<f64> = (0..10_000).map(|i| 1e8 + ((i * 7919) % 1000) as f64 * 0.001).collect();
        let whole = Moments::of(&values);
        for chunk in [1, 7, 128, 999] {
            let mut merge = PairwiseMerge::default();
            for part in values.chunks(chunk) {
                merge.push(Moments::shifted(part, values[0]));
            }
            let merged = merge.finish().expect("values");
            assert_eq!(merged.n, whole.n);
            assert!((merged.mean() - whole.mean()).abs() <= 1e-15 * whole.mean(), "{chunk}");
            assert!((merged.m2 - whole.m2).abs() <= 1e-10 * whole.m2, "{chunk}: {} vs {}", merged.m2, whole.m2);
            assert_eq!((merged.min, merged.max), (1e8, 1e8 + 0.999));
        }
        // Exact values: numpy.std([2, 4, 4, 4, 5, 5, 7, 9], ddof=1).
        let m = Moments::of(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]);
        assert_eq!(m.mean(), 5.0);
        assert!((m.sample_std().expect("std") - 2.138_089_935_299_395).abs() < 1e-15);
        assert_eq!(Moments::of(&[1.0]).sample_std(), None);
    }

    #[test]
    fn merge_order_is_a_fixed_tree() {
        #[derive(Debug, PartialEq)]
        struct Trace(String);
        impl Merge for Trace {
            fn merge(&mut self, later: Self) {
                self.0 = format!("({}+{})", self.0, later.0);
            }
        }
        let mut merge = PairwiseMerge::default();
        for c in ["a", "b", "c", "d", "e"] {
            merge.push(Trace(c.to_string()));
        }
        assert_eq!(merge.finish(), Some(Trace("(((a+b)+(c+d))+e)".to_string())));
    }
}
