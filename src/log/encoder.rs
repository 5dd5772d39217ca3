//! uWSGI's log encoders (`log-encoder`, `log-req-encoder`): each turns a line into another,
//! in the order written. Applied to plain lines (stderr, logto), not to journal entries,
//! which carry their fields natively.
//!
//! Owns: the encoder syntax and its rendering. Must not: write anywhere (the caller does).

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Encoder {
    Prefix(String),
    Suffix(String),
    Newline,
    Format(String),
    Json(String),
}

/// `log-encoder` names an encoder rwsgi does not provide (its name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownEncoder(pub String);

impl std::fmt::Display for UnknownEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "log encoder '{}' is not provided (prefix, suffix, nl, format, json are)",
            self.0
        )
    }
}

impl std::error::Error for UnknownEncoder {}

pub fn parse(text: &str) -> Result<Encoder, UnknownEncoder> {
    let text = text.trim_start();
    let (name, argument) = text.split_once(' ').unwrap_or((text.trim_end(), ""));
    // `name:logger` routes an encoder to one named logger in uWSGI; rwsgi applies it to all.
    let name = name.split(':').next().unwrap_or(name);
    Ok(match name {
        "prefix" => Encoder::Prefix(argument.to_string()),
        "suffix" => Encoder::Suffix(argument.to_string()),
        "nl" => Encoder::Newline,
        "format" => Encoder::Format(argument.to_string()),
        "json" => Encoder::Json(argument.to_string()),
        other => return Err(UnknownEncoder(other.to_string())),
    })
}

pub fn encode(chain: &[Encoder], line: &str) -> String {
    let mut text = line.to_string();
    for encoder in chain {
        text = match encoder {
            Encoder::Prefix(prefix) => format!("{prefix}{text}"),
            Encoder::Suffix(suffix) => format!("{text}{suffix}"),
            Encoder::Newline => format!("{text}\n"),
            Encoder::Format(template) => fill(template, &text, false),
            Encoder::Json(template) => fill(template, &text, true),
        };
    }
    text
}

/// `${msg}`, `${msgnl}`, `${unix}`, `${micros}`, `${millis}`, `${strftime:FORMAT}`.
fn fill(template: &str, message: &str, json: bool) -> String {
    let now = crate::sys::time::unix_now();
    let message = message.trim_end_matches('\n');
    let escape = |text: &str| {
        if json {
            json_escape(text)
        } else {
            text.to_string()
        }
    };
    crate::sys::substitute::substitute(template, "${", '}', |name| match name {
        "msg" => Some(escape(message)),
        "msgnl" => Some(escape(&format!("{message}\n"))),
        "unix" => Some(now.as_secs().to_string()),
        "micros" => Some(now.as_micros().to_string()),
        "millis" => Some(now.as_millis().to_string()),
        _ => name
            .strip_prefix("strftime:")
            .map(|format| crate::sys::time::strftime_utc(format, now.as_secs())),
    })
}

/// `text` as the inside of a JSON string (the template writes the quotes).
fn json_escape(text: &str) -> String {
    let quoted = serde_json::Value::from(text).to_string();
    quoted[1..quoted.len() - 1].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chains() {
        let chain = [
            parse(r#"json {"unix":${unix},"msg":"${msg}"}"#).unwrap(),
            parse("nl").unwrap(),
        ];
        let out = encode(&chain, "say \"hi\"\tnow");
        assert!(out.starts_with("{\"unix\":"), "{out}");
        assert!(out.contains(r#""msg":"say \"hi\"\tnow"}"#), "{out}");
        assert!(out.ends_with("}\n"), "{out}");
        let framed = [parse("prefix [app]").unwrap(), parse("suffix !").unwrap()];
        assert_eq!(encode(&framed, "x"), "[app]x!");
        assert_eq!(
            parse("msgpack").unwrap_err().to_string(),
            "log encoder 'msgpack' is not provided (prefix, suffix, nl, format, json are)"
        );
    }
}
