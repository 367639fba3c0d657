//! Means and centred cross-products of rows — all that ridge regression needs of its training
//! data — computed chunk by chunk and merged, so the data never has to be held.
//!
//! Within a chunk the mean comes first (pairwise sums), then `Σ (x − x̄)(x − x̄)ᵀ` in blocks of
//! rows with the corrected two-pass formula; chunks merge with Chan et al.'s update
//! `M = Ma + Mb + δδᵀ·na·nb/n` in a fixed tree over the chunk order. Centring before multiplying
//! is what keeps columns with a large offset (1e6 + small noise) exact, as scikit-learn's
//! centring does; summing pairwise keeps the error from growing with the number of rows, where
//! a single running sum over 10M rows loses several digits.

use crate::data::stats::{Merge, pairwise_sum};

/// Rows summed into one block before the block is added to the chunk's total.
const BLOCK_ROWS: usize = 64;

/// The count, column means and centred cross-product matrix (`d × d`, row-major) of some rows.
///
/// Means are kept relative to a fixed `shift` per column (one row's values, the same for every
/// chunk): Chan's update multiplies differences of chunk means, and for a column like 1e6 + noise
/// the rounding error of the mean itself (1e-10) would otherwise enter `M` scaled by the row
/// count. This is what keeps the ill-conditioned benchmark columns at scikit-learn's accuracy.
#[derive(Debug, Clone, PartialEq)]
pub struct CoMoments {
    pub n: u64,
    shift: Vec<f64>,
    /// `mean − shift`, per column.
    offset: Vec<f64>,
    m: Vec<f64>,
}

impl CoMoments {
    pub fn dim(&self) -> usize {
        self.shift.len()
    }

    /// The mean of column `j`.
    pub fn mean(&self, j: usize) -> f64 {
        self.shift[j] + self.offset[j]
    }

    /// The co-moments of `rows`, `shift.len()` values per row, row-major.
    pub fn of_rows(rows: &[f64], shift: &[f64]) -> Self {
        let d = shift.len();
        let n = rows.len().checked_div(d).unwrap_or(0);
        if n == 0 {
            return CoMoments { n: 0, shift: shift.to_vec(), offset: vec![0.0; d], m: vec![0.0; d * d] };
        }
        let mut mean: Vec<f64> =
            (0..d).map(|j| pairwise_sum(0..n, &|i| rows[i * d + j] - shift[j]) / n as f64).collect();
        let mut m = vec![0.0; d * d];
        let mut block = vec![0.0; d * d];
        let mut deviation = vec![0.0; d];
        let mut centred = vec![0.0; d];
        for rows in rows.chunks(BLOCK_ROWS * d) {
            block.iter_mut().for_each(|v| *v = 0.0);
            for row in rows.chunks_exact(d) {
                for j in 0..d {
                    centred[j] = (row[j] - shift[j]) - mean[j];
                    deviation[j] += centred[j];
                }
                // The full square, not the triangle: it vectorises, and d is small.
                for (i, &ci) in centred.iter().enumerate() {
                    for (out, &cj) in block[i * d..(i + 1) * d].iter_mut().zip(&centred) {
                        *out += ci * cj;
                    }
                }
            }
            m.iter_mut().zip(&block).for_each(|(t, b)| *t += b);
        }
        // The corrected two-pass step: fold the residual deviation of the rounded mean back in.
        for i in 0..d {
            for j in 0..d {
                m[i * d + j] -= deviation[i] * deviation[j] / n as f64;
            }
        }
        for (mean, dev) in mean.iter_mut().zip(&deviation) {
            *mean += dev / n as f64;
        }
        CoMoments { n: n as u64, shift: shift.to_vec(), offset: mean, m }
    }

    /// Element `(i, j)` of the centred cross-product matrix.
    pub fn at(&self, i: usize, j: usize) -> f64 {
        self.m[i * self.dim() + j]
    }
}

impl Merge for CoMoments {
    fn merge(&mut self, later: Self) {
        if later.n == 0 {
            return;
        }
        if self.n == 0 {
            *self = later;
            return;
        }
        let d = self.dim();
        let (na, nb) = (self.n as f64, later.n as f64);
        let n = na + nb;
        let delta: Vec<f64> =
            (0..d).map(|j| (later.offset[j] + (later.shift[j] - self.shift[j])) - self.offset[j]).collect();
        let weight = na * nb / n;
        for i in 0..d {
            for j in 0..d {
                self.m[i * d + j] += later.m[i * d + j] + delta[i] * delta[j] * weight;
            }
        }
        for (offset, delta) in self.offset.iter_mut().zip(&delta) {
            *offset += delta * (nb / n);
        }
        self.n += later.n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::stats::PairwiseMerge;

    fn rows(n: usize) -> Vec<f64> {
        (0..n)
            .flat_map(|i| {
                let t = i as f64;
                [1e6 + (t * 0.37).sin(), (t * 0.11).cos() * 3.0, 2.0 * (t * 0.37).sin() + 1e-3 * (t * 1.7).sin()]
            })
            .collect()
    }

    /// The same sums in 128-bit-ish precision: centred with the exact mean, by compensated sums.
    fn reference(rows: &[f64], d: usize) -> (Vec<f64>, Vec<f64>) {
        let n = rows.len() / d;
        let mean: Vec<f64> = (0..d)
            .map(|j| {
                let (mut s, mut c) = (0.0f64, 0.0f64);
                for i in 0..n {
                    let y = rows[i * d + j] - c;
                    let t = s + y;
                    c = (t - s) - y;
                    s = t;
                }
                s / n as f64
            })
            .collect();
        let mut m = vec![0.0; d * d];
        for i in 0..d {
            for j in 0..d {
                m[i * d + j] = (0..n).map(|r| (rows[r * d + i] - mean[i]) * (rows[r * d + j] - mean[j])).sum();
            }
        }
        (mean, m)
    }

    #[test]
    fn merged_chunks_match_the_whole_and_the_reference() {
        let d = 3;
        let data = rows(20_000);
        let (mean, m) = reference(&data, d);
        for chunk_rows in [1, 3, 500, 20_000] {
            let mut merge = PairwiseMerge::default();
            for part in data.chunks(chunk_rows * d) {
                merge.push(CoMoments::of_rows(part, &data[..d]));
            }
            let got = merge.finish().expect("rows");
            assert_eq!(got.n, 20_000);
            for (j, expected) in mean.iter().enumerate() {
                assert!((got.mean(j) - expected).abs() <= 1e-15 * expected.abs().max(1.0), "{chunk_rows}: mean {j}");
            }
            for (k, (got, expected)) in got.m.iter().zip(&m).enumerate() {
                assert!(
                    (got - expected).abs() <= 1e-11 * expected.abs().max(1.0),
                    "{chunk_rows}: m[{k}] {got} vs {expected}"
                );
            }
        }
    }
}
