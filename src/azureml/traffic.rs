//! An online endpoint's traffic maps: `NAME=PERCENT` assignments checked against the service's
//! rules (live traffic sums to 100, mirrored traffic at most 50 to one deployment that takes no
//! live traffic), and a stage of a rollout that gives one deployment its share and splits the
//! rest among the others in proportion to what they had.

use std::collections::BTreeMap;

use crate::error_kind::UsageError;

/// Deployment → percent.
pub type Traffic = BTreeMap<String, u32>;

/// `["blue=90", "green=10"]` as a map; `flag` names where the values came from in errors.
pub fn parse_assignments(items: &[String], flag: &str) -> Result<Traffic, UsageError> {
    let mut map = Traffic::new();
    for item in items {
        let (name, percent) = item
            .split_once('=')
            .ok_or_else(|| UsageError(format!("{flag} {item:?}: expected DEPLOYMENT=PERCENT, like blue=90")))?;
        let name = name.trim();
        if name.is_empty() {
            return Err(UsageError(format!("{flag} {item:?}: the deployment name is empty")));
        }
        let percent: u32 =
            percent.trim().parse().ok().filter(|p| *p <= 100).ok_or_else(|| {
                UsageError(format!("{flag} {item:?}: the percent must be a whole number from 0 to 100"))
            })?;
        if map.insert(name.to_string(), percent).is_some() {
            return Err(UsageError(format!("{flag}: deployment {name:?} is given twice")));
        }
    }
    Ok(map)
}

/// Checks a live map and a mirror map together, as the service would.
pub fn check(traffic: &Traffic, mirror: &Traffic) -> Result<(), UsageError> {
    let live: u32 = traffic.values().sum();
    if !traffic.is_empty() && live != 100 {
        return Err(UsageError(format!("live traffic must add up to 100, not {live} ({})", render(traffic))));
    }
    let mirrored: Vec<(&String, &u32)> = mirror.iter().filter(|(_, p)| **p > 0).collect();
    if mirrored.len() > 1 {
        return Err(UsageError(format!(
            "--mirror: traffic can be mirrored to one deployment only ({})",
            render(mirror)
        )));
    }
    if let Some((name, percent)) = mirrored.first() {
        if **percent > 50 {
            return Err(UsageError(format!("--mirror {name}={percent}: at most 50 percent can be mirrored")));
        }
        if traffic.get(*name).copied().unwrap_or(0) > 0 {
            return Err(UsageError(format!(
                "--mirror {name}: a deployment takes live traffic or mirrored traffic, not both"
            )));
        }
    }
    Ok(())
}

/// `blue=90, green=10` (`none` for an empty map).
pub fn render(traffic: &Traffic) -> String {
    if traffic.is_empty() {
        return "none".to_string();
    }
    traffic.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ")
}

/// The live traffic of a rollout stage: `target` gets `percent`, the deployments that had
/// traffic in `before` share the rest in proportion to their share of it (largest remainders
/// get the leftover points, ties by name, so the result is deterministic and sums to 100).
pub fn stage(before: &Traffic, target: &str, percent: u32) -> Traffic {
    let others: Vec<(&String, u32)> =
        before.iter().filter(|(k, v)| k.as_str() != target && **v > 0).map(|(k, v)| (k, *v)).collect();
    let weight: u32 = others.iter().map(|(_, v)| v).sum();
    let mut result: Traffic =
        before.iter().filter(|(k, _)| k.as_str() != target).map(|(k, _)| (k.clone(), 0)).collect();
    result.insert(target.to_string(), percent);
    if weight == 0 {
        return result;
    }
    let rest = 100 - percent.min(100);
    let mut shares: Vec<(&String, u32, u32)> = others
        .iter()
        .map(|(name, v)| {
            let exact = u64::from(*v) * u64::from(rest);
            let weight = u64::from(weight);
            (*name, u32::try_from(exact / weight).unwrap_or(0), u32::try_from(exact % weight).unwrap_or(0))
        })
        .collect();
    let given: u32 = shares.iter().map(|(_, floor, _)| floor).sum();
    shares.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(b.0)));
    for (i, (name, floor, _)) in shares.iter().enumerate() {
        let extra = u32::from((i as u32) < rest - given);
        result.insert((*name).clone(), floor + extra);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, u32)]) -> Traffic {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn assignments_are_parsed_and_checked() {
        let items = ["blue=90".to_string(), "green=10".to_string()];
        assert_eq!(parse_assignments(&items, "traffic").expect("ok"), map(&[("blue", 90), ("green", 10)]));
        for bad in ["blue", "=5", "blue=101", "blue=-1", "blue=ten"] {
            let err = parse_assignments(&[bad.to_string()], "traffic").expect_err(bad);
            assert!(err.0.contains(bad), "{err}");
        }
        assert!(parse_assignments(&["a=1".into(), "a=2".into()], "traffic").is_err());
        assert!(check(&map(&[("blue", 90), ("green", 10)]), &Traffic::new()).is_ok());
        assert!(check(&map(&[("blue", 90)]), &Traffic::new()).expect_err("sum").0.contains("add up to 100, not 90"));
        assert!(check(&map(&[("blue", 100)]), &map(&[("green", 60)])).is_err());
        assert!(check(&map(&[("blue", 100)]), &map(&[("blue", 10)])).is_err());
        assert!(check(&map(&[("blue", 100)]), &map(&[("green", 10), ("red", 10)])).is_err());
        assert!(check(&map(&[("blue", 100)]), &map(&[("green", 10)])).is_ok());
    }

    #[test]
    fn stages_split_the_rest_in_proportion() {
        let before = map(&[("blue", 100)]);
        assert_eq!(stage(&before, "green", 10), map(&[("blue", 90), ("green", 10)]));
        assert_eq!(stage(&before, "green", 100), map(&[("blue", 0), ("green", 100)]));
        let before = map(&[("blue", 70), ("red", 30), ("old", 0)]);
        assert_eq!(stage(&before, "green", 50), map(&[("blue", 35), ("red", 15), ("green", 50), ("old", 0)]));
        // 10 points for three: 3 each and the largest remainder (a's 34 → 3.4) gets the tenth.
        let before = map(&[("a", 34), ("b", 33), ("c", 33)]);
        let s = stage(&before, "green", 90);
        assert_eq!(s.values().sum::<u32>(), 100);
        assert_eq!(s, map(&[("a", 4), ("b", 3), ("c", 3), ("green", 90)]));
        assert_eq!(stage(&Traffic::new(), "green", 100), map(&[("green", 100)]));
    }
}
