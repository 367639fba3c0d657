//! Durations as people read them (`412ms`, `2.5s`, `3m 12s`, `1h 05m`): the one formatter every
//! message, table and error uses, so no output shows `2.508867384s` or `0.0s`.

use std::time::Duration;

/// A duration rounded to what matters at its size.
pub fn human(duration: Duration) -> String {
    let ms = duration.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let tenths = (duration.as_secs_f64() * 10.0).round() as u64;
    if tenths < 600 {
        return format!("{}.{}s", tenths / 10, tenths % 10);
    }
    let secs = duration.as_secs_f64().round() as u64;
    if secs < 3600 {
        format!("{}m {:02}s", secs / 60, secs % 60)
    } else {
        format!("{}h {:02}m", secs / 3600, secs % 3600 / 60)
    }
}

/// [`human`] for a number of seconds (as reports store them); negative or not finite is `0ms`.
pub fn seconds(secs: f64) -> String {
    human(Duration::try_from_secs_f64(secs).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_to_what_matters() {
        assert_eq!(human(Duration::from_nanos(2_508_867_384)), "2.5s");
        assert_eq!(human(Duration::from_micros(3_400)), "3ms");
        assert_eq!(human(Duration::ZERO), "0ms");
        assert_eq!(human(Duration::from_millis(59_960)), "1m 00s");
        assert_eq!(human(Duration::from_secs(192)), "3m 12s");
        assert_eq!(human(Duration::from_secs(3900)), "1h 05m");
        assert_eq!(seconds(0.25), "250ms");
        assert_eq!(seconds(f64::NAN), "0ms");
    }
}
