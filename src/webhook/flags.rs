//! The webhook's own flags, checked at start (exit 64) as `run` checks its flags: a value
//! that would be injected into every pod, or a deadline no review can meet, never starts.

use std::time::Duration;

use crate::{
    cli::WebhookArgs,
    error::{Error, Result},
};

/// Kubernetes caps a webhook's `timeoutSeconds` at 30: a longer deadline is never reached.
const MAX_REVIEW_DEADLINE: Duration = Duration::from_secs(30);
/// Longest image reference accepted (registries allow far less in practice).
const MAX_IMAGE: usize = 1024;

/// Checks the flags `inject_context` does not: the image and the review deadline.
pub(super) fn check(args: &WebhookArgs) -> Result<()> {
    image(&args.agent_image).map_err(|why| Error::usage("--agent-image", why))?;
    if args.review_deadline.is_zero() || args.review_deadline > MAX_REVIEW_DEADLINE {
        return Err(Error::usage(
            "--review-deadline",
            format!(
                "{:?} is not between 1ms and 30s (Kubernetes calls a webhook for at most 30s)",
                args.review_deadline
            ),
        ));
    }
    Ok(())
}

/// An image reference as a Pod's `image` takes it: `[REGISTRY/]PATH[:TAG][@DIGEST]`, non-empty,
/// of letters, digits and `._-/:@` only (no space, newline or control character).
pub(crate) fn image(text: &str) -> std::result::Result<(), String> {
    let shown = crate::scrub::escape(&text.chars().take(64).collect::<String>());
    if text.is_empty() {
        return Err("is empty; name the agent's image, e.g. ghcr.io/OWNER/gcp-token-agent:0.2.0".to_owned());
    }
    let chars_ok = text.chars().all(|c| c.is_ascii_alphanumeric() || "._-/:@".contains(c));
    let shape_ok = !text.starts_with(['-', '.', '/', ':', '@']) && !text.ends_with(['/', ':', '@']);
    if !chars_ok || !shape_ok || text.len() > MAX_IMAGE {
        return Err(format!(
            "\"{shown}\" is not an image reference ([REGISTRY/]PATH[:TAG][@DIGEST], letters, digits \
             and ._-/:@)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_references_without_spaces_or_newlines() {
        for good in [
            "gcp-token-agent:0.1.0",
            "ghcr.io/o/gcp-token-agent:0.1.0",
            "127.0.0.1:5000/agent@sha256:0123abcd",
            "example.com/gcp-token-agent:0.1.0",
        ] {
            assert!(image(good).is_ok(), "{good}");
        }
        for bad in ["", " ", "a b", "img\nevil: x", "img:tag\r", "-img", "img:", "a\u{1b}[0m", "ü"] {
            assert!(image(bad).is_err(), "{bad:?}");
        }
        assert!(!image("a\nb").expect_err("newline").contains('\n'));
    }
}
