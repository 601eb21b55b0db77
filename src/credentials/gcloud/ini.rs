//! gcloud's configuration files are INI as Python's `configparser` reads them: `[section]`
//! headers, `key = value` or `key: value` (the key lower-cased, both trimmed), whole-line
//! `#` and `;` comments (skipped, even inside a value), and lines indented deeper than their key
//! continuing its value (blank lines inside a value kept, trailing ones dropped; a header ends it).

/// The file's properties as `(section, key, value)`, or which line is not INI.
pub(super) fn parse(text: &str) -> Result<Vec<(String, String, String)>, String> {
    let mut properties: Vec<(String, String, String)> = Vec::new();
    let mut section: Option<String> = None;
    // The indentation of the key whose value is open; none after a header, so a section
    // cannot start with a continuation.
    let mut open: Option<usize> = None;
    for (number, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.starts_with(['#', ';']) {
            continue;
        }
        let value = properties.last_mut().filter(|_| open.is_some()).map(|(_, _, value)| value);
        if trimmed.is_empty() {
            if let Some(value) = value {
                value.push('\n');
            }
            continue;
        }
        let indent = line.chars().take_while(|c| c.is_whitespace()).count();
        if let Some(value) = value.filter(|_| open.is_some_and(|key| indent > key)) {
            value.push('\n');
            value.push_str(trimmed);
            continue;
        }
        open = None;
        let bad = || format!("line {} is not `[section]` or `key = value`", number + 1);
        if let Some(name) = trimmed.strip_prefix('[') {
            section = Some(name.strip_suffix(']').ok_or_else(bad)?.trim().to_owned());
            continue;
        }
        let at = trimmed.find(['=', ':']).ok_or_else(bad)?;
        let (key, value) = (trimmed[..at].trim(), trimmed[at + 1..].trim());
        let section =
            section.clone().ok_or_else(|| format!("line {} comes before any [section]", number + 1))?;
        if key.is_empty() {
            return Err(bad());
        }
        properties.push((section, key.to_lowercase(), value.to_owned()));
        open = Some(indent);
    }
    for (_, _, value) in &mut properties {
        value.truncate(value.trim_end().len());
    }
    Ok(properties)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gclouds_configuration_files_are_read_as_configparser_reads_them() {
        let text = "[core]\naccount = me@example.com\n# a comment\nProject: p-1\n\n[auth]\n; another\n\
                    impersonate_service_account = a@p.iam.gserviceaccount.com,\n    b@p.iam.gserviceaccount.com\n";
        let got = parse(text).expect("INI");
        assert_eq!(got[0], ("core".into(), "account".into(), "me@example.com".into()));
        assert_eq!(got[1], ("core".into(), "project".into(), "p-1".into()));
        assert_eq!(got[2].2, "a@p.iam.gserviceaccount.com,\nb@p.iam.gserviceaccount.com");
    }

    #[test]
    fn a_line_that_is_not_ini_is_named_by_number() {
        assert_eq!(
            parse("[core]\naccount\n").expect_err("bad"),
            "line 2 is not `[section]` or `key = value`"
        );
        assert!(parse("account = x\n").expect_err("no section").contains("line 1"));
        assert!(parse("[core\n").expect_err("header").contains("line 1"));
    }

    #[test]
    fn a_header_ends_a_value_and_a_continuation_must_be_indented_deeper_than_its_key() {
        let text = "[core]\naccount = me@example.com\n[auth]\n  impersonate_service_account = t@p.iam.gserviceaccount.com\n";
        let got = parse(text).expect("INI");
        assert_eq!(got[0], ("core".into(), "account".into(), "me@example.com".into()));
        assert_eq!(
            got[1],
            ("auth".into(), "impersonate_service_account".into(), "t@p.iam.gserviceaccount.com".into())
        );
        let got = parse("[core]\n  account = a\n  project = p\n    more\n").expect("INI");
        assert_eq!(got[0].2, "a", "as deep as the key: a key of its own");
        assert_eq!(got[1], ("core".into(), "project".into(), "p\nmore".into()));
    }

    #[test]
    fn blank_lines_inside_a_value_are_kept_and_comments_inside_one_are_skipped() {
        let got =
            parse("[core]\naccount = a\n\n   \n  b\n# c\n  ; d\n  e\n\n\nproject =\n  p\n").expect("INI");
        assert_eq!(got[0].2, "a\n\n\nb\ne", "as configparser reads it");
        assert_eq!(got[1].2, "\np", "an empty first line stays");
        let got = parse("[core]\n\n  account = a\n").expect("INI");
        assert_eq!(got[0], ("core".into(), "account".into(), "a".into()), "no value open after a header");
    }
}
