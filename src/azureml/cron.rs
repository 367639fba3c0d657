//! Schedule triggers checked before they are sent: five-field cron expressions (the NCrontab
//! syntax Azure ML schedules accept) and `--every N unit` recurrences.

use serde_json::{Value, json};

const FIELDS: [&str; 5] = ["minute", "hour", "day of month", "month", "day of week"];

/// Checks a cron expression; the error names the field and the value at fault.
///
/// Azure ML takes exactly five fields (NCrontab, no seconds). Each field is checked by itself,
/// with croner, in an expression whose other fields are `*`, so that its error can name the field.
pub fn validate_cron(expression: &str) -> Result<(), String> {
    let fields: Vec<&str> = expression.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!(
            "cron expression {expression:?} has {} fields; expected 5: minute hour day-of-month month day-of-week \
             (e.g. \"0 3 * * *\" for 03:00 every day)",
            fields.len()
        ));
    }
    let parser = croner::parser::CronParser::builder().seconds(croner::parser::Seconds::Disallowed).build();
    for (index, (text, name)) in fields.iter().zip(FIELDS).enumerate() {
        let mut alone = ["*"; 5];
        alone[index] = text;
        parser
            .parse(&alone.join(" "))
            .map_err(|e| format!("cron expression {expression:?}: {name} field {text:?}: {e}"))?;
    }
    parser.parse(expression).map_err(|e| format!("cron expression {expression:?}: {e}"))?;
    Ok(())
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
        assert!(err.contains("minute field \"61\""), "{err}");
        assert!(validate_cron("0 3 * * FUNDAY").expect_err("invalid").contains("day of week"));
        assert!(validate_cron("0 5-3 * * *").expect_err("invalid").contains("hour field"));
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
