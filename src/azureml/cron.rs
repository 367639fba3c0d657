//! Schedule triggers checked before they are sent: five-field cron expressions (the NCrontab
//! syntax Azure ML schedules accept) and `--every N unit` recurrences.

use serde_json::{Value, json};

const FIELDS: [(&str, u32, u32); 5] =
    [("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 6)];
const MONTHS: [&str; 12] = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// Checks a cron expression; the error names the field and the value at fault.
pub fn validate_cron(expression: &str) -> Result<(), String> {
    let fields: Vec<&str> = expression.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!(
            "cron expression {expression:?} has {} fields; expected 5: minute hour day-of-month month day-of-week \
             (e.g. \"0 3 * * *\" for 03:00 every day)",
            fields.len()
        ));
    }
    for (index, (text, (name, min, max))) in fields.iter().zip(FIELDS).enumerate() {
        for part in text.split(',') {
            check_part(part, index, min, max)
                .map_err(|m| format!("cron expression {expression:?}: {name} field {text:?}: {m}"))?;
        }
    }
    Ok(())
}

fn check_part(part: &str, index: usize, min: u32, max: u32) -> Result<(), String> {
    let (range, step) = match part.split_once('/') {
        Some((range, step)) => (range, Some(step)),
        None => (part, None),
    };
    if let Some(step) = step {
        match step.parse::<u32>() {
            Ok(n) if n >= 1 && n <= max.max(1) => {}
            _ => return Err(format!("step {step:?} must be a whole number from 1 to {}", max.max(1))),
        }
    }
    if range == "*" {
        return Ok(());
    }
    let (low, high) = match range.split_once('-') {
        Some((low, high)) => (value(low, index, min, max)?, value(high, index, min, max)?),
        None => {
            let v = value(range, index, min, max)?;
            (v, v)
        }
    };
    if low > high {
        return Err(format!("range {range:?} runs backwards"));
    }
    Ok(())
}

fn value(text: &str, index: usize, min: u32, max: u32) -> Result<u32, String> {
    let upper = text.to_ascii_uppercase();
    let named = match index {
        3 => MONTHS.iter().position(|m| *m == upper).map(|i| i as u32 + 1),
        4 => DAYS.iter().position(|d| *d == upper).map(|i| i as u32),
        _ => None,
    };
    let number = named.or_else(|| text.parse::<u32>().ok());
    match number {
        Some(n) if (min..=max).contains(&n) => Ok(n),
        Some(n) => Err(format!("{n} is outside {min}-{max}")),
        None => Err(format!("{text:?} is not a number{}", if index >= 3 { " or a name" } else { "" })),
    }
}

/// `--every N(minute|hour|day|week)` (e.g. `15minute`, `1 day`, `2weeks`) as a Recurrence trigger.
pub fn parse_every(text: &str) -> Result<(String, u32), String> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_lowercase();
    let split = compact.find(|c: char| !c.is_ascii_digit()).unwrap_or(compact.len());
    let (number, unit) = compact.split_at(split);
    let interval = number.parse::<u32>().ok().filter(|n| *n >= 1);
    let frequency = match unit.trim_end_matches('s') {
        "minute" | "min" => Some("Minute"),
        "hour" | "h" => Some("Hour"),
        "day" | "d" => Some("Day"),
        "week" | "w" => Some("Week"),
        _ => None,
    };
    match (interval, frequency) {
        (Some(interval), Some(frequency)) => Ok((frequency.to_string(), interval)),
        _ => Err(format!("--every {text:?}: expected a count and a unit, e.g. 30minute, 1hour, 1day or 1week")),
    }
}

/// The schedule trigger for a cron expression or a recurrence.
pub fn trigger(cron: Option<&str>, every: Option<(String, u32)>, time_zone: &str) -> Result<Value, String> {
    match (cron, every) {
        (Some(expression), None) => {
            validate_cron(expression)?;
            Ok(json!({"triggerType": "Cron", "expression": expression.trim(), "timeZone": time_zone}))
        }
        (None, Some((frequency, interval))) => Ok(json!({
            "triggerType": "Recurrence", "frequency": frequency, "interval": interval, "timeZone": time_zone
        })),
        _ => Err("give exactly one of --cron and --every".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cron_expressions() {
        for ok in ["0 3 * * *", "*/15 * * * *", "0 0 1 JAN,JUL MON-FRI", "5,10-20/5 0-23 1-31 1-12 0-6"] {
            assert!(validate_cron(ok).is_ok(), "{ok}");
        }
        let err = validate_cron("0 3 * *").expect_err("invalid");
        assert!(err.contains("has 4 fields"), "{err}");
        let err = validate_cron("61 3 * * *").expect_err("invalid");
        assert!(err.contains("minute field \"61\": 61 is outside 0-59"), "{err}");
        assert!(validate_cron("0 3 * * FUNDAY").expect_err("invalid").contains("day of week"));
        assert!(validate_cron("0 5-3 * * *").expect_err("invalid").contains("backwards"));
        assert!(validate_cron("*/0 * * * *").is_err());
    }

    #[test]
    fn every() {
        assert_eq!(parse_every("15minute").expect("valid"), ("Minute".to_string(), 15));
        assert_eq!(parse_every("1 day").expect("valid"), ("Day".to_string(), 1));
        assert_eq!(parse_every("2weeks").expect("valid"), ("Week".to_string(), 2));
        assert!(parse_every("0hour").is_err());
        assert!(parse_every("month").is_err());
        assert!(trigger(Some("0 3 * * *"), Some(("Day".into(), 1)), "UTC").is_err());
    }
}
