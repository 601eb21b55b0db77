//! gcloud's configuration files are INI as Python's `configparser` reads them: `[section]`
//! headers, `key = value` or `key: value` (the key lower-cased, both trimmed), whole-line
//! `#` and `;` comments, and indented lines continuing the value above.

/// The file's properties as `(section, key, value)`, or which line is not INI.
pub(super) fn parse(text: &str) -> Result<Vec<(String, String, String)>, String> {
    let mut properties: Vec<(String, String, String)> = Vec::new();
    let mut section: Option<String> = None;
    for (number, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with(['#', ';']) {
            continue;
        }
        if let Some((_, _, value)) = properties.last_mut().filter(|_| line.starts_with([' ', '\t'])) {
            value.push('\n');
            value.push_str(trimmed);
            continue;
        }
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
}
