//! The evaluation gate: is the candidate run better than the champion on one metric?

use serde::Serialize;

/// Which way is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Minimize,
    Maximize,
}

/// The gate's verdict. Equal counts as not better, as in the reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Decision {
    First,
    Better,
    NotBetter,
}

impl Decision {
    /// Whether the candidate should be registered.
    pub fn passes(self) -> bool {
        self != Decision::NotBetter
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Candidate {
    pub run_id: String,
    pub value: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Champion {
    pub version: u64,
    pub run_id: String,
    pub value: f64,
}

/// The gate's report: the `--report` file and `--output json` of `mlops model evaluate`.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    pub model: String,
    pub alias: String,
    pub metric: String,
    pub direction: Direction,
    pub candidate: Candidate,
    pub champion: Option<Champion>,
    /// candidate − champion; null without a champion.
    pub delta: Option<f64>,
    pub decision: Decision,
    pub reason: String,
    /// How the candidate's training schema differs from the champion's, compared anyway because
    /// of `--allow-schema-change`; empty when they were trained alike.
    pub schema_changes: Vec<String>,
}

/// Compares a candidate with the champion (if there is one).
pub fn decide(
    model: &str,
    alias: &str,
    metric: &str,
    direction: Direction,
    candidate: Candidate,
    champion: Option<Champion>,
) -> Evaluation {
    let (decision, delta, reason) = match &champion {
        None => {
            (Decision::First, None, format!("{model} has no version with alias {alias:?}: the candidate is the first"))
        }
        Some(c) => {
            let better = match direction {
                Direction::Minimize => candidate.value < c.value,
                Direction::Maximize => candidate.value > c.value,
            };
            let word = if direction == Direction::Minimize { "lower" } else { "higher" };
            let decision = if better { Decision::Better } else { Decision::NotBetter };
            let reason = if better {
                format!(
                    "{metric} {} is {word} than the champion's {} (version {})",
                    candidate.value, c.value, c.version
                )
            } else {
                format!(
                    "{metric} {} is not {word} than the champion's {} (version {})",
                    candidate.value, c.value, c.version
                )
            };
            (decision, Some(candidate.value - c.value), reason)
        }
    };
    Evaluation {
        model: model.to_string(),
        alias: alias.to_string(),
        metric: metric.to_string(),
        direction,
        candidate,
        champion,
        delta,
        decision,
        reason,
        schema_changes: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(v: f64) -> Candidate {
        Candidate { run_id: "c".into(), value: v }
    }
    fn champ(v: f64) -> Option<Champion> {
        Some(Champion { version: 1, run_id: "r".into(), value: v })
    }

    #[test]
    fn decisions() {
        assert_eq!(decide("m", "champion", "mse", Direction::Minimize, cand(1.0), None).decision, Decision::First);
        assert_eq!(
            decide("m", "champion", "mse", Direction::Minimize, cand(1.0), champ(2.0)).decision,
            Decision::Better
        );
        assert_eq!(
            decide("m", "champion", "mse", Direction::Minimize, cand(2.0), champ(2.0)).decision,
            Decision::NotBetter
        );
        assert_eq!(
            decide("m", "champion", "mse", Direction::Minimize, cand(3.0), champ(2.0)).decision,
            Decision::NotBetter
        );
        assert_eq!(
            decide("m", "champion", "r2", Direction::Maximize, cand(0.5), champ(0.4)).decision,
            Decision::Better
        );
        let e = decide("m", "champion", "mse", Direction::Minimize, cand(1.5), champ(2.0));
        assert_eq!(e.delta, Some(-0.5));
    }
}
