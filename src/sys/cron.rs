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

/// Why a cron rule is refused; `field` names the field (`minute`, `hour`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CronError {
    /// Fewer than the five time fields.
    TooFewFields,
    BadStep {
        field: &'static str,
        text: String,
    },
    NotANumber {
        field: &'static str,
        text: String,
    },
    OutOfRange {
        field: &'static str,
        value: u32,
        range: std::ops::RangeInclusive<u32>,
    },
    NoCommand,
}

impl std::fmt::Display for CronError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CronError::TooFewFields => f.write_str("expected MIN HOUR DAY MONTH WEEKDAY COMMAND"),
            CronError::BadStep { field, text } => write!(f, "{field} '{text}' is not a valid step"),
            CronError::NotANumber { field, text } => {
                write!(f, "{field} '{text}' is not a number, -1 or -N")
            }
            CronError::OutOfRange {
                field,
                value,
                range,
            } => write!(
                f,
                "{field} {value} is outside {}..{}",
                range.start(),
                range.end()
            ),
            CronError::NoCommand => f.write_str("expected a command after the five time fields"),
        }
    }
}

impl std::error::Error for CronError {}

impl Field {
    fn parse(
        text: &str,
        name: &'static str,
        range: std::ops::RangeInclusive<u32>,
    ) -> Result<Field, CronError> {
        let field =
            match text {
                "-1" | "*" => Field::Any,
                _ => {
                    if let Some(step) = text.strip_prefix("*/").or_else(|| text.strip_prefix('-')) {
                        let step: u32 = step.parse().ok().filter(|s| *s > 0).ok_or_else(|| {
                            CronError::BadStep {
                                field: name,
                                text: text.to_string(),
                            }
                        })?;
                        Field::Every(step)
                    } else {
                        let value: u32 = text.parse().map_err(|_| CronError::NotANumber {
                            field: name,
                            text: text.to_string(),
                        })?;
                        if !range.contains(&value) {
                            return Err(CronError::OutOfRange {
                                field: name,
                                value,
                                range,
                            });
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
    pub fn parse(rule: &str) -> Result<CronJob, CronError> {
        let mut parts = rule.split_whitespace();
        let mut field = |name: &'static str, range| -> Result<Field, CronError> {
            let text = parts.next().ok_or(CronError::TooFewFields)?;
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
            return Err(CronError::NoCommand);
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
        let why = |rule: &str| CronJob::parse(rule).unwrap_err().to_string();
        assert_eq!(why("61 -1 -1 -1 -1 x"), "minute 61 is outside 0..59");
        assert_eq!(
            why("0 -1 -1 -1 -1"),
            "expected a command after the five time fields"
        );
        assert_eq!(why("0 -1"), "expected MIN HOUR DAY MONTH WEEKDAY COMMAND");
        assert_eq!(why("0 */0 * * * x"), "hour '*/0' is not a valid step");
        assert_eq!(why("0 x * * * y"), "hour 'x' is not a number, -1 or -N");
    }
}
