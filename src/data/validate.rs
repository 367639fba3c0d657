//! Data checks before training: schema, missing values, row count and distribution shift of each
//! column's mean and standard deviation against a reference profile.

use serde::Serialize;
use serde_json::json;

use super::columns::RawTable;
use super::profile::DataProfile;
use crate::decode::cut;

/// The reference's tolerance: a relative change above 3 fails.
pub const DEFAULT_TOLERANCE: f64 = 3.0;

/// What to check the data against.
#[derive(Debug, Clone)]
pub struct ValidateOptions {
    pub tolerance: f64,
    pub min_rows: usize,
    pub max_rows: Option<usize>,
}

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    Pass,
    Fail,
    /// The check could not be computed (for example a std dev of a single value).
    Skip,
}

/// One check, with the numbers it was decided on.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub check: &'static str,
    pub column: Option<String>,
    pub status: CheckStatus,
    pub message: String,
    pub details: serde_json::Value,
}

/// The report of `mlops data validate`, in the stable shape of `--output json`.
#[derive(Debug, Clone, Serialize)]
pub struct ValidationReport {
    pub data: String,
    pub sha256: String,
    pub rows: usize,
    pub profile: Option<String>,
    pub tolerance: f64,
    pub passed: bool,
    pub failed: usize,
    pub checks: Vec<Check>,
}

/// Runs every check on `table`; `reference` is the profile and where it came from.
pub fn validate(
    table: &RawTable,
    reference: Option<(&DataProfile, String)>,
    options: &ValidateOptions,
) -> ValidationReport {
    let mut checks = vec![schema_check(table, reference.as_ref().map(|r| r.0))];
    checks.push(row_count_check(table, options));
    for column in &table.columns {
        let status = if column.missing == 0 { CheckStatus::Pass } else { CheckStatus::Fail };
        let message = match column.first_missing_line {
            Some(line) => format!(
                "column {:?} has {} missing value(s) in {} rows (first at line {line})",
                cut(&column.name),
                column.missing,
                table.rows
            ),
            None => format!("column {:?} has no missing values", cut(&column.name)),
        };
        checks.push(Check {
            check: "missing_values",
            column: Some(column.name.clone()),
            status,
            message,
            details: json!({"missing": column.missing, "rows": table.rows, "first_line": column.first_missing_line}),
        });
    }
    if let Some((profile, _)) = &reference {
        for column in &table.columns {
            let Some(expected) = profile.columns.iter().find(|c| c.name == column.name) else { continue };
            if column.non_numeric > 0 || column.moments.n == 0 {
                continue;
            }
            let (Some(ref_mean), Some(ref_std)) = (expected.mean, expected.std) else { continue };
            let observed_mean = column.moments.mean();
            // The reference divides by |historical mean|; for standardised columns that mean is ~1e-16
            // and any sample would "shift". The scale is therefore at least the column's std dev.
            let scale = ref_mean.abs().max(ref_std);
            checks.push(shift_check("mean_shift", &column.name, observed_mean, ref_mean, scale, options.tolerance));
            match column.moments.sample_std() {
                Some(observed_std) => checks.push(shift_check(
                    "std_shift",
                    &column.name,
                    observed_std,
                    ref_std,
                    ref_std,
                    options.tolerance,
                )),
                None => checks.push(Check {
                    check: "std_shift",
                    column: Some(column.name.clone()),
                    status: CheckStatus::Skip,
                    message: format!("column {:?}: fewer than 2 values, no standard deviation", cut(&column.name)),
                    details: json!({"values": column.moments.n, "expected": ref_std}),
                }),
            }
        }
    }
    let failed = checks.iter().filter(|c| c.status == CheckStatus::Fail).count();
    ValidationReport {
        data: table.path.display().to_string(),
        sha256: table.sha256.clone(),
        rows: table.rows,
        profile: reference.map(|r| r.1),
        tolerance: options.tolerance,
        passed: failed == 0,
        failed,
        checks,
    }
}

fn schema_check(table: &RawTable, profile: Option<&DataProfile>) -> Check {
    let mut problems = Vec::new();
    let found: Vec<&str> = table.columns.iter().map(|c| c.name.as_str()).collect();
    if let Some(profile) = profile {
        let expected: Vec<&str> = profile.columns.iter().map(|c| c.name.as_str()).collect();
        for (i, name) in expected.iter().enumerate() {
            if !found.contains(name) {
                problems.push(format!("column {:?} is missing (expected as column {})", cut(name), i + 1));
            }
        }
        for name in found.iter().filter(|f| !expected.contains(f)) {
            problems.push(format!("column {:?} is not in the profile", cut(name)));
        }
        // With columns missing or extra, every later column moves; only report order on its own.
        if problems.is_empty() {
            for (i, name) in expected.iter().enumerate() {
                if let Some(j) = found.iter().position(|f| f == name).filter(|&j| j != i) {
                    problems.push(format!("column {:?} is column {}, expected column {}", cut(name), j + 1, i + 1));
                }
            }
        }
    }
    for column in &table.columns {
        if let Some((line, value)) = &column.first_non_numeric {
            problems.push(format!(
                "column {:?} is not numeric: {} cell(s), first at line {line}: {value:?}",
                cut(&column.name),
                column.non_numeric
            ));
        }
    }
    let status = if problems.is_empty() { CheckStatus::Pass } else { CheckStatus::Fail };
    let message = if problems.is_empty() {
        format!("{} numeric columns{}", found.len(), if profile.is_some() { ", as in the profile" } else { "" })
    } else {
        problems.join("; ")
    };
    Check {
        check: "schema",
        column: None,
        status,
        message,
        details: json!({
            "columns": found,
            "expected": profile.map(|p| p.columns.iter().map(|c| c.name.clone()).collect::<Vec<_>>()),
        }),
    }
}

fn row_count_check(table: &RawTable, options: &ValidateOptions) -> Check {
    let too_few = table.rows < options.min_rows;
    let too_many = options.max_rows.is_some_and(|max| table.rows > max);
    let bounds = match options.max_rows {
        Some(max) => format!("between {} and {max}", options.min_rows),
        None => format!("at least {}", options.min_rows),
    };
    Check {
        check: "row_count",
        column: None,
        status: if too_few || too_many { CheckStatus::Fail } else { CheckStatus::Pass },
        message: format!("{} rows, expected {bounds}", table.rows),
        details: json!({"rows": table.rows, "min": options.min_rows, "max": options.max_rows}),
    }
}

/// The reference's rule: fail when |observed − expected| > tolerance × scale.
fn shift_check(check: &'static str, column: &str, observed: f64, expected: f64, scale: f64, tolerance: f64) -> Check {
    let difference = (observed - expected).abs();
    let change = if scale > 0.0 {
        difference / scale
    } else if difference == 0.0 {
        0.0
    } else {
        f64::INFINITY
    };
    let failed = change > tolerance;
    let what = if check == "mean_shift" { "mean" } else { "standard deviation" };
    let column = cut(column);
    let message = if failed {
        format!(
            "column {column:?}: {what} {observed:.6} vs {expected:.6} in the profile, a relative change of {change:.3} > tolerance {tolerance}"
        )
    } else {
        format!("column {column:?}: {what} {observed:.6} vs {expected:.6}, relative change {change:.3}")
    };
    Check {
        check,
        column: Some(column.to_string()),
        status: if failed { CheckStatus::Fail } else { CheckStatus::Pass },
        message,
        details: json!({
            "observed": observed,
            "expected": expected,
            "scale": scale,
            "relative_change": change.is_finite().then_some(change),
            "tolerance": tolerance,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::columns::RawColumn;
    use crate::data::profile::profile_table;
    use crate::data::stats::Moments;

    fn table(columns: &[(&str, &[f64])]) -> RawTable {
        RawTable {
            path: "t.csv".into(),
            sha256: String::new(),
            rows: columns[0].1.len(),
            columns: columns
                .iter()
                .map(|(n, v)| RawColumn {
                    name: n.to_string(),
                    moments: Moments::of(v),
                    exact: Some(v.to_vec()),
                    ..RawColumn::default()
                })
                .collect(),
        }
    }

    fn options() -> ValidateOptions {
        ValidateOptions { tolerance: DEFAULT_TOLERANCE, min_rows: 1, max_rows: None }
    }

    #[test]
    fn passes_against_own_profile_and_fails_on_shift() {
        let good = table(&[("a", &[1.0, 2.0, 3.0, 4.0]), ("b", &[10.0, 11.0, 12.0, 13.0])]);
        let profile = profile_table(&good);
        let report = validate(&good, Some((&profile, "p".into())), &options());
        assert!(report.passed, "{report:#?}");
        let shifted = table(&[("a", &[100.0, 2.0, 3.0, 4.0]), ("b", &[10.0, 11.0, 12.0, 13.0])]);
        let report = validate(&shifted, Some((&profile, "p".into())), &options());
        assert!(!report.passed);
        let failed: Vec<_> = report.checks.iter().filter(|c| c.status == CheckStatus::Fail).collect();
        assert!(failed.iter().all(|c| c.column.as_deref() == Some("a")), "{failed:#?}");
        assert!(failed.iter().any(|c| c.check == "mean_shift"));
    }

    #[test]
    fn schema_names_missing_and_moved_columns() {
        let good = table(&[("a", &[1.0, 2.0]), ("b", &[3.0, 4.0])]);
        let profile = profile_table(&good);
        let other = table(&[("b", &[3.0, 4.0]), ("c", &[1.0, 2.0])]);
        let report = validate(&other, Some((&profile, "p".into())), &options());
        let schema = &report.checks[0];
        assert_eq!(schema.status, CheckStatus::Fail);
        assert_eq!(
            schema.message,
            "column \"a\" is missing (expected as column 1); column \"c\" is not in the profile"
        );
        let swapped = table(&[("b", &[3.0, 4.0]), ("a", &[1.0, 2.0])]);
        let report = validate(&swapped, Some((&profile, "p".into())), &options());
        assert!(report.checks[0].message.starts_with("column \"a\" is column 2, expected column 1"), "{report:#?}");
    }

    #[test]
    fn row_bounds() {
        let t = table(&[("a", &[1.0, 2.0])]);
        let opts = ValidateOptions { min_rows: 3, ..options() };
        assert_eq!(validate(&t, None, &opts).checks[1].status, CheckStatus::Fail);
    }
}
