//! uWSGI's internal routing (`route`, `route-uri`, `route-host`, `route-user-agent`,
//! `route-if`, `route-if-not`): rules parsed from the configuration and evaluated, in the
//! order written, against a request's variables.
//!
//! Owns: rule syntax, regular-expression matching with `$N` captures, `${VAR}` expansion,
//! and the outcome (answer directly, close, or go on to the application with header edits).
//! Must not: do I/O or touch Python; the worker hands in a lookup for request variables.

use regex::Regex;

/// What a request's variables look like to the rules: `PATH_INFO`, `HTTP_HOST`, ...
pub trait Variables {
    fn get(&self, name: &str) -> Option<String>;
}

#[derive(Debug, Clone)]
enum Subject {
    /// A request variable matched against the rule's regular expression.
    Variable(&'static str),
    Condition {
        negate: bool,
        test: Test,
        /// Left operand, then for most tests a right one (after the `;`).
        left: String,
        right: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Test {
    Equal,
    StartsWith,
    EndsWith,
    Contains,
    Regexp,
    Empty,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Action {
    AddHeader(String),
    DelHeader(String),
    Redirect(u16, String),
    Return(u16),
    /// `break` closes the request; `break:CODE` answers CODE.
    Break(Option<u16>),
    Last,
    Continue,
    Rewrite {
        path: String,
        last: bool,
    },
    AddVar(String),
}

#[derive(Debug, Clone)]
pub struct Rule {
    subject: Subject,
    pattern: Option<Regex>,
    action: Action,
}

/// The result of running the rules for one request.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Answer without calling the application: (status, Location for redirects).
    pub answer: Option<(u16, Option<String>)>,
    /// End the request with no answer (`break`).
    pub close: bool,
    /// Headers to add to the application's response, as `Name: value`.
    pub add_headers: Vec<(String, String)>,
    /// Header names to remove from the application's response.
    pub remove_headers: Vec<String>,
    /// A new PATH_INFO (`rewrite`), and environ variables to set (`addvar`).
    pub rewrite: Option<String>,
    pub set_vars: Vec<(String, String)>,
}

/// Why a routing rule is refused.
#[derive(Debug)]
pub enum RuleError {
    /// Not `HEAD ACTION`.
    Shape,
    /// A `route-if` head without `NAME:ARGS` (the head).
    ConditionShape(String),
    UnknownCondition(String),
    /// A two-operand condition without `A;B` (its name).
    TwoValues(String),
    Pattern(regex::Error),
    NotRouting(String),
    /// `return`/`break:` without a status code (the action as written).
    Status(String),
    /// An action that needs a value (its name).
    NeedsValue(String),
    Header(String),
    Assignment(String),
    UnknownAction(String),
}

impl std::fmt::Display for RuleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RuleError::Shape => {
                f.write_str("expected a condition or regular expression, then an action")
            }
            RuleError::ConditionShape(head) => {
                write!(f, "condition '{head}' needs the form NAME:ARGS")
            }
            RuleError::UnknownCondition(name) => write!(f, "unknown route-if condition '{name}'"),
            RuleError::TwoValues(name) => write!(f, "condition '{name}' needs two values: A;B"),
            RuleError::Pattern(e) => write!(f, "invalid regular expression: {e}"),
            RuleError::NotRouting(option) => write!(f, "'{option}' is not a routing option"),
            RuleError::Status(text) => write!(f, "'{text}': expected an HTTP status code"),
            RuleError::NeedsValue(name) => write!(f, "action '{name}' needs a value"),
            RuleError::Header(header) => write!(f, "addheader '{header}': expected 'Name: value'"),
            RuleError::Assignment(text) => write!(f, "addvar '{text}': expected KEY=VALUE"),
            RuleError::UnknownAction(name) => write!(
                f,
                "routing action '{name}' is not provided (addheader, delheader, redirect, redirect-301, return, break, last, continue, rewrite, rewrite-last, addvar are)"
            ),
        }
    }
}

impl std::error::Error for RuleError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RuleError::Pattern(e) => Some(e),
            _ => None,
        }
    }
}

impl Rule {
    /// `option` is the configuration key (`route`, `route-if`, ...), `text` its value:
    /// `REGEXP ACTION` or, for route-if, `COND:ARGS ACTION`.
    pub fn parse(option: &str, text: &str) -> Result<Rule, RuleError> {
        let text = text.trim();
        let (head, action_text) = text
            .split_once(char::is_whitespace)
            .map(|(h, a)| (h, a.trim()))
            .filter(|(_, a)| !a.is_empty())
            .ok_or(RuleError::Shape)?;
        let action = parse_action(action_text)?;
        let (subject, pattern) = match option {
            "route" => (Subject::Variable("PATH_INFO"), Some(head)),
            "route-uri" => (Subject::Variable("REQUEST_URI"), Some(head)),
            "route-host" => (Subject::Variable("HTTP_HOST"), Some(head)),
            "route-user-agent" => (Subject::Variable("HTTP_USER_AGENT"), Some(head)),
            "route-if" | "route-if-not" => {
                let (name, args) = head
                    .split_once(':')
                    .ok_or_else(|| RuleError::ConditionShape(head.to_string()))?;
                let test = match name {
                    "equal" | "isequal" | "eq" | "==" => Test::Equal,
                    "startswith" | "starts_with" => Test::StartsWith,
                    "endswith" | "ends_with" => Test::EndsWith,
                    "contains" | "contain" => Test::Contains,
                    "regexp" | "re" => Test::Regexp,
                    "empty" => Test::Empty,
                    other => return Err(RuleError::UnknownCondition(other.to_string())),
                };
                let (left, right) = match test {
                    Test::Empty => (args.to_string(), String::new()),
                    _ => args
                        .split_once(';')
                        .map(|(l, r)| (l.to_string(), r.to_string()))
                        .ok_or_else(|| RuleError::TwoValues(name.to_string()))?,
                };
                let pattern = (test == Test::Regexp).then_some(right.as_str());
                let regex = pattern
                    .map(Regex::new)
                    .transpose()
                    .map_err(RuleError::Pattern)?;
                let subject = Subject::Condition {
                    negate: option == "route-if-not",
                    test,
                    left,
                    right,
                };
                return Ok(Rule {
                    subject,
                    pattern: regex,
                    action,
                });
            }
            other => return Err(RuleError::NotRouting(other.to_string())),
        };
        let pattern = pattern
            .map(Regex::new)
            .transpose()
            .map_err(RuleError::Pattern)?;
        Ok(Rule {
            subject,
            pattern,
            action,
        })
    }
}

fn parse_action(text: &str) -> Result<Action, RuleError> {
    let (name, argument) = text.split_once(':').unwrap_or((text, ""));
    let status = |argument: &str| -> Result<u16, RuleError> {
        argument
            .split_whitespace()
            .next()
            .and_then(|code| code.parse::<u16>().ok())
            .filter(|code| (200..600).contains(code))
            .ok_or_else(|| RuleError::Status(text.to_string()))
    };
    let needs_argument = |argument: &str| -> Result<String, RuleError> {
        if argument.trim().is_empty() {
            Err(RuleError::NeedsValue(name.to_string()))
        } else {
            Ok(argument.trim().to_string())
        }
    };
    Ok(match name {
        "addheader" => {
            let header = needs_argument(argument)?;
            if !header.contains(':') {
                return Err(RuleError::Header(header));
            }
            Action::AddHeader(header)
        }
        "delheader" | "remheader" => Action::DelHeader(needs_argument(argument)?),
        "redirect" | "redirect-302" => Action::Redirect(302, needs_argument(argument)?),
        "redirect-301" | "redirect-permanent" => Action::Redirect(301, needs_argument(argument)?),
        "return" => Action::Return(status(argument)?),
        "break" if argument.trim().is_empty() => Action::Break(None),
        "break" => Action::Break(Some(status(argument)?)),
        "last" => Action::Last,
        "continue" => Action::Continue,
        "rewrite" => Action::Rewrite {
            path: needs_argument(argument)?,
            last: false,
        },
        "rewrite-last" => Action::Rewrite {
            path: needs_argument(argument)?,
            last: true,
        },
        "addvar" => {
            let assignment = needs_argument(argument)?;
            if !assignment.contains('=') {
                return Err(RuleError::Assignment(assignment));
            }
            Action::AddVar(assignment)
        }
        other => return Err(RuleError::UnknownAction(other.to_string())),
    })
}

/// Runs the rules in order. A rule whose regular expression matches (or whose condition
/// holds) performs its action; `last`, `continue`, `rewrite-last`, redirects, `return` and
/// `break` end the scan.
pub fn evaluate(rules: &[Rule], variables: &dyn Variables) -> Outcome {
    let mut outcome = Outcome::default();
    for rule in rules {
        let Some(captures) = rule.captures(outcome.rewrite.as_deref(), variables) else {
            continue;
        };
        if rule.action.perform(&captures, variables, &mut outcome) == Scan::End {
            break;
        }
    }
    outcome
}

/// Whether the rules after an action still run.
#[derive(Debug, PartialEq, Eq)]
enum Scan {
    Next,
    End,
}

/// All groups of a match, unmatched ones empty: `$0`, `$1`...
fn groups(found: regex::Captures<'_>) -> Vec<String> {
    found
        .iter()
        .map(|m| m.map(|m| m.as_str().to_string()).unwrap_or_default())
        .collect()
}

impl Rule {
    /// The captures when the rule applies (its pattern matches or its condition holds),
    /// none when it does not. `rewritten` is PATH_INFO as an earlier `rewrite` left it.
    fn captures(&self, rewritten: Option<&str>, variables: &dyn Variables) -> Option<Vec<String>> {
        match &self.subject {
            Subject::Variable(name) => {
                let value = match (*name, rewritten) {
                    ("PATH_INFO", Some(rewritten)) => rewritten.to_string(),
                    _ => variables.get(name).unwrap_or_default(),
                };
                let regex = self.pattern.as_ref().expect("route rules have a pattern");
                regex.captures(&value).map(groups)
            }
            Subject::Condition {
                negate,
                test,
                left,
                right,
            } => {
                let left = expand(left, &[], variables);
                let right = expand(right, &[], variables);
                let mut captures = vec![left.clone()];
                let holds = match test {
                    Test::Equal => left == right,
                    Test::StartsWith => left.starts_with(&right),
                    Test::EndsWith => left.ends_with(&right),
                    Test::Contains => left.contains(&right),
                    Test::Empty => left.is_empty(),
                    Test::Regexp => match self.pattern.as_ref().and_then(|r| r.captures(&left)) {
                        Some(found) => {
                            captures = groups(found);
                            true
                        }
                        None => false,
                    },
                };
                (holds != *negate).then_some(captures)
            }
        }
    }
}

impl Action {
    /// Applies the action to the outcome; `Scan::End` when no later rule may run.
    fn perform(
        &self,
        captures: &[String],
        variables: &dyn Variables,
        outcome: &mut Outcome,
    ) -> Scan {
        match self {
            Action::AddHeader(header) => {
                let header = expand(header, captures, variables);
                if let Some((name, value)) = header.split_once(':') {
                    outcome
                        .add_headers
                        .push((name.trim().to_string(), value.trim().to_string()));
                }
            }
            Action::DelHeader(name) => outcome
                .remove_headers
                .push(expand(name, captures, variables)),
            Action::Redirect(status, target) => {
                outcome.answer = Some((*status, Some(expand(target, captures, variables))));
                return Scan::End;
            }
            Action::Return(status) | Action::Break(Some(status)) => {
                outcome.answer = Some((*status, None));
                return Scan::End;
            }
            Action::Break(None) => {
                outcome.close = true;
                return Scan::End;
            }
            Action::Last | Action::Continue => return Scan::End,
            Action::Rewrite { path, last } => {
                let rewritten = expand(path, captures, variables);
                // uWSGI's rewrite may carry a query string: it replaces QUERY_STRING.
                match rewritten.split_once('?') {
                    Some((path, query)) => {
                        outcome.rewrite = Some(path.to_string());
                        outcome
                            .set_vars
                            .push(("QUERY_STRING".into(), query.to_string()));
                    }
                    None => outcome.rewrite = Some(rewritten),
                }
                if *last {
                    return Scan::End;
                }
            }
            Action::AddVar(assignment) => {
                let assignment = expand(assignment, captures, variables);
                if let Some((key, value)) = assignment.split_once('=') {
                    outcome.set_vars.push((key.to_string(), value.to_string()));
                }
            }
        }
        Scan::Next
    }
}

/// `$1`..`$9` from the match, `${VAR}` from the request.
fn expand(text: &str, captures: &[String], variables: &dyn Variables) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.char_indices().peekable();
    while let Some((index, c)) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        match chars.peek().copied() {
            Some((_, digit)) if digit.is_ascii_digit() => {
                chars.next();
                let n = digit.to_digit(10).unwrap_or(0) as usize;
                out.push_str(captures.get(n).map(String::as_str).unwrap_or(""));
            }
            Some((_, '{')) => match text[index + 2..].find('}') {
                Some(end) => {
                    let name = &text[index + 2..index + 2 + end];
                    out.push_str(&variables.get(name).unwrap_or_default());
                    while chars.peek().is_some_and(|(i, _)| *i <= index + 2 + end) {
                        chars.next();
                    }
                }
                None => out.push('$'),
            },
            _ => out.push('$'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct Vars(HashMap<&'static str, &'static str>);
    impl Variables for Vars {
        fn get(&self, name: &str) -> Option<String> {
            self.0.get(name).map(|v| v.to_string())
        }
    }

    fn rules(list: &[(&str, &str)]) -> Vec<Rule> {
        list.iter()
            .map(|(option, text)| Rule::parse(option, text).unwrap())
            .collect()
    }

    fn request(path: &str) -> Vars {
        let path: &'static str = Box::leak(path.to_string().into_boxed_str());
        Vars(HashMap::from([
            ("PATH_INFO", path),
            ("REQUEST_URI", path),
            ("HTTP_HOST", "example.org"),
            ("REQUEST_METHOD", "GET"),
        ]))
    }

    #[test]
    fn redirects_with_captures_and_variables() {
        let table = rules(&[(
            "route",
            "^/old/(.*)$ redirect-301:https://${HTTP_HOST}/new/$1",
        )]);
        let outcome = evaluate(&table, &request("/old/a/b"));
        assert_eq!(
            outcome.answer,
            Some((301, Some("https://example.org/new/a/b".into())))
        );
        assert_eq!(evaluate(&table, &request("/other")), Outcome::default());
    }

    #[test]
    fn headers_accumulate_until_last() {
        let table = rules(&[
            ("route", "^/api addheader:X-Api: yes"),
            ("route", ".* addheader:X-All: 1"),
            ("route", "^/api last"),
            ("route", ".* addheader:X-Never: 1"),
            ("route", ".* delheader:Server"),
        ]);
        let outcome = evaluate(&table, &request("/api/x"));
        assert_eq!(
            outcome.add_headers,
            vec![("X-Api".into(), "yes".into()), ("X-All".into(), "1".into())]
        );
        assert!(outcome.answer.is_none() && !outcome.close);
        let other = evaluate(&table, &request("/web"));
        assert_eq!(other.add_headers.len(), 2);
        assert_eq!(other.remove_headers, vec!["Server".to_string()]);
    }

    #[test]
    fn break_return_and_conditions() {
        let table = rules(&[
            ("route-if", "equal:${REQUEST_METHOD};DELETE break:405"),
            (
                "route-if-not",
                "startswith:${HTTP_HOST};example. return:421",
            ),
            ("route", "^/secret break"),
            (
                "route-if",
                "regexp:${PATH_INFO};^/v(\\d+)/ addvar:API_VERSION=$1",
            ),
        ]);
        assert!(evaluate(&table, &request("/secret")).close);
        let versioned = evaluate(&table, &request("/v2/users"));
        assert_eq!(versioned.set_vars, vec![("API_VERSION".into(), "2".into())]);
        let mut delete = request("/x");
        delete.0.insert("REQUEST_METHOD", "DELETE");
        assert_eq!(evaluate(&table, &delete).answer, Some((405, None)));
        let mut foreign = request("/x");
        foreign.0.insert("HTTP_HOST", "evil.test");
        assert_eq!(evaluate(&table, &foreign).answer, Some((421, None)));
    }

    #[test]
    fn an_answer_ends_the_scan() {
        let table = rules(&[
            ("route", "^/gone return:410"),
            ("route", "^/moved redirect:/new"),
            ("route", "^/teapot break:418"),
            ("route", ".* addheader:X-After: 1"),
            ("route", ".* return:200"),
        ]);
        for (path, answer) in [
            ("/gone", (410, None)),
            ("/moved", (302, Some("/new".to_string()))),
            ("/teapot", (418, None)),
        ] {
            let outcome = evaluate(&table, &request(path));
            assert_eq!(outcome.answer, Some(answer), "{path}");
            assert!(outcome.add_headers.is_empty(), "{path}: {outcome:?}");
        }
        let rest = evaluate(&table, &request("/other"));
        assert_eq!(rest.answer, Some((200, None)));
        assert_eq!(rest.add_headers, vec![("X-After".into(), "1".into())]);
    }

    #[test]
    fn rewrite_changes_the_path_later_rules_see() {
        let table = rules(&[
            ("route", "^/blog/(\\d+)$ rewrite:/post?id=$1"),
            ("route", "^/post$ addheader:X-Rewritten: 1"),
        ]);
        let outcome = evaluate(&table, &request("/blog/42"));
        assert_eq!(outcome.rewrite.as_deref(), Some("/post"));
        assert_eq!(
            outcome.set_vars,
            vec![("QUERY_STRING".into(), "id=42".into())]
        );
        assert_eq!(outcome.add_headers.len(), 1);
    }

    #[test]
    fn bad_rules_are_refused_with_a_reason() {
        let why = |option: &str, text: &str| Rule::parse(option, text).unwrap_err().to_string();
        assert!(why("route", "^/x").contains("action"));
        assert!(why("route", "^/x goto:foo").contains("not provided"));
        assert!(why("route", "([ last").contains("regular expression"));
        assert_eq!(
            why("route-if", "frob:a;b last"),
            "unknown route-if condition 'frob'"
        );
        assert_eq!(
            why("route", "^/x return:abc"),
            "'return:abc': expected an HTTP status code"
        );
        assert_eq!(
            why("route", "^/x addheader:nocolon"),
            "addheader 'nocolon': expected 'Name: value'"
        );
    }
}
