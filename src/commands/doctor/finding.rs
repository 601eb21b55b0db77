//! One finding of `doctor`, and the two ways findings are printed.

use serde_json::json;

/// How bad a finding is. Only `Fail` makes `doctor` exit 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Level {
    /// Checked and fine (or informational: a candidate ADC skipped, and why).
    Ok,
    /// Works today, but is risky or about to break.
    Warn,
    /// Does not work, or leaks a secret.
    Fail,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Warn => "warn",
            Level::Fail => "fail",
        }
    }
}

/// One line of the report: what was checked, what was found, what to do.
#[derive(Debug, Clone)]
pub(crate) struct Finding {
    /// How bad.
    pub level: Level,
    /// Which family of checks (a stable key: `credentials`, `file-mode`, `endpoint`, `clock`,
    /// `token`, `impersonation`, `project-number`, `agent-api`, `token-files`).
    pub check: &'static str,
    /// What was found. Never a token or a key.
    pub message: String,
    /// What to do about it, when there is something to do.
    pub fix: Option<String>,
}

impl Finding {
    /// A check that passed.
    pub(crate) fn ok(check: &'static str, message: impl Into<String>) -> Self {
        Self { level: Level::Ok, check, message: message.into(), fix: None }
    }

    /// A risk, and what to do about it.
    pub(crate) fn warn(check: &'static str, message: impl Into<String>, fix: impl Into<String>) -> Self {
        Self { level: Level::Warn, check, message: message.into(), fix: Some(fix.into()) }
    }

    /// A failure, and what to do about it.
    pub(crate) fn fail(check: &'static str, message: impl Into<String>, fix: impl Into<String>) -> Self {
        Self { level: Level::Fail, check, message: message.into(), fix: Some(fix.into()) }
    }
}

/// One line per finding: `LEVEL CHECK: MESSAGE` and, when there is one, `; fix: FIX`.
pub(crate) fn text(findings: &[Finding]) -> String {
    let mut out = String::new();
    for finding in findings {
        out.push_str(&format!(
            "{:<4} {}: {}",
            finding.level.as_str(),
            finding.check,
            one_line(&finding.message)
        ));
        if let Some(fix) = &finding.fix {
            out.push_str(&format!("; fix: {}", one_line(fix)));
        }
        out.push('\n');
    }
    out
}

/// A JSON array of `{"level","check","message","fix"}` (`fix` is null when there is none).
pub(crate) fn json(findings: &[Finding]) -> String {
    let array: Vec<_> = findings
        .iter()
        .map(|f| json!({"level": f.level.as_str(), "check": f.check, "message": f.message, "fix": f.fix}))
        .collect();
    format!("{}\n", serde_json::Value::Array(array))
}

/// A message from elsewhere (Google's description) kept to one line.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_prints_on_one_line_with_what_to_do() {
        let findings = [Finding::fail("file-mode", "key.json is\nreadable by others", "chmod 600 key.json")];
        assert_eq!(
            text(&findings),
            "fail file-mode: key.json is readable by others; fix: chmod 600 key.json\n"
        );
    }

    #[test]
    fn json_findings_carry_a_null_fix_when_there_is_nothing_to_do() {
        let parsed: serde_json::Value =
            serde_json::from_str(&json(&[Finding::ok("clock", "in step")])).expect("json");
        assert_eq!(parsed, json!([{"level": "ok", "check": "clock", "message": "in step", "fix": null}]));
    }
}
