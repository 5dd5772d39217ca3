//! Placeholder substitution: `OPEN name CLOSE` replaced by a lookup, for `log-format`'s
//! `%(name)`, the log encoders' `${name}` and the config's `%(name)`/`$(NAME)`/`@(file)`.
//!
//! Must not: know any placeholder's meaning (the caller's lookup does).

/// Replaces each `OPEN name CLOSE` in `template` by `lookup(name)`; names it does not know
/// (None) stay as written, as uWSGI leaves unknown variables. An opener without its closer
/// is kept as written.
pub fn substitute(
    template: &str,
    open: &str,
    close: char,
    mut lookup: impl FnMut(&str) -> Option<String>,
) -> String {
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(start) = rest.find(open) {
        out.push_str(&rest[..start]);
        let after = &rest[start + open.len()..];
        let Some(end) = after.find(close) else {
            out.push_str(&rest[start..]);
            return out;
        };
        match lookup(&after[..end]) {
            Some(value) => out.push_str(&value),
            None => out.push_str(&rest[start..start + open.len() + end + close.len_utf8()]),
        }
        rest = &after[end + close.len_utf8()..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::substitute;

    #[test]
    fn known_names_replaced_unknown_kept() {
        let lookup = |name: &str| (name == "a").then(|| "1".to_string());
        assert_eq!(substitute("x%(a)y%(b)z", "%(", ')', lookup), "x1y%(b)z");
        assert_eq!(substitute("${a}${a", "${", '}', lookup), "1${a");
        assert_eq!(substitute("no refs", "%(", ')', lookup), "no refs");
    }
}
