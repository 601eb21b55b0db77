//! The registry's families, labels and bounds.

use super::*;
use crate::secret::Secret;
use std::time::Duration;

#[test]
fn every_family_is_exposed_with_the_prefix_and_no_secret() {
    let metrics = Metrics::new();
    let token = Token::new(Secret::new("ya29.secret-value"), SystemTime::now(), Duration::from_secs(60));
    metrics.refresh_succeeded("access", &token);
    metrics.refresh_failed("id:run", "sts", "invalid_grant");
    metrics.refresh_failing("id:run", 1);
    metrics.admission(Some("team-a"), "mutated", Instant::now());
    metrics.certificate_in_service(Some(4_102_444_800));
    metrics.source_reloaded(true);
    metrics.file_written("token", true);
    metrics.http_request(
        "/computeMetadata/v1/instance/service-accounts/{account}/token",
        200,
        Instant::now(),
    );
    drop(metrics.refresh_timer("access"));
    let text = metrics.render();
    for family in [
        "refresh_total",
        "refresh_consecutive_failures",
        "refresh_duration_seconds",
        "token_expiry_timestamp_seconds",
        "last_refresh_success_timestamp_seconds",
        "source_reloads_total",
        "file_writes_total",
        "http_requests_total",
        "http_request_duration_seconds",
        "ready",
        "build_info",
        "admissions_total",
        "admission_review_duration_seconds",
        "webhook_certificate_expiry_timestamp_seconds",
    ] {
        assert!(text.contains(&format!("# TYPE gcp_token_agent_{family} ")), "{family} missing:\n{text}");
    }
    assert!(!text.contains("ya29"));
    #[cfg(target_os = "linux")]
    assert!(text.contains("\nprocess_resident_memory_bytes "), "unprefixed process metrics:\n{text}");
}

#[test]
fn a_failure_carries_its_stage_and_reason_and_a_success_resets_the_failing_count() {
    let metrics = Metrics::new();
    metrics.refresh_failed("access", "token_endpoint", "server_error");
    metrics.refresh_failing("access", 2);
    let text = metrics.render();
    assert!(text.contains(
        r#"gcp_token_agent_refresh_total{reason="server_error",result="failure",stage="token_endpoint",token="access"} 1"#
    ));
    assert!(text.contains(r#"gcp_token_agent_refresh_consecutive_failures{token="access"} 2"#), "{text}");
    let token = Token::new(Secret::new("ya29.x"), SystemTime::now(), Duration::from_secs(60));
    metrics.refresh_succeeded("access", &token);
    let text = metrics.render();
    assert!(text.contains(r#"gcp_token_agent_refresh_consecutive_failures{token="access"} 0"#), "{text}");
    assert!(
        text.contains(
            r#"gcp_token_agent_refresh_total{reason="",result="success",stage="",token="access"} 1"#
        )
    );
}

#[test]
fn admissions_count_by_namespace_up_to_the_cap_and_forged_names_count_as_other() {
    let metrics = Metrics::new();
    let now = Instant::now();
    for n in 0..MAX_NAMESPACES + 5 {
        metrics.admission(Some(&format!("ns-{n}")), "mutated", now);
    }
    metrics.admission(Some("ns-0"), "denied", now);
    metrics.admission(Some("Not_A_Namespace"), "denied", now);
    metrics.admission(Some(&"a".repeat(64)), "denied", now);
    metrics.admission(None, "invalid", now);
    let text = metrics.render();
    let count = |labels: &str| text.contains(&format!("gcp_token_agent_admissions_total{{{labels}}} "));
    assert!(count(r#"namespace="ns-0",result="denied""#));
    assert!(count(&format!(r#"namespace="ns-{}",result="mutated""#, MAX_NAMESPACES - 1)));
    assert!(!count(&format!(r#"namespace="ns-{}",result="mutated""#, MAX_NAMESPACES)));
    assert!(text.contains(r#"gcp_token_agent_admissions_total{namespace="_other",result="mutated"} 5"#));
    assert!(text.contains(r#"gcp_token_agent_admissions_total{namespace="_other",result="denied"} 2"#));
    assert!(text.contains(r#"gcp_token_agent_admissions_total{namespace="",result="invalid"} 1"#));
    assert!(
        text.contains("gcp_token_agent_admission_review_duration_seconds_count{result=\"mutated\"} 1005")
    );
}
