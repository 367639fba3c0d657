//! The train/test split of scikit-learn's `train_test_split(X, y, test_size, random_state)`.

use crate::error_kind::{ErrorKind, HasKind};
use std::fmt;

use super::mt19937::RandomState;

/// How much of the data goes to the test set, as scikit-learn's `test_size` takes it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TestSize {
    /// A fraction of the rows, strictly between 0 and 1; the test set has `ceil(f·n)` rows.
    Fraction(f64),
    /// An exact number of test rows.
    Rows(usize),
}

impl TestSize {
    /// Parses `0.2` as a fraction and `89` as a row count, as Python's float/int distinction does.
    pub fn parse(text: &str) -> Result<Self, SplitError> {
        let text = text.trim();
        let looks_float = text.contains(['.', 'e', 'E']) || text.eq_ignore_ascii_case("nan") || text.contains("inf");
        if looks_float {
            let f: f64 = text.parse().map_err(|_| SplitError::InvalidTestSize(text.to_string()))?;
            if !(f > 0.0 && f < 1.0) {
                return Err(SplitError::FractionOutOfRange(text.to_string()));
            }
            Ok(TestSize::Fraction(f))
        } else {
            let rows: usize = text.parse().map_err(|_| SplitError::InvalidTestSize(text.to_string()))?;
            if rows == 0 {
                return Err(SplitError::InvalidTestSize(text.to_string()));
            }
            Ok(TestSize::Rows(rows))
        }
    }

    /// The number of test rows for `n` samples, checked as scikit-learn checks it.
    pub fn n_test(self, n: usize) -> Result<usize, SplitError> {
        let n_test = match self {
            TestSize::Fraction(f) => (f * n as f64).ceil() as usize,
            TestSize::Rows(rows) if rows >= n => {
                return Err(SplitError::RowsOutOfRange { rows, n });
            }
            TestSize::Rows(rows) => rows,
        };
        if n_test >= n {
            return Err(SplitError::EmptyTrain { n, test_size: self.to_string() });
        }
        Ok(n_test)
    }
}

impl fmt::Display for TestSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TestSize::Fraction(x) => write!(f, "{x:?}"),
            TestSize::Rows(r) => write!(f, "{r}"),
        }
    }
}

/// Row indices of the two sets, in the order scikit-learn returns the rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    pub train: Vec<usize>,
    pub test: Vec<usize>,
}

/// `ShuffleSplit` with one split: the first `n_test` entries of `RandomState(seed).permutation(n)`
/// are the test rows, the rest the training rows.
pub fn train_test_split(n: usize, test_size: TestSize, seed: u32) -> Result<Split, SplitError> {
    let n_test = test_size.n_test(n)?;
    let permutation = RandomState::new(seed).permutation(n);
    let (test, train) = permutation.split_at(n_test);
    Ok(Split { train: train.to_vec(), test: test.to_vec() })
}

/// The same split as a set: which rows are test rows, in one bit per row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestMask {
    bits: Vec<u64>,
    pub n: usize,
    pub n_test: usize,
    /// The first training row in scikit-learn's order (`X_train[0]`), used as the input example.
    pub first_train: usize,
}

impl TestMask {
    pub fn is_test(&self, row: usize) -> bool {
        self.bits[row / 64] >> (row % 64) & 1 == 1
    }

    pub fn n_train(&self) -> usize {
        self.n - self.n_test
    }
}

/// The split of [`train_test_split`], as a mask. The permutation is shuffled as 32-bit indices
/// when they fit (4 bytes per row, for the moment it takes), then only the mask is kept.
pub fn test_mask(n: usize, test_size: TestSize, seed: u32) -> Result<TestMask, SplitError> {
    let n_test = test_size.n_test(n)?;
    let mut bits = vec![0u64; n.div_ceil(64)];
    let mut mark = |row: usize| bits[row / 64] |= 1 << (row % 64);
    let first_train = if let Ok(n32) = u32::try_from(n) {
        let mut permutation: Vec<u32> = (0..n32).collect();
        RandomState::new(seed).shuffle(&mut permutation);
        permutation[..n_test].iter().for_each(|&row| mark(row as usize));
        permutation[n_test] as usize
    } else {
        let permutation = RandomState::new(seed).permutation(n);
        permutation[..n_test].iter().for_each(|&row| mark(row));
        permutation[n_test]
    };
    Ok(TestMask { bits, n, n_test, first_train })
}

/// Why a split cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum SplitError {
    #[error("invalid test size {0:?}: give a fraction in (0, 1) such as 0.2, or a whole number of rows such as 89")]
    InvalidTestSize(String),
    #[error("test size {0} is out of range: a fraction must be strictly between 0 and 1")]
    FractionOutOfRange(String),
    #[error("test size of {rows} rows is out of range: the data has {n} rows, so at most {} can be held out", n.saturating_sub(1))]
    RowsOutOfRange { rows: usize, n: usize },
    #[error("too few rows for the split: with {n} rows and test size {test_size}, the training set would be empty")]
    EmptyTrain { n: usize, test_size: String },
}

impl HasKind for SplitError {
    /// A bad `--test-size` is a usage error; data too small for a valid size is a training error.
    fn kind(&self) -> ErrorKind {
        match self {
            SplitError::EmptyTrain { .. } | SplitError::RowsOutOfRange { .. } => ErrorKind::Training,
            _ => ErrorKind::Usage,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_python() {
        assert_eq!(TestSize::parse("0.2").ok(), Some(TestSize::Fraction(0.2)));
        assert_eq!(TestSize::parse("89").ok(), Some(TestSize::Rows(89)));
        assert!(matches!(TestSize::parse("1.0"), Err(SplitError::FractionOutOfRange(_))));
        assert!(matches!(TestSize::parse("0"), Err(SplitError::InvalidTestSize(_))));
        assert!(matches!(TestSize::parse("-0.5"), Err(SplitError::FractionOutOfRange(_))));
        assert!(matches!(TestSize::parse("abc"), Err(SplitError::InvalidTestSize(_))));
    }

    #[test]
    fn diabetes_split_sizes() {
        let split = train_test_split(442, TestSize::Fraction(0.2), 0).expect("valid");
        assert_eq!((split.train.len(), split.test.len()), (353, 89));
        assert_eq!(split.test[0], 362);
    }

    #[test]
    fn mask_is_the_split() {
        for (n, size, seed) in
            [(442, TestSize::Fraction(0.2), 0), (1000, TestSize::Rows(3), 9), (65, TestSize::Fraction(0.5), 1)]
        {
            let split = train_test_split(n, size, seed).expect("valid");
            let mask = test_mask(n, size, seed).expect("valid");
            assert_eq!(
                (mask.n_test, mask.n_train(), mask.first_train),
                (split.test.len(), split.train.len(), split.train[0])
            );
            assert!(split.test.iter().all(|&r| mask.is_test(r)));
            assert!(split.train.iter().all(|&r| !mask.is_test(r)));
        }
    }

    #[test]
    fn too_small() {
        assert!(matches!(train_test_split(1, TestSize::Fraction(0.2), 0), Err(SplitError::EmptyTrain { .. })));
        assert!(matches!(train_test_split(5, TestSize::Rows(5), 0), Err(SplitError::RowsOutOfRange { .. })));
    }
}
