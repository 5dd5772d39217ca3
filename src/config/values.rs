//! Value syntax shared by the option rows: booleans, whole numbers, byte sizes and modes,
//! with the quirks of real uWSGI files (a trailing `# comment`, `true` where a number is
//! expected).
//!
//! Owns: turning one value's text into a number or a flag. Must not: know option names
//! or where a value was written (`apply::Value` adds both to an error).

/// The uWSGI default `log-date` format (ctime's).
pub const DEFAULT_LOG_DATE: &str = "%a %b %e %H:%M:%S %Y";

/// Why a value has not the syntax its option takes; the text is the message's tail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyntaxError {
    Flag,
    Number,
    Bytes,
    Mode,
}

impl std::fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SyntaxError::Flag => "expected true/false, yes/no, on/off or 1/0",
            SyntaxError::Number => "expected a whole number",
            SyntaxError::Bytes => "expected a size in bytes (optionally with k, m or g)",
            SyntaxError::Mode => "expected three octal digits such as 660",
        })
    }
}

impl std::error::Error for SyntaxError {}

/// uWSGI reads any value other than false/off/no/0 as true; we accept the usual words and a
/// trailing comment (`True # ...` appears in real files) and refuse anything else.
/// No value (`--vacuum`, a bare `vacuum` line) means true.
pub fn parse_flag(value: Option<&str>) -> Result<bool, SyntaxError> {
    let Some(value) = value else {
        return Ok(true);
    };
    let word = without_inline_comment(value).trim().to_ascii_lowercase();
    match word.as_str() {
        "" | "true" | "yes" | "on" | "1" => Ok(true),
        "false" | "no" | "off" | "0" => Ok(false),
        _ => Err(SyntaxError::Flag),
    }
}

/// A whole number. As uWSGI (which reads numbers with strtol), a trailing comment is
/// tolerated (`max-requests = 1000 ; recycle`), and true/false words mean 1/0. No value
/// means 1.
pub fn parse_number(value: Option<&str>) -> Result<u64, SyntaxError> {
    let value = match value.map(str::trim) {
        None | Some("") => return Ok(1),
        Some(v) => v,
    };
    let without_comment = without_inline_comment(value);
    if let Some(n) = boolean_as_number(without_comment) {
        return Ok(n);
    }
    without_comment
        .parse::<u64>()
        .map_err(|_| SyntaxError::Number)
}

/// A byte size: digits with an optional k/m/g, a trailing comment tolerated.
pub fn parse_bytes(value: Option<&str>) -> Result<u64, SyntaxError> {
    let value = without_inline_comment(value.unwrap_or("").trim()).to_ascii_lowercase();
    if let Some(n) = boolean_as_number(&value) {
        return Ok(n);
    }
    parse_size_text(&value).ok_or(SyntaxError::Bytes)
}

/// A size as `cache2` writes it inside its value: digits with an optional k/m/g.
pub fn parse_size_text(value: &str) -> Option<u64> {
    let value = value.trim().to_ascii_lowercase();
    let (digits, multiplier) = match value.chars().last() {
        Some('k') => (&value[..value.len() - 1], 1u64 << 10),
        Some('m') => (&value[..value.len() - 1], 1 << 20),
        Some('g') => (&value[..value.len() - 1], 1 << 30),
        _ => (value.as_str(), 1),
    };
    digits.parse::<u64>().ok()?.checked_mul(multiplier)
}

/// A unix socket or log file mode: three octal digits; none (or `1`, a bare flag) is 666.
pub fn parse_mode(value: &str) -> Result<u32, SyntaxError> {
    let value = value.trim();
    if value.is_empty() || value == "1" {
        return Ok(0o666);
    }
    if value.len() == 3 && value.chars().all(|c| ('0'..='7').contains(&c)) {
        return Ok(u32::from_str_radix(value, 8).expect("checked octal digits"));
    }
    Err(SyntaxError::Mode)
}

/// A boolean word where a number or size is expected (`threads = true`,
/// `post-buffering = true` are in real files): 1 or 0.
fn boolean_as_number(value: &str) -> Option<u64> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" => Some(1),
        "false" | "no" | "off" => Some(0),
        _ => None,
    }
}

/// `32768  # bigger headers` -> `32768`: uWSGI reads numbers with strtol, which stops at
/// the first blank, so real files carry such comments on numbers and sizes.
pub fn without_inline_comment(value: &str) -> &str {
    value
        .split_once([' ', '\t'])
        .filter(|(_, rest)| rest.trim_start().starts_with(['#', ';']))
        .map_or(value, |(number, _)| number)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_sizes_and_flags_as_real_files_write_them() {
        assert_eq!(parse_number(Some("1000 ; recycle")), Ok(1000));
        assert_eq!(parse_number(Some("true")), Ok(1));
        assert_eq!(parse_number(None), Ok(1));
        assert_eq!(parse_number(Some("many")), Err(SyntaxError::Number));
        assert_eq!(parse_bytes(Some("32k")), Ok(32768));
        assert_eq!(parse_bytes(Some("32768  # bigger")), Ok(32768));
        assert_eq!(parse_flag(Some("True # remove sockets")), Ok(true));
        assert_eq!(parse_flag(Some("off")), Ok(false));
        assert_eq!(parse_flag(Some("maybe")), Err(SyntaxError::Flag));
        assert_eq!(parse_mode(""), Ok(0o666));
        assert_eq!(parse_mode("rw-rw"), Err(SyntaxError::Mode));
    }
}
