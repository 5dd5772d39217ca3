//! uWSGI's `cron` and `unique-cron` schedule: `MIN HOUR DAY MONTH WEEKDAY COMMAND`, where
//! each field is a number, `-1` (or `*`) for any, or `-N` (or `*/N`) for every N.
//!
//! Owns: parsing a rule and deciding whether it is due in a given local minute.
//! Must not: run commands (the master does); the clock is read only by `LocalMinute::now`.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Any,
    Exactly(u32),
    Every(u32),
}

impl Field {
    fn parse(
        text: &str,
        name: &str,
        range: std::ops::RangeInclusive<u32>,
    ) -> Result<Field, String> {
        let field = match text {
            "-1" | "*" => Field::Any,
            _ => {
                if let Some(step) = text.strip_prefix("*/").or_else(|| text.strip_prefix('-')) {
                    let step: u32 = step
                        .parse()
                        .ok()
                        .filter(|s| *s > 0)
                        .ok_or_else(|| format!("{name} '{text}' is not a valid step"))?;
                    Field::Every(step)
                } else {
                    let value: u32 = text
                        .parse()
                        .map_err(|_| format!("{name} '{text}' is not a number, -1 or -N"))?;
                    if !range.contains(&value) {
                        return Err(format!(
                            "{name} {value} is outside {}..{}",
                            range.start(),
                            range.end()
                        ));
                    }
                    Field::Exactly(value)
                }
            }
        };
        Ok(field)
    }

    fn matches(self, value: u32) -> bool {
        match self {
            Field::Any => true,
            Field::Exactly(wanted) => wanted == value,
            Field::Every(step) => value % step == 0,
        }
    }
}

/// A local time, as the fields of a cron rule see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalMinute {
    pub minute: u32,
    pub hour: u32,
    pub day: u32,
    pub month: u32,
    /// 0 is Sunday.
    pub weekday: u32,
}

impl LocalMinute {
    /// The local time now, by the system's time zone (TZ or /etc/localtime), as cron uses.
    pub fn now() -> LocalMinute {
        let now = crate::sys::time::local_now();
        LocalMinute {
            minute: now.minute() as u32,
            hour: now.hour() as u32,
            day: now.day() as u32,
            month: now.month() as u32,
            weekday: now.weekday().to_sunday_zero_offset() as u32,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronJob {
    minute: Field,
    hour: Field,
    day: Field,
    month: Field,
    weekday: Field,
    pub command: String,
}

impl CronJob {
    pub fn parse(rule: &str) -> Result<CronJob, String> {
        let mut parts = rule.split_whitespace();
        let mut field = |name: &str, range| -> Result<Field, String> {
            let text = parts
                .next()
                .ok_or_else(|| "expected MIN HOUR DAY MONTH WEEKDAY COMMAND".to_string())?;
            Field::parse(text, name, range)
        };
        let minute = field("minute", 0..=59)?;
        let hour = field("hour", 0..=23)?;
        let day = field("day", 1..=31)?;
        let month = field("month", 1..=12)?;
        let mut weekday = field("weekday", 0..=7)?;
        if weekday == Field::Exactly(7) {
            weekday = Field::Exactly(0);
        }
        let command = parts.collect::<Vec<_>>().join(" ");
        if command.is_empty() {
            return Err("expected a command after the five time fields".into());
        }
        Ok(CronJob {
            minute,
            hour,
            day,
            month,
            weekday,
            command,
        })
    }

    pub fn is_due(&self, at: LocalMinute) -> bool {
        self.minute.matches(at.minute)
            && self.hour.matches(at.hour)
            && self.day.matches(at.day)
            && self.month.matches(at.month)
            && self.weekday.matches(at.weekday)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minute: u32, hour: u32, weekday: u32) -> LocalMinute {
        LocalMinute {
            minute,
            hour,
            day: 15,
            month: 6,
            weekday,
        }
    }

    #[test]
    fn uwsgi_and_crontab_forms() {
        let hourly = CronJob::parse("0 -1 -1 -1 -1 /usr/bin/cleanup --all").unwrap();
        assert_eq!(hourly.command, "/usr/bin/cleanup --all");
        assert!(hourly.is_due(at(0, 3, 2)));
        assert!(!hourly.is_due(at(1, 3, 2)));
        let every_five = CronJob::parse("-5 * * * * true").unwrap();
        assert!(every_five.is_due(at(35, 0, 0)));
        assert!(!every_five.is_due(at(36, 0, 0)));
        let sundays = CronJob::parse("30 4 -1 -1 7 backup").unwrap();
        assert!(sundays.is_due(at(30, 4, 0)));
        assert!(!sundays.is_due(at(30, 4, 1)));
    }

    #[test]
    fn bad_rules_say_why() {
        assert!(CronJob::parse("61 -1 -1 -1 -1 x")
            .unwrap_err()
            .contains("minute"));
        assert!(CronJob::parse("0 -1 -1 -1 -1")
            .unwrap_err()
            .contains("command"));
        assert!(CronJob::parse("0 -1").unwrap_err().contains("expected"));
    }
}
