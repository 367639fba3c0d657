//! The culture-aware string order that `bicep build` sorts `dependsOn` entries and imported type
//! names by.
//!
//! Bicep sorts with .NET's default string comparer, which on Linux is ICU's root collation, not
//! ordinal order: letters compare without case first (`hubrg` before `hubVNET`), punctuation sorts
//! before digits and digits before letters (`app::slot` before `appInsights`, where ordinal order
//! puts `:` after the digits and `_` after the capitals), and case only breaks a tie, lower case
//! first. Symbol names hold only ASCII letters, digits, `_` and the `::` of nested resources, so
//! this covers the ASCII punctuation in CLDR's root order and leaves other characters in code-point
//! order after the letters.

use std::cmp::Ordering;

/// ASCII punctuation and symbols in CLDR root collation order (all before the digits).
const PUNCTUATION: &str = "_-,;:!?.'\"()[]{}@*/\\&#%`^+<=>|~$";

/// The primary weight of `c`: punctuation, then digits, then letters without case.
fn primary(c: char) -> (u8, u32) {
    if let Some(i) = PUNCTUATION.find(c) {
        return (0, i as u32);
    }
    match c {
        '0'..='9' => (1, c as u32),
        'a'..='z' | 'A'..='Z' => (2, c.to_ascii_lowercase() as u32),
        _ => (3, c as u32),
    }
}

/// Compares `a` and `b` as .NET's culture-aware comparer does for identifiers: letters and
/// punctuation first, then case (lower first), then code points, so that only equal strings are
/// equal.
pub fn compare(a: &str, b: &str) -> Ordering {
    let tertiary = |c: char| c.is_ascii_uppercase();
    a.chars()
        .map(primary)
        .cmp(b.chars().map(primary))
        .then_with(|| a.chars().map(tertiary).cmp(b.chars().map(tertiary)))
        .then_with(|| a.cmp(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted(names: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        v.sort_by(|a, b| compare(a, b));
        v
    }

    #[test]
    fn case_is_only_a_tie_breaker() {
        assert_eq!(sorted(&["hubVNET", "hubrg"]), ["hubrg", "hubVNET"]);
        assert_eq!(sorted(&["Ab", "ab", "aa"]), ["aa", "ab", "Ab"]);
    }

    #[test]
    fn punctuation_before_digits_before_letters() {
        // `bicep build` of avm/res/web/site/slot/config: `app::slot` before `applicationInsights`.
        assert_eq!(
            sorted(&["storageAccount", "applicationInsights", "app::slot"]),
            ["app::slot", "applicationInsights", "storageAccount"]
        );
        assert_eq!(sorted(&["a1", "a_b", "aB", "a::b"]), ["a_b", "a::b", "a1", "aB"]);
    }

    #[test]
    fn imported_names_sort_as_the_official_compiler_writes_them() {
        assert_eq!(
            sorted(&["lockType", "_1.b", "Zeta", "alpha", "_2.a", "Alpha"]),
            ["_1.b", "_2.a", "alpha", "Alpha", "lockType", "Zeta"]
        );
    }
}
